//! Capturing JS values as [`Input`]s / [`OutRegion`]s on the submitting
//! thread: the only place that turns napi views into raw pointers.

use super::{Input, OutRegion, Region, INLINE_MAX};
use crate::error::Error;
use crate::thread::ThreadShared;
use napi::sys;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
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
    /// input, to delete on this thread once the task is done with it.
    pub keep: Option<sys::napi_ref>,
    /// For in-place non-shared inputs: the flag the detach watch sets.
    pub watch: Option<Arc<AtomicBool>>,
}

fn napi_err(call: &'static str, status: sys::napi_status) -> Error {
    Error::Napi { call, status }
}

fn ok(call: &'static str, status: sys::napi_status) -> Result<(), Error> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi_err(call, status))
    }
}

/// The bytes and backing buffer of any ArrayBufferView.
struct ViewInfo {
    data: *mut c_void,
    byte_len: usize,
    buffer: sys::napi_value,
}

/// Whether a view's `buffer` is a SharedArrayBuffer: a view's buffer is an
/// ArrayBuffer or a SharedArrayBuffer, and `napi_is_arraybuffer` is false
/// exactly for the latter.
///
/// # Safety
/// `env` is the calling thread's env inside a napi call; `buffer` is the
/// live buffer value of a view.
unsafe fn is_shared(env: sys::napi_env, buffer: sys::napi_value) -> Result<bool, Error> {
    let mut is_ab = false;
    // SAFETY: caller's contract.
    ok("napi_is_arraybuffer", unsafe {
        sys::napi_is_arraybuffer(env, buffer, &mut is_ab)
    })?;
    Ok(!is_ab)
}

/// # Safety
/// `env` is the calling thread's env, inside a napi call; `value` is a live
/// napi value of it.
/// `napi_float16_array` (Node 24+: `Float16Array`), which napi-rs's
/// bindings do not name.
const NAPI_FLOAT16_ARRAY: sys::napi_typedarray_type = 11;

unsafe fn view_info(env: sys::napi_env, value: sys::napi_value) -> Result<Option<ViewInfo>, Error> {
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let (mut ty, mut len, mut offset) = (0, 0usize, 0usize);
    // Asked first, without a separate `napi_is_typedarray` (the hot path
    // is a TypedArray): it checks the value itself and returns
    // `napi_invalid_arg`, writing nothing, for anything else.
    // SAFETY: valid env and value (caller); all out-pointers are locals.
    let st = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut ty,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    let byte_len = if st == sys::Status::napi_ok {
        // Never guessed: a kind this table does not know (a newer Node's)
        // is refused rather than read past its end or short of it.
        let elem = match ty {
            sys::TypedarrayType::int8_array
            | sys::TypedarrayType::uint8_array
            | sys::TypedarrayType::uint8_clamped_array => 1,
            sys::TypedarrayType::int16_array
            | sys::TypedarrayType::uint16_array
            | NAPI_FLOAT16_ARRAY => 2,
            sys::TypedarrayType::int32_array
            | sys::TypedarrayType::uint32_array
            | sys::TypedarrayType::float32_array => 4,
            sys::TypedarrayType::float64_array
            | sys::TypedarrayType::bigint64_array
            | sys::TypedarrayType::biguint64_array => 8,
            _ => return Ok(None), // reported as a value of the wrong type
        };
        len * elem
    } else if st != sys::Status::napi_invalid_arg {
        return Err(napi_err("napi_get_typedarray_info", st));
    } else {
        let mut is_dv = false;
        // SAFETY: as above.
        ok("napi_is_dataview", unsafe {
            sys::napi_is_dataview(env, value, &mut is_dv)
        })?;
        if !is_dv {
            return Ok(None);
        }
        let mut len = 0usize;
        let mut offset = 0usize;
        // SAFETY: value is a DataView (checked); out-pointers are locals.
        ok("napi_get_dataview_info", unsafe {
            sys::napi_get_dataview_info(env, value, &mut len, &mut data, &mut buffer, &mut offset)
        })?;
        len
    };
    Ok(Some(ViewInfo {
        data,
        byte_len,
        buffer,
    }))
}

/// Whether the (non-shared) ArrayBuffer behind `reference` was detached.
///
/// # Safety
/// On the env's thread, inside a handle scope; `reference` is a live
/// reference of `env` to an ArrayBuffer or SharedArrayBuffer.
pub unsafe fn is_detached(env: sys::napi_env, reference: sys::napi_ref) -> bool {
    let mut value = ptr::null_mut();
    // SAFETY: caller's contract.
    if unsafe { sys::napi_get_reference_value(env, reference, &mut value) } != sys::Status::napi_ok
        || value.is_null()
    {
        return true;
    }
    let mut detached = false;
    // SAFETY: value is live in the current handle scope.
    unsafe { sys::napi_is_detached_arraybuffer(env, value, &mut detached) };
    detached
}

/// # Safety
/// `env` is the calling thread's env inside a napi call.
unsafe fn reference(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_ref, Error> {
    let mut r = ptr::null_mut();
    // SAFETY: value is live; a reference with count 1 keeps it from GC.
    ok("napi_create_reference", unsafe {
        sys::napi_create_reference(env, value, 1, &mut r)
    })?;
    Ok(r)
}

fn detached_error(name: &str) -> Error {
    Error::InvalidArgValue {
        name: name.into(),
        reason: "must not be a detached ArrayBuffer (or a view over one)".into(),
    }
}

/// Writes `value`'s UTF-8 into `buf` (whole characters, then a NUL);
/// returns the bytes written, NUL not counted.
///
/// # Safety
/// `env` is the calling thread's env inside a napi call; `value` is a live
/// napi value of it.
unsafe fn write_utf8(
    env: sys::napi_env,
    value: sys::napi_value,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut written = 0usize;
    // SAFETY: caller's contract; `buf` has room for its length, NUL included.
    ok("napi_get_value_string_utf8", unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut written,
        )
    })?;
    Ok(written)
}

/// Captures `value` (of the façade's `kind`) as a task input.
///
/// # Safety
/// `env` is the calling thread's env, inside a napi call; `value` is a live
/// napi value of it; `owner` is this thread's [`ThreadShared`].
pub unsafe fn capture(
    env: sys::napi_env,
    value: sys::napi_value,
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
            // SAFETY: caller's contract.
            let written = unsafe { write_utf8(env, value, &mut small) };
            let written = written.map_err(|_| wrong_type())?;
            if written + 4 <= INLINE_MAX {
                return Ok(copied(&small[..written]));
            }
            let mut len = 0usize;
            // SAFETY: a null buffer asks only for the UTF-8 length.
            ok("napi_get_value_string_utf8", unsafe {
                sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len)
            })
            .map_err(|_| wrong_type())?;
            let mut buf = vec![0u8; len + 1];
            // SAFETY: caller's contract.
            let written = unsafe { write_utf8(env, value, &mut buf) }?;
            buf.truncate(written);
            return Ok(owned(buf));
        }
        DataKind::ArrayBuffer => {
            let mut data = ptr::null_mut();
            let mut len = 0usize;
            // SAFETY: fails (no UB) unless value is a non-shared ArrayBuffer.
            ok("napi_get_arraybuffer_info", unsafe {
                sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len)
            })
            .map_err(|_| wrong_type())?;
            (data, len, value, false)
        }
        DataKind::View => {
            // SAFETY: caller's contract.
            let info = unsafe { view_info(env, value) }?.ok_or_else(wrong_type)?;
            (info.data, info.byte_len, info.buffer, true)
        }
    };
    // Asked only when it matters (not for small copies).
    let shared = || -> Result<bool, Error> {
        if is_view {
            // SAFETY: caller's contract; buffer is the view's live buffer.
            unsafe { is_shared(env, buffer) }
        } else {
            Ok(false)
        }
    };
    if byte_len == 0 || data.is_null() {
        if !shared()? {
            let mut detached = false;
            // SAFETY: buffer is a live non-shared ArrayBuffer value.
            ok("napi_is_detached_arraybuffer", unsafe {
                sys::napi_is_detached_arraybuffer(env, buffer, &mut detached)
            })?;
            if detached {
                return Err(detached_error("task.data"));
            }
        }
        return Ok(owned(Vec::new()));
    }
    let ptr = NonNull::new(data.cast::<u8>()).expect("checked non-null");
    if mode == CaptureMode::Task && byte_len <= COPY_MAX {
        // Napi reported byte_len readable bytes at data, valid during
        // this call (we are on the owner thread, inside a napi call).
        // SAFETY: sound for the reasons just given.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), byte_len) };
        return Ok(copied(bytes));
    }
    let shared = shared()?;
    if mode == CaptureMode::Task && !shared && !super::fault::install() {
        // No fault guard on this platform: a non-shared buffer whose caller
        // broke the contract could crash a pool thread, so it is copied.
        // SAFETY: as for the small copy above.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), byte_len) };
        return Ok(copied(bytes));
    }
    let (keep, watch) = match mode {
        CaptureMode::Task => {
            // SAFETY: caller's contract; buffer is live.
            let keep = unsafe { reference(env, buffer) }?;
            (
                Some(keep),
                (!shared).then(|| Arc::new(AtomicBool::new(false))),
            )
        }
        CaptureMode::Sync => (None, None),
    };
    // Ptr..ptr+byte_len is the view's range inside `buffer`, owned by
    // this env; for Task captures `keep` references the buffer until the task
    // is done, and non-shared buffers get a detach-watch flag; for Sync
    // captures the region is used only during this napi call.
    // SAFETY: sound for the reasons just given.
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
    env: sys::napi_env,
    value: sys::napi_value,
    owner: &Arc<ThreadShared>,
) -> Result<(OutRegion, sys::napi_ref), Error> {
    let not_shared = || {
        Error::invalid_arg_type(
            "task.out",
            "a TypedArray, Buffer or DataView over a SharedArrayBuffer",
            "a value that is not over a SharedArrayBuffer",
        )
    };
    // SAFETY: caller's contract.
    let info = unsafe { view_info(env, value) }?.ok_or_else(not_shared)?;
    // SAFETY: caller's contract; info.buffer is the view's live buffer.
    if !unsafe { is_shared(env, info.buffer) }? {
        return Err(not_shared());
    }
    // SAFETY: caller's contract; info.buffer is live.
    let keep = unsafe { reference(env, info.buffer) }?;
    let ptr = NonNull::new(info.data.cast::<u8>()).unwrap_or(NonNull::dangling());
    let len = if info.data.is_null() {
        0
    } else {
        info.byte_len
    };
    // The range is the view's, inside a SharedArrayBuffer of this env,
    // referenced by `keep` until the task is done; a zero length is never
    // dereferenced.
    // SAFETY: sound for the reasons just given.
    let out = unsafe { OutRegion::new(ptr, len, Arc::clone(owner)) };
    Ok((out, keep))
}
