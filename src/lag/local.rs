//! The loop thread's side of its monitor: a prepare hook that closes one
//! poll-to-poll cycle per loop iteration, and the `onStall` delivery.
//!
//! Per iteration the hook reads the clock and libuv's idle-time counter
//! (which excludes time spent in callbacks: libuv updates it right before
//! each I/O callback). Since the previous prepare, the loop was idle for the
//! counter's delta and busy for the rest: timers, I/O callbacks (a socket
//! `data` handler), immediates, close callbacks, and the microtasks after
//! each. That busy period is what an event arriving meanwhile waited for.

use super::monitor::{epoch_ms, Monitor};
use super::registry;
use crate::error::Error;
use crate::uv::{self, HookKind, LoopHook, LoopRef, UvLoop};
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Called on the loop's thread after a stall ends, with one argument: the
/// array `[durationMs, startedAt, endedAtHrMs]` (`endedAtHrMs`: when the busy
/// period ended, on `process.hrtime`'s clock in ms, which is also the V8
/// CPU profiler's clock, so stall culprits can pick the samples inside it).
/// The JS function as passed in.
pub type StallFunction<'a> = Function<'a, (f64, f64, f64), ()>;

pub type StallListener =
    ThreadsafeFunction<(f64, f64, f64), (), (f64, f64, f64), Status, false, true>;

/// Cycles kept while a reader holds the histogram, before waiting for it.
const PENDING_MAX: usize = 256;

struct Accounting {
    monitor: Arc<Monitor>,
    loop_ref: LoopRef,
    /// Previous prepare: (hrtime, idle time); `None` right after start.
    last: Option<(u64, u64)>,
    pending: Vec<(u64, u64, u64)>,
    /// Busy periods at least this long are reported to `listener`.
    listener_threshold_ns: u64,
    listener: Option<StallListener>,
}

impl Accounting {
    fn on_prepare(&mut self) {
        let now = uv::hrtime();
        // SAFETY: we run inside the loop's own prepare callback, on its
        // thread, so the loop is running and cannot close during the call.
        let idle = unsafe { self.loop_ref.idle_time_on_loop_thread() };
        if let Some((then, idle_then)) = self.last {
            let idle_ns = idle.saturating_sub(idle_then);
            let busy_ns = now.saturating_sub(then).saturating_sub(idle_ns);
            self.pending.push((now, idle_ns, busy_ns));
            if self.pending.len() >= PENDING_MAX {
                self.monitor.record(&mut self.pending);
            } else {
                self.monitor.try_record(&mut self.pending);
            }
            self.monitor.count_stall(busy_ns);
            if busy_ns >= self.listener_threshold_ns {
                if let Some(listener) = &self.listener {
                    let duration_ms = busy_ns as f64 / 1e6;
                    let started_at = epoch_ms() - duration_ms;
                    listener.call(
                        (duration_ms, started_at, now as f64 / 1e6),
                        ThreadsafeFunctionCallMode::NonBlocking,
                    );
                }
            }
        }
        self.last = Some((now, idle));
        self.monitor.beat(now, idle);
    }
}

/// Owned by the thread's state; dropped (hook closed) at teardown.
pub struct LocalLag {
    hook: LoopHook,
    acct: Rc<RefCell<Accounting>>,
}

impl LocalLag {
    /// Creates the monitor of the calling thread's loop, registers it and
    /// starts it.
    ///
    /// # Safety
    /// `lp` is the calling thread's live loop, and the returned value is
    /// dropped on this thread before that loop closes (the env cleanup hook).
    pub unsafe fn install(
        lp: *mut UvLoop,
        label: String,
        thread: Arc<crate::thread::ThreadShared>,
    ) -> Result<Self, Error> {
        let life = thread.life();
        // SAFETY: lp is this thread's live loop (caller's contract), and the
        // thread's life ends in the env cleanup hook, before Node closes the
        // loop (`thread/mod.rs`, "Teardown").
        let loop_ref = unsafe { LoopRef::new(lp, life) };
        let monitor = Arc::new(Monitor::new(label, thread, loop_ref.clone()));
        let acct = Rc::new(RefCell::new(Accounting {
            monitor: Arc::clone(&monitor),
            loop_ref,
            last: None,
            pending: Vec::with_capacity(PENDING_MAX),
            listener_threshold_ns: u64::MAX,
            listener: None,
        }));
        let in_hook = Rc::clone(&acct);
        // SAFETY: forwarded from the caller's contract.
        let hook = unsafe {
            LoopHook::new(
                lp,
                HookKind::Prepare,
                Box::new(move || {
                    // A listener call never re-enters the hook, so the borrow
                    // cannot fail; skip rather than panic if it ever did.
                    if let Ok(mut acct) = in_hook.try_borrow_mut() {
                        acct.on_prepare();
                    }
                }),
            )
        }?;
        let mut local = Self { hook, acct };
        local.start()?;
        registry::add(monitor);
        Ok(local)
    }

    pub fn monitor(&self) -> Arc<Monitor> {
        Arc::clone(&self.acct.borrow().monitor)
    }

    pub fn start(&mut self) -> Result<(), Error> {
        if self.hook.is_started() {
            return Ok(());
        }
        // The first cycle starts at the next poll, not now: the time since
        // stop() (or startup) is not lag.
        self.acct.borrow_mut().last = None;
        self.hook.start()?;
        self.acct.borrow().monitor.set_running(true);
        Ok(())
    }

    pub fn stop(&mut self) {
        self.hook.stop();
        let mut acct = self.acct.borrow_mut();
        acct.monitor.set_running(false);
        let monitor = Arc::clone(&acct.monitor);
        monitor.record(&mut acct.pending);
    }

    /// See [`LoopRef::block_sigprof_in_poll_on_loop_thread`]; called by
    /// stall culprits before their profile starts.
    pub fn block_profiler_signal_in_poll(&self) -> Result<(), Error> {
        #[cfg(unix)]
        {
            let acct = self.acct.borrow();
            // SAFETY: LocalLag lives on its loop's thread (install's
            // contract) and is only reached from JS calls on that thread,
            // which run while the loop runs.
            unsafe { acct.loop_ref.block_sigprof_in_poll_on_loop_thread() }?;
        }
        Ok(())
    }

    /// Sets (or clears) the JS function that receives stalls of at least
    /// `threshold_ns`.
    pub fn set_listener(&self, listener: Option<(StallFunction<'_>, u64)>) -> napi::Result<()> {
        let mut acct = self.acct.borrow_mut();
        match listener {
            Some((func, threshold_ns)) => {
                let tsfn = func
                    .build_threadsafe_function::<(f64, f64, f64)>()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build()?;
                acct.listener = Some(tsfn);
                acct.listener_threshold_ns = threshold_ns;
            }
            None => {
                acct.listener = None;
                acct.listener_threshold_ns = u64::MAX;
            }
        }
        Ok(())
    }
}

impl Drop for LocalLag {
    fn drop(&mut self) {
        let monitor = self.monitor();
        monitor.freeze();
        registry::remove(&monitor);
    }
}
