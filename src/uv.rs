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
//! of the thread that created it (see `thread.rs`). Closing is asynchronous
//! in libuv: the memory (handle and callback) is freed in the close callback,
//! never before.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

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

/// The version of the libuv inside this process, e.g. `"1.46.0"`.
pub fn version() -> String {
    // Uv_version_string returns a pointer to a static, NUL-terminated
    // string owned by libuv; it is valid for the life of the process.
    // SAFETY: sound for the reasons just given.
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

/// A loop pointer that may be handed to other threads, for the one libuv
/// call that is safe from any thread while the loop is alive:
/// `uv_metrics_idle_time` (it reads the metrics under their own mutex, and
/// adds the idle period in progress, if any).
#[derive(Clone, Copy, Debug)]
pub struct LoopRef(*mut UvLoop);

// SAFETY: LoopRef only exposes idle_time(), whose safety contract requires
// the caller to prove the loop is alive; the pointer itself is plain data.
unsafe impl Send for LoopRef {}
// SAFETY: as above; idle_time() takes &self and libuv locks internally.
unsafe impl Sync for LoopRef {}

impl LoopRef {
    /// # Safety
    /// `lp` must be a live libuv loop.
    pub unsafe fn new(lp: *mut UvLoop) -> Self {
        Self(lp)
    }

    /// Nanoseconds the loop has spent blocked in its I/O poll since it
    /// started, including a poll in progress right now.
    ///
    /// # Safety
    /// The loop must still be alive (not closed) for the whole call: hold
    /// its thread's alive guard (`thread.rs`).
    pub unsafe fn idle_time(&self) -> u64 {
        // The loop is alive (caller's contract); the function locks
        // the loop's metrics mutex, so any thread may call it.
        // SAFETY: sound for the reasons just given.
        unsafe { uv_metrics_idle_time(self.0) }
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
    // Uv_strerror accepts any int and returns a pointer to a static
    // string (or a leaked one for unknown codes); never null.
    // SAFETY: sound for the reasons just given.
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
    // Uv_handle_size accepts any handle type value and returns its
    // size (0 for unknown types, never UB).
    // SAFETY: sound for the reasons just given.
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
        // Data was produced by Box::into_raw(Box<Callback>) below and
        // is freed exactly once, here.
        // SAFETY: sound for the reasons just given.
        drop(unsafe { Box::from_raw(data.cast::<Callback>()) });
    }
    // SAFETY: allocated by alloc_handle with the same layout.
    unsafe { dealloc(handle.cast(), handle_layout(kind)) };
}

unsafe extern "C" fn on_close(handle: *mut UvHandle) {
    // Libuv passes the handle being closed; it is a valid handle
    // whose type we can read.
    // SAFETY: sound for the reasons just given.
    let kind = unsafe { uv_handle_get_type(handle) };
    // Libuv is done with the handle once its close callback runs,
    // and every handle closed with this callback was built by this module.
    // SAFETY: sound for the reasons just given.
    unsafe { free_handle(handle, kind) };
}

unsafe extern "C" fn run_callback(handle: *mut UvHandle) {
    // The handle is live (libuv is calling it) and its data is the
    // Box<Callback> set at construction; it is only freed in on_close, which
    // libuv never runs while a callback of the same handle is on the stack.
    // SAFETY: sound for the reasons just given.
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
        // Raw is a zeroed block of the right size for this handle
        // type, and lp is the live loop of this thread (caller's contract).
        // SAFETY: sound for the reasons just given.
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
        // The handle is initialised; data is ours to set, and unref
        // only clears the "keeps the loop alive" flag.
        // SAFETY: sound for the reasons just given.
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
        // The handle is initialised and open (we close it only in
        // Drop); run_callback matches the expected callback signature.
        // SAFETY: sound for the reasons just given.
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
        // The handle is initialised and open (closed only in Drop);
        // stopping a prepare/check handle cannot fail.
        // SAFETY: sound for the reasons just given.
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
        // We own the open handle, we are on its loop's thread (the type
        // is !Send), and uv_close stops it first. on_close frees the block and
        // the callback once libuv is done with them.
        // SAFETY: sound for the reasons just given.
        unsafe { uv_close(self.handle.as_ptr(), Some(on_close)) };
    }
}

/// An unref'd `uv_async` handle: any thread may [`AsyncWaker::wake`] it, and
/// the closure then runs on the loop's thread. Wakeups coalesce: several
/// sends before the loop gets to it run the closure once.
///
/// The handle itself is owned by the loop's thread (closed on drop, there);
/// other threads hold a [`WakeHandle`], which must not be used after the
/// waker is dropped. `thread.rs` guarantees that with the env's alive lock.
pub struct AsyncWaker {
    handle: NonNull<UvHandle>,
}

/// The part of an [`AsyncWaker`] other threads may use.
#[derive(Clone, Copy)]
pub struct WakeHandle(NonNull<UvHandle>);

// SAFETY: uv_async_send is documented as the one libuv call that is safe from
// any thread; WakeHandle exposes nothing else.
unsafe impl Send for WakeHandle {}
// SAFETY: as above; sending is thread-safe and takes no &mut.
unsafe impl Sync for WakeHandle {}

impl WakeHandle {
    /// Schedules the waker's closure on its loop.
    ///
    /// # Safety
    /// The [`AsyncWaker`] this came from must not have been dropped yet, and
    /// must not be dropped concurrently (hold the env's alive lock).
    pub unsafe fn wake(&self) {
        // The handle is open (caller's contract); uv_async_send is
        // thread-safe.
        // SAFETY: sound for the reasons just given.
        unsafe { uv_async_send(self.0.as_ptr()) };
    }
}

impl AsyncWaker {
    /// # Safety
    /// As for [`LoopHook::new`].
    pub unsafe fn new(lp: *mut UvLoop, cb: Callback) -> Result<Self, UvError> {
        let handle = alloc_handle(UV_ASYNC);
        let raw = handle.as_ptr();
        // Raw is a zeroed block of async size; lp is this thread's
        // live loop (caller's contract).
        // SAFETY: sound for the reasons just given.
        let rc = unsafe { uv_async_init(lp, raw, run_callback) };
        if let Err(e) = check("uv_async_init", rc) {
            // SAFETY: init failed, libuv never saw the handle; data is null.
            unsafe { free_handle(raw, UV_ASYNC) };
            return Err(e);
        }
        // The handle is initialised; set data before any wake can
        // reach run_callback (no other thread has the handle yet).
        // SAFETY: sound for the reasons just given.
        unsafe {
            uv_handle_set_data(raw, Box::into_raw(Box::new(cb)).cast());
            uv_unref(raw);
        }
        Ok(Self { handle })
    }

    pub fn wake_handle(&self) -> WakeHandle {
        WakeHandle(self.handle)
    }

    /// Whether the handle keeps the loop alive (`uv_ref`) or not
    /// (`uv_unref`, the initial state). Loop thread only (the type is !Send).
    pub fn set_ref(&self, keep_alive: bool) {
        // The handle is initialised and open until drop; ref/unref
        // only flip its "active" accounting on this (its own) loop's thread.
        // SAFETY: sound for the reasons just given.
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
        // SAFETY: as for LoopHook::drop.
        unsafe { uv_close(self.handle.as_ptr(), Some(on_close)) };
    }
}
