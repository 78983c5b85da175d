//! [`Error`]'s one conversion to a JS value. Apart from the enum because it
//! needs `node_api` (for the UTF-16 `SyntaxError`), and `node_api` needs
//! the enum (its status errors): this file depends on both, neither on it.

use super::{Error, JsClass};
use crate::node_api::{self, RawEnv};
use napi::bindgen_prelude::{
    FromNapiValue, JsError, JsObjectValue, JsRangeError, JsSyntaxError, JsTypeError, ToNapiValue,
    Unknown, Utf16String,
};
use napi::{Env, JsValue};

impl Error {
    /// Builds the JS error object. Must run on the env's own thread.
    pub fn to_js<'e>(&self, env: &'e Env) -> Unknown<'e> {
        let inner = napi::Error::new(self.code(), self.to_string());
        if let Self::JsonSyntax {
            message_utf16: Some(units),
            ..
        } = self
        {
            if let Some(value) = syntax_error_utf16(env, self.code(), units) {
                return self.decorate(value);
            }
        }
        let value = match self.js_class() {
            JsClass::Error | JsClass::AbortError => JsError::from(inner).into_unknown(*env),
            JsClass::TypeError => JsTypeError::from(inner).into_unknown(*env),
            JsClass::RangeError => JsRangeError::from(inner).into_unknown(*env),
            JsClass::SyntaxError => JsSyntaxError::from(inner).into_unknown(*env),
        };
        self.decorate(value)
    }

    /// Adds the extra own properties; failures here leave a still-correct error.
    fn decorate<'e>(&self, value: Unknown<'e>) -> Unknown<'e> {
        if let Ok(mut obj) = value.coerce_to_object() {
            if self.js_class() == JsClass::AbortError {
                let _ = obj.set_named_property("name", "AbortError");
            }
            if let Self::JsonSyntax { position, .. } = self {
                let _ = obj.set_named_property("position", *position as f64);
            }
            if let Self::HeapSnapshot {
                offset: Some(at), ..
            } = self
            {
                let _ = obj.set_named_property("offset", *at as f64);
            }
            if let Self::HeapFile { path, syscall, .. } = self {
                let _ = obj.set_named_property("path", path.as_str());
                let _ = obj.set_named_property("syscall", *syscall);
            }
        }
        value
    }

    /// The `napi::Error` that throws (or rejects with) exactly [`Self::to_js`].
    pub fn into_napi(self, env: &Env) -> napi::Error {
        napi::Error::from(self.to_js(env))
    }
}

/// A `SyntaxError` whose message is UTF-16 (lone surrogates kept), with
/// `code`, as `node_api_create_syntax_error` makes it.
fn syntax_error_utf16<'e>(env: &'e Env, code: &str, units: &[u16]) -> Option<Unknown<'e>> {
    let raw_env = env.raw();
    // SAFETY: `env` is the napi-rs env `to_js` was given, whose contract puts
    // us on that env's own thread inside a call or scope of it, as
    // `to_napi_value`, `node_api::syntax_error` and `from_napi_value` need;
    // `msg` and `code` are strings made just now in the same scope, and
    // `out` is the error that call made there.
    unsafe {
        let msg = Utf16String::to_napi_value(raw_env, Utf16String::from(units.to_vec())).ok()?;
        let code = String::to_napi_value(raw_env, code.to_string()).ok()?;
        let out = node_api::syntax_error(RawEnv::of(env), code, msg).ok()?;
        Unknown::from_napi_value(raw_env, out).ok()
    }
}

/// `result.or_throw(env)?` in `#[napi]` functions.
pub trait OrThrow<T> {
    fn or_throw(self, env: &Env) -> napi::Result<T>;
}

impl<T> OrThrow<T> for Result<T, Error> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| e.into_napi(env))
    }
}
