//! `loopInfo()`: what this thread's loop is, seen from the addon.

use crate::error::{Error, OrThrow};
use crate::thread::{libuv_version, ThreadState};
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::Ordering;

#[napi(object)]
pub struct LoopInfo {
    /// The libuv version inside this process, e.g. `"1.46.0"`.
    pub libuv: String,
    /// The Node-API version of this Node.js (`process.versions.napi`).
    pub napi: u32,
    /// `"main"` or `"worker-<threadId>"`.
    pub thread: String,
    /// Loop iterations counted by a check handle since the module was loaded.
    pub iterations: f64,
}

/// Creates this thread's native state. Called once by the façade on load.
#[napi]
pub fn attach(env: Env, thread_id: u32, is_main_thread: bool) -> napi::Result<()> {
    let label = if is_main_thread {
        "main".to_string()
    } else {
        format!("worker-{thread_id}")
    };
    crate::alloc::configure();
    ThreadState::attach(&env, label).or_throw(&env)?;
    Ok(())
}

#[napi]
pub fn loop_info(env: Env) -> napi::Result<LoopInfo> {
    let state = ThreadState::get(&env).or_throw(&env)?;
    Ok(LoopInfo {
        libuv: libuv_version(),
        napi: env.get_napi_version()?,
        thread: state.shared.label.clone(),
        iterations: state.shared.iterations.load(Ordering::Relaxed) as f64,
    })
}

/// Builds the JS error for one [`Error`] variant by its code, so the specs can
/// check every kind's `name`, `code` and `message` as JS sees them.
#[napi(js_name = "__errorForTest")]
pub fn error_for_test(env: &Env, code: String) -> napi::Result<Unknown<'_>> {
    let e = match code.as_str() {
        "ERR_INVALID_ARG_TYPE" => {
            Error::invalid_arg_type("data", "of type string", "type number (1)")
        }
        "ERR_INVALID_ARG_VALUE" => Error::InvalidArgValue {
            name: "task.op".into(),
            reason: "must be one of 'hash', 'json.parse'. Received 'nope'".into(),
        },
        "ERR_OUT_OF_RANGE" => Error::out_of_range("q", "> 0 and <= 100", 100.5),
        "ABORT_ERR" => Error::Aborted,
        "ERR_NODEPERF_JSON_SYNTAX" => Error::JsonSyntax {
            message: "Unexpected token 'x', \"[x]\" is not valid JSON at position 1".into(),
            position: 1,
            message_utf16: None,
        },
        "ERR_NODEPERF_QUEUE_FULL" => Error::QueueFull { max_queue: 8 },
        "ERR_NODEPERF_POOL_CLOSED" => Error::PoolClosed,
        "ERR_NODEPERF_TASK_PANICKED" => Error::TaskPanicked {
            message: "boom".into(),
        },
        "ERR_NODEPERF_THREAD_ENDED" => Error::ThreadEnded {
            thread: "worker-1".into(),
        },
        "ERR_NODEPERF_NOT_ATTACHED" => Error::NotAttached,
        "ERR_NODEPERF_LOW_MEMORY" => Error::LowMemory {
            needed: 2048 << 20,
            available: 1024 << 20,
            detail: "MemAvailable".into(),
        },
        "ERR_NODEPERF_LOCATOR_ACTIVE" => Error::LocatorActive {
            reason: "stop it first".into(),
        },
        "ERR_NODEPERF_LOCATOR_STOPPED" => Error::LocatorStopped,
        "ERR_NODEPERF_INSPECTOR_IN_USE" => Error::InspectorInUse {
            reason: "a debugger is attached".into(),
        },
        "ERR_NODEPERF_INSPECTOR" => Error::Inspector {
            reason: "-32000".into(),
        },
        _ => return Err(Error::out_of_range("code", "a known error code", code).into_napi(env)),
    };
    Ok(e.to_js(env))
}
