//! The JS-facing side of `parseJson` / `validateJson`: a [`JsonJob`] per
//! call scans on its own native thread and streams the plan to the main
//! thread, which builds the value from it in time-budgeted slices
//! (lib/json.js).
//!
//! Each job runs on the default pool's threads (the pool installs its
//! runner with [`set_job_runner`] when it starts), or runs the pure
//! [`plan_utf8`] / [`validate_utf8`] as tasks. See `src/json/README.md`.
//!
//! # Input
//! - Binary input is read in place. The scan holds the calling thread's
//!   "alive" lock ([`ThreadShared::while_alive`]), so a worker thread that
//!   ends mid-scan waits for the scan (never frees memory under it). The
//!   zero-copy contract: don't transfer or detach the buffer, and don't
//!   write to it, while the parse runs (the JS side keeps it referenced).
//! - A string's UTF-16 units are copied into a native buffer by the main
//!   thread in chunks (`feed`), between which the loop runs; the scanner
//!   reads behind the copy, and pre-faults the buffer's pages ahead of it
//!   while it waits (see [`Fill`]).
//!
//! # Memory ordering
//! `Fill::filled` is stored with `Release` after the units below it are
//! written and loaded with `Acquire` before they are read; the scanner only
//! ever makes slices of `..filled`, the writer only writes at `filled..`.
//! The op queue, status and the `waiting` flag share one mutex, so a
//! wake-up is never lost: the JS side sets `waiting` under the lock when it
//! finds the queue empty, and whoever adds ops or finishes under the lock
//! sees it and calls the notification.

use super::message::{describe, set_dialect, View};
use super::plan::{self, NullSink, Sink, VecSink, OP_LEN};
use super::scan::{Fault, Input, Scanner, Stop, Whole, MAX_UNITS};
use super::text::Unit;
use crate::error::{Error, OrThrow};
use crate::thread::{ThreadShared, ThreadState};
use napi::bindgen_prelude::{Function, Uint32Array, Uint8ArraySlice, Unknown, Utf16String};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsString, JsValue};
use napi_derive::napi;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The default for `sliceSize`: the longest text (UTF-16 units or bytes)
/// handed to `JSON.parse` in one call, give or take one member.
pub const DEFAULT_SLICE: usize = 64 * 1024;

/// Validates `bytes` (UTF-8) and returns the whole plan (see `plan.rs`).
/// The pure off-thread half of `json.parse`, for a pool task to run.
pub fn plan_utf8(bytes: &[u8], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error> {
    plan_units(bytes, slice, cancel)
}

/// [`plan_utf8`] for UTF-16 text (a copy of a JS string).
pub fn plan_utf16(units: &[u16], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error> {
    plan_units(units, slice, cancel)
}

/// Validates `bytes` (UTF-8): `Ok(())` or the `SyntaxError` `JSON.parse`
/// would throw. The pure off-thread half of `json.validate`.
pub fn validate_utf8(bytes: &[u8], cancel: &AtomicBool) -> Result<(), Error> {
    validate_units(bytes, cancel)
}

/// [`validate_utf8`] for UTF-16 text.
pub fn validate_utf16(units: &[u16], cancel: &AtomicBool) -> Result<(), Error> {
    validate_units(units, cancel)
}

fn too_long(len: usize) -> Error {
    Error::out_of_range("data", &format!("at most {MAX_UNITS} units long"), len)
}

fn plan_units<C: Unit>(text: &[C], slice: usize, cancel: &AtomicBool) -> Result<Vec<u32>, Error>
where
    [C]: View,
{
    if text.len() > MAX_UNITS {
        return Err(too_long(text.len()));
    }
    let (sink, r) = Scanner::new(Whole::new(text, cancel), VecSink::default(), slice).run();
    match r {
        Ok(()) => Ok(sink.ops),
        Err(stop) => Err(stop_error(text, stop)),
    }
}

fn validate_units<C: Unit>(text: &[C], cancel: &AtomicBool) -> Result<(), Error>
where
    [C]: View,
{
    if text.len() > MAX_UNITS {
        return Err(too_long(text.len()));
    }
    let (_, r) = Scanner::new(Whole::new(text, cancel), NullSink, usize::MAX).run();
    r.map_err(|stop| stop_error(text, stop))
}

fn stop_error<C>(text: &[C], stop: Stop) -> Error
where
    [C]: View,
{
    match stop {
        Stop::Syntax(fault) => describe(text, fault).into_error(),
        Stop::Cancelled => Error::Aborted,
    }
}

/// Tells the message builder how this Node's `JSON.parse` words errors
/// (see `message::set_dialect`). The façade asks `JSON.parse` once.
#[napi(js_name = "jsonSetDialect")]
pub fn json_set_dialect(line_column: bool, later_colon_is_token: bool) {
    set_dialect(line_column, later_colon_is_token);
}

/// Checks `text` on the calling thread: `null` if it is valid JSON, else the
/// `SyntaxError` (with `position`) that `parseJson` rejects with.
#[napi(js_name = "jsonCheckStringSync")]
pub fn json_check_string_sync(env: &Env, text: Utf16String) -> Option<Unknown<'_>> {
    let cancel = AtomicBool::new(false);
    validate_utf16(&text, &cancel).err().map(|e| e.to_js(env))
}

/// [`json_check_string_sync`] for UTF-8 bytes.
#[napi(js_name = "jsonCheckBytesSync")]
pub fn json_check_bytes_sync<'e>(env: &'e Env, bytes: Uint8ArraySlice<'_>) -> Option<Unknown<'e>> {
    let cancel = AtomicBool::new(false);
    validate_utf8(&bytes, &cancel).err().map(|e| e.to_js(env))
}

/// The whole plan for a string, on the calling thread (tests and tools).
#[napi(js_name = "jsonPlanStringSync")]
pub fn json_plan_string_sync(
    env: &Env,
    text: Utf16String,
    slice: u32,
) -> napi::Result<Uint32Array> {
    let cancel = AtomicBool::new(false);
    plan_utf16(&text, slice as usize, &cancel)
        .map(Uint32Array::new)
        .or_throw(env)
}

/// The whole plan for UTF-8 bytes, on the calling thread.
#[napi(js_name = "jsonPlanBytesSync")]
pub fn json_plan_bytes_sync(
    env: &Env,
    bytes: Uint8ArraySlice<'_>,
    slice: u32,
) -> napi::Result<Uint32Array> {
    let cancel = AtomicBool::new(false);
    plan_utf8(&bytes, slice as usize, &cancel)
        .map(Uint32Array::new)
        .or_throw(env)
}

/// A string's UTF-16 units, copied in by the main thread (`feed`) while
/// the scanner reads behind.
///
/// Fresh memory costs a page fault per 4 KiB on first write (about 4 µs
/// each on the reference machine: 40 ms for a 20 MB string's 40 MB). The
/// scanner thread takes those off the main thread: while it waits for text
/// it pre-faults the buffer ahead (`MADV_POPULATE_WRITE`, which maps pages
/// without changing their contents), and `feed` only writes where that has
/// happened (`writable`).
struct Fill {
    /// `len + 1` units (napi writes a terminating NUL after each chunk),
    /// from a leaked `Box<[u16]>`, freed in `Drop`.
    ptr: *mut u16,
    len: usize,
    filled: AtomicUsize,
    /// Units from the start that are pre-faulted (or `len + 1` where that
    /// is not available).
    faulted: AtomicUsize,
    lock: Mutex<()>,
    more: Condvar,
}

// SAFETY: the buffer is written only by `feed` (on the owning JS thread) at
// `filled..`, and read only at `..filled` (see the module's memory-ordering
// note); pre-faulting changes no contents; the raw pointer never changes.
unsafe impl Send for Fill {}
// SAFETY: as above; all shared state is atomics or behind the mutex.
unsafe impl Sync for Fill {}

/// Units pre-faulted per step: 512 KiB of memory, about 0.6 ms of kernel
/// time here.
const FAULT_STEP: usize = 256 * 1024;

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
            lock: Mutex::new(()),
            more: Condvar::new(),
        }
    }

    fn filled(&self) -> &[u16] {
        let n = self.filled.load(Ordering::Acquire);
        // `..n` was written before `filled` was released as `n`, is never
        // written again, and lies inside the allocation (`n <= len`).
        // SAFETY: a valid, initialised, unaliased-by-writers range (above).
        unsafe { std::slice::from_raw_parts(self.ptr, n) }
    }

    /// How many more units `feed` may write now without faulting pages.
    fn writable(&self) -> usize {
        let faulted = self.faulted.load(Ordering::Acquire).min(self.len + 1);
        let filled = self.filled.load(Ordering::Relaxed);
        // The unit at `faulted - 1` takes napi's NUL.
        faulted
            .saturating_sub(1)
            .min(self.len)
            .saturating_sub(filled)
    }

    /// Pre-faults the next step; false when everything is.
    fn prefault_step(&self) -> bool {
        let from = self.faulted.load(Ordering::Relaxed);
        if from > self.len {
            return false;
        }
        let to = (from + FAULT_STEP).min(self.len + 1);
        // SAFETY: `from..to` is inside the allocation of `len + 1` units.
        let (start, bytes) = unsafe { (self.ptr.add(from).cast::<u8>(), (to - from) * 2) };
        memory::prefault(start, bytes);
        self.faulted.store(to, Ordering::Release);
        true
    }

    /// Copies `chunk` (a JS string) after what is there. Returns the units
    /// still missing.
    fn feed(&self, env: &Env, chunk: &JsString) -> Result<usize, Error> {
        let at = self.filled.load(Ordering::Relaxed);
        let room = self.len - at;
        let mut written = 0usize;
        // `at..=len` is inside the allocation (`len + 1` units) and no one
        // reads it until `filled` moves past it; napi writes at most `room`
        // units plus a NUL. `chunk` is a live string of this env.
        // SAFETY: the write stays inside memory only we touch (above).
        let status = unsafe {
            napi::sys::napi_get_value_string_utf16(
                env.raw(),
                chunk.raw(),
                self.ptr.add(at),
                room + 1,
                &mut written,
            )
        };
        if status != napi::sys::Status::napi_ok {
            return Err(Error::invalid_arg_type(
                "chunk",
                "of type string",
                "another type",
            ));
        }
        if written == room && chunk.utf16_len().unwrap_or(0) > room {
            return Err(Error::out_of_range(
                "chunk",
                "no longer than the text left",
                written,
            ));
        }
        self.filled.store(at + written, Ordering::Release);
        self.wake();
        Ok(self.len - at - written)
    }

    fn wake(&self) {
        let _guard = self.lock.lock();
        self.more.notify_all();
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        // `ptr` came from `Box::into_raw` of a `[u16]` of `len + 1` units.
        // SAFETY: same allocation and length, freed exactly once, here.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len + 1)) });
    }
}

/// The growing view of a [`Fill`] the scanner reads. While there is
/// nothing to read it pre-faults the buffer, telling the JS side (through
/// `shared`) each time more can be written.
struct Growing<'a> {
    fill: &'a Fill,
    shared: &'a Shared,
}

impl<'a> Input<'a, u16> for Growing<'a> {
    fn wait(&mut self, min: usize) -> Result<&'a [u16], Stop> {
        loop {
            if self.cancelled() {
                return Err(Stop::Cancelled);
            }
            let buf = self.fill.filled();
            if buf.len() >= min || buf.len() >= self.fill.len {
                return Ok(buf);
            }
            if self.fill.prefault_step() {
                self.shared.poke();
                continue;
            }
            let mut guard = self.fill.lock.lock();
            while self.fill.filled.load(Ordering::Acquire) < min.min(self.fill.len)
                && !self.cancelled()
            {
                self.fill.more.wait(&mut guard);
            }
        }
    }

    fn cancelled(&self) -> bool {
        self.shared.cancel.load(Ordering::Relaxed)
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

type Notify = ThreadsafeFunction<(), Unknown<'static>, (), napi::Status, false>;

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

struct Shared {
    cancel: AtomicBool,
    queue: Mutex<Queue>,
    /// A string job's text; taken out by `close` so the memory goes as
    /// soon as the JS side is done (the scanner thread holds its own
    /// reference while it runs).
    fill: Mutex<Option<Arc<Fill>>>,
}

impl Shared {
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

    fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(fill) = self.fill() {
            fill.wake();
        }
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
    shared: Arc<Shared>,
    local: Vec<u32>,
    text: Vec<u16>,
    batch: usize,
    bytes: Option<&'a [u8]>,
}

impl<'a> StreamSink<'a> {
    fn new(shared: &Arc<Shared>, bytes: Option<&'a [u8]>) -> Self {
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
    shared: &Arc<Shared>,
    input: I,
    decode: Option<&'a [u8]>,
    slice: usize,
    validate_only: bool,
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
        Ok(Err(Stop::Cancelled)) => shared.finish(Status::Cancelled, Some(Error::Aborted)),
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

/// Raw view of a binary input, valid while its env is alive and the JS side
/// holds the object (see the module docs).
#[derive(Clone, Copy)]
struct RawBytes {
    ptr: *const u8,
    len: usize,
}

// SAFETY: only dereferenced inside `ThreadShared::while_alive` on the
// scanner thread, under the zero-copy contract in the module docs.
unsafe impl Send for RawBytes {}

fn make_notify(on_ready: Function<'_, (), Unknown<'static>>) -> napi::Result<Notify> {
    on_ready
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .build()
}

/// A job body: runs the whole scan, publishing as it goes. Bodies of
/// string jobs block while they wait for the main thread to feed them.
pub type JobBody = Box<dyn FnOnce() + Send + 'static>;

/// Runs a job body on the pool: `(validate_only, body)`. It must run the
/// body exactly once, or return an error without running it.
pub type JobRunner = fn(bool, JobBody) -> Result<(), Error>;

/// Where job bodies run: the default pool's threads, set when it starts.
static RUNNER: std::sync::OnceLock<JobRunner> = std::sync::OnceLock::new();

/// Lets the thread pool run JSON jobs on its threads (called once, when
/// the default pool starts; the façade starts it before any JSON job).
pub fn set_job_runner(runner: JobRunner) -> bool {
    RUNNER.set(runner).is_ok()
}

fn spawn(validate_only: bool, body: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    match RUNNER.get() {
        Some(run) => run(validate_only, Box::new(body)),
        None => Err(Error::InvalidArgValue {
            name: "pool".into(),
            reason: "is not started: JSON jobs run on the default pool (use pool.parseJson)".into(),
        }),
    }
}

fn slice_option(slice: u32) -> usize {
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

/// One `parseJson` / `validateJson` call in flight.
#[napi(js_name = "JsonJob")]
pub struct JsonJob {
    shared: Arc<Shared>,
}

#[napi]
impl JsonJob {
    /// A job over a string of `length` UTF-16 units, fed with `feed`.
    /// `slice` 0 means the default. `onReady` is called (on this thread)
    /// when ops arrive, more can be fed, or the job ends, while the JS side
    /// waits.
    #[napi(factory)]
    pub fn for_string(
        env: &Env,
        length: f64,
        slice: u32,
        validate_only: bool,
        on_ready: Function<'_, (), Unknown<'static>>,
    ) -> napi::Result<Self> {
        if !(length >= 0.0 && length <= MAX_UNITS as f64 && length.fract() == 0.0) {
            return Err(too_long(length as usize).into_napi(env));
        }
        let fill = Arc::new(Fill::new(length as usize));
        let shared = Arc::new(Shared::new(make_notify(on_ready)?, Some(Arc::clone(&fill))));
        let for_thread = Arc::clone(&shared);
        let slice = slice_option(slice);
        spawn(validate_only, move || {
            let shared = for_thread;
            let fill = &*fill;
            let input = Growing {
                fill,
                shared: &shared,
            };
            run_scan(&shared, input, None, slice, validate_only, |fault| {
                // The message needs the whole text: the JS side feeds all
                // of it whatever happens.
                let mut all = Growing {
                    fill,
                    shared: &shared,
                };
                match all.wait(fill.len) {
                    Ok(text) => describe(text, fault).into_error(),
                    Err(_) => Error::Aborted,
                }
            });
        })
        .or_throw(env)?;
        Ok(Self { shared })
    }

    /// A job over UTF-8 bytes, read in place.
    #[napi(factory)]
    pub fn for_bytes(
        env: &Env,
        bytes: Uint8ArraySlice<'_>,
        slice: u32,
        validate_only: bool,
        on_ready: Function<'_, (), Unknown<'static>>,
    ) -> napi::Result<Self> {
        if bytes.len() > MAX_UNITS {
            return Err(too_long(bytes.len()).into_napi(env));
        }
        let owner: Arc<ThreadShared> = Arc::clone(&ThreadState::get(env).or_throw(env)?.shared);
        // Without the fault guard (not a unix), a buffer whose caller broke
        // the contract could crash the scanner: such platforms scan a copy.
        let copy = (!crate::shared::install_fault_guard()).then(|| bytes.to_vec());
        let raw = RawBytes {
            ptr: copy.as_ref().map_or(bytes.as_ptr(), |c| c.as_ptr()),
            len: bytes.len(),
        };
        let shared = Arc::new(Shared::new(make_notify(on_ready)?, None));
        let for_thread = Arc::clone(&shared);
        let slice = slice_option(slice);
        spawn(validate_only, move || {
            let shared = for_thread;
            let raw = raw;
            let _copy = copy;
            let ran = owner.while_alive(|| {
                let bytes: &[u8] = if raw.len == 0 {
                    &[]
                } else {
                    // The env that owns the memory is alive for the
                    // whole closure (teardown waits for it), the JS side
                    // keeps the view referenced until the job ends, and the
                    // zero-copy contract forbids detaching it meanwhile.
                    // SAFETY: sound for the reasons just given.
                    unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) }
                };
                let scan = |bytes: &[u8]| {
                    let input = Whole::new(bytes, &shared.cancel);
                    run_scan(&shared, input, Some(bytes), slice, validate_only, |fault| {
                        describe(bytes, fault).into_error()
                    });
                };
                // A caller who breaks the contract (transfers the buffer and
                // lets the receiver free it) makes a load from `bytes`
                // fault; the guard ends the scan there instead of the
                // process. Abandoning it is sound: input bytes are loaded
                // only by the scanner and the decoder, never while a lock
                // is held or inside the allocator, so nothing is left half
                // done; what the skipped frames own (the plan's vectors, a
                // reference to `shared`) is leaked, not freed twice.
                // SAFETY: sound for the reasons just given.
                if unsafe { crate::shared::fault_guarded(bytes, scan) }.is_err() {
                    shared.finish(Status::Failed, Some(Error::Detached));
                }
            });
            if ran.is_none() {
                let ended = Error::ThreadEnded {
                    thread: owner.label.clone(),
                };
                shared.finish(Status::Failed, Some(ended));
            }
        })
        .or_throw(env)?;
        Ok(Self { shared })
    }

    /// Copies the next piece of the string in (at most `writable` units).
    /// Returns how many units are still to come.
    #[napi]
    pub fn feed(&self, env: &Env, chunk: JsString<'_>) -> napi::Result<f64> {
        match self.shared.fill() {
            Some(fill) => fill.feed(env, &chunk).map(|n| n as f64).or_throw(env),
            None => Ok(0.0),
        }
    }

    /// How many units `feed` may copy now without faulting fresh pages on
    /// this thread. When 0 while the string is not all fed, `take` returns
    /// `null` and `onReady` comes once more can be fed.
    #[napi(getter)]
    pub fn writable(&self) -> f64 {
        self.shared.fill().map_or(0, |f| f.writable()) as f64
    }

    /// The next batch of ops, or `null` if none is there. When it returns
    /// `null` while the job is still running, `onReady` will be called once
    /// more ops arrive or the job ends.
    #[napi]
    pub fn take(&self) -> Option<TakenBatch> {
        let mut q = self.shared.queue.lock();
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

    /// 0 running, 1 done (valid; every op taken), 2 failed, 3 cancelled.
    /// Ops not yet taken count as running: a `take` that found nothing, then
    /// a `status` read after the scan published its last ops and finished,
    /// must not look finished.
    #[napi(getter)]
    pub fn status(&self) -> u32 {
        let q = self.shared.queue.lock();
        if q.batches.is_empty() {
            q.status as u32
        } else {
            Status::Running as u32
        }
    }

    /// The error a failed job ends with (a `SyntaxError` with `position`).
    #[napi]
    pub fn error<'e>(&self, env: &'e Env) -> Option<Unknown<'e>> {
        self.shared
            .queue
            .lock()
            .error
            .as_ref()
            .map(|e| e.to_js(env))
    }

    /// Stops the scan as soon as it notices; the job ends `cancelled`.
    #[napi]
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// The JS side is done with the job: cancels it if it still runs and
    /// frees a string job's copy of the text now rather than at GC.
    #[napi]
    pub fn close(&self) {
        self.shared.cancel();
        self.shared.fill.lock().take();
    }
}

impl Drop for JsonJob {
    fn drop(&mut self) {
        // Collected or torn down with its thread: nobody will feed or read
        // it any more.
        self.shared.cancel();
    }
}
