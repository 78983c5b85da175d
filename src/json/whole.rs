//! JSON over a whole text at once: the pure [`plan_utf8`] /
//! [`validate_utf8`] (and their UTF-16 twins) a pool task or a caller runs
//! to the end, and the synchronous napi entry points built on them
//! (`jsonCheck*Sync`, `jsonPlan*Sync`, `jsonSetDialect`). The streamed,
//! in-flight jobs are in `job.rs`.

use super::message::{describe, set_dialect, View};
use super::plan::{NullSink, VecSink};
use super::scan::{Scanner, Stop, Whole, MAX_UNITS};
use super::text::Unit;
use crate::error::{Error, OrThrow};
use napi::bindgen_prelude::{Uint32Array, Uint8ArraySlice, Unknown, Utf16String};
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::AtomicBool;

/// Validates `bytes` (UTF-8) and returns the whole plan (see `plan.rs`).
/// The pure off-thread half of `json.parse`, for a pool task to run.
pub fn plan_utf8(bytes: &[u8], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error> {
    plan_units(bytes, slice, cancel)
}

/// [`plan_utf8`] for UTF-16 text (a copy of a JS string).
pub fn plan_utf16(units: &[u16], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error> {
    plan_units(units, slice, cancel)
}

/// Validates `bytes` (UTF-8): `Ok(())` or the `SyntaxError` `JSON.parse`
/// would throw. The pure off-thread half of `json.validate`.
pub fn validate_utf8(bytes: &[u8], cancel: &AtomicBool) -> Result<(), Error> {
    validate_units(bytes, cancel)
}

/// [`validate_utf8`] for UTF-16 text.
pub fn validate_utf16(units: &[u16], cancel: &AtomicBool) -> Result<(), Error> {
    validate_units(units, cancel)
}

pub(super) fn too_long(len: usize) -> Error {
    Error::out_of_range("data", &format!("at most {MAX_UNITS} units long"), len)
}

fn plan_units<C: Unit>(text: &[C], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error>
where
    [C]: View,
{
    if text.len() > MAX_UNITS {
        return Err(too_long(text.len()));
    }
    let (sink, r) = Scanner::new(Whole::new(text, cancel), VecSink::default(), slice).run();
    match r {
        Ok(()) => Ok(sink.ops),
        Err(stop) => Err(stop_error(text, stop)),
    }
}

fn validate_units<C: Unit>(text: &[C], cancel: &AtomicBool) -> Result<(), Error>
where
    [C]: View,
{
    if text.len() > MAX_UNITS {
        return Err(too_long(text.len()));
    }
    let (_, r) = Scanner::new(Whole::new(text, cancel), NullSink, usize::MAX).run();
    r.map_err(|stop| stop_error(text, stop))
}

fn stop_error<C>(text: &[C], stop: Stop) -> Error
where
    [C]: View,
{
    match stop {
        Stop::Syntax(fault) => describe(text, fault).into_error(),
        Stop::Cancelled => Error::Aborted,
    }
}

/// Tells the message builder how this Node's `JSON.parse` words errors
/// (see `message::set_dialect`). The façade asks `JSON.parse` once.
#[napi(js_name = "jsonSetDialect")]
pub fn json_set_dialect(line_column: bool, later_colon_is_token: bool) {
    set_dialect(line_column, later_colon_is_token);
}

/// Checks `text` on the calling thread: `null` if it is valid JSON, else the
/// `SyntaxError` (with `position`) that `parseJson` rejects with.
#[napi(js_name = "jsonCheckStringSync")]
pub fn json_check_string_sync(env: &Env, text: Utf16String) -> Option<Unknown<'_>> {
    let cancel = AtomicBool::new(false);
    validate_utf16(&text, &cancel).err().map(|e| e.to_js(env))
}

/// [`json_check_string_sync`] for UTF-8 bytes.
#[napi(js_name = "jsonCheckBytesSync")]
pub fn json_check_bytes_sync<'e>(env: &'e Env, bytes: Uint8ArraySlice<'_>) -> Option<Unknown<'e>> {
    let cancel = AtomicBool::new(false);
    validate_utf8(&bytes, &cancel).err().map(|e| e.to_js(env))
}

/// The whole plan for a string, on the calling thread (tests and tools).
#[napi(js_name = "jsonPlanStringSync")]
pub fn json_plan_string_sync(
    env: &Env,
    text: Utf16String,
    slice: u32,
) -> napi::Result<Uint32Array> {
    let cancel = AtomicBool::new(false);
    plan_utf16(&text, slice as usize, &cancel)
        .map(Uint32Array::new)
        .or_throw(env)
}

/// The whole plan for UTF-8 bytes, on the calling thread.
#[napi(js_name = "jsonPlanBytesSync")]
pub fn json_plan_bytes_sync(
    env: &Env,
    bytes: Uint8ArraySlice<'_>,
    slice: u32,
) -> napi::Result<Uint32Array> {
    let cancel = AtomicBool::new(false);
    plan_utf8(&bytes, slice as usize, &cancel)
        .map(Uint32Array::new)
        .or_throw(env)
}
