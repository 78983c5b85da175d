//! The only home of libuv FFI in this crate.
//!
//! libuv is not linked into the addon: the `node` executable exports its
//! `uv_*` symbols and the dynamic loader resolves the declarations below
//! against it when the addon is loaded. We never mirror libuv's structs:
//! handles are opaque blocks of `uv_handle_size(kind)` bytes, and the one
//! field we need (`data`) is reached through `uv_handle_{get,set}_data`.
//!
//! # Ownership and the close rule
//! A [`LoopHook`] owns one libuv handle plus the Rust callback it runs. A
//! handle that is still open when a worker thread's loop is torn down aborts
//! the whole process, so every hook must be closed from the env cleanup hook
//! of the thread that created it (see `thread/mod.rs`). Closing is asynchronous
//! in libuv: the memory (handle and callback) is freed in the close callback,
//! never before.
//!
//! Over 500 lines on purpose: this is the one file allowed to call libuv,
//! so every `extern "C"` declaration and every owning wrapper (loop life,
//! hooks, the async waker) lives here, where all of its unsafe can be read
//! in one place.

use parking_lot::{RwLock, RwLockReadGuard};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// libuv's `uv_loop_t`, opaque to us (napi-rs hands it out as `uv_loop_s`).
pub type UvLoop = napi::sys::uv_loop_s;

/// `uv_handle_t`, opaque.
#[repr(C)]
pub struct UvHandle {
    _opaque: [u8; 0],
}

type HandleCb = unsafe extern "C" fn(handle: *mut UvHandle);
type CloseCb = unsafe extern "C" fn(handle: *mut UvHandle);

// Values of libuv's `uv_handle_type` enum (stable across libuv 1.x).
const UV_ASYNC: c_int = 1;
const UV_CHECK: c_int = 2;
const UV_PREPARE: c_int = 9;

/// libuv's handles are 8-byte aligned structs; 16 leaves room for any
/// platform's `long double`/SIMD members.
const HANDLE_ALIGN: usize = 16;

extern "C" {
    fn uv_version_string() -> *const c_char;
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_get_type(handle: *const UvHandle) -> c_int;
    fn uv_handle_get_data(handle: *const UvHandle) -> *mut c_void;
    fn uv_handle_set_data(handle: *mut UvHandle, data: *mut c_void);
    fn uv_close(handle: *mut UvHandle, cb: Option<CloseCb>);
    fn uv_unref(handle: *mut UvHandle);
    fn uv_ref(handle: *mut UvHandle);
    fn uv_hrtime() -> u64;
    fn uv_metrics_idle_time(lp: *mut UvLoop) -> u64;
    fn uv_loop_configure(lp: *mut UvLoop, option: c_int, ...) -> c_int;

    fn uv_check_init(lp: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    fn uv_check_start(handle: *mut UvHandle, cb: HandleCb) -> c_int;
    fn uv_check_stop(handle: *mut UvHandle) -> c_int;
    fn uv_prepare_init(lp: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    fn uv_prepare_start(handle: *mut UvHandle, cb: HandleCb) -> c_int;
    fn uv_prepare_stop(handle: *mut UvHandle) -> c_int;
    fn uv_async_init(lp: *mut UvLoop, handle: *mut UvHandle, cb: HandleCb) -> c_int;
    fn uv_async_send(handle: *mut UvHandle) -> c_int;
    fn uv_strerror(err: c_int) -> *const c_char;
}

/// Unit tests run outside Node, whose executable exports libuv, so they
/// link against this stand-in for the one libuv call the tested code (the
/// completion queue's wake) refers to; their handles are never open, so it
/// is never called.
#[cfg(test)]
mod test_link {
    #[no_mangle]
    extern "C" fn uv_async_send(_handle: *mut super::UvHandle) -> super::c_int {
        unreachable!("unit tests have no loop to wake")
    }
}

/// The version of the libuv inside this process, e.g. `"1.46.0"`.
pub fn version() -> String {
    // SAFETY: uv_version_string takes no arguments and returns a pointer to
    // a static, NUL-terminated string owned by libuv, valid for the life of
    // the process, so CStr::from_ptr reads a live C string.
    unsafe { CStr::from_ptr(uv_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// Monotonic time in nanoseconds (libuv's `uv_hrtime`: CLOCK_MONOTONIC on
/// Linux, the clock `process.hrtime` reads). Callable from any thread.
pub fn hrtime() -> u64 {
    // SAFETY: uv_hrtime has no preconditions and touches no loop state.
    unsafe { uv_hrtime() }
}

/// Whether a loop is still open, as other threads see it. The loop's thread
/// calls [`LoopLife::end`] before its loop, and the handles it owns on it,
/// are closed (the env cleanup hook, see `thread/mod.rs`); a [`LoopOpen`] guard
/// from [`LoopLife::hold`] delays that `end` until it is dropped. So the
/// guard is proof, checked by the compiler, that the loop is open.
pub struct LoopLife {
    open: RwLock<bool>,
    /// Set by [`LoopLife::end`] before it waits for the guards: long work
    /// under a guard polls it ([`LoopLife::is_ending`]) and lets go early.
    ending: AtomicBool,
}

/// Proof that a [`LoopLife`] has not ended: a read guard of its lock.
/// Teardown waits for every guard to be dropped: keep them short.
pub struct LoopOpen<'a> {
    life: &'a LoopLife,
    _guard: RwLockReadGuard<'a, bool>,
}

impl Default for LoopLife {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopLife {
    /// A life that has not ended.
    pub fn new() -> Self {
        Self {
            open: RwLock::new(true),
            ending: AtomicBool::new(false),
        }
    }

    /// Holds the loop open while the guard lives, or `None` if it ended.
    pub fn hold(&self) -> Option<LoopOpen<'_>> {
        let guard = self.open.read();
        (*guard).then_some(LoopOpen {
            life: self,
            _guard: guard,
        })
    }

    pub fn is_open(&self) -> bool {
        *self.open.read()
    }

    /// Whether [`Self::end`] has begun: a holder doing long work under a
    /// guard should drop it soon and not touch the memory again.
    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::Acquire)
    }

    /// Ends the life: waits for every [`LoopOpen`] to be dropped; later
    /// [`Self::hold`]s get `None`. Call before the loop's handles close.
    pub fn end(&self) {
        self.ending.store(true, Ordering::Release);
        *self.open.write() = false;
    }
}

/// A loop pointer that may be handed to other threads, for the one libuv
/// call that is safe from any thread while the loop is alive:
/// `uv_metrics_idle_time` (it reads the metrics under their own mutex, and
/// adds the idle period in progress, if any).
#[derive(Clone)]
pub struct LoopRef {
    lp: *mut UvLoop,
    /// Ends before the loop closes (the contract of [`LoopRef::new`]).
    life: Arc<LoopLife>,
}

// SAFETY: the pointer is plain data here; it is only ever passed to
// uv_metrics_idle_time, which locks the loop's metrics mutex itself, and only
// while the loop is open (under a LoopOpen of `life`, or on the loop's own
// thread per idle_time_on_loop_thread's contract).
unsafe impl Send for LoopRef {}
// SAFETY: every method takes &self and mutates nothing of ours; the one libuv
// call it makes, uv_metrics_idle_time, locks the loop's metrics mutex, so
// concurrent calls from several threads are fine.
unsafe impl Sync for LoopRef {}

impl LoopRef {
    /// # Safety
    /// `lp` must be a live libuv loop that is not closed before
    /// `life.end()` has returned.
    pub unsafe fn new(lp: *mut UvLoop, life: Arc<LoopLife>) -> Self {
        Self { lp, life }
    }

    /// Nanoseconds the loop has spent blocked in its I/O poll since it
    /// started, including a poll in progress right now. `open` is the proof
    /// that the loop is open: a guard of this loop's own [`LoopLife`].
    ///
    /// # Panics
    /// If `open` belongs to another loop's life.
    pub fn idle_time(&self, open: &LoopOpen<'_>) -> u64 {
        assert!(
            std::ptr::eq(open.life, &*self.life),
            "LoopRef::idle_time: the guard is not this loop's"
        );
        // SAFETY: `open` holds this loop's life open, and LoopRef::new's
        // contract says the loop is not closed before that life ends; the
        // function locks the loop's metrics mutex, so any thread may call it.
        unsafe { uv_metrics_idle_time(self.lp) }
    }

    /// Makes the loop block SIGPROF while it polls for events (libuv's
    /// `UV_LOOP_BLOCK_SIGNAL`), for good. A sampling profiler (stall
    /// culprits' V8 CPU profile, 100 signals a second) would otherwise wake
    /// the poll at each sample, and libuv restarts its idle clock at each
    /// wakeup: the idle time before it is lost, and an idle loop looks busy.
    /// A signal that comes during the poll is delivered when it returns.
    ///
    /// # Safety
    /// Call it on the loop's own thread while the loop runs (from one of
    /// its callbacks), so it cannot be closed during the call.
    #[cfg(unix)]
    pub unsafe fn block_sigprof_in_poll_on_loop_thread(&self) -> Result<(), UvError> {
        const UV_LOOP_BLOCK_SIGNAL: c_int = 0;
        // SAFETY: the caller runs on the loop's thread inside the running
        // loop, so it is open; the option only sets a flag the loop reads at
        // its next poll, on this same thread.
        check("uv_loop_configure", unsafe {
            uv_loop_configure(self.lp, UV_LOOP_BLOCK_SIGNAL, libc::SIGPROF)
        })
    }

    /// [`Self::idle_time`] without the guard, for the loop's own thread.
    ///
    /// # Safety
    /// Call it on the loop's own thread while the loop runs (from one of
    /// its callbacks), so it cannot be closed during the call.
    pub unsafe fn idle_time_on_loop_thread(&self) -> u64 {
        // SAFETY: the caller runs on the loop's thread inside the running
        // loop, which therefore cannot be closed during this call.
        unsafe { uv_metrics_idle_time(self.lp) }
    }
}

/// A failed libuv call: its name and libuv's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvError {
    pub call: &'static str,
    pub message: String,
}

fn check(call: &'static str, rc: c_int) -> Result<(), UvError> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: uv_strerror accepts any int and returns a pointer to a static,
    // NUL-terminated string (a leaked one for unknown codes), never null, so
    // CStr::from_ptr reads a live C string.
    let message = unsafe { CStr::from_ptr(uv_strerror(rc)) }
        .to_string_lossy()
        .into_owned();
    Err(UvError { call, message })
}

/// Which loop-iteration hook a [`LoopHook`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    /// Runs right before the loop polls (and maybe blocks) for I/O.
    Prepare,
    /// Runs right after the loop polled for I/O.
    Check,
}

/// What a hook runs. Boxed once; the handle's `data` points at it.
type Callback = Box<dyn FnMut()>;

fn handle_layout(kind: c_int) -> Layout {
    // SAFETY: uv_handle_size only looks `kind` up in libuv's table of handle
    // types: any value is accepted (0 for an unknown type, asserted below).
    let size = unsafe { uv_handle_size(kind) };
    assert!(size > 0, "libuv does not know handle type {kind}");
    Layout::from_size_align(size, HANDLE_ALIGN).expect("libuv handle size fits a Layout")
}

/// Allocates a zeroed block for a handle of `kind`.
fn alloc_handle(kind: c_int) -> NonNull<UvHandle> {
    let layout = handle_layout(kind);
    // SAFETY: the layout has a non-zero size (asserted in handle_layout).
    let raw = unsafe { alloc_zeroed(layout) };
    NonNull::new(raw.cast()).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Frees a handle block allocated by [`alloc_handle`], and the callback box
/// its `data` points at, if any.
///
/// # Safety
/// `handle` came from `alloc_handle`, libuv no longer references it (its
/// close callback is running, or it was never initialised), and its `data`
/// is either null or a `Box<Callback>` leaked by this module.
unsafe fn free_handle(handle: *mut UvHandle, kind: c_int) {
    // SAFETY: the handle block is still allocated (caller's contract).
    let data = unsafe { uv_handle_get_data(handle) };
    if !data.is_null() {
        // SAFETY: a non-null `data` was set only by LoopHook::new or
        // AsyncWaker::new, from Box::into_raw of a Box<Callback>; libuv no
        // longer uses the handle (our caller's contract) and free_handle runs
        // once per handle, so this is the one Box::from_raw of it.
        drop(unsafe { Box::from_raw(data.cast::<Callback>()) });
    }
    // SAFETY: allocated by alloc_handle with the same layout.
    unsafe { dealloc(handle.cast(), handle_layout(kind)) };
}

unsafe extern "C" fn on_close(handle: *mut UvHandle) {
    // SAFETY: libuv passes the handle being closed; it is still allocated
    // (only free_handle, just below, frees it), so its type can be read.
    let kind = unsafe { uv_handle_get_type(handle) };
    // SAFETY: free_handle's contract holds: libuv is done with the handle
    // once its close callback runs; on_close is passed to uv_close only by
    // LoopHook::drop and AsyncWaker::drop, whose handles came from
    // alloc_handle with `data` null or a leaked Box<Callback>.
    unsafe { free_handle(handle, kind) };
}

unsafe extern "C" fn run_callback(handle: *mut UvHandle) {
    // SAFETY: the handle is live (libuv is calling it) and its `data` is the
    // Box<Callback> LoopHook::new or AsyncWaker::new set before starting it;
    // that box is freed only in on_close, which libuv never runs while a
    // callback of the same handle is on the stack, and nothing else borrows it.
    let cb = unsafe { &mut *uv_handle_get_data(handle).cast::<Callback>() };
    cb();
}

/// An unref'd prepare or check handle that runs a Rust closure on every loop
/// iteration while started. Must be created and dropped on its loop's thread
/// (it is neither `Send` nor `Sync`); dropping it closes the handle.
pub struct LoopHook {
    handle: NonNull<UvHandle>,
    kind: HookKind,
    started: bool,
}

impl LoopHook {
    /// # Safety
    /// `lp` must be the live loop of the calling thread, and the hook must be
    /// dropped (closed) on this thread before that loop is closed (from an
    /// env cleanup hook at the latest).
    pub unsafe fn new(lp: *mut UvLoop, kind: HookKind, cb: Callback) -> Result<Self, UvError> {
        let uv_kind = match kind {
            HookKind::Prepare => UV_PREPARE,
            HookKind::Check => UV_CHECK,
        };
        let handle = alloc_handle(uv_kind);
        let raw = handle.as_ptr();
        // SAFETY: `raw` is a zeroed, 16-byte aligned block of
        // uv_handle_size(uv_kind) bytes from alloc_handle, and `lp` is the
        // live loop of this thread (LoopHook::new's contract).
        let rc = unsafe {
            match kind {
                HookKind::Prepare => uv_prepare_init(lp, raw),
                HookKind::Check => uv_check_init(lp, raw),
            }
        };
        if let Err(e) = check("uv_handle_init", rc) {
            // SAFETY: init failed, so libuv never saw the handle; data is null.
            unsafe { free_handle(raw, uv_kind) };
            return Err(e);
        }
        // SAFETY: uv_*_init just succeeded on `raw`, on this (its loop's)
        // thread; libuv never reads `data`, so setting it to the leaked box
        // is ours to do, and uv_unref only clears the "keeps the loop alive"
        // flag.
        unsafe {
            uv_handle_set_data(raw, Box::into_raw(Box::new(cb)).cast());
            uv_unref(raw);
        }
        Ok(Self {
            handle,
            kind,
            started: false,
        })
    }

    /// Starts calling the closure on every loop iteration (idempotent).
    pub fn start(&mut self) -> Result<(), UvError> {
        if self.started {
            return Ok(());
        }
        let raw = self.handle.as_ptr();
        // SAFETY: `self.handle` was initialised by LoopHook::new and stays
        // open until LoopHook::drop closes it; we are on its loop's thread
        // (the type is !Send); run_callback has libuv's callback signature
        // and `data` already holds the Box<Callback> it reads.
        let rc = unsafe {
            match self.kind {
                HookKind::Prepare => uv_prepare_start(raw, run_callback),
                HookKind::Check => uv_check_start(raw, run_callback),
            }
        };
        check("uv_hook_start", rc)?;
        self.started = true;
        Ok(())
    }
}

impl LoopHook {
    /// Stops the hook (idempotent); the handle stays open for a later start.
    pub fn stop(&mut self) {
        if !self.started {
            return;
        }
        let raw = self.handle.as_ptr();
        // SAFETY: `self.handle` was initialised by LoopHook::new and stays
        // open until LoopHook::drop closes it; we are on its loop's thread
        // (the type is !Send); stopping a prepare/check handle cannot fail.
        unsafe {
            match self.kind {
                HookKind::Prepare => uv_prepare_stop(raw),
                HookKind::Check => uv_check_stop(raw),
            };
        }
        self.started = false;
    }

    pub fn is_started(&self) -> bool {
        self.started
    }
}

impl Drop for LoopHook {
    fn drop(&mut self) {
        // SAFETY: this LoopHook owns the open handle (LoopHook::new
        // initialised it; only this drop closes it, once), we are on its
        // loop's thread (the type is !Send), and uv_close stops it first;
        // on_close frees the block and the callback once libuv is done with
        // them.
        unsafe { uv_close(self.handle.as_ptr(), Some(on_close)) };
    }
}

/// An unref'd `uv_async` handle: any thread may [`WakeHandle::wake`] it,
/// and the closure then runs on the loop's thread. Wakeups coalesce: several
/// sends before the loop gets to it run the closure once.
///
/// The handle itself is owned by the loop's thread (closed on drop, there);
/// other threads hold a [`WakeHandle`]. Both share a gate: the handle while
/// it is open, `None` from the moment the waker starts to drop, so a wake
/// can never reach a closed handle.
pub struct AsyncWaker {
    handle: NonNull<UvHandle>,
    gate: Arc<Gate>,
}

/// The open handle of an [`AsyncWaker`], as its [`WakeHandle`]s see it.
struct Gate {
    open: RwLock<Option<OpenAsync>>,
    /// Calls of [`WakeHandle::wake`], for the completion queue's tests.
    #[cfg(test)]
    calls: std::sync::atomic::AtomicUsize,
}

/// An open `uv_async` handle's address.
#[derive(Clone, Copy)]
struct OpenAsync(NonNull<UvHandle>);

// SAFETY: the address is only ever passed to uv_async_send, the one libuv
// call documented as safe from any thread, and only while the gate holding
// it is read-locked with the handle open (see AsyncWaker's Drop).
unsafe impl Send for OpenAsync {}
// SAFETY: shared references only copy the address out (under the gate's
// read lock) for uv_async_send; nothing is mutated through it.
unsafe impl Sync for OpenAsync {}

/// The part of an [`AsyncWaker`] other threads may use, for as long as
/// they like: once the waker is dropped, [`WakeHandle::wake`] does nothing.
#[derive(Clone)]
pub struct WakeHandle(Arc<Gate>);

impl WakeHandle {
    /// Schedules the waker's closure on its loop; false (and nothing sent)
    /// if the waker was dropped. Waits, briefly, if it is being dropped.
    pub fn wake(&self) -> bool {
        #[cfg(test)]
        self.0
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let open = self.0.open.read();
        let Some(handle) = *open else {
            return false;
        };
        // SAFETY: the gate still holds the handle, and AsyncWaker::drop
        // empties the gate under its write lock before it calls uv_close, so
        // the handle stays open while we hold this read guard; uv_async_send
        // is the one libuv call that is safe from any thread.
        unsafe { uv_async_send(handle.0.as_ptr()) };
        true
    }

    /// A handle whose waker is already gone (wakes are only counted): for
    /// tests of code that wakes a loop.
    #[cfg(test)]
    pub fn closed_for_test() -> Self {
        Self(Arc::new(Gate {
            open: RwLock::new(None),
            calls: Default::default(),
        }))
    }

    /// How many times [`Self::wake`] was called on this handle's waker.
    #[cfg(test)]
    pub fn calls_for_test(&self) -> usize {
        self.0.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl AsyncWaker {
    /// # Safety
    /// `lp` must be the live loop of the calling thread, and the waker must
    /// be dropped (closed) on this thread before that loop is closed (from
    /// an env cleanup hook at the latest).
    pub unsafe fn new(lp: *mut UvLoop, cb: Callback) -> Result<Self, UvError> {
        let handle = alloc_handle(UV_ASYNC);
        let raw = handle.as_ptr();
        // SAFETY: `raw` is a zeroed, 16-byte aligned block of
        // uv_handle_size(UV_ASYNC) bytes from alloc_handle; `lp` is this
        // thread's live loop (AsyncWaker::new's contract); run_callback has
        // libuv's callback signature.
        let rc = unsafe { uv_async_init(lp, raw, run_callback) };
        if let Err(e) = check("uv_async_init", rc) {
            // SAFETY: init failed, libuv never saw the handle; data is null.
            unsafe { free_handle(raw, UV_ASYNC) };
            return Err(e);
        }
        // SAFETY: uv_async_init just succeeded on `raw`; `data` is set before
        // any wake can reach run_callback, because no WakeHandle exists yet
        // (the gate is made below); uv_unref only clears the "keeps the loop
        // alive" flag, on this (its loop's) thread.
        unsafe {
            uv_handle_set_data(raw, Box::into_raw(Box::new(cb)).cast());
            uv_unref(raw);
        }
        let gate = Arc::new(Gate {
            open: RwLock::new(Some(OpenAsync(handle))),
            #[cfg(test)]
            calls: Default::default(),
        });
        Ok(Self { handle, gate })
    }

    pub fn wake_handle(&self) -> WakeHandle {
        WakeHandle(Arc::clone(&self.gate))
    }

    /// Whether the handle keeps the loop alive (`uv_ref`) or not
    /// (`uv_unref`, the initial state). Loop thread only (the type is !Send).
    pub fn set_ref(&self, keep_alive: bool) {
        // SAFETY: `self.handle` was initialised by AsyncWaker::new and stays
        // open until AsyncWaker::drop closes it; we are on its loop's thread
        // (the type is !Send), and uv_ref/uv_unref only flip whether it keeps
        // that loop alive.
        unsafe {
            if keep_alive {
                uv_ref(self.handle.as_ptr());
            } else {
                uv_unref(self.handle.as_ptr());
            }
        }
    }
}

impl Drop for AsyncWaker {
    fn drop(&mut self) {
        // First shut the gate: waits for a wake in progress, and no later
        // wake can reach the handle.
        *self.gate.open.write() = None;
        // SAFETY: we own the open handle, we are on its loop's thread (the
        // type is !Send), no WakeHandle can send to it any more (the gate is
        // shut), and on_close frees the block and the callback once libuv is
        // done with them.
        unsafe { uv_close(self.handle.as_ptr(), Some(on_close)) };
    }
}
