//! The JS-thread side of the pool, one per env: the slab of pending
//! Promises, the `uv_async` wakeup that drains finished tasks in batches,
//! aborts, `close()` and the detach watch for non-shared inputs.
//!
//! Everything here runs on the env's own thread (the type is `!Send`); pool
//! threads reach it only through the [`EnvLink`].

use super::completion::{Done, EnvLink};
use super::core::{Batch, BatchBuffers, Item, PoolCore};
use super::tasks::{CancelState, Op, Output, Task};
use crate::error::Error;
use crate::shared;
use crate::thread::ThreadState;
use crate::uv::{AsyncWaker, HookKind, LoopHook};
use napi::{sys, Env, JsValue};
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Most results handed to the settler in one call (its argument count).
const MAX_ARGS: usize = 1024;

/// Most small tasks a handle holds before it hands them to the pool without
/// waiting for the façade's flush.
const BATCH: usize = 64;

/// The façade's stage: tasks with a tiny `Uint8Array` input are not
/// submitted one Node-API call each; the façade copies each input into a
/// slot of one `Uint8Array` (`STAGE_SLOTS` × `STAGE_SLOT` bytes) and its
/// packed code and length into an `Int32Array` (2 × `STAGE_SLOTS`), and
/// hands them all over in one call (`__stageFlush`, see `api.rs`), which
/// writes each task's id over its code. Both arrays are the façade's own,
/// never given out.
pub const STAGE_SLOTS: usize = 64;
pub const STAGE_SLOT: usize = 64;

thread_local! {
    /// This thread's env side. Node runs one env per thread (main or
    /// worker), so a thread-local is per-env; it is emptied in the env's
    /// cleanup hook.
    static JS: RefCell<Option<Rc<JsSide>>> = const { RefCell::new(None) };
}

fn ok(call: &'static str, status: sys::napi_status) -> Result<(), Error> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::Napi { call, status })
    }
}

/// One JS `Pool` object's view of a pool: what `close()` waits for.
pub struct HandleState {
    pub core: Arc<PoolCore>,
    /// A `createPool` pool (shut down when closed) rather than the shared
    /// default one (which only stops accepting from this handle).
    pub owned: bool,
    pub closed: Cell<bool>,
    pending: Cell<usize>,
    close_waiters: RefCell<Vec<sys::napi_deferred>>,
    /// Small tasks submitted since the last flush (see [`JsSide::enqueue_small`]).
    batch: RefCell<Vec<Item>>,
    /// When the first of them was submitted.
    batch_since: Cell<Option<Instant>>,
    /// The pool's waiting count when the batch began, and its `maxQueue`
    /// (a copy: the pool's own lies near counters its threads write).
    batch_base: Cell<usize>,
    max_queue: usize,
    /// In the env's list of handles to flush.
    listed: Cell<bool>,
}

impl HandleState {
    pub fn new(core: Arc<PoolCore>, owned: bool) -> Rc<Self> {
        Rc::new(Self {
            owned,
            closed: Cell::new(false),
            pending: Cell::new(0),
            close_waiters: RefCell::new(Vec::new()),
            batch: RefCell::new(Vec::new()),
            batch_since: Cell::new(None),
            batch_base: Cell::new(0),
            max_queue: core.max_queue(),
            listed: Cell::new(false),
            core,
        })
    }
}

impl Drop for HandleState {
    fn drop(&mut self) {
        if self.owned {
            self.core.shutdown();
        }
    }
}

/// A task whose resources the JS thread still holds.
struct Pending {
    /// The façade already rejected its Promise (an abort, before the task
    /// ended): the result is dropped.
    settled: bool,
    handle: Rc<HandleState>,
    /// References that keep the task's memory from GC (null when unused).
    keep: [sys::napi_ref; 2],
    cancel: Option<Arc<CancelState>>,
    watch: Option<Arc<AtomicBool>>,
    /// For the metrics of a task that never runs.
    op: Op,
}

pub struct JsSide {
    env: sys::napi_env,
    pub link: Arc<EnvLink>,
    /// Emptied batch buffers the pool threads hand back.
    buffers: Arc<BatchBuffers>,
    pub thread: Arc<crate::thread::ThreadShared>,
    waker: AsyncWaker,
    refed: Cell<bool>,
    slab: RefCell<Slab<Pending>>,
    /// Promises not yet settled, plus `close()` Promises waiting.
    unsettled: Cell<usize>,
    /// The async resource and context drains run in (a callback scope, so
    /// microtasks and nextTicks run right after each batch).
    resource: sys::napi_ref,
    async_ctx: sys::napi_async_context,
    /// Slab keys of in-place non-shared inputs, checked for detachment.
    watched: RefCell<Vec<u32>>,
    /// The list the completion queue's chunks are taken into (reused).
    spare: RefCell<Vec<Vec<Done>>>,
    watch_hooks: RefCell<Option<[LoopHook; 2]>>,
    loop_ptr: *mut crate::uv::UvLoop,
    /// `createPool` pools of this env, shut down with it.
    owned: RefCell<Vec<Weak<PoolCore>>>,
    /// Pool handles by index, for the raw submit path.
    pools: RefCell<Slab<Rc<HandleState>>>,
    /// The façade's batch settler `(count, ...values) => void` and the
    /// Int32Array it reads `id << 1 | isError` tags from (values travel as
    /// call arguments: one napi call per batch instead of one per result),
    /// then its stage's bytes and codes (see `STAGE_SLOTS`). Their types and
    /// sizes were checked when they were set.
    settler: Cell<[sys::napi_ref; 4]>,
    /// Argument buffer for the settler call (reused).
    argv: RefCell<Vec<sys::napi_value>>,
    /// Handles drained during a batch; their close() resolves after it.
    drained: RefCell<Vec<Rc<HandleState>>>,
    /// Handles holding small tasks not yet handed to their pool.
    batched: RefCell<Vec<Rc<HandleState>>>,
    /// The façade was asked to flush them from a microtask, not yet done.
    flush_asked: Cell<bool>,
}

impl JsSide {
    /// This thread's side, if it was created.
    pub fn current() -> Option<Rc<JsSide>> {
        JS.with(|j| j.borrow().clone())
    }

    /// Runs `f` on this thread's side, if any (safe during thread exit).
    pub fn with_current(f: impl FnOnce(&JsSide)) {
        let js = JS
            .try_with(|j| j.try_borrow().ok().and_then(|j| j.clone()))
            .ok()
            .flatten();
        if let Some(js) = js {
            f(&js);
        }
    }

    /// This env's side, created on first use.
    pub fn get(env: &Env) -> Result<Rc<JsSide>, Error> {
        if let Some(js) = JS.with(|j| j.borrow().clone()) {
            return Ok(js);
        }
        let state = ThreadState::get(env)?;
        let raw = env.raw();
        let loop_ptr = env.get_uv_event_loop().map_err(|e| Error::Uv {
            call: "napi_get_uv_event_loop",
            message: e.reason.clone(),
        })?;
        // Loop_ptr is this thread's live loop; the waker is dropped
        // (closed) in this env's teardown, registered below.
        // SAFETY: sound for the reasons just given.
        let waker = unsafe {
            AsyncWaker::new(
                loop_ptr,
                Box::new(|| {
                    if let Some(js) = JS.with(|j| j.borrow().clone()) {
                        js.drain();
                    }
                }),
            )
        }?;
        let link = Arc::new(EnvLink::new(Arc::clone(&state.shared), waker.wake_handle()));
        let mut object = ptr::null_mut();
        let mut resource = ptr::null_mut();
        let mut name = ptr::null_mut();
        let mut async_ctx = ptr::null_mut();
        let label = c"nodeperf:pool";
        // On the env's thread inside a napi call; out-pointers are
        // locals; the name is a NUL-terminated static string.
        // SAFETY: sound for the reasons just given.
        unsafe {
            ok(
                "napi_create_object",
                sys::napi_create_object(raw, &mut object),
            )?;
            ok(
                "napi_create_reference",
                sys::napi_create_reference(raw, object, 1, &mut resource),
            )?;
            ok(
                "napi_create_string_latin1",
                sys::napi_create_string_latin1(
                    raw,
                    label.as_ptr(),
                    label.count_bytes() as isize,
                    &mut name,
                ),
            )?;
            ok(
                "napi_async_init",
                sys::napi_async_init(raw, object, name, &mut async_ctx),
            )?;
        }
        let js = Rc::new(JsSide {
            env: raw,
            link,
            buffers: Arc::default(),
            thread: Arc::clone(&state.shared),
            waker,
            refed: Cell::new(false),
            slab: RefCell::new(Slab::with_capacity(256)),
            unsettled: Cell::new(0),
            resource,
            async_ctx,
            watched: RefCell::new(Vec::new()),
            spare: RefCell::new(Vec::new()),
            watch_hooks: RefCell::new(None),
            loop_ptr,
            owned: RefCell::new(Vec::new()),
            pools: RefCell::new(Slab::new()),
            settler: Cell::new([ptr::null_mut(); 4]),
            argv: RefCell::new(Vec::with_capacity(MAX_ARGS + 1)),
            drained: RefCell::new(Vec::new()),
            batched: RefCell::new(Vec::new()),
            flush_asked: Cell::new(false),
        });
        JS.with(|j| *j.borrow_mut() = Some(Rc::clone(&js)));
        state.on_teardown(Box::new(|| {
            // The thread is marked dead: no pool thread will wake us again.
            if let Some(js) = JS.with(|j| j.borrow_mut().take()) {
                for core in js.owned.borrow().iter().filter_map(Weak::upgrade) {
                    core.shutdown();
                }
                // Dropping the last Rc closes the waker and the hooks.
            }
        }));
        Ok(js)
    }

    /// Remembers a `createPool` pool so the env's end shuts it down.
    pub fn adopt_pool(&self, core: &Arc<PoolCore>) {
        let mut owned = self.owned.borrow_mut();
        owned.retain(|w| w.strong_count() > 0);
        owned.push(Arc::downgrade(core));
    }

    fn add_unsettled(&self, n: isize) {
        let v = (self.unsettled.get() as isize + n) as usize;
        self.unsettled.set(v);
        let want = v > 0;
        if want != self.refed.get() {
            self.refed.set(want);
            self.waker.set_ref(want);
        }
    }

    /// Accepts a captured, reserved task and hands it to the pool.
    /// Returns its id; the façade makes the Promise and keeps its resolvers
    /// under that id until [`Self::drain`] hands it the result.
    pub fn enqueue(
        self: &Rc<Self>,
        handle: &Rc<HandleState>,
        task: Task,
        keep: [sys::napi_ref; 2],
        watch: Option<Arc<AtomicBool>>,
        cancellable: bool,
    ) -> u32 {
        // Tasks reach the pool in the order they were submitted.
        self.flush(handle);
        let watched = watch.is_some();
        let (id, cancel) = self.add_pending(handle, task.op(), keep, watch, cancellable);
        if watched {
            self.watch(id);
        }
        handle.core.spawn(Batch {
            env: Arc::clone(&self.link),
            buffers: Arc::clone(&self.buffers),
            submitted: Instant::now(),
            items: vec![Item { id, task, cancel }],
        });
        id
    }

    /// Accepts a small task (its input copied, nothing referenced) into the
    /// handle's batch, unreserved: batches go to the pool whole, when the
    /// façade's flush runs (a microtask it queues when asked, so before the
    /// thread returns to its loop), when a batch is full, when the pool's
    /// `close()`, `stats()` or `queueSize` is called, or before a large task
    /// or a JSON job of this thread (so tasks start in submission order). One rayon job, one clock read and
    /// one reservation per batch instead of per task: the cost that bounds
    /// how many tasks a second one JS thread can feed. Such a task takes
    /// microseconds, so holding it until the current JS run ends costs
    /// little overlap. Returns its id, and whether the façade must queue a
    /// flush.
    pub fn enqueue_small(
        self: &Rc<Self>,
        handle: &Rc<HandleState>,
        task: Task,
        cancellable: bool,
    ) -> Result<(u32, bool), Error> {
        let op = task.op();
        let held = handle.batch.borrow().len();
        if held == 0 {
            self.start_batch(handle);
        }
        if handle.batch_base.get().saturating_add(held) >= handle.max_queue {
            return Err(handle.core.reject(op, 1));
        }
        let none = [ptr::null_mut(); 2];
        let (id, cancel) = self.add_pending(handle, op, none, None, cancellable);
        let mut batch = handle.batch.borrow_mut();
        if held == 0 && batch.capacity() == 0 {
            *batch = self.buffers.take(BATCH);
        }
        batch.push(Item { id, task, cancel });
        drop(batch);
        if !handle.listed.replace(true) {
            self.batched.borrow_mut().push(Rc::clone(handle));
        }
        if held + 1 >= BATCH {
            self.flush(handle);
        }
        Ok((id, !self.flush_asked.replace(true)))
    }

    /// A new batch: its room is counted from the pool's waiting count now,
    /// its wait time from its first task (staged tasks started the clock
    /// in [`Self::stage_room`], before they reach us).
    fn start_batch(&self, handle: &HandleState) {
        handle.batch_base.set(handle.core.snapshot_queued());
        if handle.batch_since.get().is_none() {
            handle.batch_since.set(Some(Instant::now()));
        }
    }

    /// How many tasks the façade may stage for `handle` before it asks
    /// again (at most a stage): its room under `maxQueue`, counted as
    /// [`Self::enqueue_small`] counts, so a staged task is refused at the
    /// flush only if another thread filled the pool in between.
    /// The façade asks only when it has a task to stage, so a batch with
    /// room starts now.
    pub fn stage_room(&self, handle: &HandleState) -> usize {
        let held = handle.batch.borrow().len();
        if held == 0 {
            handle.batch_base.set(handle.core.snapshot_queued());
        }
        let used = handle.batch_base.get().saturating_add(held);
        let room = handle.max_queue.saturating_sub(used).min(STAGE_SLOTS);
        if room > 0 && handle.batch_since.get().is_none() {
            handle.batch_since.set(Some(Instant::now()));
        }
        room
    }

    /// The stage's arrays (bytes, codes), as set by the façade.
    pub fn stage_refs(&self) -> [sys::napi_ref; 2] {
        let [_, _, bytes, codes] = self.settler.get();
        [bytes, codes]
    }

    fn add_pending(
        &self,
        handle: &Rc<HandleState>,
        op: Op,
        keep: [sys::napi_ref; 2],
        watch: Option<Arc<AtomicBool>>,
        cancellable: bool,
    ) -> (u32, Option<Arc<CancelState>>) {
        let cancel = cancellable.then(|| Arc::new(CancelState::default()));
        let id = self.slab.borrow_mut().insert(Pending {
            settled: false,
            handle: Rc::clone(handle),
            keep,
            cancel: cancel.clone(),
            watch,
            op,
        }) as u32;
        handle.pending.set(handle.pending.get() + 1);
        self.add_unsettled(1);
        (id, cancel)
    }

    /// Hands a handle's held small tasks to its pool.
    pub fn flush(&self, handle: &HandleState) {
        let mut items = std::mem::take(&mut *handle.batch.borrow_mut());
        // Aborted while held: already settled and released, and their ids
        // may be another task's by now. They never reach the pool.
        items.retain(|i| !i.cancel.as_ref().is_some_and(|c| c.is_cancelled()));
        // Taken even when nothing is left: a clock must not outlive its batch.
        let since = handle.batch_since.take();
        if items.is_empty() {
            return;
        }
        let submitted = since.unwrap_or_else(Instant::now);
        handle.core.spawn_unreserved(Batch {
            env: Arc::clone(&self.link),
            buffers: Arc::clone(&self.buffers),
            submitted,
            items,
        });
    }

    /// The façade's flush: every handle's held small tasks to its pool.
    pub fn flush_all(&self) {
        self.flush_asked.set(false);
        let handles = std::mem::take(&mut *self.batched.borrow_mut());
        for h in handles {
            h.listed.set(false);
            self.flush(&h);
        }
    }

    /// Registers a pool handle for the raw submit path.
    pub fn add_pool(&self, handle: &Rc<HandleState>) -> u32 {
        self.pools.borrow_mut().insert(Rc::clone(handle)) as u32
    }

    pub fn remove_pool(&self, index: u32) {
        self.pools.borrow_mut().try_remove(index as usize);
    }

    pub fn pool(&self, index: u32) -> Option<Rc<HandleState>> {
        self.pools.borrow().get(index as usize).cloned()
    }

    /// The façade's settler (see the `settler` field).
    pub fn set_settler(&self, refs: [sys::napi_ref; 4]) {
        let old = self.settler.replace(refs);
        for r in old {
            if !r.is_null() {
                // SAFETY: a live reference of this env, deleted once.
                unsafe { sys::napi_delete_reference(self.env, r) };
            }
        }
    }

    /// Deletes references (on this thread, where they were made).
    pub fn release(&self, keep: [sys::napi_ref; 2]) {
        for r in keep {
            if !r.is_null() {
                // SAFETY: r is a live reference of this env, deleted once.
                unsafe { sys::napi_delete_reference(self.env, r) };
            }
        }
    }

    /// `signal` fired and the façade rejected task `id`'s Promise: a task
    /// that had not started never will; a running one is asked to stop,
    /// and its result will be dropped.
    pub fn abort(&self, id: u32) {
        let never_runs = {
            let mut slab = self.slab.borrow_mut();
            let Some(p) = slab.get_mut(id as usize) else {
                return;
            };
            if p.settled {
                return;
            }
            p.settled = true;
            p.cancel.as_ref().is_some_and(|c| c.cancel())
        };
        self.add_unsettled(-1);
        if never_runs {
            let p = self.slab.borrow_mut().remove(id as usize);
            p.handle.core.count_cancelled(p.op);
            self.finish(p);
            self.resolve_drained();
        }
    }

    /// The last step of every task on this thread: references released,
    /// handle and close() bookkeeping.
    fn finish(&self, p: Pending) {
        self.release(p.keep);
        if p.watch.is_some() {
            self.unwatch(p);
            return;
        }
        self.finish_handle(&p.handle);
    }

    fn finish_handle(&self, handle: &Rc<HandleState>) {
        let left = handle.pending.get() - 1;
        handle.pending.set(left);
        if left == 0 && handle.closed.get() {
            self.drained.borrow_mut().push(Rc::clone(handle));
        }
    }

    fn resolve_drained(&self) {
        let drained = std::mem::take(&mut *self.drained.borrow_mut());
        for h in drained {
            self.resolve_close(&h);
        }
    }

    fn resolve_close(&self, handle: &Rc<HandleState>) {
        if handle.owned {
            handle.core.shutdown();
        }
        let waiters = std::mem::take(&mut *handle.close_waiters.borrow_mut());
        for d in waiters {
            self.add_unsettled(-1);
            // D is an unsettled deferred of this env; the undefined
            // value is fetched in the current handle scope.
            // SAFETY: sound for the reasons just given.
            unsafe {
                let mut undef = ptr::null_mut();
                sys::napi_get_undefined(self.env, &mut undef);
                sys::napi_resolve_deferred(self.env, d, undef);
            }
        }
    }

    /// `close()`: stops accepting on this handle; the Promise resolves once
    /// its tasks are done.
    pub fn close(&self, handle: &Rc<HandleState>) -> Result<sys::napi_value, Error> {
        handle.closed.set(true);
        self.flush(handle);
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: on the env's thread inside a napi call; out-pointers are locals.
        ok("napi_create_promise", unsafe {
            sys::napi_create_promise(self.env, &mut deferred, &mut promise)
        })?;
        handle.close_waiters.borrow_mut().push(deferred);
        self.add_unsettled(1);
        if handle.pending.get() == 0 {
            self.resolve_close(handle);
        }
        Ok(promise)
    }

    /// The JS value of a result (a resolved value or an error object).
    fn value(&self, result: Result<Output, Error>) -> sys::napi_value {
        let env = self.env;
        let mut value = ptr::null_mut();
        // On the env's thread inside a handle scope; out-pointers
        // are locals and the byte/str pointers are valid for their lengths.
        // SAFETY: sound for the reasons just given.
        unsafe {
            match result {
                Ok(Output::Text(t)) => {
                    let s = t.as_bytes();
                    sys::napi_create_string_latin1(
                        env,
                        s.as_ptr().cast(),
                        s.len() as isize,
                        &mut value,
                    );
                }
                Ok(Output::Bytes(d)) => {
                    let b = d.as_bytes();
                    let mut data = ptr::null_mut();
                    sys::napi_create_buffer_copy(
                        env,
                        b.len(),
                        b.as_ptr().cast(),
                        &mut data,
                        &mut value,
                    );
                }
                Ok(Output::Count(n)) => {
                    sys::napi_create_double(env, n, &mut value);
                }
                Err(e) => value = e.to_js(&Env::from_raw(env)).raw(),
            }
        }
        value
    }

    /// The wakeup: settles every finished task in one callback scope.
    fn drain(&self) {
        let mut chunks = std::mem::take(&mut *self.spare.borrow_mut());
        self.link.take(&mut chunks);
        if chunks.is_empty() {
            *self.spare.borrow_mut() = chunks;
            return;
        }
        let env = self.env;
        let mut outer = ptr::null_mut();
        let mut scope = ptr::null_mut();
        // We are in a uv callback on the env's own thread, outside
        // any JS; a handle scope and then a callback scope (with our async
        // resource) make napi calls valid and run microtasks on close.
        // SAFETY: sound for the reasons just given.
        unsafe {
            sys::napi_open_handle_scope(env, &mut outer);
            let mut resource = ptr::null_mut();
            sys::napi_get_reference_value(env, self.resource, &mut resource);
            sys::napi_open_callback_scope(env, resource, self.async_ctx, &mut scope);
        }
        let [settler, tags, ..] = self.settler.get();
        let mut argv = std::mem::take(&mut *self.argv.borrow_mut());
        let mut results = chunks.iter_mut().flat_map(|c| c.drain(..)).peekable();
        while results.peek().is_some() {
            let mut inner = ptr::null_mut();
            let mut f = ptr::null_mut();
            let mut tags_v = ptr::null_mut();
            let mut tag_ptr = ptr::null_mut();
            let mut cap = 0usize;
            // On the env's thread inside the handle scope opened
            // above; both references are live (set by the façade at load);
            // `tags` is an Int32Array, so typedarray info is valid.
            // SAFETY: sound for the reasons just given.
            unsafe {
                sys::napi_open_handle_scope(env, &mut inner);
                sys::napi_get_reference_value(env, settler, &mut f);
                sys::napi_get_reference_value(env, tags, &mut tags_v);
                let (mut ty, mut ab, mut off) = (0, ptr::null_mut(), 0);
                sys::napi_get_typedarray_info(
                    env,
                    tags_v,
                    &mut ty,
                    &mut cap,
                    &mut tag_ptr,
                    &mut ab,
                    &mut off,
                );
            }
            let tag_ptr = tag_ptr.cast::<i32>();
            if tag_ptr.is_null() || cap == 0 || f.is_null() {
                // No settler (the binding used without the façade): nobody
                // can hold these Promises; free the entries, drop results.
                for done in results.by_ref() {
                    let _ = self.settle_done(done);
                }
                // SAFETY: closes the scope opened at the top of this round.
                unsafe { sys::napi_close_handle_scope(env, inner) };
                break;
            }
            let cap = cap.min(MAX_ARGS);
            argv.clear();
            argv.push(ptr::null_mut()); // the count, set below
            let mut n = 0usize;
            for done in results.by_ref() {
                let Some((tag, value)) = self.settle_done(done) else {
                    continue;
                };
                // N < cap, the Int32Array's length; it is a
                // non-shared array only this thread touches, and no JS runs
                // while we write.
                // SAFETY: sound for the reasons just given.
                unsafe { tag_ptr.add(n).write(tag) };
                argv.push(value);
                n += 1;
                if n == cap {
                    break;
                }
            }
            if n > 0 {
                let mut undef = ptr::null_mut();
                let mut ret = ptr::null_mut();
                // Calls the façade's settler inside our callback
                // scope with n + 1 live values (all made in `inner`); a throw
                // is reported as an uncaught exception.
                // SAFETY: sound for the reasons just given.
                unsafe {
                    sys::napi_create_uint32(env, n as u32, &mut argv[0]);
                    sys::napi_get_undefined(env, &mut undef);
                    if sys::napi_call_function(env, undef, f, argv.len(), argv.as_ptr(), &mut ret)
                        != sys::Status::napi_ok
                    {
                        let mut exc = ptr::null_mut();
                        if sys::napi_get_and_clear_last_exception(env, &mut exc)
                            == sys::Status::napi_ok
                            && !exc.is_null()
                        {
                            sys::napi_fatal_exception(env, exc);
                        }
                    }
                }
            }
            // SAFETY: closes the scope opened at the top of this round.
            unsafe { sys::napi_close_handle_scope(env, inner) };
        }
        drop(results);
        argv.clear();
        *self.argv.borrow_mut() = argv;
        self.resolve_drained();
        // Give the chunks back before microtasks run (they may submit).
        self.link.recycle_chunks(&mut chunks);
        *self.spare.borrow_mut() = chunks;
        // Closes the scopes opened above; closing the callback scope
        // runs nextTicks and microtasks.
        // SAFETY: sound for the reasons just given.
        unsafe {
            sys::napi_close_callback_scope(env, scope);
            sys::napi_close_handle_scope(env, outer);
        }
    }

    /// Frees a finished task's entry; returns the tag and value to hand the
    /// façade, unless its Promise was already settled by an abort.
    fn settle_done(&self, done: Done) -> Option<(i32, sys::napi_value)> {
        let p = self.slab.borrow_mut().try_remove(done.id as usize)?;
        let settled = p.settled;
        self.finish(p);
        if settled {
            return None;
        }
        self.add_unsettled(-1);
        let tag = ((done.id as i32) << 1) | i32::from(done.result.is_err());
        Some((tag, self.value(done.result)))
    }

    fn watch(&self, id: u32) {
        self.watched.borrow_mut().push(id);
        let mut hooks = self.watch_hooks.borrow_mut();
        if hooks.is_none() {
            let make = |kind| {
                // Loop_ptr is this thread's live loop; the hooks are
                // owned by this JsSide, dropped (closed) in the env teardown.
                // SAFETY: sound for the reasons just given.
                unsafe {
                    LoopHook::new(
                        self.loop_ptr,
                        kind,
                        Box::new(|| {
                            if let Some(js) = JS.with(|j| j.borrow().clone()) {
                                js.check_detached();
                            }
                        }),
                    )
                }
            };
            match (make(HookKind::Prepare), make(HookKind::Check)) {
                (Ok(a), Ok(b)) => *hooks = Some([a, b]),
                _ => return,
            }
        }
        if let Some(h) = hooks.as_mut() {
            let _ = h[0].start();
            let _ = h[1].start();
        }
    }

    fn unwatch(&self, p: Pending) {
        let mut watched = self.watched.borrow_mut();
        // `p` has left the slab already; every other watched key is live.
        let slab = self.slab.borrow();
        watched.retain(|&id| slab.contains(id as usize));
        drop(slab);
        if watched.is_empty() {
            if let Some(h) = self.watch_hooks.borrow_mut().as_mut() {
                h[0].stop();
                h[1].stop();
            }
        }
        drop(watched);
        self.finish_handle(&p.handle);
    }

    /// Loop hook: flags in-place non-shared inputs whose ArrayBuffer was
    /// detached, so their tasks stop at the next piece.
    fn check_detached(&self) {
        let env = self.env;
        let mut scope = ptr::null_mut();
        // SAFETY: a uv hook on the env's thread, outside JS; balanced scope.
        unsafe { sys::napi_open_handle_scope(env, &mut scope) };
        let slab = self.slab.borrow();
        for &id in self.watched.borrow().iter() {
            if let Some(p) = slab.get(id as usize) {
                if let Some(flag) = &p.watch {
                    // Keep[0] is the live reference to the task's
                    // ArrayBuffer; we are inside a handle scope.
                    // SAFETY: sound for the reasons just given.
                    if unsafe { shared::is_detached(env, p.keep[0]) } {
                        flag.store(true, Ordering::Release);
                    }
                }
            }
        }
        drop(slab);
        // SAFETY: closes the scope opened above.
        unsafe { sys::napi_close_handle_scope(env, scope) };
    }
}
