//! The pool itself: a rayon `ThreadPool` of its own (never libuv's), a
//! bounded count of waiting tasks, counters and wait/run histograms.
//!
//! # Panic handling
//! Every task runs inside `catch_unwind`; a panic becomes a rejection with
//! `ERR_NODEPERF_TASK_PANICKED` and the thread goes on to the next task. The
//! rayon panic handler is only a backstop (it logs; it never aborts).
#![forbid(unsafe_code)]

use super::completion::{Done, EnvLink};
use super::tasks::{CancelState, Op, Stop, Task, TaskCtx};
use crate::error::Error;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A task on its way to a pool thread.
pub struct Item {
    /// The key of its Promise in the submitting thread's slab.
    pub id: u32,
    pub task: Task,
    pub cancel: Option<Arc<CancelState>>,
}

/// Emptied batch buffers kept for reuse, at most this many per env.
const SPARE_BATCHES: usize = 8;
/// Smaller buffers (a lone task's) are not worth keeping.
const SPARE_MIN: usize = 16;

/// One env's emptied batch buffers, handed back by pool threads: the JS
/// thread fills them again instead of allocating (with mimalloc purging
/// freed pages at once, a fresh buffer costs page faults every batch). The
/// JS side holds one per env; every [`Batch`] carries it back.
#[derive(Default)]
pub struct BatchBuffers(Mutex<Vec<Vec<Item>>>);

impl BatchBuffers {
    /// Pool threads: keeps an emptied batch buffer for reuse.
    pub fn recycle(&self, buffer: Vec<Item>) {
        debug_assert!(buffer.is_empty());
        if buffer.capacity() < SPARE_MIN {
            return; // a single task's
        }
        let mut spare = self.0.lock();
        if spare.len() < SPARE_BATCHES {
            spare.push(buffer);
        }
    }

    /// JS thread: an empty batch buffer with room for `n` tasks.
    pub fn take(&self, n: usize) -> Vec<Item> {
        let mut buffer = self.0.lock().pop().unwrap_or_default();
        buffer.reserve(n);
        buffer
    }
}

/// Tasks of one JS thread handed to the pool in one go (one rayon job and
/// one clone of the env link for all of them): a single large task, or the
/// small tasks a thread submitted since its last flush (see `js.rs`).
pub struct Batch {
    pub env: Arc<EnvLink>,
    /// Where the emptied `items` buffer goes back to.
    pub buffers: Arc<BatchBuffers>,
    /// When the first of them was submitted (their wait time starts there).
    pub submitted: Instant,
    pub items: Vec<Item>,
}

/// A batch being run: every pool thread that takes part pulls the next
/// task from it, so a batch of large tasks spreads over the pool.
struct Running {
    env: Arc<EnvLink>,
    buffers: Arc<BatchBuffers>,
    submitted: Instant,
    items: Mutex<std::collections::VecDeque<Item>>,
}

/// Wait and run time of finished tasks, in nanoseconds: for `stats()` (3
/// significant digits), and per op for the metrics exporters (2 digits).
struct Times {
    wait: Histogram<u64>,
    run: Histogram<u64>,
    by_op: Vec<(Histogram<u64>, Histogram<u64>)>,
}

impl Times {
    fn new() -> Self {
        let h = || Histogram::new(3).expect("3 significant digits is valid");
        let h2 = || Histogram::new(2).expect("2 significant digits is valid");
        Self {
            wait: h(),
            run: h(),
            by_op: Op::ALL.iter().map(|_| (h2(), h2())).collect(),
        }
    }
}

/// Outcome columns of `nodeperf_pool_tasks_total`.
const OK: usize = 0;
const ERROR: usize = 1;
const ABORTED: usize = 2;
const REJECTED: usize = 3;
pub const OUTCOMES: usize = 4;

/// `{ p50, p99, max, mean }` in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

fn summary(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    let ms = |ns: f64| ns / 1e6;
    Summary {
        p50: ms(h.value_at_quantile(0.5) as f64),
        p99: ms(h.value_at_quantile(0.99) as f64),
        max: ms(h.max() as f64),
        mean: ms(h.mean()),
    }
}

/// A point-in-time view of a pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub threads: usize,
    pub queued: usize,
    pub active: usize,
    pub completed: u64,
    pub failed: u64,
    pub rejected: u64,
    pub wait_time: Summary,
    pub run_time: Summary,
}

pub struct PoolCore {
    threads: usize,
    max_queue: usize,
    /// Read-locked by submitting JS threads only: padded away from the
    /// counters the pool threads write.
    workers: CachePadded<RwLock<Option<rayon::ThreadPool>>>,
    queued: CachePadded<AtomicUsize>,
    active: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    /// Tasks by op and outcome (`OK`, `ERROR`, `ABORTED`, `REJECTED`).
    outcomes: Vec<[AtomicU64; OUTCOMES]>,
    /// One per pool thread (indexed by rayon's thread index), so recording
    /// never contends.
    times: Vec<Mutex<Times>>,
}

impl PoolCore {
    pub fn new(threads: usize, max_queue: usize, name: &str) -> Result<Arc<Self>, Error> {
        let name = name.to_string();
        let workers = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .panic_handler(|_| eprintln!("@nodeperf/native: a pool job panicked outside a task"))
            .build()
            .map_err(|e| Error::InvalidArgValue {
                name: "options.threads".into(),
                reason: format!("could not start the pool threads: {e}"),
            })?;
        Ok(Arc::new(Self {
            threads,
            max_queue,
            workers: CachePadded::new(RwLock::new(Some(workers))),
            queued: CachePadded::new(AtomicUsize::new(0)),
            active: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            outcomes: Op::ALL.iter().map(|_| Default::default()).collect(),
            times: (0..threads).map(|_| Mutex::new(Times::new())).collect(),
        }))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Takes a place in the queue, or fails with `ERR_NODEPERF_QUEUE_FULL`.
    pub fn reserve(&self, op: Op) -> Result<(), Error> {
        if self.reserve_many(1) == 1 {
            Ok(())
        } else {
            Err(self.reject(op, 1))
        }
    }

    /// Takes places for `n` tasks at once; returns how many it got (the
    /// rest are over `maxQueue`).
    fn reserve_many(&self, n: usize) -> usize {
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        let got = self.max_queue.saturating_sub(before).min(n);
        if got < n {
            self.queued.fetch_sub(n - got, Ordering::Relaxed);
        }
        got
    }

    /// Counts `n` rejected tasks; the error to settle them with.
    pub fn reject(&self, op: Op, n: usize) -> Error {
        self.rejected.fetch_add(n as u64, Ordering::Relaxed);
        self.outcomes[op as usize][REJECTED].fetch_add(n as u64, Ordering::Relaxed);
        Error::QueueFull {
            max_queue: self.max_queue,
        }
    }

    /// Counts a task that settled without running (aborted while queued).
    pub fn count_cancelled(&self, op: Op) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.count(op, ABORTED);
    }

    fn count(&self, op: Op, outcome: usize) {
        self.outcomes[op as usize][outcome].fetch_add(1, Ordering::Relaxed);
    }

    /// Reserves places for a batch of tasks and hands it to the pool; the
    /// tasks over `maxQueue` (possible only when several JS threads submit
    /// at once) are settled with `ERR_NODEPERF_QUEUE_FULL`.
    pub fn spawn_unreserved(self: &Arc<Self>, mut batch: Batch) {
        let got = self.reserve_many(batch.items.len());
        for item in batch.items.drain(got..) {
            if !Self::claim(&item) {
                continue;
            }
            batch.env.complete(Done {
                id: item.id,
                result: Err(self.reject(item.task.op(), 1)),
            });
        }
        if got > 0 {
            self.spawn(batch);
        }
    }

    /// Hands reserved tasks to the pool threads.
    pub fn spawn(self: &Arc<Self>, mut batch: Batch) {
        let workers = self.workers.read();
        let Some(w) = workers.as_ref() else {
            // Shut down under us: settle them rather than lose them.
            drop(workers);
            for item in batch.items.drain(..) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                if !Self::claim(&item) {
                    continue;
                }
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.count(item.task.op(), ERROR);
                batch.env.complete(Done {
                    id: item.id,
                    result: Err(Error::PoolClosed),
                });
            }
            return;
        };
        let core = Arc::clone(self);
        if batch.items.len() == 1 {
            let item = batch.items.pop().expect("one item");
            batch.buffers.recycle(batch.items);
            let (env, submitted) = (batch.env, batch.submitted);
            w.spawn(move || core.execute(&env, submitted, item));
            return;
        }
        let running = Arc::new(Running {
            env: batch.env,
            buffers: batch.buffers,
            submitted: batch.submitted,
            items: Mutex::new(batch.items.into()),
        });
        w.spawn(move || core.run_batch(running, true));
    }

    /// Runs a batch's tasks one by one; the first thread to take the batch
    /// first asks up to `threads - 1` more to help (they are spawned from a
    /// pool thread, so the submitting JS thread pays for one job only).
    fn run_batch(self: Arc<Self>, running: Arc<Running>, first: bool) {
        if first && self.threads > 1 {
            let left = running.items.lock().len();
            for _ in 1..self.threads.min(left) {
                let (core, running) = (Arc::clone(&self), Arc::clone(&running));
                rayon::spawn(move || core.run_batch(running, false));
            }
        }
        loop {
            let next = {
                let mut items = running.items.lock();
                let next = items.pop_front();
                if items.is_empty() && items.capacity() > 0 {
                    // The last task taken: its buffer goes back to the
                    // submitting thread for a later batch.
                    running.buffers.recycle(std::mem::take(&mut *items).into());
                }
                next
            };
            let Some(item) = next else { break };
            self.execute(&running.env, running.submitted, item);
        }
    }

    /// Claims a task before it runs or is settled here: false if an abort
    /// won (it was settled and released then, and its id may be reused).
    fn claim(item: &Item) -> bool {
        item.cancel.as_ref().is_none_or(|c| c.start())
    }

    fn execute(&self, env: &EnvLink, submitted: Instant, item: Item) {
        let started = Instant::now();
        let op = item.task.op();
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if !Self::claim(&item) {
            return; // aborted while queued: already settled and released
        }
        if !env.thread.is_alive() {
            return; // its thread ended: nobody to settle, memory gone
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        let ctx = TaskCtx {
            cancel: item.cancel.as_deref(),
        };
        let result = match catch_unwind(AssertUnwindSafe(|| item.task.run(&ctx))) {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(Stop::Ended)) => {
                self.active.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            Ok(Err(stop)) => Err(Error::from(stop)),
            Err(panic) => Err(Error::TaskPanicked {
                message: panic_message(&*panic),
            }),
        };
        let finished = Instant::now();
        self.active.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Ok(_) => {
                self.completed.fetch_add(1, Ordering::Relaxed);
                self.count(op, OK);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.count(op, if *e == Error::Aborted { ABORTED } else { ERROR });
            }
        }
        self.record_times(op, started - submitted, finished - started);
        env.complete(Done {
            id: item.id,
            result,
        });
    }

    pub fn snapshot_queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut wait = Histogram::<u64>::new(3).expect("valid");
        let mut run = Histogram::<u64>::new(3).expect("valid");
        for t in &self.times {
            let t = t.lock();
            let _ = wait.add(&t.wait);
            let _ = run.add(&t.run);
        }
        Snapshot {
            threads: self.threads,
            queued: self.queued.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            wait_time: summary(&wait),
            run_time: summary(&run),
        }
    }

    fn record_times(&self, op: Op, wait: std::time::Duration, run: std::time::Duration) {
        if let Some(times) = rayon::current_thread_index().and_then(|i| self.times.get(i)) {
            let mut t = times.lock();
            let ns = |d: std::time::Duration| (d.as_nanos().min(u64::MAX as u128) as u64).max(1);
            let (wait, run) = (ns(wait), ns(run));
            let _ = t.wait.record(wait);
            let _ = t.run.record(run);
            let (w, r) = &mut t.by_op[op as usize];
            let _ = w.record(wait);
            let _ = r.record(run);
        }
    }

    /// What metrics exporters read, packed: `[threads, queued, active]`, then
    /// per public op (in [`Op::PUBLIC`] order) `[ok, error, aborted, rejected]`, the
    /// wait histogram (cumulative counts per bound, total, sum in seconds)
    /// and the run histogram (the same).
    pub fn metrics(&self, bounds_ns: &[u64]) -> Vec<f64> {
        pack_metrics(&self.metrics_parts(), bounds_ns)
    }

    /// What [`Self::metrics`] packs, before packing: the group publisher
    /// copies it to shared memory and a reader packs it with
    /// [`pack_metrics`], so both give the same figures.
    pub fn metrics_parts(&self) -> MetricsParts {
        let head = [
            self.threads as u64,
            self.queued.load(Ordering::Relaxed) as u64,
            self.active.load(Ordering::Relaxed) as u64,
        ];
        let ops = Op::PUBLIC
            .iter()
            .map(|op| {
                let i = *op as usize;
                let outcomes: [u64; OUTCOMES] =
                    std::array::from_fn(|k| self.outcomes[i][k].load(Ordering::Relaxed));
                let mut wait = Histogram::<u64>::new(2).expect("valid");
                let mut run = Histogram::<u64>::new(2).expect("valid");
                for t in &self.times {
                    let t = t.lock();
                    let _ = wait.add(&t.by_op[i].0);
                    let _ = run.add(&t.by_op[i].1);
                }
                (outcomes, wait, run)
            })
            .collect();
        MetricsParts {
            head,
            counts: [
                self.completed.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed),
                self.rejected.load(Ordering::Relaxed),
            ],
            ops,
        }
    }

    /// Runs `f` on one of the pool's threads, outside the task accounting
    /// (no queue place, no metrics, nothing `close()` waits for): short
    /// helper work that never waits and touches no JS memory, such as
    /// pre-faulting a string job's buffer. False if the pool is shut down.
    pub fn spawn_side(&self, f: impl FnOnce() + Send + 'static) -> bool {
        match self.workers.read().as_ref() {
            Some(w) => {
                w.spawn(f);
                true
            }
            None => false,
        }
    }

    /// Lets the threads finish what they have and exit (non-blocking).
    pub fn shutdown(&self) {
        self.workers.write().take();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

mod metrics;
pub use metrics::{pack_metrics, MetricsParts};

#[cfg(test)]
mod tests;
