//! JSON off the main thread: `parseJson` gives exactly what `JSON.parse`
//! gives, while the main thread only ever runs short slices of work.
//!
//! - `scan.rs`: the off-thread pass. Validates like V8 (same errors, same
//!   positions) and plans the main thread's work.
//! - `plan.rs`: the op stream the main thread (lib/json.js) executes.
//! - `message.rs`: V8's error messages, with UTF-16 positions.
//! - `text.rs`: UTF-8 / UTF-16 units and UTF-16 offset arithmetic.
//! - `job.rs`: a job's state (the scan streaming ops to the JS side, a
//!   string's text fed in chunks), the pure entry points, and the
//!   synchronous checks. The pool binds a job to the pool it is called on
//!   (`src/pool/json.rs`); nothing here depends on the pool.
//!
//! Why this split, and the numbers behind it: `README.md` in this folder.

mod job;
mod message;
mod plan;
mod scan;
mod text;

pub use job::{
    json_check_bytes_sync, json_check_string_sync, json_plan_bytes_sync, json_plan_string_sync,
    json_set_dialect, make_notify, plan_utf16, plan_utf8, slice_option, validate_utf16,
    validate_utf8, JobState, Outcome, TakenBatch, DEFAULT_SLICE,
};
