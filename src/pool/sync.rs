//! The synchronous path: `hasher(algorithm, encoding)` and `hashSync`, as
//! raw Node-API functions that hash on the calling thread. The algorithm
//! and encoding are fixed when the function is made (carried as an
//! integer in its callback data), so a call decodes no names and makes no
//! napi-rs argument conversion: `napi_get_cb_info`, one or two calls to
//! find the bytes (`shared::with_sync_bytes`), the hash, and the value
//! made. Inputs it does not read itself (a bare SharedArrayBuffer, a wrong
//! type, empty inputs, which may be detached or out-of-bounds views) go to
//! the façade's checked path, so every check and error is `hashSync`'s.

use super::api::{hash_codes, kind, unknown};
use super::js::output_value;
use super::tasks::{hash, Output};
use crate::error::{Error, OrThrow};
use crate::node_api::{self, CallbackInfo, EnvPtr, RawEnv, Reference, Value};
use crate::shared::{self, CaptureMode};
use crate::thread::ThreadState;
use napi::bindgen_prelude::Unknown;
use napi::{Env, JsValue};
use napi_derive::napi;
use std::cell::RefCell;

thread_local! {
    /// This thread's checked path, the façade's `hashChecked(code, data)`.
    /// Node runs one env per thread, so a thread-local is per-env; it is
    /// emptied (the reference deleted) at the env's teardown.
    static CHECKED: RefCell<Option<Reference>> = const { RefCell::new(None) };
}

/// A hasher's code: `algorithm << 8 | encoding` (the names' indexes).
fn unpack(code: u32) -> (u32, u32) {
    (code >> 8, code & 0xff)
}

/// Sets this thread's checked path (the façade does it once, at load).
#[napi(js_name = "__setHashChecked")]
pub fn set_hash_checked(env: Env, checked: Unknown<'_>) -> napi::Result<()> {
    let state = ThreadState::get(&env).or_throw(&env)?;
    let raw = RawEnv::of(&env);
    // SAFETY: node_api's contract holds: inside this napi call on the env's
    // thread; `checked` is its live argument.
    let reference = unsafe {
        if !node_api::is_function(raw, checked.raw()).or_throw(&env)? {
            return Err(
                Error::invalid_arg_type("checked", "of type function", "another value")
                    .into_napi(&env),
            );
        }
        Reference::new(raw, checked.raw()).or_throw(&env)?
    };
    let first = CHECKED.with(|c| c.replace(Some(reference)).is_none());
    if first {
        // The env is still alive in its teardown: the reference is deleted
        // with the env that made it.
        state.on_teardown(Box::new(|| {
            let _ = CHECKED.try_with(|c| drop(c.borrow_mut().take()));
        }));
    }
    Ok(())
}

/// Makes `hasher(algorithm, encoding)`'s function for `code` (see
/// [`unpack`]); the codes are checked here, once.
#[napi(js_name = "__hasher")]
pub fn hasher_fn(env: &Env, code: u32) -> napi::Result<Unknown<'_>> {
    let (a, e) = unpack(code);
    hash_codes(a, e).or_throw(env)?;
    // SAFETY: `node_api::function_with_data`'s contract holds: inside this
    // napi call on the env's thread; `raw_hash` is a Node-API callback that
    // checks its own argument; `code` is an integer, never dereferenced.
    let f = unsafe {
        node_api::function_with_data(RawEnv::of(env), c"hasher", raw_hash, code as usize)
    }
    .or_throw(env)?;
    // SAFETY: `unknown`'s contract holds: `f` was made in this call, which
    // returns it.
    Ok(unsafe { unknown(env, f) })
}

/// Hands `data` to the façade's checked path; `None` if it threw (the
/// exception is pending and reaches the caller).
///
/// # Safety
/// Caller must ensure: inside a call from JS on `env`'s thread; `data` is
/// live in it.
unsafe fn checked(env: RawEnv, code: u32, data: Value) -> Result<Option<Value>, Error> {
    // The value is fetched, and the borrow ended, before any JS runs.
    let f = CHECKED.with(|c| match c.borrow().as_ref() {
        // SAFETY: `Reference::value`'s contract holds: on the env's thread,
        // inside the current call's handle scope.
        Some(r) => unsafe { r.value() },
        None => Err(Error::NotAttached),
    })?;
    // SAFETY: node_api's contract holds (our caller's): inside a call from
    // JS, every value live in its scope.
    unsafe {
        let code = node_api::uint32(env, code)?;
        node_api::call(env, f, &[code, data])
    }
}

/// A hasher's call: `(data) => digest`.
///
/// # Safety
/// Called by Node-API only, as a JS function on the env's thread.
unsafe extern "C" fn raw_hash(env: EnvPtr, info: CallbackInfo) -> Value {
    // SAFETY: `RawEnv::new`'s contract holds: Node-API calls us on the env's
    // own thread, inside a call from JS.
    let env = unsafe { RawEnv::new(env) };
    let run = || -> Result<Option<Value>, Error> {
        // SAFETY: node_api's contract holds: we are the callback now running
        // for `info`; its arguments are live for the whole call.
        let ([data], code) = unsafe { node_api::args_and_data::<1>(env, info) }?;
        let code = code as u32;
        let (a, e) = unpack(code);
        let (algorithm, encoding) = hash_codes(a, e)?;
        // SAFETY: `with_sync_bytes`' contract holds: inside this call on the
        // env's thread; `data` is its live argument.
        let digest =
            unsafe { shared::with_sync_bytes(env, data, |b| hash::digest_bytes(algorithm, b)) }?;
        match digest {
            // SAFETY: `output_value`'s contract holds: inside this call on the
            // env's thread; the value is returned to JS below.
            Some(d) => unsafe { output_value(env, hash::encode(&d, encoding)) }.map(Some),
            // SAFETY: `checked`'s contract holds: inside this call, `data`
            // its live argument.
            None => unsafe { checked(env, code, data) },
        }
    };
    match run() {
        Ok(Some(v)) => v,
        // The checked path threw: its exception is pending.
        Ok(None) => std::ptr::null_mut(),
        Err(e) => {
            let error = e.to_js(&env.env()).raw();
            // SAFETY: node_api's contract (inside this callback) holds:
            // throwing the error object just made is how a callback from JS
            // reports failure; we return no value after it.
            let thrown = unsafe { node_api::throw(env, error) };
            debug_assert!(thrown.is_ok());
            std::ptr::null_mut()
        }
    }
}

/// The façade's checked path ends here (`hashChecked`): `data` of the
/// `kind` it found, hashed on the calling thread.
#[napi]
pub fn hash_sync<'e>(
    env: &'e Env,
    kind_code: u32,
    data: Unknown<'e>,
    algorithm_code: u32,
    encoding_code: u32,
) -> napi::Result<Unknown<'e>> {
    let run = || -> Result<Output, Error> {
        let (algorithm, encoding) = hash_codes(algorithm_code, encoding_code)?;
        let kind = kind(kind_code)?;
        let state = crate::thread::ThreadState::get(env)?;
        // SAFETY: `shared::capture`'s contract holds: inside this napi call on
        // the env's thread; `data` is its live argument, and a Sync capture is
        // used only before the call returns.
        let cap = unsafe {
            shared::capture(
                RawEnv::of(env),
                data.raw(),
                kind,
                &state.shared,
                CaptureMode::Sync,
            )
        }?;
        // On this thread only, as one piece (never rayon's global pool:
        // a synchronous call keeps to the thread that made it).
        // SAFETY: `Input::read`'s contract holds: `digest_bytes` is a plain
        // hash computation over the borrowed bytes (no locks, no allocation).
        let d = unsafe {
            cap.input
                .read(0..cap.input.len(), |b| hash::digest_bytes(algorithm, b))
        }
        .map_err(|g| Error::from(super::tasks::Stop::from(g)))?;
        Ok(hash::encode(&d, encoding))
    };
    let out = run().or_throw(env)?;
    // SAFETY: `output_value`'s and `unknown`'s contract holds: inside this napi
    // call on the env's thread, which returns the value.
    unsafe {
        let value = output_value(RawEnv::of(env), out).or_throw(env)?;
        Ok(unknown(env, value))
    }
}
