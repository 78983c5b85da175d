//! @nodeperf/native: event-loop lag, a native thread pool and zero-copy
//! shared memory for Node.js. This file is the table of contents.

mod error;
mod info;
mod json;
mod thread;
mod uv;

pub use error::{Error, JsClass};
pub use info::{attach, error_for_test, loop_info, LoopInfo};
pub use json::{
    json_check_bytes_sync, json_check_string_sync, json_plan_bytes_sync, json_plan_string_sync,
    json_set_dialect, plan_utf16, plan_utf8, set_job_runner, validate_utf16, validate_utf8,
    JobBody, JsonJob, DEFAULT_SLICE,
};
