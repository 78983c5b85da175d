//! `json.parse` / `json.validate` as pool tasks: the scan of one
//! [`JobState`] (`src/json/job.rs`), run on the pool the job was created on
//! (`src/pool/json.rs`), counted under its op like any task. The job tells
//! its JS side how it ended; the task's own result only feeds the pool's
//! counters, and its `Done` frees the job's pending entry (so `close()`
//! waits for it).

use super::{Op, Output, Stop};
use crate::error::Error;
use crate::json::{JobState, Outcome};
use crate::shared::{Gone, Input};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// What a job scans.
pub enum Text {
    /// A string, fed by the JS side into the job's own buffer.
    Fed,
    /// Bytes captured as hash inputs are (copied, or read in place).
    Bytes(Input),
}

pub struct JsonTask {
    pub job: Arc<JobState>,
    pub text: Text,
    pub slice: usize,
    pub validate_only: bool,
}

impl Drop for JsonTask {
    fn drop(&mut self) {
        // A task the pool drops without running it (shut down under it, or
        // its thread ended) must still end its job, or the JS side would
        // wait for it forever; after `run` the job has ended and this does
        // nothing.
        self.job.abandon(Error::PoolClosed);
    }
}

impl JsonTask {
    pub fn op(&self) -> Op {
        if self.validate_only {
            Op::JsonValidate
        } else {
            Op::JsonParse
        }
    }

    /// Runs the scan to its end. A scan that ends with a `SyntaxError`
    /// counts as completed (the pool did the work; the job's answer is
    /// "invalid"), as it did before jobs ran on their own pool.
    pub fn run(&self) -> Result<Output, Stop> {
        let (job, slice, validate_only) = (&self.job, self.slice, self.validate_only);
        let outcome = catch_unwind(AssertUnwindSafe(|| match &self.text {
            Text::Fed => Ok(job.scan_string(slice, validate_only)),
            Text::Bytes(input) => {
                // SAFETY: `Input::read_whole`'s contract holds: the scan loads
                // input bytes only in the scanner and the UTF-8 decoder, never while it holds a lock (the op queue's
                // mutex is taken only to publish finished batches) nor
                // inside the allocator; so a fault abandons no half-done
                // lock or allocation, and what the skipped frames own (op
                // vectors, an `Arc` of the job) is leaked, not freed twice.
                unsafe {
                    input.read_whole(|bytes, watch| {
                        job.scan_bytes(bytes, slice, validate_only, watch)
                    })
                }
            }
        }));
        let outcome = match outcome {
            Ok(Ok(o)) => o,
            Ok(Err(Gone::Detached)) => {
                job.fail(Error::Detached);
                Outcome::Detached
            }
            Ok(Err(Gone::Ended)) => {
                // Nobody is left to tell; the env's teardown drops the job.
                job.fail(Error::ThreadEnded {
                    thread: "the submitting thread".into(),
                });
                return Err(Stop::Ended);
            }
            Err(panic) => {
                // The scan catches its own panics; this is a backstop so the
                // JS side never waits for a job that will not end.
                job.fail(Error::TaskPanicked {
                    message: "the JSON job panicked".into(),
                });
                std::panic::resume_unwind(panic)
            }
        };
        match outcome {
            Outcome::Done => Ok(Output::Count(0.0)),
            Outcome::Cancelled => Err(Stop::Cancelled),
            Outcome::Detached => Err(Stop::Detached),
            Outcome::Ended => Err(Stop::Ended),
        }
    }
}
