//! What a pool task is and what it produces. One file per op; `run` is the
//! dispatch. Tasks know nothing about napi: they read [`Input`]s, write
//! [`OutRegion`]s and return an [`Output`] the JS thread turns into a value.

pub mod hash;
pub mod heap;
pub mod json;
pub mod many;

use crate::error::Error;
use crate::shared::{Input, OutRegion};
use hash::{Algorithm, Digest, Encoding, Text};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// One unit of work.
pub enum Task {
    Hash {
        algorithm: Algorithm,
        input: Input,
        encoding: Encoding,
    },
    HashChunks {
        algorithm: Algorithm,
        input: Input,
        chunk_size: usize,
        out: OutRegion,
    },
    /// `pool.hashMany`: a batch of inputs, one digest each (boxed, as `Json`).
    HashMany(Box<many::HashMany>),
    /// A JSON job's scan (boxed: it is rare, and keeps `Task` small).
    Json(Box<json::JsonTask>),
    /// A heap-snapshot summary or diff (boxed, as `Json`).
    Heap(Box<heap::HeapTask>),
    /// Internal, for the specs: sleeps `ms` in 1 ms steps (checking cancel),
    /// or panics.
    Test { panic: bool, ms: u32 },
}

impl Task {
    /// Which `op` it is, for metrics.
    pub fn op(&self) -> Op {
        match self {
            Task::Hash { .. } | Task::HashChunks { .. } => Op::Hash,
            Task::HashMany(_) => Op::HashMany,
            Task::Json(j) => j.op(),
            Task::Heap(_) => Op::Heap,
            Task::Test { .. } => Op::Test,
        }
    }
}

/// The `op` label of the pool metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Hash = 0,
    JsonParse = 1,
    JsonValidate = 2,
    /// The specs' internal sleep/panic task.
    Test = 3,
    /// `heap.summary` / `heap.diff` (not a `pool.run` op, so not in
    /// [`Op::PUBLIC`], whose order the metrics packing follows).
    Heap = 4,
    /// `pool.hashMany` / `{ op: 'hash.many' }`: one task per batch.
    HashMany = 5,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Hash,
        Op::JsonParse,
        Op::JsonValidate,
        Op::Test,
        Op::Heap,
        Op::HashMany,
    ];
    /// The ops users submit: what metrics report (not the specs' `Test`).
    pub const PUBLIC: [Op; 4] = [Op::Hash, Op::JsonParse, Op::JsonValidate, Op::HashMany];

    /// Whether a task of this op settles a Promise of its own through the
    /// drain (a JSON job's scan does not: its job tells its JS side).
    pub fn has_promise(self) -> bool {
        !matches!(self, Op::JsonParse | Op::JsonValidate)
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Hash => "hash",
            Op::JsonParse => "json.parse",
            Op::JsonValidate => "json.validate",
            Op::Test => "test",
            Op::Heap => "heap",
            Op::HashMany => "hash.many",
        }
    }
}

/// A task's value, turned into JS on the submitting thread.
pub enum Output {
    Text(Text),
    Bytes(Digest),
    Count(f64),
    /// A digest as a JS number (`encoding: 'number'`).
    U32(u32),
    /// A digest as a BigInt (`encoding: 'bigint'`).
    U64(u64),
    /// JSON text, given to JS as a string (a heap report).
    Json(String),
    /// A batch's digests back to back, given to JS as one Buffer.
    Many(Vec<u8>),
    /// A batch's encoded digests back to back (ASCII), as one string.
    ManyText(Vec<u8>),
}

/// Why a task stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    Cancelled,
    /// The submitting thread ended: drop the task silently.
    Ended,
    Detached,
    /// The task failed with this error (a heap task's bad input).
    Failed(Box<Error>),
}

impl From<Stop> for Error {
    fn from(s: Stop) -> Self {
        match s {
            Stop::Cancelled => Error::Aborted,
            Stop::Ended => Error::ThreadEnded {
                thread: "the submitting thread".into(),
            },
            Stop::Detached => Error::Detached,
            Stop::Failed(e) => *e,
        }
    }
}

/// A task's cancellation state, shared by the JS thread (which aborts) and
/// the pool thread (which starts and checks it).
///
/// ## Memory ordering
/// `state` moves `QUEUED -> RUNNING` (pool thread, when it starts the task)
/// or `QUEUED -> CANCELLED` (JS thread, on abort) by compare-exchange, so
/// exactly one side wins: a cancelled task never runs and its resources are
/// released at once; a running one is asked to stop through `stop`, checked
/// at every piece boundary (Relaxed is enough: it only ends work early).
#[derive(Default)]
pub struct CancelState {
    state: AtomicU8,
    stop: AtomicBool,
}

pub const QUEUED: u8 = 0;
pub const RUNNING: u8 = 1;
pub const CANCELLED: u8 = 2;

impl CancelState {
    /// Pool thread: claims the task; false if it was cancelled first.
    pub fn start(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// JS thread: whether an abort already settled it (it must never run,
    /// nor be settled again).
    pub fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// JS thread: true if the task will now never run; otherwise asks the
    /// running task to stop and returns false.
    pub fn cancel(&self) -> bool {
        if self
            .state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return true;
        }
        self.stop.store(true, Ordering::Relaxed);
        false
    }
}

/// What a running task may ask about itself.
#[derive(Default)]
pub struct TaskCtx<'a> {
    pub cancel: Option<&'a CancelState>,
}

impl TaskCtx<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.stop.load(Ordering::Relaxed))
    }
}

impl Task {
    /// Runs the task on the calling (pool) thread.
    pub fn run(&self, ctx: &TaskCtx) -> Result<Output, Stop> {
        match self {
            Self::Hash {
                algorithm,
                input,
                encoding,
            } => hash::hash(*algorithm, input, *encoding, ctx),
            Self::HashChunks {
                algorithm,
                input,
                chunk_size,
                out,
            } => hash::hash_chunks(*algorithm, input, *chunk_size, out, ctx),
            Self::HashMany(m) => m.run(ctx),
            Self::Json(j) => j.run(),
            Self::Heap(h) => h.run(ctx),
            Self::Test { panic, ms } => {
                if *panic {
                    panic!("test panic requested");
                }
                for _ in 0..*ms {
                    if ctx.cancelled() {
                        return Err(Stop::Cancelled);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Ok(Output::Count(f64::from(*ms)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_before_start_wins_and_the_task_never_starts() {
        let c = CancelState::default();
        assert!(c.cancel(), "queued: cancelled for good");
        assert!(!c.start(), "a cancelled task is not started");
        assert!(!c.cancel(), "a second abort changes nothing");
    }

    #[test]
    fn cancel_after_start_asks_the_running_task_to_stop() {
        let c = CancelState::default();
        assert!(c.start());
        let ctx = TaskCtx { cancel: Some(&c) };
        assert!(!ctx.cancelled());
        assert!(!c.cancel(), "running: cannot be un-run");
        assert!(ctx.cancelled());
        let t = Task::Test {
            panic: false,
            ms: 10_000,
        };
        assert!(matches!(t.run(&ctx), Err(Stop::Cancelled)));
    }

    #[test]
    fn stops_map_to_their_errors() {
        assert_eq!(Error::from(Stop::Cancelled).code(), "ABORT_ERR");
        assert_eq!(Error::from(Stop::Detached).code(), "ERR_NODEPERF_DETACHED");
    }
}
