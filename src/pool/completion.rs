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

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn link() -> EnvLink {
        EnvLink::new(
            ThreadShared::for_test("test"),
            WakeHandle::closed_for_test(),
        )
    }

    fn done(id: u32) -> Done {
        Done {
            id,
            result: Err(Error::PoolClosed),
        }
    }

    fn ids(chunks: &[Vec<Done>]) -> Vec<u32> {
        chunks.iter().flatten().map(|d| d.id).collect()
    }

    /// What the JS thread's drain does: takes every result out of every chunk.
    fn drain(chunks: &mut [Vec<Done>]) -> Vec<u32> {
        chunks
            .iter_mut()
            .flat_map(|c| c.drain(..))
            .map(|d| d.id)
            .collect()
    }

    #[test]
    fn results_come_out_in_order_across_chunks() {
        let link = link();
        let n = 2 * CHUNK + 88;
        for id in 0..n as u32 {
            link.complete(done(id));
        }
        let mut chunks = Vec::new();
        link.take(&mut chunks);
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(lens, [CHUNK, CHUNK, 88]);
        assert_eq!(ids(&chunks), (0..n as u32).collect::<Vec<_>>());
        // The queue is empty after a take; the next results start a new list.
        let mut again = Vec::new();
        link.take(&mut again);
        assert!(again.is_empty());
        link.complete(done(7));
        link.take(&mut again);
        assert_eq!(ids(&again), [7]);
    }

    #[test]
    fn emptied_chunks_are_reused_up_to_the_limit() {
        let link = link();
        let n = CHUNK * (SPARE_CHUNKS + 4);
        for id in 0..n as u32 {
            link.complete(done(id));
        }
        let mut chunks = Vec::new();
        link.take(&mut chunks);
        assert_eq!(chunks.len(), SPARE_CHUNKS + 4);
        assert_eq!(drain(&mut chunks), (0..n as u32).collect::<Vec<_>>());
        let addrs: Vec<*const Done> = chunks.iter().map(|c| c.as_ptr()).collect();
        link.recycle_chunks(&mut chunks);
        assert!(chunks.is_empty());
        let spare: Vec<*const Done> = link.queue.lock().spare.iter().map(|c| c.as_ptr()).collect();
        assert_eq!(spare.len(), SPARE_CHUNKS);
        assert!(spare.iter().all(|p| addrs.contains(p)));
        // The next results fill a kept chunk (the last one kept), not a new one.
        link.complete(done(1));
        link.take(&mut chunks);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].as_ptr(), spare[SPARE_CHUNKS - 1]);
        assert_eq!(link.queue.lock().spare.len(), SPARE_CHUNKS - 1);
        assert_eq!(ids(&chunks), [1]);
    }

    #[test]
    fn a_chunk_with_results_left_is_never_reused() {
        let link = link();
        for id in 0..(CHUNK + 3) as u32 {
            link.complete(done(id));
        }
        let mut chunks = Vec::new();
        link.take(&mut chunks);
        assert_eq!(chunks.len(), 2);
        chunks[0].clear(); // drained
        let (emptied, left) = (chunks[0].as_ptr(), chunks[1].as_ptr());
        // Results left in the second chunk: a debug build asserts, a
        // release build drops the chunk; neither may keep it.
        let r = catch_unwind(AssertUnwindSafe(|| link.recycle_chunks(&mut chunks)));
        assert_eq!(r.is_err(), cfg!(debug_assertions));
        let spare: Vec<*const Done> = link.queue.lock().spare.iter().map(|c| c.as_ptr()).collect();
        assert_eq!(spare, [emptied]);
        assert!(!spare.contains(&left));
        // Later results come out once, alone: none of the left ones again.
        for id in 1000..(1000 + CHUNK + 1) as u32 {
            link.complete(done(id));
        }
        let mut next = Vec::new();
        link.take(&mut next);
        assert_eq!(
            ids(&next),
            (1000..(1000 + CHUNK + 1) as u32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn only_the_first_push_after_a_take_wakes_the_loop() {
        let link = link();
        assert_eq!(link.wake.calls_for_test(), 0);
        link.complete(done(0));
        assert_eq!(link.wake.calls_for_test(), 1);
        link.complete(done(1));
        link.complete(done(2));
        assert_eq!(link.wake.calls_for_test(), 1);
        let mut chunks = Vec::new();
        link.take(&mut chunks);
        assert_eq!(ids(&chunks), [0, 1, 2]);
        assert_eq!(link.wake.calls_for_test(), 1);
        link.complete(done(3));
        assert_eq!(link.wake.calls_for_test(), 2);
        link.complete(done(4));
        assert_eq!(link.wake.calls_for_test(), 2);
        // A take that finds nothing new still re-arms the wakeup.
        drain(&mut chunks);
        link.recycle_chunks(&mut chunks);
        link.take(&mut chunks);
        assert_eq!(ids(&chunks), [3, 4]);
        drain(&mut chunks);
        link.recycle_chunks(&mut chunks);
        link.take(&mut chunks);
        assert!(chunks.is_empty());
        link.complete(done(5));
        assert_eq!(link.wake.calls_for_test(), 3);
    }
}
