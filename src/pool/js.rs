//! The JS-thread side of the pool, one per env: the slab of pending
//! Promises, the `uv_async` wakeup that drains finished tasks in batches,
//! aborts, `close()` and the detach watch for non-shared inputs.
//!
//! Everything here runs on the env's own thread (the type is `!Send`); pool
//! threads reach it only through the [`EnvLink`].
//!
//! Over 500 lines because it is one type, [`JsSide`]: enqueueing, the
//! drain, aborts, `close()` and the detach watch all read and write the same
//! slab of pending entries, the same unsettled count and the same waker, so
//! they stay together rather than reach into each other's fields.

use super::completion::{Done, EnvLink};
use super::core::{Batch, BatchBuffers, Item, PoolCore};
use super::tasks::{CancelState, Op, Output, Task};
use crate::error::Error;
use crate::node_api::{
    self, AsyncContext, CallbackScope, Deferred, HandleScope, RawEnv, Reference, Value,
};
use crate::shared;
use crate::thread::ThreadState;
use crate::uv::{AsyncWaker, HookKind, LoopHook};
use napi::{Env, JsValue};
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
/// hands them all over in one call (`__stageFlush`, see `fast.rs`), which
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

/// One JS `Pool` object's view of a pool: what `close()` waits for.
pub struct HandleState {
    pub core: Arc<PoolCore>,
    /// A `createPool` pool (shut down when closed) rather than the shared
    /// default one (which only stops accepting from this handle).
    pub owned: bool,
    pub closed: Cell<bool>,
    pending: Cell<usize>,
    close_waiters: RefCell<Vec<Deferred>>,
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
    /// References that keep the task's memory from GC, deleted when the
    /// entry is dropped (on this thread).
    keep: Keep,
    cancel: Option<Arc<CancelState>>,
    watch: Option<Arc<AtomicBool>>,
    /// For the metrics of a task that never runs.
    op: Op,
}

/// What a pending task keeps referenced: its input's buffer, its `out`.
pub type Keep = [Option<Reference>; 2];

/// The façade's settler, its tags and its stage (see the `settler` field).
type Settler = [Reference; 4];

pub struct JsSide {
    env: RawEnv,
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
    resource: Reference,
    async_ctx: AsyncContext,
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
    settler: RefCell<Option<Settler>>,
    /// Argument buffer for the settler call (reused).
    argv: RefCell<Vec<Value>>,
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
        let raw = RawEnv::of(env);
        let loop_ptr = env.get_uv_event_loop().map_err(|e| Error::Uv {
            call: "napi_get_uv_event_loop",
            message: e.reason.clone(),
        })?;
        // SAFETY: `AsyncWaker::new`'s contract holds: `loop_ptr` is this
        // thread's live loop (just asked of Node), and the waker is dropped
        // (closed) in this env's teardown hook, registered below, before that
        // loop closes.
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
        // SAFETY: node_api's contract for all three calls holds: `get` runs
        // inside a napi call on this env's thread (it was given `env` by
        // napi-rs), so values made here live until it returns; `object` is made
        // first and is live for the other two.
        let (resource, async_ctx) = unsafe {
            let object = node_api::object(raw)?;
            (
                Reference::new(raw, object)?,
                AsyncContext::new(raw, object, c"nodeperf:pool")?,
            )
        };
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
            settler: RefCell::new(None),
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
        keep: Keep,
        watch: Option<Arc<AtomicBool>>,
        cancellable: bool,
    ) -> u32 {
        let held = self.enqueue_held(handle, task, keep, watch, cancellable);
        let id = held.id();
        held.start();
        id
    }

    /// Like [`Self::enqueue`], but the task reaches the pool only when
    /// [`Held::start`] is called: for a task whose input the JS side is
    /// still copying in (a string JSON job), so that no pool thread ever
    /// waits for a JS thread. It is accepted now: its pending entry (which
    /// the handle's `close()` waits for) and its place under `maxQueue`.
    pub fn enqueue_held(
        self: &Rc<Self>,
        handle: &Rc<HandleState>,
        task: Task,
        keep: Keep,
        watch: Option<Arc<AtomicBool>>,
        cancellable: bool,
    ) -> Held {
        // Tasks reach the pool in the order they were submitted.
        self.flush(handle);
        let watched = watch.is_some();
        let (id, cancel) = self.add_pending(handle, task.op(), keep, watch, cancellable);
        if watched {
            self.watch(id);
        }
        Held {
            js: Rc::clone(self),
            handle: Rc::clone(handle),
            item: Item { id, task, cancel },
        }
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
        let (id, cancel) = self.add_pending(handle, op, [None, None], None, cancellable);
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
    ///
    /// # Safety
    /// Inside a napi call or handle scope of this env (the values live in
    /// the current scope).
    pub unsafe fn stage_arrays(&self) -> Result<(Value, Value), Error> {
        let settler = self.settler.borrow();
        let [_, _, bytes, codes] = settler.as_ref().ok_or(Error::NotAttached)?;
        // SAFETY: the caller's contract is the one `Reference::value` needs.
        unsafe { Ok((bytes.value()?, codes.value()?)) }
    }

    fn add_pending(
        &self,
        handle: &Rc<HandleState>,
        op: Op,
        keep: Keep,
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

    /// The façade's settler (see the `settler` field); the old one's
    /// references are deleted as it is dropped.
    pub fn set_settler(&self, refs: Settler) {
        let old = self.settler.replace(Some(refs));
        drop(old);
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
        // The task no longer touches its memory: its references are deleted
        // as `p` is dropped, at the end of this call or of `unwatch`.
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
            // SAFETY: node_api's contract holds: called inside a napi call
            // (`close`, `abort`) or the drain's handle scope, on this env's
            // thread; `d` was made by `close` on this env and is consumed here,
            // so it is settled once.
            if let Err(e) = unsafe { d.resolve_undefined(self.env) } {
                self.report(e);
            }
        }
    }

    /// `close()`: stops accepting on this handle; the Promise resolves once
    /// its tasks are done.
    pub fn close(&self, handle: &Rc<HandleState>) -> Result<Value, Error> {
        handle.closed.set(true);
        self.flush(handle);
        // SAFETY: node_api's contract holds: called only from
        // `NativePool::close`, a napi call on this env's thread: the Promise
        // value lives until that call returns it.
        let (deferred, promise) = unsafe { node_api::promise(self.env) }?;
        handle.close_waiters.borrow_mut().push(deferred);
        self.add_unsettled(1);
        if handle.pending.get() == 0 {
            self.resolve_close(handle);
        }
        Ok(promise)
    }

    /// A result that cannot be handed to JS (a Node-API call failed
    /// where no caller can be told): an uncaught exception, so it is seen.
    fn report(&self, e: Error) {
        debug_assert!(false, "{e}");
        let env = self.env.env();
        let error = e.to_js(&env).raw();
        // SAFETY: node_api's contract holds: called on this env's thread inside
        // a napi call or a handle scope of the drain; `error` was just made in
        // that scope.
        let reported = unsafe { node_api::fatal_exception(self.env, error) };
        // If even that fails there is no one left to tell.
        debug_assert!(reported.is_ok());
    }

    /// A finished task's value for the settler: its result, or its error
    /// object; true when it is an error.
    ///
    /// # Safety
    /// Inside a handle scope of this env (the value lives in it).
    unsafe fn settle_value(&self, result: Result<Output, Error>) -> (bool, Value) {
        let env = self.env.env();
        match result {
            // SAFETY: `output_value`'s contract is ours: on this env's thread
            // (`self.env`, the JsSide's own) inside a handle scope of it.
            Ok(out) => match unsafe { output_value(self.env, out) } {
                Ok(v) => (false, v),
                Err(e) => (true, e.to_js(&env).raw()),
            },
            Err(e) => (true, e.to_js(&env).raw()),
        }
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
        // SAFETY: node_api's contract for opening scopes holds: a uv callback
        // on the env's own thread, outside any JS: a handle scope, then a
        // callback scope with our async resource (made in it), make Node-API
        // calls valid and run microtasks when they close; the guards close them
        // in reverse order at the end of this function.
        let scopes = unsafe {
            HandleScope::open(env).and_then(|outer| {
                let resource = self.resource.value()?;
                Ok((CallbackScope::open(env, resource, &self.async_ctx)?, outer))
            })
        };
        let Ok((callback_scope, outer)) = scopes else {
            // Fails only for a null env or out-pointer (Node's CHECK_ENV /
            // CHECK_ARG), which ours never are. Should it happen, nothing
            // can be made without a scope: queue the results again, so the
            // next wakeup (sent by that) settles them.
            debug_assert!(false, "could not open the drain's scopes");
            for done in chunks.iter_mut().flat_map(|c| c.drain(..)) {
                self.link.complete(done);
            }
            self.link.recycle_chunks(&mut chunks);
            *self.spare.borrow_mut() = chunks;
            return;
        };
        let mut argv = std::mem::take(&mut *self.argv.borrow_mut());
        let mut results = chunks.iter_mut().flat_map(|c| c.drain(..)).peekable();
        while results.peek().is_some() {
            // SAFETY: node_api's contract for all four calls holds: inside the
            // drain's scopes on this env's thread; the settler's references are
            // read afresh each round (the settler may have replaced them);
            // `tags` was checked to be an Int32Array when it was set. The inner
            // scope closes at the end of the round.
            let round = unsafe {
                HandleScope::open(env).and_then(|inner| {
                    let settler = self.settler.borrow();
                    let Some([f, tags, ..]) = settler.as_ref() else {
                        return Ok((inner, None));
                    };
                    let (f, tags) = (f.value()?, tags.value()?);
                    let info = node_api::typed_array(env, tags)?;
                    Ok((inner, info.map(|t| (f, t))))
                })
            };
            let (inner, settler) = match round {
                Ok((inner, Some((f, t)))) if !t.data.is_null() && t.len > 0 => {
                    (Some(inner), Some((f, t.data.cast::<i32>(), t.len)))
                }
                Ok((inner, _)) => (Some(inner), None),
                Err(_) => (None, None),
            };
            let Some((f, tag_ptr, cap)) = settler else {
                // No settler (the binding used without the façade): nobody
                // can hold these Promises; free the entries, drop results.
                for done in results.by_ref() {
                    let _ = self.settle_done(done);
                }
                drop(inner);
                break;
            };
            let cap = cap.min(MAX_ARGS);
            argv.clear();
            argv.push(ptr::null_mut()); // the count, set below
            let mut n = 0usize;
            for done in results.by_ref() {
                let Some((tag, value)) = self.settle_done(done) else {
                    continue;
                };
                // `n < cap`, the Int32Array's length read this round; it is
                // a non-shared array only this thread touches, and no JS runs
                // between that read and this write.
                // SAFETY: an in-bounds, aligned i32 write into live memory.
                unsafe { tag_ptr.add(n).write(tag) };
                argv.push(value);
                n += 1;
                if n == cap {
                    break;
                }
            }
            if n > 0 {
                // SAFETY: node_api's contract for both calls holds: inside the
                // callback scope and this round's handle scope, where `f` and
                // every value in `argv` were made; a throw from the settler
                // becomes an uncaught exception.
                let called = unsafe {
                    node_api::uint32(env, n as u32).and_then(|count| {
                        argv[0] = count;
                        node_api::call_reporting(env, f, &argv)
                    })
                };
                if let Err(e) = called {
                    self.report(e);
                }
            }
            drop(inner);
        }
        drop(results);
        argv.clear();
        *self.argv.borrow_mut() = argv;
        self.resolve_drained();
        // Give the chunks back before microtasks run (they may submit).
        self.link.recycle_chunks(&mut chunks);
        *self.spare.borrow_mut() = chunks;
        // Closing the callback scope runs nextTicks and microtasks; then
        // the outer handle scope closes.
        drop(callback_scope);
        drop(outer);
    }

    /// Frees a finished task's entry; returns the tag and value to hand the
    /// façade, unless its Promise was already settled by an abort, or it
    /// has none (a JSON job's scan: the job tells its own JS side).
    fn settle_done(&self, mut done: Done) -> Option<(i32, Value)> {
        let p = self.slab.borrow_mut().try_remove(done.id as usize)?;
        let settled = p.settled;
        let own_promise = p.op.has_promise();
        if done.result.is_ok() {
            if let (Some(_), Some(keep)) = (&p.watch, &p.keep[0]) {
                // The settle-time half of the detach check (src/shared/mod.rs,
                // case 4): memory can only be freed under a task after its
                // ArrayBuffer was detached on this thread, so a buffer still
                // attached now means every byte the task read was the
                // caller's; a detached one means it may not have been, and
                // no value built from it reaches JS.
                // SAFETY: `shared::is_detached`'s contract holds: called only
                // by the drain, inside its handle scope on this env's thread;
                // `keep` is this env's live reference to the task's buffer,
                // still held (the entry is released below).
                if unsafe { shared::is_detached(self.env, keep) } {
                    done.result = Err(Error::Detached);
                }
            }
        }
        self.finish(p);
        if settled {
            return None;
        }
        self.add_unsettled(-1);
        if !own_promise {
            return None;
        }
        // SAFETY: `settle_value`'s contract holds: called only by the drain,
        // inside its handle scope.
        let (is_err, value) = unsafe { self.settle_value(done.result) };
        let tag = ((done.id as i32) << 1) | i32::from(is_err);
        Some((tag, value))
    }

    fn watch(&self, id: u32) {
        self.watched.borrow_mut().push(id);
        let mut hooks = self.watch_hooks.borrow_mut();
        if hooks.is_none() {
            let make = |kind| {
                // SAFETY: `LoopHook::new`'s contract holds: `self.loop_ptr` is
                // this thread's live loop; the hooks are owned by this JsSide,
                // which the env's teardown hook drops (closing them) before the
                // loop closes.
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
        // SAFETY: node_api's contract for opening a scope holds: a uv hook on
        // the env's thread, outside any JS: a handle scope makes the reads
        // below valid; the guard closes it on return.
        let Ok(_scope) = (unsafe { HandleScope::open(self.env) }) else {
            // Cannot fail for our live env (see `drain`); if it did, the
            // next loop turn checks again.
            debug_assert!(false, "could not open the detach check's scope");
            return;
        };
        let slab = self.slab.borrow();
        for &id in self.watched.borrow().iter() {
            if let Some(p) = slab.get(id as usize) {
                if let (Some(flag), Some(keep)) = (&p.watch, &p.keep[0]) {
                    // SAFETY: `shared::is_detached`'s contract holds: inside
                    // the scope opened above; `keep` is this env's live
                    // reference to the task's ArrayBuffer.
                    if unsafe { shared::is_detached(self.env, keep) } {
                        flag.store(true, Ordering::Release);
                    }
                }
            }
        }
    }
}

/// The JS value of a task's output: the one conversion, used by the drain
/// and by `hashSync`.
///
/// # Safety
/// Node-API's contract (`crate::node_api`): on `env`'s thread inside a
/// napi call or handle scope.
#[inline]
pub unsafe fn output_value(env: RawEnv, out: Output) -> Result<Value, Error> {
    // SAFETY: `latin1`, `buffer_copy`, `double`, `uint32` and `bigint_u64`
    // each need only what our
    // caller promised (on `env`'s thread inside a napi call or handle
    // scope); the byte slices are borrowed from `out` for the call.
    unsafe {
        match out {
            Output::Text(t) => node_api::latin1(env, t.as_bytes()),
            Output::Bytes(d) => node_api::buffer_copy(env, d.as_bytes()),
            Output::Count(n) => node_api::double(env, n),
            Output::U32(n) => node_api::uint32(env, n),
            Output::U64(n) => node_api::bigint_u64(env, n),
            Output::Json(text) => node_api::utf8(env, text.as_bytes()),
            Output::Many(bytes) => node_api::buffer_owned(env, bytes),
            Output::ManyText(text) => node_api::latin1(env, &text),
        }
    }
}

/// An accepted task not yet handed to its pool ([`JsSide::enqueue_held`]).
pub struct Held {
    js: Rc<JsSide>,
    handle: Rc<HandleState>,
    item: Item,
}

impl Held {
    /// Hands the task to its pool (settled with `ERR_NODEPERF_POOL_CLOSED`
    /// if the pool was shut down meanwhile).
    pub fn start(self) {
        self.handle.core.spawn(Batch {
            env: Arc::clone(&self.js.link),
            buffers: Arc::clone(&self.js.buffers),
            submitted: Instant::now(),
            items: vec![self.item],
        });
    }

    /// The key of its Promise in the submitting thread's slab.
    pub fn id(&self) -> u32 {
        self.item.id
    }

    /// The pool the task will run on, for side work that must not wait in
    /// its queue behind the task itself.
    pub fn core(&self) -> &Arc<PoolCore> {
        &self.handle.core
    }
}
