//! The JS-facing JSON job (`lib/json.js` drives it): binds one
//! [`JobState`] to the pool handle it was called on. The job is reserved
//! against that pool's queue, runs on its threads, is counted in its stats
//! and metrics (op `json.parse` / `json.validate`), and holds a pending
//! entry on the handle until its scan has ended, so the handle's `close()`
//! waits for it (and an owned pool is not shut down under it). Byte input
//! is captured exactly as a hash input is (`crate::shared::capture`): one
//! zero-copy path, one detach watch, one fault guard.

use super::api::{accept, accept_held, NativePool};
use super::js::{Held, JsSide};
use super::tasks::json::{JsonTask, Text};
use super::tasks::Task;
use crate::error::{Error, OrThrow};
use crate::json::{make_notify, slice_option, JobState, TakenBatch};
use crate::node_api::{RawEnv, Reference};
use crate::shared::{self, CaptureMode, DataKind};
use napi::bindgen_prelude::{Function, Unknown};
use napi::{Env, JsString, JsValue};
use napi_derive::napi;
use std::cell::RefCell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// One `parseJson` / `validateJson` call in flight, on one pool.
#[napi(js_name = "JsonJob")]
pub struct JsonJob {
    job: Arc<JobState>,
    /// A string job's scan, accepted but not yet handed to the pool: it
    /// starts once the JS side has copied the whole text in (or the job
    /// was cancelled, so that it ends at once), so that no pool thread
    /// waits for a JS thread to feed it.
    held: RefCell<Option<Held>>,
}

/// A new job, what it scans, and what its pending entry keeps: the
/// reference to an in-place input's buffer and its detach watch.
type Made = (
    Arc<JobState>,
    Text,
    Option<Reference>,
    Option<Arc<AtomicBool>>,
);

/// Makes a job (`make`, which may capture its input), reserves a place
/// for its scan on `pool` and enqueues it there, after the small tasks
/// this thread submitted before it (tasks start in submission order).
fn submit(
    env: &Env,
    pool: &NativePool,
    make: impl FnOnce(&JsSide) -> Result<Made, Error>,
    slice: u32,
    validate_only: bool,
) -> Result<JsonJob, Error> {
    let js = JsSide::get(env)?;
    js.flush_all();
    let mut made = None;
    accept(
        &js,
        pool.handle(),
        |js| {
            let (job, text, keep, watch) = make(js)?;
            let task = Task::Json(Box::new(JsonTask {
                job: Arc::clone(&job),
                text,
                slice: slice_option(slice),
                validate_only,
            }));
            made = Some(job);
            Ok((task, [keep, None], watch))
        },
        false,
    )?;
    let job = made.expect("accept built the task");
    Ok(JsonJob {
        job,
        held: RefCell::new(None),
    })
}

/// A string job: accepted on `pool` now, its scan held until the text is
/// all copied in; meanwhile a side job on the pool's threads pre-faults the
/// buffer the text is copied into.
fn submit_string(
    env: &Env,
    pool: &NativePool,
    job: Arc<JobState>,
    slice: u32,
    validate_only: bool,
) -> Result<JsonJob, Error> {
    let js = JsSide::get(env)?;
    js.flush_all();
    let task = Task::Json(Box::new(JsonTask {
        job: Arc::clone(&job),
        text: Text::Fed,
        slice: slice_option(slice),
        validate_only,
    }));
    let held = accept_held(
        &js,
        pool.handle(),
        |_| Ok((task, [None, None], None)),
        false,
    )?;
    let me = JsonJob {
        job,
        held: RefCell::new(Some(held)),
    };
    me.start_if_fed();
    me.prefault();
    Ok(me)
}

#[napi]
impl JsonJob {
    /// A job on `pool` over a string of `length` UTF-16 units, fed with
    /// `feed`. `slice` 0 means the default. `onReady` is called (on this
    /// thread) when ops arrive, more can be fed, or the job ends, while the
    /// JS side waits. Throws `ERR_NODEPERF_POOL_CLOSED` after the pool's
    /// `close()`, `ERR_NODEPERF_QUEUE_FULL` over its `maxQueue`.
    #[napi(factory)]
    pub fn for_string(
        env: &Env,
        pool: &NativePool,
        length: f64,
        slice: u32,
        validate_only: bool,
        on_ready: Function<'_, (), Unknown<'static>>,
    ) -> napi::Result<Self> {
        let notify = make_notify(on_ready)?;
        let job = JobState::for_string(length, notify).or_throw(env)?;
        submit_string(env, pool, job, slice, validate_only).or_throw(env)
    }

    /// A job on `pool` over UTF-8 bytes (any ArrayBufferView; the façade
    /// passes a `Uint8Array`), captured as hash inputs are: copied up to
    /// 1 KiB, else read in place (see `src/shared/README.md`). Otherwise
    /// as [`Self::for_string`].
    #[napi(factory)]
    pub fn for_bytes(
        env: &Env,
        pool: &NativePool,
        bytes: Unknown<'_>,
        slice: u32,
        validate_only: bool,
        on_ready: Function<'_, (), Unknown<'static>>,
    ) -> napi::Result<Self> {
        let notify = make_notify(on_ready)?;
        let make = |js: &JsSide| {
            let raw = RawEnv::of(env);
            // SAFETY: `shared::capture`'s contract holds: we are inside this
            // napi call on the env's thread, `bytes` is its live argument,
            // and `js.thread` is this env's ThreadShared.
            let cap = unsafe {
                shared::capture(
                    raw,
                    bytes.raw(),
                    DataKind::View,
                    &js.thread,
                    CaptureMode::Task,
                )
            }?;
            let job = JobState::for_bytes(cap.input.len(), notify)?;
            Ok((job, Text::Bytes(cap.input), cap.keep, cap.watch))
        };
        submit(env, pool, make, slice, validate_only).or_throw(env)
    }

    /// Copies the next piece of the string in (at most `writable` units).
    /// Returns how many units are still to come.
    #[napi]
    pub fn feed(&self, env: &Env, chunk: JsString<'_>) -> napi::Result<f64> {
        let left = self.job.feed(env, &chunk).or_throw(env)?;
        self.start_if_fed();
        self.prefault();
        Ok(left)
    }

    /// How many units `feed` may copy now without faulting fresh pages on
    /// this thread. When 0 while the string is not all fed, `take` returns
    /// `null` and `onReady` comes once more can be fed.
    #[napi(getter)]
    pub fn writable(&self) -> f64 {
        self.job.writable()
    }

    /// The next batch of ops, or `null` if none is there. When it returns
    /// `null` while the job is still running, `onReady` will be called once
    /// more ops arrive or the job ends.
    #[napi]
    pub fn take(&self) -> Option<TakenBatch> {
        self.job.take()
    }

    /// 0 running, 1 done (valid; every op taken), 2 failed, 3 cancelled.
    #[napi(getter)]
    pub fn status(&self) -> u32 {
        self.job.status()
    }

    /// The error a failed job ends with (a `SyntaxError` with `position`).
    #[napi]
    pub fn error<'e>(&self, env: &'e Env) -> Option<Unknown<'e>> {
        self.job.error(env)
    }

    /// Stops the scan as soon as it notices; the job ends `cancelled`.
    #[napi]
    pub fn cancel(&self) {
        self.job.cancel();
        self.start();
    }

    /// The JS side is done with the job: cancels it if it still runs and
    /// frees a string job's copy of the text now rather than at GC.
    #[napi]
    pub fn close(&self) {
        self.job.close();
        self.start();
    }
}

impl JsonJob {
    /// Queues a side job on the pool's threads that pre-faults the next
    /// stretch of a string job's buffer, if it wants one (see `Fill` in
    /// `src/json/job.rs`): bounded work that never waits, so no pool thread
    /// is held for long, and none is held at all once the scan started.
    fn prefault(&self) {
        let held = self.held.borrow();
        let Some(held) = held.as_ref() else { return };
        if self.job.wants_prefault() {
            let job = Arc::clone(&self.job);
            if !held.core().spawn_side(move || job.prefault()) {
                // Shut down: no side job will come; `feed` writes freely.
                self.job.prefault_refused();
            }
        }
    }

    fn start_if_fed(&self) {
        if self.job.fed() {
            self.start();
        }
    }

    /// Hands a held scan to the pool: it scans the whole text, or, for a
    /// job cancelled first, ends at once (so its pending entry is freed
    /// and the handle's `close()` does not wait for it).
    fn start(&self) {
        if let Some(held) = self.held.borrow_mut().take() {
            held.start();
        }
    }
}

impl Drop for JsonJob {
    fn drop(&mut self) {
        // Collected or torn down with its thread: nobody will feed or read
        // it any more.
        self.job.cancel();
        self.start();
    }
}
