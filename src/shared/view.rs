//! Capturing JS values as [`Input`]s / [`OutRegion`]s on the submitting
//! thread: the only place that turns napi views into raw pointers.

use super::{Input, OutRegion, Region, INLINE_MAX};
use crate::error::Error;
use crate::node_api::{self, RawEnv, Reference, Value};
use crate::thread::ThreadShared;
use napi::sys;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Inputs up to this many bytes are copied at submission instead of read in
/// place: a copy that small costs less than a napi reference.
pub const COPY_MAX: usize = 1024;

/// What kind of value the façade found `data` to be (a hint: every napi call
/// below checks the value again, so a wrong hint is an error, never UB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// A JS string, hashed as UTF-8.
    String,
    /// Any ArrayBufferView (TypedArray, Buffer, DataView), shared or not. The
    /// façade passes a bare SharedArrayBuffer as a Uint8Array over it.
    View,
    /// A non-shared ArrayBuffer.
    ArrayBuffer,
}

impl DataKind {
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::String),
            1 => Some(Self::View),
            2 => Some(Self::ArrayBuffer),
            _ => None,
        }
    }
}

/// Whether a capture outlives the current call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureMode {
    /// For a pool task: large inputs are referenced and read in place later.
    Task,
    /// For `hashSync`: read in place during this call only.
    Sync,
}

/// A captured input and what the submitting thread must keep for it.
pub struct Capture {
    pub input: Input,
    /// A reference to the ArrayBuffer / SharedArrayBuffer behind an in-place
    /// input, deleted (on this thread) once the task is done with it.
    pub keep: Option<Reference>,
    /// For in-place non-shared inputs: the flag the detach watch sets.
    pub watch: Option<Arc<AtomicBool>>,
}

/// The bytes and backing buffer of any ArrayBufferView.
pub(super) struct ViewInfo {
    pub(super) data: *mut c_void,
    pub(super) byte_len: usize,
    pub(super) buffer: Value,
}

/// Whether a view's `buffer` is a SharedArrayBuffer: a view's buffer is an
/// ArrayBuffer or a SharedArrayBuffer, and `napi_is_arraybuffer` is false
/// exactly for the latter.
///
/// # Safety
/// Caller must ensure: `env` is the calling thread's env inside a napi
/// call; `buffer` is the live buffer value of a view.
pub(super) unsafe fn is_shared(env: RawEnv, buffer: Value) -> Result<bool, Error> {
    // SAFETY: `node_api::is_array_buffer` needs what our caller promised:
    // `env` is this thread's env inside a napi call, `buffer` live in it.
    Ok(!unsafe { node_api::is_array_buffer(env, buffer) }?)
}

/// Bytes per element of a TypedArray kind. Never guessed: a kind this
/// table does not know (a newer Node's) is refused rather than read past
/// its end or short of it.
fn element_size(ty: node_api::TypedArrayType) -> Option<usize> {
    Some(match ty {
        sys::TypedarrayType::int8_array
        | sys::TypedarrayType::uint8_array
        | sys::TypedarrayType::uint8_clamped_array => 1,
        sys::TypedarrayType::int16_array
        | sys::TypedarrayType::uint16_array
        | node_api::FLOAT16_ARRAY => 2,
        sys::TypedarrayType::int32_array
        | sys::TypedarrayType::uint32_array
        | sys::TypedarrayType::float32_array => 4,
        sys::TypedarrayType::float64_array
        | sys::TypedarrayType::bigint64_array
        | sys::TypedarrayType::biguint64_array => 8,
        _ => return None,
    })
}

/// Runs `f` over the bytes of `value` during this call, read in place
/// (strings as UTF-8), for a synchronous hash: `None` (and `f` not run)
/// for anything but a string or a non-empty TypedArray, DataView or
/// ArrayBuffer, which the façade's checked path then takes (a bare
/// SharedArrayBuffer, a wrong type, and the empty inputs, among which the
/// detached and out-of-bounds views it must tell apart).
///
/// No guard and no reference: the bytes are read before this napi call
/// returns, and no JS runs until then, so nothing can detach, shrink or
/// free them (a non-shared buffer belongs to this thread, whose JS alone
/// can transfer it; a SharedArrayBuffer never shrinks).
///
/// # Safety
/// Caller must ensure: `env` is the calling thread's env, inside a napi
/// call; `value` is a live napi value of it.
pub unsafe fn with_sync_bytes<R>(
    env: RawEnv,
    value: Value,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, Error> {
    /// # Safety
    /// `data..data + len` is readable until the current napi call returns.
    unsafe fn read<'a>(data: *mut c_void, len: usize) -> &'a [u8] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>().cast_const(), len) }
    }
    // SAFETY: our contract (env current, value live) is all the Node-API
    // calls need; each `read` is of the range Node-API just reported for
    // `value`, non-null and non-empty, used only by `f` within this call,
    // during which nothing can free it (see the function's doc).
    unsafe {
        if let Some(t) = node_api::typed_array(env, value)? {
            let n = element_size(t.ty).map_or(0, |e| e * t.len);
            return Ok((n != 0 && !t.data.is_null()).then(|| f(read(t.data, n))));
        }
        // Short strings (most keys) in one call: a write that leaves 4
        // bytes or more unused holds the whole string (see `capture`).
        let mut small = [0u8; 256];
        if let Ok(written) = node_api::utf8_into(env, value, &mut small) {
            if written + 4 < small.len() {
                return Ok(Some(f(&small[..written])));
            }
            let len = node_api::utf8_len(env, value)?;
            let mut buf = vec![0u8; len + 1];
            let written = node_api::utf8_into(env, value, &mut buf)?;
            return Ok(Some(f(&buf[..written])));
        }
        if let Some((len, data, _)) = node_api::data_view(env, value)? {
            return Ok((len != 0 && !data.is_null()).then(|| f(read(data, len))));
        }
        if let Ok((data, len)) = node_api::array_buffer(env, value) {
            return Ok((len != 0 && !data.is_null()).then(|| f(read(data, len))));
        }
    }
    Ok(None)
}

/// # Safety
/// Caller must ensure: `env` is the calling thread's env, inside a napi
/// call; `value` is a live napi value of it.
pub(super) unsafe fn view_info(env: RawEnv, value: Value) -> Result<Option<ViewInfo>, Error> {
    // Asked first, without a separate `napi_is_typedarray` (the hot path
    // is a TypedArray): it checks the value itself.
    // SAFETY: `node_api::typed_array` needs what our caller promised: `env`
    // is this thread's env inside a napi call, `value` live in it.
    if let Some(t) = unsafe { node_api::typed_array(env, value) }? {
        // A kind the table does not know: reported as a value of the wrong type.
        let Some(elem) = element_size(t.ty) else {
            return Ok(None);
        };
        return Ok(Some(ViewInfo {
            data: t.data,
            byte_len: t.len * elem,
            buffer: t.buffer,
        }));
    }
    // SAFETY: `node_api::data_view` needs what our caller promised: `env`
    // is this thread's env inside a napi call, `value` live in it.
    let dv = unsafe { node_api::data_view(env, value) }?;
    Ok(dv.map(|(byte_len, data, buffer)| ViewInfo {
        data,
        byte_len,
        buffer,
    }))
}

/// Whether the (non-shared) ArrayBuffer behind `reference` was detached.
///
/// # Safety
/// Caller must ensure: on the env's thread, inside a handle scope;
/// `reference` belongs to `env`.
pub unsafe fn is_detached(env: RawEnv, reference: &Reference) -> bool {
    // SAFETY: the caller's contract (this env's thread, inside a handle
    // scope) is the one `Reference::value` needs.
    match unsafe { reference.value() } {
        // SAFETY: node_api's contract holds: `v` was just fetched into the
        // caller's handle scope.
        Ok(v) => unsafe { node_api::is_detached(env, v) }.unwrap_or(true),
        // A reference that no longer yields its buffer: treat it as gone.
        Err(_) => true,
    }
}

fn detached_error(name: &str) -> Error {
    Error::InvalidArgValue {
        name: name.into(),
        reason: "must not be a detached ArrayBuffer (or a view over one)".into(),
    }
}

/// Captures `value` (of the façade's `kind`) as a task input.
///
/// # Safety
/// Caller must ensure: `env` is the calling thread's env, inside a napi
/// call; `value` is a live napi value of it; `owner` is this thread's
/// [`ThreadShared`].
pub unsafe fn capture(
    env: RawEnv,
    value: Value,
    kind: DataKind,
    owner: &Arc<ThreadShared>,
    mode: CaptureMode,
) -> Result<Capture, Error> {
    let owned = |v: Vec<u8>| Capture {
        input: Input::Owned(v),
        keep: None,
        watch: None,
    };
    let copied = |bytes: &[u8]| Capture {
        input: Input::copy(bytes),
        keep: None,
        watch: None,
    };
    let (data, byte_len, buffer, is_view) = match kind {
        DataKind::String => {
            // Short strings (most keys and ids) in one call, straight into
            // an inline input. A write stops before a character that does
            // not fit, so one that leaves 4 bytes or more unused (more than
            // any character takes) holds the whole string.
            let mut small = [0u8; INLINE_MAX + 1];
            // SAFETY: our contract (env current, value live); `small` is ours.
            let written = unsafe { node_api::utf8_into(env, value, &mut small) };
            let written = written.map_err(|_| wrong_type())?;
            if written + 4 <= INLINE_MAX {
                return Ok(copied(&small[..written]));
            }
            // SAFETY: our contract; `value` is a string (the call above
            // succeeded on it).
            let len = unsafe { node_api::utf8_len(env, value) }.map_err(|_| wrong_type())?;
            let mut buf = vec![0u8; len + 1];
            // SAFETY: our contract; `buf` has room for the whole string and
            // its NUL (`len + 1`, measured just above, nothing ran between).
            let written = unsafe { node_api::utf8_into(env, value, &mut buf) }?;
            buf.truncate(written);
            return Ok(owned(buf));
        }
        DataKind::ArrayBuffer => {
            // SAFETY: our contract; the call fails (no UB) unless `value`
            // is a non-shared ArrayBuffer.
            let (data, len) =
                unsafe { node_api::array_buffer(env, value) }.map_err(|_| wrong_type())?;
            (data, len, value, false)
        }
        DataKind::View => {
            // SAFETY: our contract is `view_info`'s.
            let info = unsafe { view_info(env, value) }?.ok_or_else(wrong_type)?;
            (info.data, info.byte_len, info.buffer, true)
        }
    };
    // Asked only when it matters (not for small copies).
    let shared = || -> Result<bool, Error> {
        if is_view {
            // SAFETY: our contract; `buffer` is the live buffer of the view
            // `view_info` just read.
            unsafe { is_shared(env, buffer) }
        } else {
            Ok(false)
        }
    };
    if byte_len == 0 || data.is_null() {
        if !shared()? {
            // SAFETY: our contract; `buffer` is the live (non-shared)
            // ArrayBuffer behind `value`.
            if unsafe { node_api::is_detached(env, buffer) }? {
                return Err(detached_error("task.data"));
            }
        }
        return Ok(owned(Vec::new()));
    }
    let ptr = NonNull::new(data.cast::<u8>()).expect("checked non-null");
    if mode == CaptureMode::Task && byte_len <= COPY_MAX {
        // Node-API reported `byte_len` readable bytes at `data` just now;
        // we are on the owner's thread inside a napi call, so no JS can
        // detach or free them before the copy below.
        // SAFETY: a live, readable range for the rest of this call.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), byte_len) };
        return Ok(copied(bytes));
    }
    let shared = shared()?;
    if mode == CaptureMode::Task && !shared && !super::fault::install() {
        // No fault guard on this platform: a non-shared buffer whose caller
        // broke the contract could crash a pool thread, so it is copied.
        // SAFETY: the range Node-API reported for `value` just now, read
        // before this napi call returns (no JS runs in between).
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), byte_len) };
        return Ok(copied(bytes));
    }
    let (keep, watch) = match mode {
        CaptureMode::Task => {
            // SAFETY: our contract; `buffer` is live in this call's scope.
            let keep = unsafe { Reference::new(env, buffer) }?;
            (
                Some(keep),
                (!shared).then(|| Arc::new(AtomicBool::new(false))),
            )
        }
        CaptureMode::Sync => (None, None),
    };
    // SAFETY: `Region::new`'s contract holds: `ptr..ptr + byte_len` is the
    // view's range inside `buffer`, owned by
    // this env (`owner`); a Task capture's `keep` references the buffer
    // until the task is done and a non-shared one gets the detach-watch
    // flag; a Sync capture's region is used only during this napi call.
    let region = unsafe { Region::new(ptr, byte_len, Arc::clone(owner), watch.clone()) };
    Ok(Capture {
        input: Input::Borrowed(region),
        keep,
        watch,
    })
}

fn wrong_type() -> Error {
    Error::invalid_arg_type(
        "task.data",
        "of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer",
        "another value",
    )
}

/// Captures `out`, which must be a view over a SharedArrayBuffer.
///
/// # Safety
/// As for [`capture`].
pub unsafe fn capture_out(
    env: RawEnv,
    value: Value,
    owner: &Arc<ThreadShared>,
) -> Result<(OutRegion, Reference), Error> {
    let not_shared = || {
        Error::invalid_arg_type(
            "task.out",
            "a TypedArray, Buffer or DataView over a SharedArrayBuffer",
            "a value that is not over a SharedArrayBuffer",
        )
    };
    // SAFETY: our contract is `view_info`'s.
    let info = unsafe { view_info(env, value) }?.ok_or_else(not_shared)?;
    // SAFETY: our contract; `info.buffer` is the view's live buffer.
    if !unsafe { is_shared(env, info.buffer) }? {
        return Err(not_shared());
    }
    // SAFETY: our contract; `info.buffer` is live in this call's scope.
    let keep = unsafe { Reference::new(env, info.buffer) }?;
    let ptr = NonNull::new(info.data.cast::<u8>()).unwrap_or(NonNull::dangling());
    let len = if info.data.is_null() {
        0
    } else {
        info.byte_len
    };
    // SAFETY: `OutRegion::new`'s contract holds: the range is the view's,
    // inside a SharedArrayBuffer of this env that `keep` references until
    // the task is done; a zero length (null data) is never dereferenced.
    let out = unsafe { OutRegion::new(ptr, len, Arc::clone(owner)) };
    Ok((out, keep))
}
