//! What any thread may read of a JS thread's state, for as long as anyone
//! holds the `Arc` (also after the thread ended): its label, its loop's
//! iteration count and the "alive" lock (see `mod.rs`, "Teardown"). It
//! depends on nothing but libuv's lock type, so the lag monitor and the pool
//! can hold it without depending on the per-env state that owns them.

use crate::uv::{LoopLife, LoopOpen};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// The parts of a thread's state that any thread may read, for as long as
/// anyone holds the `Arc` (also after the thread ended).
pub struct ThreadShared {
    /// `"main"` or `"worker-<threadId>"`.
    pub label: String,
    /// Loop iterations seen by the check hook since the module was loaded.
    pub iterations: AtomicU64,
    /// The "alive" lock: ends in teardown, before the loop's handles close.
    alive: Arc<LoopLife>,
}

impl ThreadShared {
    /// Holds the env alive while the guard lives, or `None` if it has ended.
    /// Teardown waits for every guard to be dropped: keep them short.
    /// The guard is also the proof a [`crate::uv::LoopRef`] of this loop asks for.
    pub fn alive(&self) -> Option<LoopOpen<'_>> {
        self.alive.hold()
    }

    pub fn is_alive(&self) -> bool {
        self.alive.is_open()
    }

    /// Whether the thread's teardown has begun (it waits for every alive
    /// guard): work under a guard polls this and lets go early.
    pub fn is_ending(&self) -> bool {
        self.alive.is_ending()
    }

    /// The alive lock itself, for a [`crate::uv::LoopRef`] of this thread's loop.
    pub fn life(&self) -> Arc<LoopLife> {
        Arc::clone(&self.alive)
    }

    /// A live thread: `"main"` or `"worker-<threadId>"`.
    pub fn new(label: String) -> Arc<Self> {
        Arc::new(Self {
            label,
            iterations: AtomicU64::new(0),
            alive: Arc::new(LoopLife::new()),
        })
    }

    /// Marks the thread dead (teardown): waits for every alive guard.
    pub(super) fn end(&self) {
        self.alive.end();
    }

    /// A live thread that is no env's, for unit tests of code that only
    /// checks or holds the alive lock.
    #[cfg(test)]
    pub fn for_test(label: &str) -> Arc<Self> {
        Self::new(label.to_string())
    }
}
