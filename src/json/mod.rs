//! JSON off the main thread: `parseJson` gives exactly what `JSON.parse`
//! gives, while the main thread only ever runs short slices of work.
//!
//! - `scan.rs`: the off-thread pass. Validates like V8 (same errors, same
//!   positions) and plans the main thread's work.
//! - `plan.rs`: the op stream the main thread (lib/json.js) executes.
//! - `message.rs`: V8's error messages, with UTF-16 positions.
//! - `text.rs`: UTF-8 / UTF-16 units and UTF-16 offset arithmetic.
//! - `job.rs`: a job's state (the scan streaming ops to the JS side, a
//!   string's text fed in chunks). The pool binds a job to the pool it is
//!   called on (`src/pool/json.rs`); nothing here depends on the pool.
//! - `whole.rs`: the pure whole-text entry points and the synchronous
//!   checks.
//!
//! Why this split, and the numbers behind it: `README.md` in this folder.

mod job;
mod message;
mod plan;
mod scan;
mod text;
mod whole;

pub use job::{make_notify, slice_option, JobState, Outcome, TakenBatch, DEFAULT_SLICE};
pub use whole::{
    json_check_bytes_sync, json_check_string_sync, json_plan_bytes_sync, json_plan_string_sync,
    json_set_dialect, plan_utf16, plan_utf8, validate_utf16, validate_utf8,
};
