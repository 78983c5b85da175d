//! The state of one `parseJson` / `validateJson` call in flight
//! ([`JobState`]): the scan streams the plan to the main thread, which
//! builds the value from it in time-budgeted slices (lib/json.js). The
//! pure whole-text functions and the synchronous entry points are in
//! `whole.rs`.
//!
//! Nothing here knows about pools: the pool binds a job to the pool it was
//! called on and runs [`JobState::scan_string`] / [`JobState::scan_bytes`]
//! on that pool's threads (`src/pool/json.rs`, `src/pool/tasks/json.rs`).
//!
//! # Input
//! - Binary input is captured by the pool as hash inputs are
//!   (`crate::shared::capture`): copied when small, else read in place
//!   under the submitting thread's alive lock and, for non-shared memory,
//!   the fault guard and the detach watch. [`JobState::scan_bytes`] reads
//!   it one [`WINDOW`] at a time and stops between windows when the watch
//!   says so (detached, or the owner's teardown waiting). The zero-copy
//!   contract: don't transfer or detach the buffer, and don't write to it,
//!   while the parse runs.
//! - A string's UTF-16 units are copied into a native buffer by the JS
//!   thread in chunks (`feed`), between which the loop runs; side jobs on
//!   the pool pre-fault the buffer's pages ahead of the copy (see
//!   [`Fill`]). The scan is handed to the pool only once all of it is
//!   there (`src/pool/json.rs`): no pool thread ever waits for text.
//!
//! # Memory ordering
//! `Fill::filled` is stored with `Release` after the units below it are
//! written and loaded with `Acquire` before they are read; the scan reads
//! `..filled` only once it covers the whole text, the writer only writes at
//! `filled..`. The op queue, status and the `waiting` flag share one mutex,
//! so a wake-up is never lost: the JS side sets `waiting` under the lock
//! when it finds the queue empty, and whoever adds ops, pre-faults more or
//! finishes under the lock sees it and calls the notification.
//!
//! Over 500 lines because the job's state, the string buffer the JS thread
//! fills while side jobs pre-fault it ([`Fill`]) and the scan that streams
//! ops share the one protocol described above: a side job pokes the job's
//! queue, `feed` writes only where a side job pre-faulted. Kept in one file
//! so that protocol can be checked in one read. (The whole-text functions,
//! which share none of it, are in `whole.rs`.)

use super::message::describe;
use super::plan::{self, NullSink, Sink, OP_LEN};
use super::scan::{Fault, Input, Scanner, Stop, Whole, MAX_UNITS};
use super::text::Unit;
use super::whole::too_long;
use crate::error::Error;
use crate::node_api::{self, RawEnv};
use crate::shared::{Gone, Watch};
use napi::bindgen_prelude::{Function, Uint32Array, Unknown, Utf16String};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsString, JsValue};
use napi_derive::napi;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// The default for `sliceSize`: the longest text (UTF-16 units or bytes)
/// handed to `JSON.parse` in one call, give or take one member.
pub const DEFAULT_SLICE: usize = 64 * 1024;

/// A string's UTF-16 units, copied in by the JS thread (`feed`) before the
/// scan begins: a pool thread never waits for text (the scan is handed to
/// the pool only once the whole string is here, `src/pool/json.rs`).
///
/// Fresh memory costs a page fault per 4 KiB on first write (about 4.5 µs
/// each on the reference machine: 45 ms for a 20 MB string's 40 MB). Side
/// jobs on the pool's threads take those off the JS thread: each
/// pre-faults at most [`PREFAULT_AHEAD`] bytes past what is written
/// (`MADV_POPULATE_WRITE`, which maps pages without changing their
/// contents) and ends, so none holds a pool thread for more than a few ms;
/// `feed` asks for the next one when the pre-faulted stretch runs short
/// (`wants_prefault`). While one runs, `feed` writes only where it has
/// been; while none runs (queued behind other work, or none asked for),
/// the JS thread writes and faults pages itself rather than wait for the
/// pool. Nothing here ever waits.
struct Fill {
    /// `len + 1` units (napi writes a terminating NUL after each chunk),
    /// from a leaked `Box<[u16]>`, freed in `Drop`.
    ptr: *mut u16,
    len: usize,
    filled: AtomicUsize,
    /// Units from the start that are pre-faulted (or `len + 1` where that
    /// is not available).
    faulted: AtomicUsize,
    /// The pre-faulting side job: [`SIDE_IDLE`], [`SIDE_QUEUED`] or
    /// [`SIDE_RUNNING`].
    side: AtomicU8,
}

const SIDE_IDLE: u8 = 0;
const SIDE_QUEUED: u8 = 1;
const SIDE_RUNNING: u8 = 2;

// SAFETY: the buffer is written only by `feed` (on the owning JS thread) at
// `filled..`, and read only at `..filled` (see the module's memory-ordering
// note); pre-faulting changes no contents; the raw pointer never changes.
unsafe impl Send for Fill {}
// SAFETY: through `&Fill` the units below `filled` are only read (never
// written again), `feed` writes only above it on the JS thread, and the rest
// is atomics.
unsafe impl Sync for Fill {}

/// Units pre-faulted per step: 512 KiB of memory, about 0.6 ms of kernel
/// time here.
const FAULT_STEP: usize = 256 * 1024;

/// Units one side job pre-faults past what is written at most: 8 MiB of
/// memory, about 10 ms of kernel time here.
const PREFAULT_AHEAD: usize = 4 << 20;

impl Fill {
    fn new(len: usize) -> Self {
        // Zeroed memory comes straight from the OS for large sizes: no
        // main-thread memset, and no page is touched before it is used.
        let boxed: Box<[u16]> = vec![0u16; len + 1].into_boxed_slice();
        let faulted = if memory::can_prefault() { 0 } else { len + 1 };
        Self {
            ptr: Box::into_raw(boxed).cast::<u16>(),
            len,
            filled: AtomicUsize::new(0),
            faulted: AtomicUsize::new(faulted),
            side: AtomicU8::new(SIDE_IDLE),
        }
    }

    fn filled(&self) -> &[u16] {
        let n = self.filled.load(Ordering::Acquire);
        // SAFETY: a valid, initialised, unaliased-by-writers range holds: `..n`
        // was written before `filled` was released as `n`, is never written
        // again, and lies inside the allocation (`n <= len`).
        unsafe { std::slice::from_raw_parts(self.ptr, n) }
    }

    fn complete(&self) -> bool {
        self.filled.load(Ordering::Acquire) >= self.len
    }

    /// How many more units `feed` may write now: what is pre-faulted; if
    /// nothing is and no side job is running, all that is left.
    fn writable(&self) -> usize {
        let filled = self.filled.load(Ordering::Relaxed);
        let faulted = self.faulted.load(Ordering::Acquire).min(self.len + 1);
        // The unit at `faulted - 1` takes napi's NUL.
        let ahead = faulted
            .saturating_sub(1)
            .min(self.len)
            .saturating_sub(filled);
        if ahead > 0 || self.side.load(Ordering::Acquire) == SIDE_RUNNING {
            ahead
        } else {
            self.len - filled
        }
    }

    /// Whether a side job should be queued now (none is, and less than
    /// half of [`PREFAULT_AHEAD`] is pre-faulted past what is written);
    /// if so, marks it queued.
    fn wants_prefault(&self) -> bool {
        let faulted = self.faulted.load(Ordering::Acquire);
        let filled = self.filled.load(Ordering::Relaxed);
        faulted <= self.len
            && faulted < filled.saturating_add(PREFAULT_AHEAD / 2)
            && self
                .side
                .compare_exchange(SIDE_IDLE, SIDE_QUEUED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// One side job, on a pool thread: pre-faults from what is written up
    /// to [`PREFAULT_AHEAD`] past it, a step at a time, telling the JS side
    /// after each step; stops early once `stop` is set. Never waits.
    fn prefault_ahead(&self, stop: &AtomicBool, poke: impl Fn()) {
        self.side.store(SIDE_RUNNING, Ordering::Release);
        let filled = self.filled.load(Ordering::Acquire);
        // Pages the JS thread already wrote are mapped: start after them.
        self.faulted.fetch_max(filled, Ordering::AcqRel);
        let end = filled.saturating_add(PREFAULT_AHEAD).min(self.len + 1);
        while !stop.load(Ordering::Relaxed) {
            let from = self.faulted.load(Ordering::Relaxed);
            if from >= end {
                break;
            }
            let to = (from + FAULT_STEP).min(end);
            // SAFETY: `from..to` is inside the allocation of `len + 1` units.
            let (start, bytes) = unsafe { (self.ptr.add(from).cast::<u8>(), (to - from) * 2) };
            memory::prefault(start, bytes);
            self.faulted.store(to, Ordering::Release);
            poke();
        }
        self.side.store(SIDE_IDLE, Ordering::Release);
        poke();
    }

    /// Copies `chunk` (a JS string) after what is there. Returns the units
    /// still missing.
    fn feed(&self, env: &Env, chunk: &JsString) -> Result<usize, Error> {
        let at = self.filled.load(Ordering::Relaxed);
        let room = self.len - at;
        // SAFETY: `node_api::utf16_into`'s contract holds: `at..=len` is inside
        // the allocation (`len + 1` units) and no one reads it until `filled`
        // moves past it; Node-API writes at most `room` units plus a NUL there.
        // `feed` is called from a napi call (`JsonJob#feed`) on the env's
        // thread, where `chunk` is live.
        let written = unsafe {
            node_api::utf16_into(RawEnv::of(env), chunk.raw(), self.ptr.add(at), room + 1)
        }
        .map_err(|_| Error::invalid_arg_type("chunk", "of type string", "another type"))?;
        if written == room && chunk.utf16_len().unwrap_or(0) > room {
            return Err(Error::out_of_range(
                "chunk",
                "no longer than the text left",
                written,
            ));
        }
        self.filled.store(at + written, Ordering::Release);
        Ok(self.len - at - written)
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        // `ptr` came from `Box::into_raw` of a `[u16]` of `len + 1` units.
        // SAFETY: same allocation and length, freed exactly once, here.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len + 1)) });
    }
}

/// Pre-faulting pages (Linux); elsewhere a no-op and `feed` is never held
/// back.
mod memory {
    #[cfg(target_os = "linux")]
    pub fn can_prefault() -> bool {
        use std::sync::OnceLock;
        static SUPPORTED: OnceLock<bool> = OnceLock::new();
        *SUPPORTED.get_or_init(|| {
            // Ask the kernel once (MADV_POPULATE_WRITE is Linux 5.14+).
            let page = vec![0u8; 8192];
            let (start, len) = page_range(page.as_ptr(), page.len());
            if len == 0 {
                return false;
            }
            // The range is inside `page`, which lives across the call, and
            // populating pages changes no contents.
            // SAFETY: a live range; the call does not change its contents.
            unsafe { libc::madvise(start.cast(), len, libc::MADV_POPULATE_WRITE) == 0 }
        })
    }

    #[cfg(target_os = "linux")]
    pub fn prefault(start: *mut u8, len: usize) {
        let (start, len) = page_range(start, len);
        if len > 0 {
            // The caller passes a range inside one live allocation;
            // MADV_POPULATE_WRITE maps its pages writable without changing
            // their contents, so a concurrent writer is unaffected. Failure
            // only means the writer faults the pages itself.
            // SAFETY: a live range; the call does not change its contents.
            unsafe { libc::madvise(start.cast(), len, libc::MADV_POPULATE_WRITE) };
        }
    }

    /// The whole pages inside `start..start + len`.
    #[cfg(target_os = "linux")]
    fn page_range(start: *const u8, len: usize) -> (*mut u8, usize) {
        const PAGE: usize = 4096;
        let a = start as usize;
        let first = a.div_ceil(PAGE) * PAGE;
        let end = (a + len) / PAGE * PAGE;
        (first as *mut u8, end.saturating_sub(first))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn can_prefault() -> bool {
        false
    }

    #[cfg(not(target_os = "linux"))]
    pub fn prefault(_start: *mut u8, _len: usize) {}
}

/// Where a job stands, as `job.status` reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
enum Status {
    Running = 0,
    Done = 1,
    Failed = 2,
    Cancelled = 3,
}

/// The job's `onReady`, callable from the scanning thread.
pub type Notify = ThreadsafeFunction<(), Unknown<'static>, (), napi::Status, false>;

/// Ops published together, with the decoded UTF-16 text their `DECODED`
/// spans point into.
struct Batch {
    ops: Vec<u32>,
    text: Vec<u16>,
}

struct Queue {
    batches: VecDeque<Batch>,
    status: Status,
    /// The JS side found nothing and waits for `onReady`.
    waiting: bool,
    error: Option<Error>,
    /// Released (dropped) when the job finishes, so a finished job keeps
    /// nothing alive.
    notify: Option<Notify>,
}

pub struct JobState {
    cancel: AtomicBool,
    queue: Mutex<Queue>,
    /// A string job's text; taken out by `close` so the memory goes as
    /// soon as the JS side is done (the scanner thread holds its own
    /// reference while it runs).
    fill: Mutex<Option<Arc<Fill>>>,
}

impl JobState {
    fn new(notify: Notify, fill: Option<Arc<Fill>>) -> Self {
        Self {
            cancel: AtomicBool::new(false),
            queue: Mutex::new(Queue {
                batches: VecDeque::new(),
                status: Status::Running,
                waiting: false,
                error: None,
                notify: Some(notify),
            }),
            fill: Mutex::new(fill),
        }
    }

    fn fill(&self) -> Option<Arc<Fill>> {
        self.fill.lock().clone()
    }

    fn publish(&self, batch: Batch) {
        let mut q = self.queue.lock();
        q.batches.push_back(batch);
        Self::wake_js(&mut q);
    }

    /// Wakes the JS side if it waits (more of the string can be fed).
    fn poke(&self) {
        Self::wake_js(&mut self.queue.lock());
    }

    fn wake_js(q: &mut Queue) {
        if q.waiting {
            q.waiting = false;
            if let Some(n) = &q.notify {
                n.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    }

    fn finish(&self, status: Status, error: Option<Error>) {
        let notify = {
            let mut q = self.queue.lock();
            q.status = status;
            q.error = error;
            let waiting = std::mem::take(&mut q.waiting);
            q.notify.take().filter(|_| waiting)
        };
        if let Some(n) = notify {
            n.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Stops the scan as soon as it notices; the job ends `cancelled`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// UTF-16 units of decoded text per batch at most (512 KB): the main
/// thread turns a batch's text into one string, a copy it should not wait
/// long for.
const BATCH_TEXT: usize = 1 << 18;

/// Hands ops to the main thread in growing batches: the first at once (so
/// building starts early), later ones up to 1024 ops at a time.
///
/// For binary input, a span with non-ASCII bytes is decoded here, off the
/// main thread (V8's UTF-8 decoder manages about 170 MB/s of such text on
/// the reference machine: more than parsing it costs), into the batch's
/// text; the op then carries `DECODED` and offsets into that text.
struct StreamSink<'a> {
    shared: Arc<JobState>,
    local: Vec<u32>,
    text: Vec<u16>,
    batch: usize,
    bytes: Option<&'a [u8]>,
}

impl<'a> StreamSink<'a> {
    fn new(shared: &Arc<JobState>, bytes: Option<&'a [u8]>) -> Self {
        Self {
            shared: Arc::clone(shared),
            local: Vec::new(),
            text: Vec::new(),
            batch: OP_LEN,
            bytes,
        }
    }
}

impl Sink for StreamSink<'_> {
    #[inline]
    fn op(&mut self, code: u32, a: usize, b: usize, n: usize) {
        let (mut code, mut a, mut b) = (code, a, b);
        if let Some(bytes) = self.bytes {
            if code & plan::NON_ASCII != 0 {
                let from = self.text.len();
                append_utf16(&mut self.text, &bytes[a..b]);
                code = (code & !plan::NON_ASCII) | plan::DECODED;
                (a, b) = (from, self.text.len());
            }
        }
        self.local
            .extend_from_slice(&[code, a as u32, b as u32, n.min(u32::MAX as usize) as u32]);
        if self.local.len() >= self.batch || self.text.len() >= BATCH_TEXT {
            self.progress();
            self.batch = (self.batch * 2).min(1024 * OP_LEN);
        }
    }

    fn progress(&mut self) {
        if !self.local.is_empty() {
            self.shared.publish(Batch {
                ops: std::mem::take(&mut self.local),
                text: std::mem::take(&mut self.text),
            });
        }
    }
}

/// Runs one scan to the end and records how it ended.
fn run_scan<'a, C: Unit, I: Input<'a, C>>(
    shared: &Arc<JobState>,
    input: I,
    decode: Option<&'a [u8]>,
    slice: usize,
    validate_only: bool,
    stopped: impl FnOnce() -> Error,
    describe_with: impl FnOnce(Fault) -> Error,
) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if validate_only {
            Scanner::new(input, NullSink, usize::MAX).run().1
        } else {
            Scanner::new(input, StreamSink::new(shared, decode), slice)
                .run()
                .1
        }
    }));
    let panicked = |p| {
        Some(Error::TaskPanicked {
            message: panic_message(p),
        })
    };
    match outcome {
        Ok(Ok(())) => shared.finish(Status::Done, None),
        Ok(Err(Stop::Cancelled)) => match stopped() {
            Error::Aborted => shared.finish(Status::Cancelled, Some(Error::Aborted)),
            other => shared.finish(Status::Failed, Some(other)),
        },
        Ok(Err(Stop::Syntax(fault))) => {
            match catch_unwind(AssertUnwindSafe(|| describe_with(fault))) {
                Ok(error) => shared.finish(Status::Failed, Some(error)),
                Err(p) => shared.finish(Status::Failed, panicked(p)),
            }
        }
        Err(p) => shared.finish(Status::Failed, panicked(p)),
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Builds the wake-up a job calls on its JS thread (`onReady`).
pub fn make_notify(on_ready: Function<'_, (), Unknown<'static>>) -> napi::Result<Notify> {
    on_ready
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .build()
}

/// `sliceSize` as the façade passes it: 0 means the default.
pub fn slice_option(slice: u32) -> usize {
    if slice == 0 {
        DEFAULT_SLICE
    } else {
        slice as usize
    }
}

/// What `take` returns: ops, and the text their `DECODED` spans index.
#[napi(object)]
pub struct TakenBatch {
    pub ops: Uint32Array,
    pub text: Option<Utf16String>,
}

/// Appends `bytes` decoded as `buffer.toString('utf8')` decodes them.
fn append_utf16(out: &mut Vec<u16>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().encode_utf16());
        if !chunk.invalid().is_empty() {
            out.push(0xFFFD);
        }
    }
}

/// How a job's scan ended, for the pool's counters (the job itself says
/// the rest to its JS side).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Scanned to the end: valid, or invalid with its `SyntaxError` (the
    /// pool finished the work either way).
    Done,
    /// Stopped by `cancel` (an abort, or the JS side gave up on it).
    Cancelled,
    /// Stopped because the input went away (see [`JobState::scan_bytes`]).
    Detached,
    /// Stopped because the owning thread's teardown began.
    Ended,
}

/// Bytes a byte job's scan is handed at a time. Between windows the scan
/// checks whether it must stop (cancelled, the buffer detached, or the
/// owning thread's teardown waiting for it), so a teardown waits for one
/// window at most: 4 MiB, a few ms of scanning here (the scanner reads
/// 0.5-1 GB/s), far under the 50 ms bound.
pub const WINDOW: usize = 4 << 20;

/// The input of a byte job: the whole text, handed to the scanner one
/// [`WINDOW`] at a time; stopped by the job's cancel flag or by the
/// region's [`Watch`] (the owner ending, or the buffer detached).
struct Bytes<'a, 'w> {
    buf: &'a [u8],
    given: usize,
    cancel: &'a AtomicBool,
    watch: &'w Watch<'w>,
}

impl<'a> Input<'a, u8> for Bytes<'a, '_> {
    fn wait(&mut self, min: usize) -> Result<&'a [u8], Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        self.given = min
            .max(self.given.saturating_add(WINDOW))
            .min(self.buf.len());
        Ok(&self.buf[..self.given])
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.watch.gone().is_some()
    }
}

/// One `parseJson` / `validateJson` call in flight: the state the scan (on
/// a pool thread) and the JS side share. The pool binds it to a pool
/// (`src/pool/json.rs`); nothing here knows which.
impl JobState {
    /// A job over a string of `length` UTF-16 units, fed with
    /// [`Self::feed`].
    pub fn for_string(length: f64, notify: Notify) -> Result<Arc<Self>, Error> {
        if !(length >= 0.0 && length <= MAX_UNITS as f64 && length.fract() == 0.0) {
            return Err(too_long(length as usize));
        }
        let fill = Arc::new(Fill::new(length as usize));
        Ok(Arc::new(Self::new(notify, Some(fill))))
    }

    /// A job over `len` bytes of UTF-8, handed to [`Self::scan_bytes`].
    pub fn for_bytes(len: usize, notify: Notify) -> Result<Arc<Self>, Error> {
        if len > MAX_UNITS {
            return Err(too_long(len));
        }
        Ok(Arc::new(Self::new(notify, None)))
    }

    /// The whole scan of a string job, on the calling (pool) thread, over
    /// the text the JS side has copied in: all of it (the pool is handed
    /// the scan only then), unless the job was cancelled first. Never
    /// waits.
    pub fn scan_string(self: &Arc<Self>, slice: usize, validate_only: bool) -> Outcome {
        let fill = match self.fill() {
            Some(fill) if fill.complete() => fill,
            _ => {
                // Closed, or cancelled before all of it was fed.
                self.finish(Status::Cancelled, Some(Error::Aborted));
                return Outcome::Cancelled;
            }
        };
        let text = fill.filled();
        run_scan(
            self,
            Whole::new(text, &self.cancel),
            None,
            slice,
            validate_only,
            || Error::Aborted,
            |fault| describe(text, fault).into_error(),
        );
        self.outcome()
    }

    /// Whether a string job wants a pre-faulting side job queued now (see
    /// [`Fill`]); if so, it counts as queued until [`Self::prefault`] runs.
    pub fn wants_prefault(&self) -> bool {
        self.fill().is_some_and(|f| f.wants_prefault())
    }

    /// The side job [`Self::wants_prefault`] asked for could not be queued.
    pub fn prefault_refused(&self) {
        if let Some(fill) = self.fill() {
            fill.side.store(SIDE_IDLE, Ordering::Release);
        }
    }

    /// A pre-faulting side job of a string job (see [`Fill`]): run it on a
    /// pool thread, outside the pool's task accounting. Bounded, never
    /// waits.
    pub fn prefault(self: &Arc<Self>) {
        if let Some(fill) = self.fill() {
            fill.prefault_ahead(&self.cancel, || self.poke());
        }
    }

    /// Whether a string job has all of its text (a byte job always has).
    pub fn fed(&self) -> bool {
        self.fill().is_none_or(|f| f.complete())
    }

    /// The whole scan of a byte job over `bytes`, on the calling (pool)
    /// thread, which holds the owner's alive guard: `watch` says when to
    /// stop (polled every [`WINDOW`] bytes). A detached buffer fails the
    /// job with `ERR_NODEPERF_DETACHED`; an owner whose teardown began
    /// ends it at once ([`Outcome::Ended`]: nobody is left to tell).
    pub fn scan_bytes(
        self: &Arc<Self>,
        bytes: &[u8],
        slice: usize,
        validate_only: bool,
        watch: &Watch<'_>,
    ) -> Outcome {
        let input = Bytes {
            buf: bytes,
            given: 0,
            cancel: &self.cancel,
            watch,
        };
        let stopped = || match watch.gone() {
            Some(Gone::Detached) => Error::Detached,
            Some(Gone::Ended) => Error::ThreadEnded {
                thread: "the submitting thread".into(),
            },
            None => Error::Aborted,
        };
        run_scan(
            self,
            input,
            Some(bytes),
            slice,
            validate_only,
            stopped,
            |fault| describe(bytes, fault).into_error(),
        );
        self.outcome()
    }

    /// Ends the job with `error` without scanning (or after a scan that
    /// could not finish: the input went away).
    pub fn fail(&self, error: Error) {
        self.finish(Status::Failed, Some(error));
    }

    /// Ends the job with `error` if it has not ended (its scan never ran).
    pub fn abandon(&self, error: Error) {
        let running = self.queue.lock().status == Status::Running;
        if running {
            self.finish(Status::Failed, Some(error));
        }
    }

    fn outcome(&self) -> Outcome {
        let q = self.queue.lock();
        match (q.status, &q.error) {
            (Status::Cancelled, _) => Outcome::Cancelled,
            (Status::Failed, Some(Error::Detached)) => Outcome::Detached,
            (Status::Failed, Some(Error::ThreadEnded { .. })) => Outcome::Ended,
            _ => Outcome::Done,
        }
    }

    /// Copies the next piece of the string in (at most `writable` units).
    /// Returns how many units are still to come (0 for a byte job).
    pub fn feed(&self, env: &Env, chunk: &JsString<'_>) -> Result<f64, Error> {
        match self.fill() {
            Some(fill) => fill.feed(env, chunk).map(|n| n as f64),
            None => Ok(0.0),
        }
    }

    /// How many units `feed` may copy now without faulting fresh pages on
    /// the JS thread.
    pub fn writable(&self) -> f64 {
        self.fill().map_or(0, |f| f.writable()) as f64
    }

    /// The next batch of ops, or `None`; when `None` while the job still
    /// runs, `onReady` will be called once more ops arrive or it ends.
    pub fn take(&self) -> Option<TakenBatch> {
        let mut q = self.queue.lock();
        let Some(batch) = q.batches.pop_front() else {
            if q.status == Status::Running {
                q.waiting = true;
            }
            return None;
        };
        drop(q);
        let text = (!batch.text.is_empty()).then(|| Utf16String::from(batch.text));
        Some(TakenBatch {
            ops: Uint32Array::new(batch.ops),
            text,
        })
    }

    /// 0 running, 1 done, 2 failed, 3 cancelled; ops not yet taken count
    /// as running (a `take` that found nothing, then a `status` read after
    /// the scan published its last ops and finished, must not look
    /// finished).
    pub fn status(&self) -> u32 {
        let q = self.queue.lock();
        if q.batches.is_empty() {
            q.status as u32
        } else {
            Status::Running as u32
        }
    }

    /// The error a failed job ends with (a `SyntaxError` with `position`).
    pub fn error<'e>(&self, env: &'e Env) -> Option<Unknown<'e>> {
        self.queue.lock().error.as_ref().map(|e| e.to_js(env))
    }

    /// The JS side is done with the job: cancels it if it still runs and
    /// frees a string job's copy of the text now rather than at GC.
    pub fn close(&self) {
        self.cancel();
        self.fill.lock().take();
    }
}
