//! The only raw Node-API calls in the crate, as `uv.rs` holds the only
//! libuv calls: thin wrappers that check every status with [`check`], and
//! owning guards that close what they opened on `Drop` ([`HandleScope`],
//! [`CallbackScope`], [`Reference`], [`AsyncContext`]).
//!
//! napi-rs covers most of the addon; these are the calls its safe API
//! costs too much for on the hot paths (the raw submit callback, the
//! batched drain, the stage flush) or does not offer (callback scopes,
//! detach checks, `SharedArrayBuffer` views).
//!
//! # Conventions
//! - A [`RawEnv`] is the calling thread's env: it is `!Send`, and made only
//!   from a napi-rs `&Env` (handed out inside a call on its thread) or by
//!   [`RawEnv::new`], whose caller promises the same.
//! - Every `unsafe fn` here has the same contract unless it says more:
//!   **Caller must ensure** the call is made on `env`'s thread while the
//!   env is alive, inside a Node-API callback or an open [`HandleScope`],
//!   and that every `Value` passed is live in the current handle scope.
//! - The guards are zero-cost: one Node-API call to open, one to close,
//!   as the code they replaced made; no allocation.
//! - References must be deleted on their env's thread: [`Reference`] is
//!   `!Send`, so its `Drop` runs where it was made.
//!
//! Over 500 lines on purpose: this is the one file allowed to make raw
//! Node-API calls, so every wrapper lives here, each a few lines around one
//! call and its status check, where all of that unsafe can be read in one
//! place.

use crate::error::Error;
use napi::{sys, Env};
use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// The env pointer Node-API passes a raw callback.
pub type EnvPtr = sys::napi_env;

/// A TypedArray's element type (`sys::TypedarrayType` names them).
pub type TypedArrayType = sys::napi_typedarray_type;

/// A JS value handle, live in the handle scope it was made in.
pub type Value = sys::napi_value;

/// A raw Node-API callback (`napi_create_function`).
pub type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Value;

/// The info a raw callback receives.
pub type CallbackInfo = sys::napi_callback_info;

/// `napi_float16_array` (Node 24+: `Float16Array`), which napi-rs's
/// bindings do not name.
pub const FLOAT16_ARRAY: TypedArrayType = 11;

/// `Ok(())` for `napi_ok`, else the error naming the call and its status.
/// Every status in the crate goes through here.
#[inline]
pub fn check(call: &'static str, status: sys::napi_status) -> Result<(), Error> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::Napi { call, status })
    }
}

/// The calling thread's env (see the module's conventions).
#[derive(Clone, Copy)]
pub struct RawEnv {
    raw: sys::napi_env,
    /// `!Send` and `!Sync`: an env belongs to one thread.
    _thread: PhantomData<*mut ()>,
}

impl RawEnv {
    /// # Safety
    /// Caller must ensure `raw` is the live env of the calling thread.
    pub unsafe fn new(raw: sys::napi_env) -> Self {
        Self {
            raw,
            _thread: PhantomData,
        }
    }

    /// The env napi-rs hands a `#[napi]` function (on its own thread).
    pub fn of(env: &Env) -> Self {
        Self {
            raw: env.raw(),
            _thread: PhantomData,
        }
    }

    /// The napi-rs view of this env (for `Error::to_js` and friends).
    pub fn env(self) -> Env {
        Env::from_raw(self.raw)
    }
}

// ---------------------------------------------------------------------------
// Owning guards
// ---------------------------------------------------------------------------

/// An open handle scope, closed on drop.
pub struct HandleScope {
    env: RawEnv,
    scope: sys::napi_handle_scope,
}

impl HandleScope {
    /// # Safety
    /// On `env`'s thread while it is alive, outside any JS that is running
    /// (a uv callback) or inside a napi call; scopes close in reverse order
    /// of opening, which holding the guard in a local ensures.
    pub unsafe fn open(env: RawEnv) -> Result<Self, Error> {
        let mut scope = ptr::null_mut();
        // SAFETY: `open`'s contract: on `env`'s thread while it is alive,
        // outside running JS or inside a napi call; `scope` is a local
        // out-pointer.
        check("napi_open_handle_scope", unsafe {
            sys::napi_open_handle_scope(env.raw, &mut scope)
        })?;
        Ok(Self { env, scope })
    }
}

impl Drop for HandleScope {
    fn drop(&mut self) {
        // `scope` was opened by `open` on this thread (the guard is
        // `!Send`) and is the innermost one still open (guards are locals,
        // dropped in reverse order).
        // SAFETY: closing the scope this guard opened, exactly once.
        let status = unsafe { sys::napi_close_handle_scope(self.env.raw, self.scope) };
        // It fails only for a scope that is not the innermost one (a bug
        // in our nesting, which locals rule out) and nothing can be
        // reported from a drop.
        debug_assert_eq!(status, sys::Status::napi_ok, "napi_close_handle_scope");
    }
}

/// An open callback scope (so nextTicks and microtasks run when it
/// closes), closed on drop.
pub struct CallbackScope {
    env: RawEnv,
    scope: sys::napi_callback_scope,
}

impl CallbackScope {
    /// # Safety
    /// As [`HandleScope::open`], inside an open handle scope; `resource`
    /// is live in it and `context` is live (not destroyed).
    pub unsafe fn open(
        env: RawEnv,
        resource: Value,
        context: &AsyncContext,
    ) -> Result<Self, Error> {
        let mut scope = ptr::null_mut();
        // SAFETY: `open`'s contract: on `env`'s thread inside an open handle
        // scope, where `resource` is live, and `context` is not destroyed
        // (an `AsyncContext` destroys it only on drop); `scope` is a local
        // out-pointer.
        check("napi_open_callback_scope", unsafe {
            sys::napi_open_callback_scope(env.raw, resource, context.raw, &mut scope)
        })?;
        Ok(Self { env, scope })
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        // `scope` was opened by `open` on this thread and is closed once;
        // closing it runs nextTicks and microtasks, which may call back
        // into the addon (nothing of ours is borrowed across this drop:
        // the drain drops its guard last).
        // SAFETY: closing the callback scope this guard opened, once.
        let status = unsafe { sys::napi_close_callback_scope(self.env.raw, self.scope) };
        debug_assert_eq!(status, sys::Status::napi_ok, "napi_close_callback_scope");
    }
}

thread_local! {
    /// The env of this thread's references. Node runs one env per thread
    /// (the main thread's, or a worker's for the worker's whole life), as
    /// the pool's per-thread state already assumes; so a [`Reference`]
    /// keeps one pointer, not two: it sits in every pending task's entry.
    static REFERENCE_ENV: std::cell::Cell<sys::napi_env> =
        const { std::cell::Cell::new(ptr::null_mut()) };
}

/// A strong reference (count 1), deleted on drop, on the thread that made
/// it (the type is `!Send`, as `NonNull` is), with that thread's env.
pub struct Reference {
    raw: NonNull<sys::napi_ref__>,
}

impl Reference {
    /// # Safety
    /// The module's contract (`value` live in the current scope).
    pub unsafe fn new(env: RawEnv, value: Value) -> Result<Self, Error> {
        let mut r = ptr::null_mut();
        // SAFETY: the caller's contract; `r` is a local out-pointer.
        check("napi_create_reference", unsafe {
            sys::napi_create_reference(env.raw, value, 1, &mut r)
        })?;
        let raw = NonNull::new(r).ok_or(Error::Napi {
            call: "napi_create_reference",
            status: sys::Status::napi_generic_failure,
        })?;
        REFERENCE_ENV.with(|e| e.set(env.raw));
        Ok(Self { raw })
    }

    fn env() -> sys::napi_env {
        // `try_with`: a reference dropped while the thread's locals are
        // being destroyed (never ours: JsSide is emptied in the cleanup
        // hook) gets a null env, which Node-API refuses without harm.
        REFERENCE_ENV
            .try_with(|e| e.get())
            .unwrap_or(ptr::null_mut())
    }

    /// The referenced value (`None` if it was collected: never for our
    /// strong references, but Node-API allows it).
    ///
    /// # Safety
    /// On the env's thread inside a handle scope (the value lives in it).
    pub unsafe fn value(&self) -> Result<Value, Error> {
        let mut v = ptr::null_mut();
        // SAFETY: the caller's contract; `self.raw` is live until our drop.
        check("napi_get_reference_value", unsafe {
            sys::napi_get_reference_value(Self::env(), self.raw.as_ptr(), &mut v)
        })?;
        if v.is_null() {
            return Err(Error::Napi {
                call: "napi_get_reference_value",
                status: sys::Status::napi_generic_failure,
            });
        }
        Ok(v)
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // SAFETY: deleting the reference this guard owns, once, with the env
        // that made it: `new` ran on this thread (the type is `!Send`) and
        // recorded this thread's one env; every owner drops it while that
        // env is alive (on a call or uv callback of it, or in its cleanup
        // hook, where JsSide is dropped).
        let status = unsafe { sys::napi_delete_reference(Self::env(), self.raw.as_ptr()) };
        // Fails only for a null env or reference, which `new` rules out.
        debug_assert_eq!(status, sys::Status::napi_ok, "napi_delete_reference");
    }
}

/// An async context for callback scopes, destroyed on drop.
pub struct AsyncContext {
    env: RawEnv,
    raw: sys::napi_async_context,
}

impl AsyncContext {
    /// # Safety
    /// The module's contract (`resource` live in the current scope).
    pub unsafe fn new(env: RawEnv, resource: Value, name: &CStr) -> Result<Self, Error> {
        // SAFETY: `latin1`'s contract is ours (env current, inside a scope).
        let name = unsafe { latin1(env, name.to_bytes()) }?;
        let mut raw = ptr::null_mut();
        // SAFETY: the caller's contract; `name` was made just above in the
        // same scope; `raw` is a local out-pointer.
        check("napi_async_init", unsafe {
            sys::napi_async_init(env.raw, resource, name, &mut raw)
        })?;
        Ok(Self { env, raw })
    }
}

impl Drop for AsyncContext {
    fn drop(&mut self) {
        // Made by `new` on this thread (the type is `!Send`), destroyed once,
        // while the env is alive (JsSide drops it in the env's cleanup hook).
        // SAFETY: destroying the context this guard owns.
        let status = unsafe { sys::napi_async_destroy(self.env.raw, self.raw) };
        debug_assert_eq!(status, sys::Status::napi_ok, "napi_async_destroy");
    }
}

/// A Promise's resolver. Node-API has no call that frees an unsettled
/// deferred, so there is no `Drop`: one left unsettled is freed with its
/// env; `resolve` consumes it.
pub struct Deferred {
    raw: sys::napi_deferred,
    _thread: PhantomData<*mut ()>,
}

/// A new Promise and its resolver.
///
/// # Safety
/// The module's contract.
pub unsafe fn promise(env: RawEnv) -> Result<(Deferred, Value), Error> {
    let (mut d, mut p) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: the caller's contract; both out-pointers are locals.
    check("napi_create_promise", unsafe {
        sys::napi_create_promise(env.raw, &mut d, &mut p)
    })?;
    Ok((
        Deferred {
            raw: d,
            _thread: PhantomData,
        },
        p,
    ))
}

impl Deferred {
    /// Resolves the Promise with `undefined`.
    ///
    /// # Safety
    /// The module's contract; `env` is the env that made it.
    pub unsafe fn resolve_undefined(self, env: RawEnv) -> Result<(), Error> {
        // SAFETY: `undefined`'s contract is ours (env current, inside a scope).
        let undef = unsafe { undefined(env) }?;
        // SAFETY: the caller's contract; `self.raw` is unsettled (consumed
        // here, so settled once) and `undef` is live in this scope.
        check("napi_resolve_deferred", unsafe {
            sys::napi_resolve_deferred(env.raw, self.raw, undef)
        })
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn undefined(env: RawEnv) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_get_undefined", unsafe {
        sys::napi_get_undefined(env.raw, &mut v)
    })?;
    Ok(v)
}

/// # Safety
/// The module's contract.
pub unsafe fn object(env: RawEnv) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_create_object", unsafe {
        sys::napi_create_object(env.raw, &mut v)
    })?;
    Ok(v)
}

/// A string from Latin-1 (here: ASCII) bytes.
///
/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn latin1(env: RawEnv, s: &[u8]) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `s` is valid for its length, which
    // is passed with it; `v` is a local out-pointer.
    check("napi_create_string_latin1", unsafe {
        sys::napi_create_string_latin1(env.raw, s.as_ptr().cast(), s.len() as isize, &mut v)
    })?;
    Ok(v)
}

/// A string from UTF-8 bytes.
///
/// # Safety
/// The module's contract.
pub unsafe fn utf8(env: RawEnv, s: &[u8]) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `s` is valid for its length, which
    // is passed with it; `v` is a local out-pointer.
    check("napi_create_string_utf8", unsafe {
        sys::napi_create_string_utf8(env.raw, s.as_ptr().cast(), s.len() as isize, &mut v)
    })?;
    Ok(v)
}

/// A new `Buffer` holding a copy of `bytes`.
///
/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn buffer_copy(env: RawEnv, bytes: &[u8]) -> Result<Value, Error> {
    let (mut v, mut data) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: the caller's contract; `bytes` is valid for its length,
    // passed with it; both out-pointers are locals.
    check("napi_create_buffer_copy", unsafe {
        sys::napi_create_buffer_copy(
            env.raw,
            bytes.len(),
            bytes.as_ptr().cast(),
            &mut data,
            &mut v,
        )
    })?;
    Ok(v)
}

/// A new `Buffer` over `bytes` itself, freed when the Buffer is collected
/// (no copy, and no fresh pages touched on the JS thread); a copy where
/// Node-API allows no external buffers, or for no bytes.
///
/// # Safety
/// The module's contract.
pub unsafe fn buffer_owned(env: RawEnv, bytes: Vec<u8>) -> Result<Value, Error> {
    unsafe extern "C" fn free(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
        // SAFETY: `hint` is the `Box<Vec<u8>>` leaked below for this Buffer,
        // and Node-API calls its finalizer once.
        drop(unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) });
    }
    if bytes.is_empty() {
        // SAFETY: the caller's contract.
        return unsafe { buffer_copy(env, &bytes) };
    }
    let mut boxed = Box::new(bytes);
    let (data, len) = (boxed.as_mut_ptr(), boxed.len());
    let hint = Box::into_raw(boxed);
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `data..data + len` is the Vec's heap
    // buffer, which does not move when the Box does and lives until `free`
    // drops the Box (`hint`); `v` is a local out-pointer.
    let status = unsafe {
        sys::napi_create_external_buffer(env.raw, len, data.cast(), Some(free), hint.cast(), &mut v)
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not handed to Node-API (the call failed): ours to take back.
        let bytes = unsafe { Box::from_raw(hint) };
        if status == sys::Status::napi_no_external_buffers_allowed {
            // SAFETY: the caller's contract.
            return unsafe { buffer_copy(env, &bytes) };
        }
        check("napi_create_external_buffer", status)?;
    }
    Ok(v)
}

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn double(env: RawEnv, n: f64) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_create_double", unsafe {
        sys::napi_create_double(env.raw, n, &mut v)
    })?;
    Ok(v)
}

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn int32(env: RawEnv, n: i32) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_create_int32", unsafe {
        sys::napi_create_int32(env.raw, n, &mut v)
    })?;
    Ok(v)
}

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn uint32(env: RawEnv, n: u32) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_create_uint32", unsafe {
        sys::napi_create_uint32(env.raw, n, &mut v)
    })?;
    Ok(v)
}

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn bigint_u64(env: RawEnv, n: u64) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract; `v` is a local out-pointer.
    check("napi_create_bigint_uint64", unsafe {
        sys::napi_create_bigint_uint64(env.raw, n, &mut v)
    })?;
    Ok(v)
}

/// An array of `values`.
///
/// # Safety
/// The module's contract (each value live in the current scope).
pub unsafe fn array_of(
    env: RawEnv,
    values: impl ExactSizeIterator<Item = Value>,
) -> Result<Value, Error> {
    let mut out = ptr::null_mut();
    // SAFETY: the caller's contract; `out` is a local out-pointer.
    check("napi_create_array_with_length", unsafe {
        sys::napi_create_array_with_length(env.raw, values.len(), &mut out)
    })?;
    for (i, v) in values.enumerate() {
        // SAFETY: the caller's contract; `out` is the array just made.
        check("napi_set_element", unsafe {
            sys::napi_set_element(env.raw, out, i as u32, v)
        })?;
    }
    Ok(out)
}

/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn get_uint32(env: RawEnv, v: Value) -> Result<u32, Error> {
    let mut n = 0u32;
    // SAFETY: the caller's contract; `n` is a local out-pointer.
    check("napi_get_value_uint32", unsafe {
        sys::napi_get_value_uint32(env.raw, v, &mut n)
    })?;
    Ok(n)
}

/// # Safety
/// The module's contract.
pub unsafe fn is_function(env: RawEnv, v: Value) -> Result<bool, Error> {
    let mut t = 0;
    // SAFETY: the caller's contract; `t` is a local out-pointer.
    check("napi_typeof", unsafe {
        sys::napi_typeof(env.raw, v, &mut t)
    })?;
    Ok(t == sys::ValueType::napi_function)
}

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

/// Writes the string `v`'s UTF-8 into `buf` (whole characters, then a
/// NUL); returns the bytes written, NUL not counted. Fails (writing
/// nothing) if `v` is not a string.
///
/// # Safety
/// The module's contract.
pub unsafe fn utf8_into(env: RawEnv, v: Value, buf: &mut [u8]) -> Result<usize, Error> {
    let mut written = 0usize;
    // SAFETY: the caller's contract; `buf` has room for its length (NUL
    // included), which is passed with it.
    check("napi_get_value_string_utf8", unsafe {
        sys::napi_get_value_string_utf8(
            env.raw,
            v,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut written,
        )
    })?;
    Ok(written)
}

/// The UTF-8 length of the string `v`.
///
/// # Safety
/// The module's contract.
pub unsafe fn utf8_len(env: RawEnv, v: Value) -> Result<usize, Error> {
    let mut len = 0usize;
    // SAFETY: the caller's contract; a null buffer asks only the length.
    check("napi_get_value_string_utf8", unsafe {
        sys::napi_get_value_string_utf8(env.raw, v, ptr::null_mut(), 0, &mut len)
    })?;
    Ok(len)
}

/// Writes the string `v`'s UTF-16 units at `buf`, at most `cap - 1` of
/// them and then a NUL; returns the units written, NUL not counted.
///
/// # Safety
/// The module's contract, and `buf..buf + cap` is writable memory no one
/// else reads or writes during the call.
pub unsafe fn utf16_into(env: RawEnv, v: Value, buf: *mut u16, cap: usize) -> Result<usize, Error> {
    let mut written = 0usize;
    // SAFETY: the caller's contract: `cap` units at `buf` are ours to write.
    check("napi_get_value_string_utf16", unsafe {
        sys::napi_get_value_string_utf16(env.raw, v, buf, cap, &mut written)
    })?;
    Ok(written)
}

// ---------------------------------------------------------------------------
// Binary data
// ---------------------------------------------------------------------------

/// What `napi_get_typedarray_info` says about a TypedArray.
pub struct TypedArray {
    pub ty: TypedArrayType,
    /// In elements.
    pub len: usize,
    pub data: *mut c_void,
    /// The ArrayBuffer or SharedArrayBuffer behind it.
    pub buffer: Value,
}

/// `v`'s TypedArray info, or `None` if `v` is not a TypedArray (Node-API
/// checks the value itself and answers `napi_invalid_arg`, writing nothing).
///
/// # Safety
/// The module's contract.
#[inline]
pub unsafe fn typed_array(env: RawEnv, v: Value) -> Result<Option<TypedArray>, Error> {
    let (mut ty, mut len, mut data, mut buffer, mut offset) =
        (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: the caller's contract; all out-pointers are locals.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env.raw,
            v,
            &mut ty,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status == sys::Status::napi_invalid_arg {
        return Ok(None);
    }
    check("napi_get_typedarray_info", status)?;
    Ok(Some(TypedArray {
        ty,
        len,
        data,
        buffer,
    }))
}

/// `v`'s DataView info `(byte length, data, buffer)`, or `None` if it is
/// not a DataView.
///
/// # Safety
/// The module's contract.
pub unsafe fn data_view(
    env: RawEnv,
    v: Value,
) -> Result<Option<(usize, *mut c_void, Value)>, Error> {
    let mut is_dv = false;
    // SAFETY: the caller's contract; `is_dv` is a local out-pointer.
    check("napi_is_dataview", unsafe {
        sys::napi_is_dataview(env.raw, v, &mut is_dv)
    })?;
    if !is_dv {
        return Ok(None);
    }
    let (mut len, mut data, mut buffer, mut offset) =
        (0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: the caller's contract, and `v` is a DataView (checked just
    // above); all out-pointers are locals.
    check("napi_get_dataview_info", unsafe {
        sys::napi_get_dataview_info(env.raw, v, &mut len, &mut data, &mut buffer, &mut offset)
    })?;
    Ok(Some((len, data, buffer)))
}

/// A non-shared ArrayBuffer's `(data, byte length)`; fails for anything
/// else (a SharedArrayBuffer included).
///
/// # Safety
/// The module's contract.
pub unsafe fn array_buffer(env: RawEnv, v: Value) -> Result<(*mut c_void, usize), Error> {
    let (mut data, mut len) = (ptr::null_mut(), 0usize);
    // SAFETY: the caller's contract; both out-pointers are locals.
    check("napi_get_arraybuffer_info", unsafe {
        sys::napi_get_arraybuffer_info(env.raw, v, &mut data, &mut len)
    })?;
    Ok((data, len))
}

/// Whether `v` is a (non-shared) ArrayBuffer: for a view's buffer, false
/// means a SharedArrayBuffer.
///
/// # Safety
/// The module's contract.
pub unsafe fn is_array_buffer(env: RawEnv, v: Value) -> Result<bool, Error> {
    let mut is_ab = false;
    // SAFETY: the caller's contract; `is_ab` is a local out-pointer.
    check("napi_is_arraybuffer", unsafe {
        sys::napi_is_arraybuffer(env.raw, v, &mut is_ab)
    })?;
    Ok(is_ab)
}

/// Whether `v` is a detached ArrayBuffer (false for anything else).
///
/// # Safety
/// The module's contract.
pub unsafe fn is_detached(env: RawEnv, v: Value) -> Result<bool, Error> {
    let mut detached = false;
    // SAFETY: the caller's contract; `detached` is a local out-pointer.
    check("napi_is_detached_arraybuffer", unsafe {
        sys::napi_is_detached_arraybuffer(env.raw, v, &mut detached)
    })?;
    Ok(detached)
}

// ---------------------------------------------------------------------------
// Functions and calls
// ---------------------------------------------------------------------------

/// A JS function that calls `cb` directly (no napi-rs argument handling).
///
/// # Safety
/// The module's contract; `cb` upholds Node-API's callback contract.
pub unsafe fn function(env: RawEnv, name: &CStr, cb: Callback) -> Result<Value, Error> {
    let mut f = ptr::null_mut();
    // SAFETY: the caller's contract; `name` is NUL-terminated (a `CStr`)
    // and its length is passed; `f` is a local out-pointer.
    check("napi_create_function", unsafe {
        sys::napi_create_function(
            env.raw,
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(cb),
            ptr::null_mut(),
            &mut f,
        )
    })?;
    Ok(f)
}

/// A JS function that calls `cb` directly, with `data` (an integer, never
/// dereferenced) handed back by [`args_and_data`] on every call.
///
/// # Safety
/// The module's contract; `cb` upholds Node-API's callback contract.
pub unsafe fn function_with_data(
    env: RawEnv,
    name: &CStr,
    cb: Callback,
    data: usize,
) -> Result<Value, Error> {
    let mut f = ptr::null_mut();
    // SAFETY: the caller's contract; `name` is NUL-terminated (a `CStr`)
    // and its length is passed; `data` is an integer carried as a pointer
    // that nothing dereferences; `f` is a local out-pointer.
    check("napi_create_function", unsafe {
        sys::napi_create_function(
            env.raw,
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(cb),
            data as *mut c_void,
            &mut f,
        )
    })?;
    Ok(f)
}

/// A raw callback's first `N` arguments (`undefined` for those it did not
/// get) and the integer its function was made with
/// ([`function_with_data`]).
///
/// # Safety
/// The module's contract; `info` is the info of the callback now running.
#[inline]
pub unsafe fn args_and_data<const N: usize>(
    env: RawEnv,
    info: CallbackInfo,
) -> Result<([Value; N], usize), Error> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    // SAFETY: the caller's contract; `argv` has room for `argc` values
    // (Node-API fills those not passed with `undefined`); `data` is a local
    // out-pointer.
    check("napi_get_cb_info", unsafe {
        sys::napi_get_cb_info(
            env.raw,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    })?;
    Ok((argv, data as usize))
}

/// Calls `f(...argv)` with `this` undefined; `None` if it threw (the
/// exception stays pending, so it reaches our caller's caller).
///
/// # Safety
/// The module's contract, inside a call from JS; every value live in the
/// current handle scope.
pub unsafe fn call(env: RawEnv, f: Value, argv: &[Value]) -> Result<Option<Value>, Error> {
    // SAFETY: `undefined`'s contract is ours (env current, inside a scope).
    let undef = unsafe { undefined(env) }?;
    let mut ret = ptr::null_mut();
    // SAFETY: the caller's contract; `argv` is valid for its length, which
    // is passed with it; `ret` is a local out-pointer.
    let status =
        unsafe { sys::napi_call_function(env.raw, undef, f, argv.len(), argv.as_ptr(), &mut ret) };
    if status == sys::Status::napi_pending_exception {
        return Ok(None);
    }
    check("napi_call_function", status)?;
    Ok(Some(ret))
}

/// A raw callback's first `N` arguments; fails if it got fewer.
///
/// # Safety
/// The module's contract; `info` is the info of the callback now running.
#[inline]
pub unsafe fn args<const N: usize>(env: RawEnv, info: CallbackInfo) -> Result<[Value; N], Error> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    // SAFETY: the caller's contract; `argv` has room for `argc` values.
    let status = unsafe {
        sys::napi_get_cb_info(
            env.raw,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    check("napi_get_cb_info", status)?;
    if argc < N {
        return Err(Error::Napi {
            call: "napi_get_cb_info",
            status: sys::Status::napi_invalid_arg,
        });
    }
    Ok(argv)
}

/// Every argument of a raw callback, into `argv` (cleared first): one
/// `napi_get_cb_info` to count them, one to copy them.
///
/// # Safety
/// The module's contract; `info` is the info of the callback now running.
pub unsafe fn all_args(
    env: RawEnv,
    info: CallbackInfo,
    argv: &mut Vec<Value>,
) -> Result<(), Error> {
    let mut argc = 0usize;
    // SAFETY: the caller's contract; with a null `argv` Node-API only
    // writes the count.
    check("napi_get_cb_info", unsafe {
        sys::napi_get_cb_info(
            env.raw,
            info,
            &mut argc,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })?;
    argv.clear();
    argv.resize(argc, ptr::null_mut());
    let mut n = argc;
    // SAFETY: the caller's contract; `argv` has room for `n` values.
    check("napi_get_cb_info", unsafe {
        sys::napi_get_cb_info(
            env.raw,
            info,
            &mut n,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })?;
    argv.truncate(n.min(argc));
    Ok(())
}

/// Throws `error` (a JS value) from the callback now running.
///
/// # Safety
/// The module's contract, inside a callback from JS.
pub unsafe fn throw(env: RawEnv, error: Value) -> Result<(), Error> {
    // SAFETY: the caller's contract: inside a callback from JS on `env`'s
    // thread, with `error` live in its scope.
    check("napi_throw", unsafe { sys::napi_throw(env.raw, error) })
}

/// A new `SyntaxError` with `message` and `code` (`node_api_create_syntax_error`).
///
/// # Safety
/// The module's contract; `code` and `message` are strings.
pub unsafe fn syntax_error(env: RawEnv, code: Value, message: Value) -> Result<Value, Error> {
    let mut v = ptr::null_mut();
    // SAFETY: the caller's contract: on `env`'s thread inside a napi call or
    // handle scope, with `code` and `message` live strings in it; `v` is a
    // local out-pointer.
    check("node_api_create_syntax_error", unsafe {
        sys::node_api_create_syntax_error(env.raw, code, message, &mut v)
    })?;
    Ok(v)
}

/// Calls `f(...argv)` with `this` undefined. A throw becomes an uncaught
/// exception (`process.on('uncaughtException')` sees it), as an exception
/// from any callback the loop makes would.
///
/// # Safety
/// The module's contract, inside a callback scope (or a call from JS);
/// every value live in the current handle scope.
#[inline]
pub unsafe fn call_reporting(env: RawEnv, f: Value, argv: &[Value]) -> Result<(), Error> {
    // SAFETY: `undefined`'s contract is ours (env current, inside a scope).
    let undef = unsafe { undefined(env) }?;
    let mut ret = ptr::null_mut();
    // SAFETY: the caller's contract; `argv` is valid for its length, which
    // is passed with it; `ret` is a local out-pointer.
    let status =
        unsafe { sys::napi_call_function(env.raw, undef, f, argv.len(), argv.as_ptr(), &mut ret) };
    if status == sys::Status::napi_pending_exception {
        let mut exc = ptr::null_mut();
        // SAFETY: the caller's contract; an exception is pending (the
        // status says so); `exc` is a local out-pointer.
        check("napi_get_and_clear_last_exception", unsafe {
            sys::napi_get_and_clear_last_exception(env.raw, &mut exc)
        })?;
        // SAFETY: the caller's contract; `exc` was made live just above.
        return check("napi_fatal_exception", unsafe {
            sys::napi_fatal_exception(env.raw, exc)
        });
    }
    check("napi_call_function", status)
}

/// Reports `error` as an uncaught exception (`process.on('uncaughtException')`).
///
/// # Safety
/// The module's contract.
pub unsafe fn fatal_exception(env: RawEnv, error: Value) -> Result<(), Error> {
    // SAFETY: the caller's contract: on `env`'s thread inside a scope, with
    // `error` live in it.
    check("napi_fatal_exception", unsafe {
        sys::napi_fatal_exception(env.raw, error)
    })
}
