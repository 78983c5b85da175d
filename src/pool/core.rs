//! The pool itself: a rayon `ThreadPool` of its own (never libuv's), a
//! bounded count of waiting tasks, counters and wait/run histograms.
//!
//! # Panic handling
//! Every task runs inside `catch_unwind`; a panic becomes a rejection with
//! `ERR_NODEPERF_TASK_PANICKED` and the thread goes on to the next task. The
//! rayon panic handler is only a backstop (it logs; it never aborts).

use super::completion::{Done, EnvLink};
use super::tasks::{CancelState, Stop, Task, TaskCtx};
use crate::error::Error;
use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A task on its way to a pool thread.
pub struct Job {
    /// The key of its Promise in the submitting thread's slab.
    pub id: u32,
    pub env: Arc<EnvLink>,
    pub task: Task,
    pub submitted: Instant,
    pub cancel: Option<Arc<CancelState>>,
}

/// Wait and run time of finished tasks, in nanoseconds.
struct Times {
    wait: Histogram<u64>,
    run: Histogram<u64>,
}

impl Times {
    fn new() -> Self {
        let h = || Histogram::new(3).expect("3 significant digits is valid");
        Self {
            wait: h(),
            run: h(),
        }
    }
}

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
    workers: RwLock<Option<rayon::ThreadPool>>,
    queued: AtomicUsize,
    active: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
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
            workers: RwLock::new(Some(workers)),
            queued: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
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
    pub fn reserve(&self) -> Result<(), Error> {
        let before = self.queued.fetch_add(1, Ordering::Relaxed);
        if before >= self.max_queue {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Error::QueueFull {
                max_queue: self.max_queue,
            });
        }
        Ok(())
    }

    /// Counts a task that settled without running (aborted while queued).
    pub fn count_cancelled(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Hands a reserved job to the pool threads.
    pub fn spawn(self: &Arc<Self>, job: Job) {
        let workers = self.workers.read();
        match workers.as_ref() {
            Some(w) => {
                let core = Arc::clone(self);
                w.spawn(move || core.execute(job));
            }
            None => {
                // Shut down under us: settle it rather than lose it.
                drop(workers);
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.failed.fetch_add(1, Ordering::Relaxed);
                job.env.complete(Done {
                    id: job.id,
                    result: Err(Error::PoolClosed),
                });
            }
        }
    }

    fn execute(&self, job: Job) {
        let started = Instant::now();
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = &job.cancel {
            if !c.start() {
                return; // aborted while queued: already settled and released
            }
        }
        if !job.env.thread.is_alive() {
            return; // its thread ended: nobody to settle, memory gone
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        let ctx = TaskCtx {
            cancel: job.cancel.as_deref(),
        };
        let result = match catch_unwind(AssertUnwindSafe(|| job.task.run(&ctx))) {
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
        if result.is_ok() {
            self.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(times) = rayon::current_thread_index().and_then(|i| self.times.get(i)) {
            let mut t = times.lock();
            let ns = |d: std::time::Duration| d.as_nanos().min(u64::MAX as u128) as u64;
            let _ = t.wait.record(ns(started - job.submitted).max(1));
            let _ = t.run.record(ns(finished - started).max(1));
        }
        job.env.complete(Done { id: job.id, result });
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
