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
#![forbid(unsafe_code)]

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

/// Finished tasks wait in chunks of this many: the queue grows without
/// copying what it holds (a 100k-task burst used to grow one vector by
/// doubling, copying and page-faulting ~35 MB on the pool thread, under
/// the lock), and emptied chunks are reused.
const CHUNK: usize = 256;
/// Emptied chunks kept for reuse, at most this many per env (~590 KB).
const SPARE_CHUNKS: usize = 16;

/// Finished tasks, oldest first, in chunks; the last one is being filled.
#[derive(Default)]
struct Queue {
    chunks: Vec<Vec<Done>>,
    spare: Vec<Vec<Done>>,
}

pub struct EnvLink {
    /// The submitting thread; its alive guard protects the memory of the
    /// tasks (see `shared`).
    pub thread: Arc<ThreadShared>,
    queue: Mutex<Queue>,
    scheduled: AtomicBool,
    wake: WakeHandle,
}

impl EnvLink {
    /// `wake` is the `AsyncWaker` on `thread`'s loop that drains the queue
    /// (once closed, its wakes do nothing: see `uv.rs`).
    pub fn new(thread: Arc<ThreadShared>, wake: WakeHandle) -> Self {
        Self {
            thread,
            queue: Mutex::new(Queue::default()),
            scheduled: AtomicBool::new(false),
            wake,
        }
    }

    /// Pool threads: hands back a finished task.
    pub fn complete(&self, done: Done) {
        {
            let mut q = self.queue.lock();
            match q.chunks.last_mut() {
                Some(chunk) if chunk.len() < chunk.capacity() => chunk.push(done),
                _ => {
                    let mut chunk = q.spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
                    chunk.push(done);
                    q.chunks.push(chunk);
                }
            }
        }
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            // Nothing is sent once the env's waker is closed (teardown).
            self.wake.wake();
        }
    }

    /// JS thread: swaps everything finished since the last drain (in
    /// chunks, oldest first) into `chunks`, which must be empty (its own
    /// capacity is reused).
    pub fn take(&self, chunks: &mut Vec<Vec<Done>>) {
        debug_assert!(chunks.is_empty());
        self.scheduled.store(false, Ordering::SeqCst);
        std::mem::swap(&mut self.queue.lock().chunks, chunks);
    }

    /// JS thread: hands back drained chunks (empty) for reuse, leaving
    /// `chunks` empty.
    pub fn recycle_chunks(&self, chunks: &mut Vec<Vec<Done>>) {
        let mut q = self.queue.lock();
        for chunk in chunks.drain(..) {
            // A chunk with results left in it is dropped, never refilled
            // (they would be delivered twice); a drain empties every chunk.
            debug_assert!(chunk.is_empty());
            if chunk.is_empty() && q.spare.len() < SPARE_CHUNKS && chunk.capacity() >= CHUNK {
                q.spare.push(chunk);
            }
        }
    }
}
