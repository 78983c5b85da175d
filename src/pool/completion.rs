//! Results on their way back to the thread that submitted them, in batches.
//!
//! Every env (main thread, each worker thread) that submits tasks has one
//! [`EnvLink`]: a queue of finished tasks plus a `uv_async` waker on that
//! env's loop. Pool threads push onto the queue; only the first push after a
//! drain wakes the loop, and one wakeup settles everything queued by then.
//!
//! ## Memory ordering
//! The JS thread clears `scheduled` (SeqCst) *before* it takes the queue
//! (under its mutex). A producer pushes (under the mutex) and *then* swaps
//! `scheduled` to true; if it saw false, it wakes the loop. So a push either
//! lands in a batch being taken right now, or its producer sees the cleared
//! flag and sends a wakeup: no result waits for a wakeup that never comes.
//! Extra wakeups drain an empty queue, which is harmless.

use super::core::Item;
use super::tasks::Output;
use crate::error::Error;
use crate::thread::ThreadShared;
use crate::uv::WakeHandle;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A finished task: its slab key and its result.
pub struct Done {
    pub id: u32,
    pub result: Result<Output, Error>,
}

/// Emptied batch buffers kept for reuse, at most this many per env.
const SPARE_BATCHES: usize = 8;
/// Smaller buffers (a lone task's) are not worth keeping.
const SPARE_MIN: usize = 16;

pub struct EnvLink {
    /// The submitting thread; its alive guard protects `wake` (and the
    /// memory of the tasks, see `shared`).
    pub thread: Arc<ThreadShared>,
    queue: Mutex<Vec<Done>>,
    scheduled: AtomicBool,
    wake: WakeHandle,
    /// Emptied batch buffers, handed back by pool threads: the JS thread
    /// fills them again instead of allocating (with mimalloc purging freed
    /// pages at once, a fresh buffer costs page faults every batch).
    spare: Mutex<Vec<Vec<Item>>>,
}

impl EnvLink {
    /// `wake` must belong to an `AsyncWaker` on `thread`'s loop that is
    /// closed only after `thread` is marked dead.
    pub fn new(thread: Arc<ThreadShared>, wake: WakeHandle) -> Self {
        Self {
            thread,
            queue: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            wake,
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Pool threads: hands back a finished task.
    pub fn complete(&self, done: Done) {
        self.queue.lock().push(done);
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            if let Some(_alive) = self.thread.alive() {
                // The waker is closed only in the env's teardown,
                // after the alive lock was taken for writing; we hold it for
                // reading, so the handle is open.
                // SAFETY: sound for the reasons just given.
                unsafe { self.wake.wake() };
            }
        }
    }

    /// Pool threads: keeps an emptied batch buffer for reuse.
    pub fn recycle(&self, buffer: Vec<Item>) {
        debug_assert!(buffer.is_empty());
        if buffer.capacity() < SPARE_MIN {
            return; // a single task's
        }
        let mut spare = self.spare.lock();
        if spare.len() < SPARE_BATCHES {
            spare.push(buffer);
        }
    }

    /// JS thread: an empty batch buffer with room for `n` tasks.
    pub fn batch_buffer(&self, n: usize) -> Vec<Item> {
        let mut buffer = self.spare.lock().pop().unwrap_or_default();
        buffer.reserve(n);
        buffer
    }

    /// JS thread: swaps everything finished since the last drain into
    /// `batch` (which must be empty; its capacity is reused, so a steady
    /// stream of results allocates nothing).
    pub fn take(&self, batch: &mut Vec<Done>) {
        debug_assert!(batch.is_empty());
        self.scheduled.store(false, Ordering::SeqCst);
        std::mem::swap(&mut *self.queue.lock(), batch);
    }
}
