//! Memory that pool tasks read and write in place: SharedArrayBuffer and
//! ArrayBuffer backing stores owned by some thread's JS heap.
//!
//! # The zero-copy contract
//!
//! A task receives `data` (and, for chunked hashing, `out`) as a pointer
//! into a JS backing store plus a length, captured on the submitting thread
//! when the task is accepted. Nothing is copied for inputs above
//! [`COPY_MAX`] bytes; smaller inputs and strings are copied at submission,
//! which is cheaper than keeping a reference.
//!
//! What the caller may do while a task runs:
//! - read the memory, from any thread;
//! - terminate any worker thread, including the one that submitted the task
//!   or the only one that still holds the SharedArrayBuffer;
//! - let every JS reference to the data go (the pool holds one).
//!
//! What the caller must not do until the Promise settles (as with a Buffer
//! passed to `fs.write`):
//! - write into the input range (the digest is then of some mix of old and
//!   new bytes) or read `out` expecting finished digests;
//! - transfer or detach a non-shared ArrayBuffer (postMessage/structuredClone
//!   transfer lists, `ArrayBuffer.prototype.transfer`, `napi_detach_arraybuffer`).
//!
//! Why the code is sound anyway:
//! 1. **The owner thread ending.** A reference dies with its env, and a
//!    SharedArrayBuffer whose last holder was a terminated worker is freed
//!    right after that worker's env is torn down. Every [`Region`] knows the
//!    [`ThreadShared`] of the thread that submitted it and touches memory
//!    only inside [`ThreadShared::alive`] (a read lock), one piece of at
//!    most [`PIECE`] bytes at a time. That thread's env cleanup hook takes
//!    the write lock before anything is freed: teardown waits for the piece
//!    being read, and every later piece sees the thread gone and stops
//!    without touching the memory. The task is dropped (its Promise belonged
//!    to the dead thread).
//! 2. **Garbage collection.** While a task is pending, the submitting thread
//!    holds a napi reference to the view (or ArrayBuffer); it is released on
//!    that thread only after the task has finished touching the memory, even
//!    if the Promise was already rejected by an abort.
//! 3. **SharedArrayBuffers cannot shrink or detach.** A growable one only
//!    grows, in place; the captured range stays valid while it is referenced.
//! 4. **Non-shared buffers breaking the contract.** Resizable non-shared
//!    ArrayBuffers are copied at submission (shrinking one may unmap pages).
//!    For the others, the submitting thread checks every pending task's
//!    ArrayBuffer for detachment on every loop turn and when results arrive;
//!    a detached one flags the task, which stops at its next piece and
//!    rejects with `ERR_NODEPERF_DETACHED`. Node-API cannot pin a backing
//!    store, so between a detach and that check the receiver may free the
//!    memory while a piece is being read: every piece of a non-shared buffer
//!    (and the whole scan of a JSON byte input) is therefore read under the
//!    fault guard (`fault.rs`): a load from memory that was unmapped ends the
//!    read, and the task rejects with `ERR_NODEPERF_DETACHED`, instead of the
//!    process dying of `SIGSEGV`. Where the guard cannot be installed (not a
//!    unix), non-shared inputs are copied at submission instead.
//!    SharedArrayBuffers need none of this; use them for memory that moves
//!    between threads.
//!
//!    **What can still be read, and why no value built from it reaches JS.**
//!    Between the caller's detach and the next check, a pool thread may
//!    read memory that the receiver freed but the allocator kept mapped (or
//!    gave to another allocation): at most the rest of the piece being read
//!    (hashing, [`PIECE`] bytes), the rest of a JSON byte window
//!    (`src/json/job.rs`, `WINDOW` bytes), or everything up to the next loop
//!    turn of the submitting thread if that thread is busy. These are plain
//!    loads, by our code only, into a digest state or the scanner's plan;
//!    nothing is written there. AddressSanitizer reports them as
//!    heap-use-after-free (`scripts/asan-allow.txt` lists the specs that
//!    break the contract on purpose). What was computed from them never
//!    becomes a value:
//!    - a hash task's result is settled on the submitting thread, which
//!      first asks Node-API whether the buffer is detached
//!      (`JsSide::settle_done` in `src/pool/js.rs`): a task whose buffer
//!      was detached while it ran rejects with `ERR_NODEPERF_DETACHED`
//!      however far it got. This check is complete because memory can only
//!      be freed under a task after its ArrayBuffer was detached, and a
//!      non-shared ArrayBuffer is detached only by its own (submitting)
//!      thread: the detach happens before the free, the free before the
//!      read, the read before the task's completion, and that before the
//!      settle-time check, which therefore sees it;
//!    - a JSON job's value is built on the submitting thread, step by step
//!      (`lib/json.js`), from the caller's memory and from text the scanner
//!      decoded; every step first checks that the view still has its
//!      length. A step after the detach (the same thread's) sees it, and
//!      the promise rejects with `ERR_NODEPERF_DETACHED`; steps before it
//!      read memory that was still the caller's, whatever came later;
//!    - chunked hashing writes digests of such bytes into the caller's
//!      `out` (a SharedArrayBuffer, so no memory-safety issue); its promise
//!      rejects as above, and `out` is unspecified after a rejection.
//! 5. **Writes** go only to SharedArrayBuffer-backed `out` views, byte by
//!    byte as relaxed atomics, inside the same alive guard, so a concurrent
//!    JS reader sees each byte either old or new.

mod fault;
mod many;
mod view;

#[cfg(test)]
pub use many::test_bytes;
pub use many::{capture_items, Items, GROUP_BYTES};
pub use view::{capture, capture_out, is_detached, with_sync_bytes, CaptureMode, DataKind};

use crate::thread::ThreadShared;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// Largest piece of borrowed memory touched under one alive guard.
pub const PIECE: usize = 256 * 1024;

/// Why a task stopped touching memory before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// The thread that owns the memory was torn down.
    Ended,
    /// The non-shared ArrayBuffer was detached (contract broken).
    Detached,
}

/// A range of JS-owned memory, readable from any thread while its owner
/// lives. Built only by [`capture`] on the owner's thread.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
    owner: Arc<ThreadShared>,
    /// Set by the owner's detach watch; `None` for shared memory.
    detached: Option<Arc<AtomicBool>>,
}

// SAFETY: the pointer is only dereferenced inside `owner.alive()` (see the
// module doc), which makes access from any thread sound; the bytes are plain
// data with no thread affinity.
unsafe impl Send for Region {}
// SAFETY: `&Region` only hands out shared slices (`read`, `read_whole`), made
// inside `owner.alive()` like every access, and has no interior mutability.
unsafe impl Sync for Region {}

impl Region {
    /// # Safety
    /// Caller must ensure: `ptr..ptr + len` lies inside one JS backing store
    /// owned by (referenced from) the env of `owner`, that the submitting
    /// thread keeps a napi reference to it until the task is done with it,
    /// and that the backing store is shared (cannot detach or shrink), or
    /// `detached` is the flag the owner's detach watch sets.
    pub unsafe fn new(
        ptr: NonNull<u8>,
        len: usize,
        owner: Arc<ThreadShared>,
        detached: Option<Arc<AtomicBool>>,
    ) -> Self {
        Self {
            ptr,
            len,
            owner,
            detached,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Runs `f` over `range` of the memory while its owner is alive.
    ///
    /// Panics if `range` is outside the region (a bug, caught at the task
    /// boundary). Keep `range` at most [`PIECE`] long: teardown of the owner
    /// waits for `f`.
    ///
    /// # Safety
    /// `f` must be a plain computation over the bytes (no locks, no
    /// allocation, nothing owned with a destructor): on a non-shared buffer
    /// whose caller broke the contract, a fault abandons it mid-way
    /// (`fault.rs`).
    pub unsafe fn read<R>(
        &self,
        range: Range<usize>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Gone> {
        assert!(range.start <= range.end && range.end <= self.len);
        let _alive = self.owner.alive().ok_or(Gone::Ended)?;
        let Some(flag) = &self.detached else {
            // SAFETY: shared memory: the owner env is alive for as long as
            // `_alive` is held, it keeps the backing store referenced, and a
            // SharedArrayBuffer cannot detach or shrink; the range is inside
            // the region (asserted).
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    self.ptr.as_ptr().add(range.start),
                    range.end - range.start,
                )
            };
            return Ok(f(bytes));
        };
        if flag.load(Ordering::Acquire) {
            return Err(Gone::Detached);
        }
        // SAFETY: the owner env lives while `_alive` is held and keeps the
        // store referenced, the range is inside the region (asserted), and the
        // store was not detached when checked. If the caller detaches it now
        // (contract broken, module doc case 4) and the receiver frees it, the
        // guarded read below faults and stops instead of crashing; `f` is a
        // plain computation (our caller's promise), so abandoning it is sound.
        unsafe {
            let bytes = std::slice::from_raw_parts(
                self.ptr.as_ptr().add(range.start),
                range.end - range.start,
            );
            fault::read(bytes, f).map_err(|_| Gone::Detached)
        }
    }
}

/// What long work over a whole region polls to learn it must stop: the
/// owner's teardown has begun, or (non-shared memory) the buffer was
/// detached.
pub struct Watch<'a> {
    owner: Option<&'a ThreadShared>,
    detached: Option<&'a AtomicBool>,
}

impl Watch<'_> {
    /// For owned input: nothing can take it away.
    pub const NONE: Watch<'static> = Watch {
        owner: None,
        detached: None,
    };

    /// Why the work must stop now, if it must: after `Some`, it must not
    /// touch the memory again, and return soon (teardown waits for it).
    pub fn gone(&self) -> Option<Gone> {
        if self.owner.is_some_and(|o| o.is_ending()) {
            Some(Gone::Ended)
        } else if self.detached.is_some_and(|d| d.load(Ordering::Acquire)) {
            Some(Gone::Detached)
        } else {
            None
        }
    }
}

impl Region {
    /// Runs `f` over the whole region at once while its owner is alive,
    /// for work that cannot be cut into pieces of its own (a JSON job's
    /// scan). Teardown of the owner waits for `f`, so `f` must poll
    /// [`Watch::gone`] at least every bounded piece of work (the JSON scan:
    /// every `WINDOW` bytes) and return soon after it says so, touching
    /// the memory no more.
    ///
    /// # Safety
    /// Caller must ensure `f` loads the bytes only outside locks and
    /// outside the allocator: on a non-shared buffer whose caller broke the
    /// contract, a fault abandons `f` at such a load (`fault.rs`), and
    /// whatever its frames own at that moment is leaked, never dropped.
    pub unsafe fn read_whole<R>(&self, f: impl FnOnce(&[u8], &Watch<'_>) -> R) -> Result<R, Gone> {
        let _alive = self.owner.alive().ok_or(Gone::Ended)?;
        let Some(flag) = &self.detached else {
            // SAFETY: `ptr..ptr + len` stays mapped and valid during `f`:
            // shared memory, whose owner env lives while `_alive` is held and
            // keeps the backing store referenced (the capture's `keep`), and a
            // SharedArrayBuffer can neither detach nor shrink.
            let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) };
            let watch = Watch {
                owner: Some(&self.owner),
                detached: None,
            };
            return Ok(f(bytes, &watch));
        };
        if flag.load(Ordering::Acquire) {
            return Err(Gone::Detached);
        }
        let watch = Watch {
            owner: Some(&self.owner),
            detached: Some(flag),
        };
        // SAFETY: non-shared memory, not detached when `flag` was checked
        // and kept alive by `_alive` and the capture's `keep`, so the slice
        // is valid when the read begins; if the caller detaches it now
        // (contract broken, module doc case 4), `fault::read` ends the read
        // at the fault instead of crashing, and abandoning `f` there is sound
        // by our caller's promise (no load of the bytes inside a lock or the
        // allocator).
        unsafe {
            let bytes = std::slice::from_raw_parts(self.ptr.as_ptr(), self.len);
            fault::read(bytes, |b| f(b, &watch)).map_err(|_| Gone::Detached)
        }
    }
}

/// Inputs up to this many bytes live inline in the task (no allocation).
pub const INLINE_MAX: usize = 64;

/// Where a task's input lives.
pub enum Input {
    /// Tiny inputs, copied at submission into the task itself.
    Inline([u8; INLINE_MAX], u8),
    /// Copied at submission (small inputs, strings).
    Owned(Vec<u8>),
    /// Read in place.
    Borrowed(Region),
}

impl Input {
    /// A copy of `bytes`, inline when it fits.
    pub fn copy(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_MAX {
            let mut buf = [0; INLINE_MAX];
            buf[..bytes.len()].copy_from_slice(bytes);
            Self::Inline(buf, bytes.len() as u8)
        } else {
            Self::Owned(bytes.to_vec())
        }
    }

    /// The bytes, if they are owned by the task (no guard needed).
    pub fn owned(&self) -> Option<&[u8]> {
        match self {
            Self::Inline(b, n) => Some(&b[..*n as usize]),
            Self::Owned(v) => Some(v),
            Self::Borrowed(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Inline(_, n) => *n as usize,
            Self::Owned(v) => v.len(),
            Self::Borrowed(r) => r.len(),
        }
    }

    /// Runs `f` over `range` of the input (see [`Region::read`]).
    ///
    /// # Safety
    /// As [`Region::read`]: `f` is a plain computation over the bytes.
    pub unsafe fn read<R>(
        &self,
        range: Range<usize>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Gone> {
        match self {
            // SAFETY: our caller's promise is the one Region::read needs.
            Self::Borrowed(r) => unsafe { r.read(range, f) },
            owned => Ok(f(&owned.owned().expect("owned")[range])),
        }
    }

    /// Runs `f` over the whole input at once (see [`Region::read_whole`]).
    ///
    /// # Safety
    /// As [`Region::read_whole`].
    pub unsafe fn read_whole<R>(&self, f: impl FnOnce(&[u8], &Watch<'_>) -> R) -> Result<R, Gone> {
        match self {
            // SAFETY: our caller's promise is the one `Region::read_whole` needs.
            Self::Borrowed(r) => unsafe { r.read_whole(f) },
            owned => Ok(f(owned.owned().expect("owned"), &Watch::NONE)),
        }
    }

    /// Feeds `range` to `f` in pieces of at most [`PIECE`] bytes, calling
    /// `keep_going` before each piece; stops early (with `Ok(false)`) when it
    /// says no.
    ///
    /// # Safety
    /// As [`Region::read`]: `f` is a plain computation over the bytes.
    pub unsafe fn for_each_piece(
        &self,
        range: Range<usize>,
        mut keep_going: impl FnMut() -> bool,
        mut f: impl FnMut(&[u8]),
    ) -> Result<bool, Gone> {
        let mut at = range.start;
        loop {
            if !keep_going() {
                return Ok(false);
            }
            let end = range.end.min(at.saturating_add(PIECE));
            // SAFETY: our caller's promise is the one `read` needs.
            unsafe { self.read(at..end, &mut f)? };
            at = end;
            if at >= range.end {
                return Ok(true);
            }
        }
    }
}

/// A SharedArrayBuffer-backed range a task writes results into.
pub struct OutRegion {
    ptr: NonNull<u8>,
    len: usize,
    owner: Arc<ThreadShared>,
}

// SAFETY: written only inside `owner.alive()`, as relaxed atomic bytes, into
// shared memory (see the module doc, case 5).
unsafe impl Send for OutRegion {}
// SAFETY: `&OutRegion` only writes, through relaxed `AtomicU8` stores inside
// `owner.alive()`, so concurrent writers (chunk
// jobs of the same task on different threads) and JS readers never race in
// the Rust sense.
unsafe impl Sync for OutRegion {}

impl OutRegion {
    /// # Safety
    /// Caller must ensure: `ptr..ptr + len` lies inside a SharedArrayBuffer
    /// referenced from the env of `owner`, and the submitting thread keeps a
    /// napi reference to it until the task is done with it.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize, owner: Arc<ThreadShared>) -> Self {
        Self { ptr, len, owner }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes `bytes` at `offset` while the owner is alive.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), Gone> {
        assert!(offset <= self.len && bytes.len() <= self.len - offset);
        let _alive = self.owner.alive().ok_or(Gone::Ended)?;
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: in bounds (asserted); the SharedArrayBuffer is alive
            // while `_alive` is held and referenced by its env; AtomicU8 has
            // the size and alignment of u8, and shared memory may be accessed
            // atomically by any thread.
            let cell = unsafe { AtomicU8::from_ptr(self.ptr.as_ptr().add(offset + i)) };
            cell.store(*b, Ordering::Relaxed);
        }
        Ok(())
    }
}
