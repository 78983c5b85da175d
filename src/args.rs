//! Argument checks with Node's wording, for values that arrive as `Unknown`.
//! The façade also uses [`describe`] through `binding.argError(...)`, so that
//! every argument error in the package is built in one place.

use crate::error::Error;
use napi::bindgen_prelude::{JsObjectValue, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;

/// How Node's own errors describe a received value: `type string ('x')`,
/// `type number (1.5)`, `an instance of Object`, `function f`, `undefined`.
pub fn describe(value: &Unknown) -> String {
    let Ok(kind) = value.get_type() else {
        return "an unknown value".into();
    };
    match kind {
        ValueType::Undefined => "undefined".into(),
        ValueType::Null => "null".into(),
        ValueType::Object => match constructor_name(value) {
            Some(name) => format!("an instance of {name}"),
            None => "[Object: null prototype]".into(),
        },
        ValueType::Function => match string_prop(value, "name") {
            Some(name) if !name.is_empty() => format!("function {name}"),
            _ => "function ".into(),
        },
        ValueType::String => {
            let s = to_string(value).unwrap_or_default();
            let shown: String = if s.chars().count() > 25 {
                format!("{}...", s.chars().take(25).collect::<String>())
            } else {
                s
            };
            format!("type string ('{shown}')")
        }
        ValueType::Number => format!("type number ({})", to_string(value).unwrap_or_default()),
        ValueType::Boolean => format!("type boolean ({})", to_string(value).unwrap_or_default()),
        ValueType::BigInt => format!("type bigint ({}n)", to_string(value).unwrap_or_default()),
        ValueType::Symbol => "type symbol".into(),
        _ => "an unknown value".into(),
    }
}

fn to_string(value: &Unknown) -> Option<String> {
    value
        .coerce_to_string()
        .ok()?
        .into_utf8()
        .ok()?
        .into_owned()
        .ok()
}

fn string_prop(value: &Unknown, name: &str) -> Option<String> {
    let obj = value.coerce_to_object().ok()?;
    let prop: Unknown = obj.get_named_property(name).ok()?;
    if prop.get_type().ok()? != ValueType::String {
        return None;
    }
    to_string(&prop)
}

fn constructor_name(value: &Unknown) -> Option<String> {
    let obj = value.coerce_to_object().ok()?;
    let ctor: Unknown = obj.get_named_property("constructor").ok()?;
    if ctor.get_type().ok()? != ValueType::Function {
        return None;
    }
    string_prop(&ctor, "name")
}

/// A finite number, or `ERR_INVALID_ARG_TYPE`.
pub fn number(value: &Unknown, name: &str) -> Result<f64, Error> {
    if value.get_type().ok() != Some(ValueType::Number) {
        return Err(Error::invalid_arg_type(
            name,
            "of type number",
            describe(value),
        ));
    }
    value
        .coerce_to_number()
        .and_then(|n| n.get_double())
        .map_err(|_| Error::invalid_arg_type(name, "of type number", describe(value)))
}

/// A number in `(lo, hi]` (`lo_open`) or `[lo, hi]`.
pub fn number_in(
    value: &Unknown,
    name: &str,
    lo: f64,
    lo_open: bool,
    hi: f64,
    range: &str,
) -> Result<f64, Error> {
    let n = number(value, name)?;
    let low_ok = if lo_open { n > lo } else { n >= lo };
    if !(low_ok && n <= hi) {
        return Err(Error::out_of_range(name, range, describe_number(n)));
    }
    Ok(n)
}

/// Node prints numbers in range errors as JS does (`-1`, `100.5`, `NaN`).
pub fn describe_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if n == n.trunc() && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Builds a JS error through the one error model, for the façade's own
/// checks (`lib/errors.js`), so codes, classes and wording are the same
/// whether a check is made in JS or in Rust. `code` is the error code,
/// `name` the argument, `text` the expected type / the range / the reason,
/// and `value` the value received (described here, in Node's wording; a
/// string is taken as an already written description for range errors).
#[napi(js_name = "__error")]
pub fn make_error<'e>(
    env: &'e Env,
    code: String,
    name: String,
    text: String,
    value: Unknown,
) -> Unknown<'e> {
    let e = match code.as_str() {
        "ERR_INVALID_ARG_TYPE" => Error::invalid_arg_type(&name, &text, describe(&value)),
        "ERR_INVALID_ARG_VALUE" => Error::InvalidArgValue { name, reason: text },
        "ERR_OUT_OF_RANGE" => {
            let received = match value.get_type().ok() {
                Some(ValueType::Number) => number(&value, &name)
                    .map(describe_number)
                    .unwrap_or_default(),
                Some(ValueType::String) => value
                    .coerce_to_string()
                    .ok()
                    .and_then(|s| s.into_utf8().ok()?.into_owned().ok())
                    .unwrap_or_default(),
                _ => describe(&value),
            };
            Error::out_of_range(&name, &text, received)
        }
        "ABORT_ERR" => Error::Aborted,
        "ERR_NODEPERF_POOL_CLOSED" => Error::PoolClosed,
        "ERR_NODEPERF_DETACHED" => Error::Detached,
        _ => Error::InvalidArgValue {
            name: "code".into(),
            reason: format!("is not a code the façade may build: {code}"),
        },
    };
    e.to_js(env)
}

#[cfg(test)]
mod tests {
    use super::describe_number;

    #[test]
    fn numbers_print_as_js_does() {
        assert_eq!(describe_number(-1.0), "-1");
        assert_eq!(describe_number(100.5), "100.5");
        assert_eq!(describe_number(f64::NAN), "NaN");
        assert_eq!(describe_number(f64::NEG_INFINITY), "-Infinity");
    }
}
