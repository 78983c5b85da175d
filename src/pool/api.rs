//! The pool's napi surface (its raw fast paths, `submit` and the stage,
//! are in `fast.rs`). The façade (`index.js`) validates shapes and maps
//! names to codes; everything here re-checks what memory safety depends on.

use super::core::{PoolCore, Snapshot, Summary};
use super::js::{HandleState, Held, JsSide, Keep};
use super::tasks::hash::{self, Algorithm, Encoding};
use super::tasks::heap::HeapTask;
use super::tasks::Task;
use crate::error::{Error, OrThrow};
use crate::heap::{By, SummaryOptions};
use crate::node_api::{RawEnv, Value};
use crate::shared::{self, CaptureMode, DataKind};
use napi::bindgen_prelude::{Float64Array, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

/// `maxQueue` when none is given: 2^17 waiting tasks.
pub const DEFAULT_MAX_QUEUE: usize = 131_072;
/// Most threads a pool may have.
pub const MAX_THREADS: u32 = 256;

/// The process-wide default pool, shared by every thread.
static DEFAULT: OnceLock<Arc<PoolCore>> = OnceLock::new();

/// A JS thread's handle on a pool.
#[napi]
pub struct NativePool {
    handle: Rc<HandleState>,
    /// Its index in this thread's pool table (the raw submit path).
    index: u32,
}

impl NativePool {
    fn new(js: &Rc<JsSide>, handle: Rc<HandleState>) -> Self {
        let index = js.add_pool(&handle);
        Self { handle, index }
    }

    /// The pool this handle submits to, and what its `close()` waits for.
    pub(super) fn handle(&self) -> &Rc<HandleState> {
        &self.handle
    }
}

impl Drop for NativePool {
    fn drop(&mut self) {
        JsSide::with_current(|js| js.remove_pool(self.index));
    }
}

#[napi(object)]
pub struct TimeSummary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[napi(object)]
pub struct PoolStats {
    pub threads: u32,
    pub queued: u32,
    pub active: u32,
    pub completed: f64,
    pub failed: f64,
    pub rejected: f64,
    pub wait_time: TimeSummary,
    pub run_time: TimeSummary,
}

impl From<Summary> for TimeSummary {
    fn from(s: Summary) -> Self {
        Self {
            p50: s.p50,
            p99: s.p99,
            max: s.max,
            mean: s.mean,
        }
    }
}

impl From<Snapshot> for PoolStats {
    fn from(s: Snapshot) -> Self {
        Self {
            threads: s.threads as u32,
            queued: s.queued as u32,
            active: s.active as u32,
            completed: s.completed as f64,
            failed: s.failed as f64,
            rejected: s.rejected as f64,
            wait_time: s.wait_time.into(),
            run_time: s.run_time.into(),
        }
    }
}

fn check_threads(threads: u32) -> Result<usize, Error> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::out_of_range(
            "options.threads",
            &format!(">= 1 && <= {MAX_THREADS}"),
            threads,
        ));
    }
    Ok(threads as usize)
}

fn max_queue(v: f64) -> Result<usize, Error> {
    if v.is_infinite() && v > 0.0 {
        return Ok(usize::MAX);
    }
    if !(v >= 1.0 && v.fract() == 0.0 && v <= 1e15) {
        return Err(Error::out_of_range(
            "options.maxQueue",
            "an integer >= 1, or Infinity",
            v,
        ));
    }
    Ok(v as usize)
}

/// This thread's handle on the process-wide default pool (created by the
/// first thread that asks, with `threads` threads).
#[napi]
pub fn default_pool(env: Env, threads: u32) -> napi::Result<NativePool> {
    let threads = check_threads(threads).or_throw(&env)?;
    let core = match DEFAULT.get() {
        Some(c) => Arc::clone(c),
        None => {
            let c = PoolCore::new(threads, DEFAULT_MAX_QUEUE, "nodeperf-pool").or_throw(&env)?;
            Arc::clone(DEFAULT.get_or_init(|| c))
        }
    };
    let js = JsSide::get(&env).or_throw(&env)?;
    Ok(NativePool::new(&js, HandleState::new(core, false)))
}

/// A pool of its own for this thread (`createPool`).
#[napi]
pub fn create_pool(env: Env, threads: u32, max_queue_option: f64) -> napi::Result<NativePool> {
    let threads = check_threads(threads).or_throw(&env)?;
    let max_queue = max_queue(max_queue_option).or_throw(&env)?;
    let core = PoolCore::new(threads, max_queue, "nodeperf-pool").or_throw(&env)?;
    let js = JsSide::get(&env).or_throw(&env)?;
    js.adopt_pool(&core);
    Ok(NativePool::new(&js, HandleState::new(core, true)))
}

pub(super) fn algorithm(code: u32) -> Result<Algorithm, Error> {
    Algorithm::from_code(code).ok_or_else(|| Error::InvalidArgValue {
        name: "task.algorithm".into(),
        reason: format!("must be one of {}", Algorithm::NAMES.join(", ")),
    })
}

pub(super) fn encoding(code: u32) -> Result<Encoding, Error> {
    Encoding::from_code(code).ok_or_else(|| Error::InvalidArgValue {
        name: "task.encoding".into(),
        reason: format!("must be one of {}", Encoding::NAMES.join(", ")),
    })
}

/// The algorithm and encoding of a hash, checked together: `'number'` and
/// `'bigint'` only for digests they hold exactly.
pub(super) fn hash_codes(
    algorithm_code: u32,
    encoding_code: u32,
) -> Result<(Algorithm, Encoding), Error> {
    let a = algorithm(algorithm_code)?;
    let e = encoding(encoding_code)?;
    if !e.fits(a) {
        return Err(Error::InvalidArgValue {
            name: "task.encoding".into(),
            reason: hash::does_not_fit(a, e),
        });
    }
    Ok((a, e))
}

pub(super) fn kind(code: u32) -> Result<DataKind, Error> {
    DataKind::from_code(code).ok_or_else(|| {
        Error::invalid_arg_type(
            "task.data",
            "of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer",
            "another value",
        )
    })
}

/// Wraps a raw value for returning from the napi call that made it.
///
/// # Safety
/// `v` is a live value of `env`, made during the current napi call.
pub(super) unsafe fn unknown(env: &Env, v: Value) -> Unknown<'_> {
    // SAFETY: the caller's contract is exactly `from_raw_unchecked`'s.
    unsafe { Unknown::from_raw_unchecked(env.raw(), v) }
}

/// A task, what its pending entry keeps referenced, and its detach watch.
pub(super) type Built = (Task, Keep, Option<Arc<AtomicBool>>);

/// Checks, captures, reserves and enqueues one task; returns its id. On a
/// refusal, what `build` referenced is released as it is dropped.
pub(super) fn accept(
    js: &Rc<JsSide>,
    handle: &Rc<HandleState>,
    build: impl FnOnce(&Rc<JsSide>) -> Result<Built, Error>,
    cancellable: bool,
) -> Result<u32, Error> {
    let held = accept_held(js, handle, build, cancellable)?;
    let id = held.id();
    held.start();
    Ok(id)
}

/// As [`accept`], for a task that reaches the pool later ([`Held::start`]).
pub(super) fn accept_held(
    js: &Rc<JsSide>,
    handle: &Rc<HandleState>,
    build: impl FnOnce(&Rc<JsSide>) -> Result<Built, Error>,
    cancellable: bool,
) -> Result<Held, Error> {
    if handle.closed.get() {
        return Err(Error::PoolClosed);
    }
    let (task, keep, watch) = build(js)?;
    handle.core.reserve(task.op())?;
    Ok(js.enqueue_held(handle, task, keep, watch, cancellable))
}

#[napi]
impl NativePool {
    /// This handle's index for the raw submit function.
    #[napi(getter)]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// `{ op: 'hash', algorithm, data, chunkSize, out }` → task id.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn submit_chunks<'e>(
        &self,
        env: &'e Env,
        kind_code: u32,
        data: Unknown<'e>,
        algorithm_code: u32,
        chunk_size: f64,
        out: Unknown<'e>,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(env).or_throw(env)?;
        accept(
            &js,
            &self.handle,
            |js| {
                let algorithm = algorithm(algorithm_code)?;
                let kind = kind(kind_code)?;
                if !(chunk_size >= 1.0 && chunk_size.fract() == 0.0 && chunk_size <= 4294967296.0) {
                    return Err(Error::out_of_range(
                        "task.chunkSize",
                        "an integer >= 1 and <= 4294967296 (4 GiB)",
                        chunk_size,
                    ));
                }
                let chunk = chunk_size as usize;
                let raw = RawEnv::of(env);
                // SAFETY: `shared::capture_out`'s contract holds: inside this
                // napi call on the env's thread; `out` is its live argument and
                // `js.thread` this env's ThreadShared.
                let captured = unsafe { shared::capture_out(raw, out.raw(), &js.thread) };
                let (out, out_ref) = captured?;
                // SAFETY: `shared::capture`'s contract holds: inside this
                // napi call on the env's thread; `data` is its live argument
                // and `js.thread` this env's ThreadShared; on failure
                // `out_ref` is deleted as it is dropped.
                let cap = unsafe {
                    shared::capture(raw, data.raw(), kind, &js.thread, CaptureMode::Task)
                }?;
                let keep = [cap.keep, Some(out_ref)];
                let need = hash::chunk_count(cap.input.len(), chunk) * algorithm.digest_len();
                if out.len() < need {
                    return Err(Error::out_of_range(
                        "task.out.byteLength",
                        &format!(">= {need} (chunks x digest length)"),
                        out.len(),
                    ));
                }
                Ok((
                    Task::HashChunks {
                        algorithm,
                        input: cap.input,
                        chunk_size: chunk,
                        out,
                    },
                    keep,
                    cap.watch,
                ))
            },
            cancellable,
        )
        .or_throw(env)
    }

    /// `heap.summary(path)` (`kind` 0) or `heap.diff(path, other)` (`kind`
    /// 1, `by` 0 id, 1 constructor) → task id. `top` is how many
    /// constructors to list (`Infinity` for all), `paths` how many retainer
    /// paths a summary or an id diff gives. The façade has checked the values; they are
    /// checked again here.
    #[napi(js_name = "__submitHeap")]
    #[allow(clippy::too_many_arguments)]
    pub fn submit_heap(
        &self,
        env: Env,
        kind: u32,
        path: String,
        other: String,
        by: u32,
        top: f64,
        paths: u32,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(&env).or_throw(&env)?;
        accept(
            &js,
            &self.handle,
            |_| {
                let top = if top.is_infinite() && top > 0.0 {
                    usize::MAX
                } else if top >= 0.0 && top.fract() == 0.0 && top <= 9007199254740991.0 {
                    top as usize
                } else {
                    return Err(Error::out_of_range(
                        "options.top",
                        "an integer >= 0, or Infinity",
                        top,
                    ));
                };
                let task = match (kind, by) {
                    (0, _) => HeapTask::Summary {
                        path,
                        options: SummaryOptions {
                            top,
                            paths: paths as usize,
                        },
                    },
                    (1, 0 | 1) => HeapTask::Diff {
                        a: path,
                        b: other,
                        by: if by == 0 { By::Id } else { By::Constructor },
                        top,
                        paths: paths as usize,
                    },
                    _ => {
                        return Err(Error::InvalidArgValue {
                            name: "options.by".into(),
                            reason: "must be 'id' or 'constructor'".into(),
                        })
                    }
                };
                Ok((Task::Heap(Box::new(task)), [None, None], None))
            },
            cancellable,
        )
        .or_throw(&env)
    }

    /// Internal (the specs): a task that sleeps `ms` or panics → task id.
    #[napi(js_name = "__submitTest")]
    pub fn submit_test(
        &self,
        env: Env,
        panic: bool,
        ms: u32,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(&env).or_throw(&env)?;
        accept(
            &js,
            &self.handle,
            |_| Ok((Task::Test { panic, ms }, [None, None], None)),
            cancellable,
        )
        .or_throw(&env)
    }

    /// Task `id`'s Promise was rejected by its `signal`: stop the task.
    #[napi]
    pub fn abort(&self, env: Env, id: u32) -> napi::Result<()> {
        JsSide::get(&env).or_throw(&env)?.abort(id);
        Ok(())
    }

    /// Stops accepting tasks on this handle; resolves once they are done.
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let js = JsSide::get(env).or_throw(env)?;
        let promise = js.close(&self.handle).or_throw(env)?;
        // SAFETY: `unknown`'s contract holds: `close` made the Promise during
        // this napi call, which returns it.
        Ok(unsafe { unknown(env, promise) })
    }

    #[napi]
    pub fn stats(&self) -> PoolStats {
        // Small tasks this thread holds count as queued once handed over.
        JsSide::with_current(|js| js.flush(&self.handle));
        self.handle.core.snapshot().into()
    }

    /// This pool's metrics, packed as `defaultPoolMetrics` packs the
    /// default pool's.
    #[napi]
    pub fn metrics(&self, bounds: Vec<f64>) -> Float64Array {
        packed_metrics(&self.handle.core, &bounds)
    }

    #[napi(getter)]
    pub fn threads(&self) -> u32 {
        self.handle.core.threads() as u32
    }

    #[napi(getter)]
    pub fn max_queue(&self) -> f64 {
        let m = self.handle.core.max_queue();
        if m == usize::MAX {
            f64::INFINITY
        } else {
            m as f64
        }
    }

    #[napi(getter)]
    pub fn queue_size(&self) -> u32 {
        JsSide::with_current(|js| js.flush(&self.handle));
        self.handle.core.snapshot_queued() as u32
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.handle.closed.get()
    }
}

/// The default pool's metrics (see `PoolCore::metrics`), or null while it
/// has not been created. `bounds` are histogram bounds in seconds.
#[napi]
pub fn default_pool_metrics(bounds: Vec<f64>) -> Option<Float64Array> {
    Some(packed_metrics(DEFAULT.get()?, &bounds))
}

/// A pool's metrics packed for `@nodeperf/native/prom`, with histogram
/// bounds given in seconds.
fn packed_metrics(core: &PoolCore, bounds: &[f64]) -> Float64Array {
    let bounds_ns: Vec<u64> = bounds.iter().map(|b| (b * 1e9) as u64).collect();
    Float64Array::new(core.metrics(&bounds_ns))
}

/// The default pool's metrics before packing, or None until it exists
/// (the group publisher's read).
pub fn default_metrics_parts() -> Option<crate::pool::core::MetricsParts> {
    Some(DEFAULT.get()?.metrics_parts())
}
