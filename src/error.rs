//! One error type for the whole addon, and its one conversion to JS
//! (`Error::to_js`, in `error/js.rs`: the part that needs `node_api`).
//!
//! Argument errors follow Node's own conventions (`TypeError` with
//! `ERR_INVALID_ARG_TYPE`, `RangeError` with `ERR_OUT_OF_RANGE`, …), an abort
//! is an `AbortError` with `ABORT_ERR`, and the project's own failures carry
//! `ERR_NODEPERF_*` codes. Codes are stable: users match on them.

mod js;

pub use js::OrThrow;

use std::fmt;

/// Which JS constructor an [`Error`] becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsClass {
    Error,
    TypeError,
    RangeError,
    SyntaxError,
    /// An `Error` whose `name` is `'AbortError'`, as Node's own.
    AbortError,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// An argument (or option) of the wrong type.
    InvalidArgType {
        name: String,
        expected: String,
        actual: String,
    },
    /// An argument of the right type whose value is not allowed.
    InvalidArgValue { name: String, reason: String },
    /// A number outside its allowed range.
    OutOfRange {
        name: String,
        range: String,
        received: String,
    },
    /// The operation was cancelled through an `AbortSignal`.
    Aborted,
    /// Invalid JSON text; `position` is a UTF-16 offset, as `JSON.parse`'s.
    /// `message_utf16`, when present, is the exact message (V8's can hold
    /// lone surrogates, which `message` shows as U+FFFD).
    JsonSyntax {
        message: String,
        position: usize,
        message_utf16: Option<Vec<u16>>,
    },
    /// The pool's queue is at `maxQueue`.
    QueueFull { max_queue: usize },
    /// `run` after `close()`.
    PoolClosed,
    /// A task panicked on a pool thread; the pool is intact.
    TaskPanicked { message: String },
    /// The loop (thread) a monitor or task belongs to has ended.
    ThreadEnded { thread: String },
    /// The native binding was used before the façade attached this thread.
    NotAttached,
    /// A libuv call failed.
    Uv { call: &'static str, message: String },
    /// A non-shared ArrayBuffer a task was reading in place was detached
    /// (transferred) before the task finished.
    Detached,
    /// A Node-API call failed with this `napi_status`.
    Napi { call: &'static str, status: i32 },
    /// An optional peer dependency a feature needs is not installed.
    PeerMissing {
        feature: String,
        package: String,
        range: String,
    },
    /// The sidecar's worker could not start or listen; `reason` says why.
    Sidecar { reason: String },
    /// A value would need a string longer than V8 allows (`max` units):
    /// Node's own `ERR_STRING_TOO_LONG`, as `buffer.toString()` throws it.
    StringTooLong { max: u64 },
    /// A class exported for `instanceof` that only the package constructs
    /// (`new Pool()`; Node's own `new AbortSignal()` is the model).
    IllegalConstructor,
    /// Memory for `what` could not be allocated (Node's own code).
    AllocationFailed { what: String },
    /// A heap snapshot was refused: it would take about `needed` bytes of
    /// memory and `available` are free; `detail` says where the figures
    /// come from and how to override.
    LowMemory {
        needed: u64,
        available: u64,
        detail: String,
    },
    /// A leak locator already runs on this thread (one at a time).
    LocatorActive { reason: String },
    /// `read()` on a leak locator after its `stop()`.
    LocatorStopped,
    /// The inspector (or V8's sampling heap profiler) is already in use by
    /// someone else: a debugger, or another session.
    InspectorInUse { reason: String },
    /// An inspector command of ours failed; `reason` is the inspector's error.
    Inspector { reason: String },
    /// A file that is not a valid heap snapshot (empty, truncated, gzip'd,
    /// not JSON, inconsistent): what was wrong, and the byte offset where
    /// it was found when there is one.
    HeapSnapshot {
        file: String,
        offset: Option<u64>,
        reason: String,
    },
    /// A snapshot whose `meta` lacks a field or type list the analyser
    /// needs, or describes them in a way it does not know.
    HeapLayout { file: String, reason: String },
    /// An id-based diff of snapshots that cannot be compared by id (taken in
    /// different processes, or given in the wrong order).
    HeapDifferentProcess { reason: String },
    /// A snapshot file that could not be opened or read. The `code` is the
    /// OS's own (`ENOENT`, `EISDIR`, `EACCES`, ...), as `node:fs` errors have.
    /// A group (cross-process registry) failure: `code` is the OS's own
    /// (`EACCES`, ...) or one of the `ERR_NODEPERF_GROUP_*` / `NO_GROUP` codes.
    Group { code: &'static str, message: String },
    HeapFile {
        path: String,
        os_code: &'static str,
        syscall: &'static str,
        message: String,
    },
}

impl Error {
    pub fn invalid_arg_type(name: &str, expected: &str, actual: impl Into<String>) -> Self {
        Self::InvalidArgType {
            name: name.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    pub fn out_of_range(name: &str, range: &str, received: impl fmt::Display) -> Self {
        Self::OutOfRange {
            name: name.into(),
            range: range.into(),
            received: received.to_string(),
        }
    }

    /// The stable `code` property.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgType { .. } => "ERR_INVALID_ARG_TYPE",
            Self::InvalidArgValue { .. } => "ERR_INVALID_ARG_VALUE",
            Self::OutOfRange { .. } => "ERR_OUT_OF_RANGE",
            Self::Aborted => "ABORT_ERR",
            Self::JsonSyntax { .. } => "ERR_NODEPERF_JSON_SYNTAX",
            Self::QueueFull { .. } => "ERR_NODEPERF_QUEUE_FULL",
            Self::PoolClosed => "ERR_NODEPERF_POOL_CLOSED",
            Self::TaskPanicked { .. } => "ERR_NODEPERF_TASK_PANICKED",
            Self::ThreadEnded { .. } => "ERR_NODEPERF_THREAD_ENDED",
            Self::NotAttached => "ERR_NODEPERF_NOT_ATTACHED",
            Self::Uv { .. } => "ERR_NODEPERF_UV",
            Self::Detached => "ERR_NODEPERF_DETACHED",
            Self::Napi { .. } => "ERR_NODEPERF_NAPI",
            Self::PeerMissing { .. } => "ERR_NODEPERF_PEER_MISSING",
            Self::Sidecar { .. } => "ERR_NODEPERF_SIDECAR",
            Self::StringTooLong { .. } => "ERR_STRING_TOO_LONG",
            Self::IllegalConstructor => "ERR_ILLEGAL_CONSTRUCTOR",
            Self::AllocationFailed { .. } => "ERR_MEMORY_ALLOCATION_FAILED",
            Self::LowMemory { .. } => "ERR_NODEPERF_LOW_MEMORY",
            Self::LocatorActive { .. } => "ERR_NODEPERF_LOCATOR_ACTIVE",
            Self::LocatorStopped => "ERR_NODEPERF_LOCATOR_STOPPED",
            Self::InspectorInUse { .. } => "ERR_NODEPERF_INSPECTOR_IN_USE",
            Self::Inspector { .. } => "ERR_NODEPERF_INSPECTOR",
            Self::HeapSnapshot { .. } => "ERR_NODEPERF_HEAP_SNAPSHOT",
            Self::HeapLayout { .. } => "ERR_NODEPERF_HEAP_LAYOUT",
            Self::HeapDifferentProcess { .. } => "ERR_NODEPERF_HEAP_DIFFERENT_PROCESS",
            Self::HeapFile { os_code, .. } => os_code,
            Self::Group { code, .. } => code,
        }
    }

    pub fn js_class(&self) -> JsClass {
        match self {
            Self::InvalidArgType { .. }
            | Self::InvalidArgValue { .. }
            | Self::IllegalConstructor => JsClass::TypeError,
            Self::OutOfRange { .. } => JsClass::RangeError,
            Self::Aborted => JsClass::AbortError,
            Self::JsonSyntax { .. } => JsClass::SyntaxError,
            _ => JsClass::Error,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArgType {
                name,
                expected,
                actual,
            } => write!(
                f,
                "The \"{name}\" {} must be {expected}. Received {actual}",
                noun(name)
            ),
            Self::InvalidArgValue { name, reason } => {
                write!(f, "The {} '{name}' {reason}", noun(name))
            }
            Self::OutOfRange {
                name,
                range,
                received,
            } => write!(
                f,
                "The value of \"{name}\" is out of range. It must be {range}. Received {received}"
            ),
            Self::Aborted => f.write_str("The operation was aborted"),
            Self::JsonSyntax { message, .. } => f.write_str(message),
            Self::QueueFull { max_queue } => write!(
                f,
                "The pool's queue is full ({max_queue} tasks waiting); retry later or raise maxQueue"
            ),
            Self::PoolClosed => f.write_str("The pool is closed; it accepts no new tasks"),
            Self::TaskPanicked { message } => {
                write!(f, "The task panicked on a pool thread: {message}")
            }
            Self::ThreadEnded { thread } => {
                write!(f, "The event loop of {thread} has ended")
            }
            Self::NotAttached => f.write_str(
                "The native binding is not attached to this thread; load it through '@nodeperf/native'",
            ),
            Self::Uv { call, message } => write!(f, "libuv call {call} failed: {message}"),
            Self::Detached => f.write_str(
                "The ArrayBuffer a task was reading was detached (transferred) before the task finished",
            ),
            Self::Napi { call, status } => {
                write!(f, "Node-API call {call} failed with status {status}")
            }
            Self::PeerMissing {
                feature,
                package,
                range,
            } => write!(
                f,
                "{feature} needs {package} ({range}), a peer dependency that is not installed: run 'npm install {package}'"
            ),
            Self::Sidecar { reason } => write!(f, "The sidecar could not start: {reason}"),
            Self::StringTooLong { max } => {
                write!(f, "Cannot create a string longer than 0x{max:x} characters")
            }
            Self::IllegalConstructor => f.write_str("Illegal constructor"),
            Self::AllocationFailed { what } => write!(f, "Failed to allocate memory for {what}"),
            Self::LowMemory {
                needed,
                available,
                detail,
            } => write!(
                f,
                "Not enough memory for a heap snapshot: it would take about {} and {} is available ({detail})",
                mib(*needed),
                mib(*available)
            ),
            Self::LocatorActive { reason } => {
                write!(f, "A leak locator already runs on this thread: {reason}")
            }
            Self::LocatorStopped => {
                f.write_str("The leak locator was stopped; start a new one to read again")
            }
            Self::InspectorInUse { reason } => write!(f, "The inspector is in use: {reason}"),
            Self::Inspector { reason } => write!(f, "An inspector command failed: {reason}"),
            Self::HeapSnapshot {
                file,
                offset,
                reason,
            } => match offset {
                Some(at) => write!(f, "{file} is not a valid heap snapshot: {reason} (at byte {at})"),
                None => write!(f, "{file} is not a valid heap snapshot: {reason}"),
            },
            Self::Group { message, .. } => f.write_str(message),
            Self::HeapLayout { file, reason } => {
                write!(f, "{file} has a heap snapshot layout this version does not know: {reason}")
            }
            Self::HeapDifferentProcess { reason } => write!(
                f,
                "The snapshots cannot be compared by object id: {reason}. Use {{ by: 'constructor' }} to compare them by constructor"
            ),
            Self::HeapFile {
                path,
                os_code,
                syscall,
                message,
            } => write!(f, "{os_code}: {message}, {syscall} '{path}'"),
        }
    }
}

/// Bytes as MiB with one decimal (`123.4 MiB`).
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Node's word for a name: a dotted name (`options.signal`) is a property,
/// anything else an argument (as `ERR_INVALID_ARG_TYPE` words it).
fn noun(name: &str) -> &'static str {
    if name.contains('.') {
        "property"
    } else {
        "argument"
    }
}

impl std::error::Error for Error {}

impl From<crate::uv::UvError> for Error {
    fn from(e: crate::uv::UvError) -> Self {
        Self::Uv {
            call: e.call,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_errors_follow_node_wording() {
        let e = Error::invalid_arg_type("q", "of type number", "type string ('x')");
        assert_eq!(e.code(), "ERR_INVALID_ARG_TYPE");
        assert_eq!(e.js_class(), JsClass::TypeError);
        assert_eq!(
            e.to_string(),
            "The \"q\" argument must be of type number. Received type string ('x')"
        );
        let e = Error::out_of_range("q", "> 0 and <= 100", 100.5);
        assert_eq!(e.code(), "ERR_OUT_OF_RANGE");
        assert_eq!(e.js_class(), JsClass::RangeError);
        assert_eq!(
            e.to_string(),
            "The value of \"q\" is out of range. It must be > 0 and <= 100. Received 100.5"
        );
        let e = Error::invalid_arg_type("options.signal", "an instance of AbortSignal", "1");
        assert_eq!(
            e.to_string(),
            "The \"options.signal\" property must be an instance of AbortSignal. Received 1"
        );
        let e = Error::InvalidArgValue {
            name: "options.x".into(),
            reason: "is invalid".into(),
        };
        assert_eq!(e.to_string(), "The property 'options.x' is invalid");
    }

    #[test]
    fn every_own_code_is_namespaced() {
        let own = [
            Error::QueueFull { max_queue: 3 },
            Error::PoolClosed,
            Error::TaskPanicked {
                message: "boom".into(),
            },
            Error::ThreadEnded {
                thread: "worker-3".into(),
            },
            Error::NotAttached,
            Error::Uv {
                call: "uv_check_init",
                message: "invalid argument".into(),
            },
            Error::Detached,
            Error::Napi {
                call: "napi_create_promise",
                status: 9,
            },
            Error::PeerMissing {
                feature: "@nodeperf/native/prom".into(),
                package: "prom-client".into(),
                range: ">= 14".into(),
            },
            Error::Sidecar {
                reason: "listen EADDRINUSE".into(),
            },
            Error::LowMemory {
                needed: 3 << 20,
                available: 1 << 20,
                detail: "MemAvailable".into(),
            },
            Error::LocatorActive {
                reason: "stop it first".into(),
            },
            Error::LocatorStopped,
            Error::InspectorInUse {
                reason: "a debugger is attached".into(),
            },
            Error::Inspector {
                reason: "-32000".into(),
            },
            Error::Group {
                code: "ERR_NODEPERF_NO_GROUP",
                message: "not in a group".into(),
            },
        ];
        for e in own {
            assert!(e.code().starts_with("ERR_NODEPERF_"), "{e:?}");
            assert_eq!(e.js_class(), JsClass::Error);
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(Error::Aborted.code(), "ABORT_ERR");
        // Node's own codes, worded as Node's.
        let e = Error::IllegalConstructor;
        assert_eq!(e.code(), "ERR_ILLEGAL_CONSTRUCTOR");
        assert_eq!(e.js_class(), JsClass::TypeError);
        assert_eq!(e.to_string(), "Illegal constructor");
        let e = Error::AllocationFailed {
            what: "a SharedArrayBuffer of 8 bytes".into(),
        };
        assert_eq!(e.code(), "ERR_MEMORY_ALLOCATION_FAILED");
        assert_eq!(e.js_class(), JsClass::Error);
        assert_eq!(
            e.to_string(),
            "Failed to allocate memory for a SharedArrayBuffer of 8 bytes"
        );
        assert_eq!(Error::Aborted.js_class(), JsClass::AbortError);
    }

    #[test]
    fn low_memory_names_both_figures() {
        let e = Error::LowMemory {
            needed: 1536 << 20,
            available: 512 << 20,
            detail: "MemAvailable; force: true writes it anyway".into(),
        };
        assert_eq!(
            e.to_string(),
            "Not enough memory for a heap snapshot: it would take about 1536.0 MiB and 512.0 MiB is available (MemAvailable; force: true writes it anyway)"
        );
    }
}
