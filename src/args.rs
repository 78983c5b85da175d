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
        ValueType::String => describe_string(&to_string(value).unwrap_or_default()),
        ValueType::Number => format!("type number ({})", to_string(value).unwrap_or_default()),
        ValueType::Boolean => format!("type boolean ({})", to_string(value).unwrap_or_default()),
        ValueType::BigInt => format!("type bigint ({}n)", to_string(value).unwrap_or_default()),
        ValueType::Symbol => "type symbol".into(),
        _ => "an unknown value".into(),
    }
}

/// How Node's `ERR_INVALID_ARG_TYPE` shows a string received: past 28
/// UTF-16 units, its first 25 and `...`; then in single quotes, or as JSON
/// (double quotes, escapes) when it holds a single quote.
fn describe_string(s: &str) -> String {
    let shown: String = if s.encode_utf16().count() > 28 {
        let mut units = 0;
        let head: String = s
            .chars()
            .take_while(|c| {
                units += c.len_utf16();
                units <= 25
            })
            .collect();
        format!("{head}...")
    } else {
        s.to_string()
    };
    if !shown.contains('\'') {
        return format!("type string ('{shown}')");
    }
    let mut json = String::from("\"");
    for c in shown.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            '\u{8}' => json.push_str("\\b"),
            '\u{c}' => json.push_str("\\f"),
            c if (c as u32) < 0x20 => json.push_str(&format!("\\u{:04x}", c as u32)),
            c => json.push(c),
        }
    }
    json.push('"');
    format!("type string ({json})")
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
/// whether a check is made in JS or in Rust. `code` picks the variant; `a`,
/// `b` and `c` are its fields in order: for argument errors the name, the
/// expected type / range / reason, and the value received as Node describes
/// it (`lib/validate.js` describes it with `util.inspect`, as Node does).
#[napi(js_name = "__error")]
pub fn make_error(env: &Env, code: String, a: String, b: String, c: String) -> Unknown<'_> {
    let e = match code.as_str() {
        "ERR_INVALID_ARG_TYPE" => Error::invalid_arg_type(&a, &b, c),
        "ERR_INVALID_ARG_VALUE" => Error::InvalidArgValue { name: a, reason: b },
        "ERR_OUT_OF_RANGE" => Error::out_of_range(&a, &b, c),
        "ERR_NODEPERF_POOL_CLOSED" => Error::PoolClosed,
        "ERR_NODEPERF_DETACHED" => Error::Detached,
        "ERR_NODEPERF_PEER_MISSING" => Error::PeerMissing {
            feature: a,
            package: b,
            range: c,
        },
        "ERR_NODEPERF_SIDECAR" => Error::Sidecar { reason: a },
        "ERR_STRING_TOO_LONG" => Error::StringTooLong {
            max: a.parse().unwrap_or(0),
        },
        "ERR_ILLEGAL_CONSTRUCTOR" => Error::IllegalConstructor,
        "ERR_MEMORY_ALLOCATION_FAILED" => Error::AllocationFailed { what: a },
        "ERR_NODEPERF_LOW_MEMORY" => Error::LowMemory {
            needed: a.parse().unwrap_or(0),
            available: b.parse().unwrap_or(0),
            detail: c,
        },
        "ERR_NODEPERF_LOCATOR_ACTIVE" => Error::LocatorActive { reason: a },
        "ERR_NODEPERF_LOCATOR_STOPPED" => Error::LocatorStopped,
        "ERR_NODEPERF_INSPECTOR_IN_USE" => Error::InspectorInUse { reason: a },
        "ERR_NODEPERF_INSPECTOR" => Error::Inspector { reason: a },
        "ERR_NODEPERF_NO_GROUP" => Error::Group {
            code: "ERR_NODEPERF_NO_GROUP",
            message: a,
        },
        "ERR_NODEPERF_GROUP_JOINED" => Error::Group {
            code: "ERR_NODEPERF_GROUP_JOINED",
            message: a,
        },
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
    fn strings_are_described_as_node_describes_them() {
        use super::describe_string;
        assert_eq!(describe_string("x"), "type string ('x')");
        assert_eq!(describe_string("it's"), "type string (\"it's\")");
        assert_eq!(describe_string("a\nb"), "type string ('a\nb')");
        let long = "y".repeat(100);
        assert_eq!(
            describe_string(&long),
            format!("type string ('{}...')", "y".repeat(25))
        );
        let edge = "y".repeat(28);
        assert_eq!(describe_string(&edge), format!("type string ('{edge}')"));
    }

    #[test]
    fn numbers_print_as_js_does() {
        assert_eq!(describe_number(-1.0), "-1");
        assert_eq!(describe_number(100.5), "100.5");
        assert_eq!(describe_number(f64::NAN), "NaN");
        assert_eq!(describe_number(f64::NEG_INFINITY), "-Infinity");
    }
}
