//! Per-thread (per-env) state: which loop this is, the hooks this addon put
//! on it, and the "alive" lock other threads check before touching anything
//! that belongs to it.
//!
//! Node loads the module once per env: the main thread and each worker
//! thread. Everything owned by one env lives in a [`ThreadState`] kept in
//! that env's instance data. What other threads may read lives in the
//! [`ThreadShared`] behind an `Arc`, which outlives the env.
//!
//! # Teardown
//! The env cleanup hook (which runs before the thread's loop is closed, with
//! no JS allowed) takes the alive lock for writing, marks the thread dead and
//! closes every libuv handle the addon owns on that loop. A native thread
//! that holds the lock for reading therefore knows the env and its memory
//! stay valid until it lets go; after teardown it sees `alive == false`.

mod shared;

pub use shared::ThreadShared;

use crate::error::Error;
use crate::lag::LocalLag;
use crate::uv::{self, HookKind, LoopHook};
use napi::Env;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Owned by the env's instance data; only touched on the env's own thread.
pub struct ThreadState {
    pub shared: Arc<ThreadShared>,
    hooks: RefCell<Vec<LoopHook>>,
    lag: RefCell<Option<LocalLag>>,
    /// Run once at teardown, after the thread is marked dead (see
    /// [`ThreadState::on_teardown`]).
    on_teardown: RefCell<Vec<Box<dyn FnOnce()>>>,
}

impl ThreadState {
    /// The calling thread's state, once the façade attached it.
    pub fn get(env: &Env) -> Result<&'static ThreadState, Error> {
        match env.get_instance_data::<Rc<ThreadState>>() {
            Ok(Some(state)) => {
                let state: &'static Rc<ThreadState> = state;
                Ok(state.as_ref())
            }
            _ => Err(Error::NotAttached),
        }
    }

    /// Creates this env's state, starts the iteration counter and registers
    /// teardown. Idempotent: a second call returns the existing state.
    pub fn attach(env: &Env, label: String) -> Result<&'static ThreadState, Error> {
        if let Ok(state) = Self::get(env) {
            return Ok(state);
        }
        let loop_ptr = env.get_uv_event_loop().map_err(|e| Error::Uv {
            call: "napi_get_uv_event_loop",
            message: e.reason.clone(),
        })?;
        let shared = ThreadShared::new(label);
        let counter = Arc::clone(&shared);
        // SAFETY: loop_ptr is this thread's live loop; the hook is closed in
        // the cleanup hook registered below, before the loop is closed.
        let mut check = unsafe {
            LoopHook::new(
                loop_ptr,
                HookKind::Check,
                Box::new(move || {
                    counter.iterations.fetch_add(1, Ordering::Relaxed);
                }),
            )
        }?;
        check.start()?;
        let label = shared.label.clone();
        // SAFETY: `LocalLag::install`'s contract holds: `loop_ptr` is this
        // thread's live loop, and the LocalLag is dropped (its handles closed)
        // in teardown(), run by the cleanup hook registered below.
        let lag = unsafe { LocalLag::install(loop_ptr, label, Arc::clone(&shared)) }?;
        let state = Rc::new(ThreadState {
            shared,
            hooks: RefCell::new(vec![check]),
            lag: RefCell::new(Some(lag)),
            on_teardown: RefCell::new(Vec::new()),
        });
        let for_cleanup = Rc::clone(&state);
        env.set_instance_data(state, (), |_| {})
            .map_err(|e| Error::Uv {
                call: "napi_set_instance_data",
                message: e.reason.clone(),
            })?;
        env.add_env_cleanup_hook(for_cleanup, |state| state.teardown())
            .map_err(|e| Error::Uv {
                call: "napi_add_env_cleanup_hook",
                message: e.reason.clone(),
            })?;
        Self::get(env)
    }

    /// Runs `f` on this thread's lag monitor.
    pub fn with_lag<R>(&self, f: impl FnOnce(&mut LocalLag) -> R) -> Result<R, Error> {
        let mut lag = self.lag.borrow_mut();
        match lag.as_mut() {
            Some(l) => Ok(f(l)),
            None => Err(Error::ThreadEnded {
                thread: self.shared.label.clone(),
            }),
        }
    }

    /// Runs `f` in this env's cleanup hook, after the thread is marked dead
    /// (so no other thread is inside an [`ThreadShared::alive`] guard any
    /// more) and before the loop is closed. No JS may run in `f`.
    pub fn on_teardown(&self, f: Box<dyn FnOnce()>) {
        self.on_teardown.borrow_mut().push(f);
    }

    fn teardown(&self) {
        // The monitor freezes its last values while the loop is still alive,
        // leaves the registry and closes its hook.
        drop(self.lag.borrow_mut().take());
        self.shared.end();
        let later = std::mem::take(&mut *self.on_teardown.borrow_mut());
        for f in later {
            f();
        }
        // Dropping the hooks uv_close()s them; libuv frees them later in
        // their close callbacks, while Node finishes the loop.
        self.hooks.borrow_mut().clear();
    }
}

/// The libuv version string of this process.
pub fn libuv_version() -> String {
    uv::version()
}
