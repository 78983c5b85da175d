//! The pool's napi surface. The façade (`index.js`) validates shapes and
//! maps names to codes; everything here re-checks what memory safety
//! depends on.

use super::core::{PoolCore, Snapshot, Summary};
use super::js::{HandleState, JsSide, STAGE_SLOT, STAGE_SLOTS};
use super::tasks::hash::{self, Algorithm, Encoding};
use super::tasks::{Op, Output, Task, TaskCtx};
use crate::error::{Error, OrThrow};
use crate::shared::{self, CaptureMode, DataKind};
use napi::bindgen_prelude::{Float64Array, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

/// `maxQueue` when none is given: 2^17 waiting tasks.
pub const DEFAULT_MAX_QUEUE: usize = 131_072;
/// Most threads a pool may have.
pub const MAX_THREADS: u32 = 256;

/// The process-wide default pool, shared by every thread.
static DEFAULT: OnceLock<Arc<PoolCore>> = OnceLock::new();

/// A JS thread's handle on a pool.
#[napi]
pub struct NativePool {
    handle: Rc<HandleState>,
    /// Its index in this thread's pool table (the raw submit path).
    index: u32,
}

impl NativePool {
    fn new(js: &Rc<JsSide>, handle: Rc<HandleState>) -> Self {
        let index = js.add_pool(&handle);
        Self { handle, index }
    }
}

impl Drop for NativePool {
    fn drop(&mut self) {
        JsSide::with_current(|js| js.remove_pool(self.index));
    }
}

#[napi(object)]
pub struct TimeSummary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[napi(object)]
pub struct PoolStats {
    pub threads: u32,
    pub queued: u32,
    pub active: u32,
    pub completed: f64,
    pub failed: f64,
    pub rejected: f64,
    pub wait_time: TimeSummary,
    pub run_time: TimeSummary,
}

impl From<Summary> for TimeSummary {
    fn from(s: Summary) -> Self {
        Self {
            p50: s.p50,
            p99: s.p99,
            max: s.max,
            mean: s.mean,
        }
    }
}

impl From<Snapshot> for PoolStats {
    fn from(s: Snapshot) -> Self {
        Self {
            threads: s.threads as u32,
            queued: s.queued as u32,
            active: s.active as u32,
            completed: s.completed as f64,
            failed: s.failed as f64,
            rejected: s.rejected as f64,
            wait_time: s.wait_time.into(),
            run_time: s.run_time.into(),
        }
    }
}

fn check_threads(threads: u32) -> Result<usize, Error> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::out_of_range(
            "options.threads",
            &format!(">= 1 && <= {MAX_THREADS}"),
            threads,
        ));
    }
    Ok(threads as usize)
}

fn max_queue(v: f64) -> Result<usize, Error> {
    if v.is_infinite() && v > 0.0 {
        return Ok(usize::MAX);
    }
    if !(v >= 1.0 && v.fract() == 0.0 && v <= 1e15) {
        return Err(Error::out_of_range(
            "options.maxQueue",
            "an integer >= 1, or Infinity",
            v,
        ));
    }
    Ok(v as usize)
}

/// This thread's handle on the process-wide default pool (created by the
/// first thread that asks, with `threads` threads).
#[napi]
pub fn default_pool(env: Env, threads: u32) -> napi::Result<NativePool> {
    let threads = check_threads(threads).or_throw(&env)?;
    let core = match DEFAULT.get() {
        Some(c) => Arc::clone(c),
        None => {
            let c = PoolCore::new(threads, DEFAULT_MAX_QUEUE, "nodeperf-pool").or_throw(&env)?;
            Arc::clone(DEFAULT.get_or_init(|| c))
        }
    };
    // JSON jobs (pool.parseJson, json.validate) run on the default pool.
    crate::json::set_job_runner(run_json_job);
    let js = JsSide::get(&env).or_throw(&env)?;
    Ok(NativePool::new(&js, HandleState::new(core, false)))
}

/// A pool of its own for this thread (`createPool`).
#[napi]
pub fn create_pool(env: Env, threads: u32, max_queue_option: f64) -> napi::Result<NativePool> {
    let threads = check_threads(threads).or_throw(&env)?;
    let max_queue = max_queue(max_queue_option).or_throw(&env)?;
    let core = PoolCore::new(threads, max_queue, "nodeperf-pool").or_throw(&env)?;
    let js = JsSide::get(&env).or_throw(&env)?;
    js.adopt_pool(&core);
    Ok(NativePool::new(&js, HandleState::new(core, true)))
}

fn algorithm(code: u32) -> Result<Algorithm, Error> {
    Algorithm::from_code(code).ok_or_else(|| Error::InvalidArgValue {
        name: "task.algorithm".into(),
        reason: format!("must be one of {}", Algorithm::NAMES.join(", ")),
    })
}

fn encoding(code: u32) -> Result<Encoding, Error> {
    Encoding::from_code(code).ok_or_else(|| Error::InvalidArgValue {
        name: "task.encoding".into(),
        reason: format!("must be one of {}", Encoding::NAMES.join(", ")),
    })
}

fn kind(code: u32) -> Result<DataKind, Error> {
    DataKind::from_code(code).ok_or_else(|| {
        Error::invalid_arg_type(
            "task.data",
            "of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer",
            "another value",
        )
    })
}

/// Wraps a raw value (made in the current scope) for returning.
fn unknown<'e>(env: &'e Env, v: sys::napi_value) -> Unknown<'e> {
    // SAFETY: v is a live value of env, created during this napi call.
    unsafe { Unknown::from_raw_unchecked(env.raw(), v) }
}

type Built = (
    Task,
    [sys::napi_ref; 2],
    Option<Arc<std::sync::atomic::AtomicBool>>,
);

/// Checks, captures, reserves and enqueues one task; returns its id.
fn accept(
    js: &Rc<JsSide>,
    handle: &Rc<HandleState>,
    build: impl FnOnce(&Rc<JsSide>) -> Result<Built, Error>,
    cancellable: bool,
) -> Result<u32, Error> {
    if handle.closed.get() {
        return Err(Error::PoolClosed);
    }
    let (task, keep, watch) = build(js)?;
    if let Err(e) = handle.core.reserve(task.op()) {
        js.release(keep);
        return Err(e);
    }
    Ok(js.enqueue(handle, task, keep, watch, cancellable))
}

fn hash_task(
    env: sys::napi_env,
    js: &Rc<JsSide>,
    kind_code: u32,
    data: sys::napi_value,
    algorithm_code: u32,
    encoding_code: u32,
) -> Result<Built, Error> {
    let algorithm = algorithm(algorithm_code)?;
    let encoding = encoding(encoding_code)?;
    let kind = kind(kind_code)?;
    // Called on this env's thread inside a napi call with a live
    // argument; js.thread is this env's ThreadShared.
    // SAFETY: sound for the reasons just given.
    let cap = unsafe { shared::capture(env, data, kind, &js.thread, CaptureMode::Task) }?;
    let keep = [cap.keep.unwrap_or(ptr::null_mut()), ptr::null_mut()];
    Ok((
        Task::Hash {
            algorithm,
            input: cap.input,
            encoding,
        },
        keep,
        cap.watch,
    ))
}

/// The hot path, as a raw Node-API callback (napi-rs's argument handling
/// measured ~200 ns for six arguments, more than everything else):
/// `submit(code, data) -> id`, or `~id` when the façade must queue a
/// microtask that calls `__flushSubmitted()` (see `JsSide::enqueue_small`);
/// the façade packs
/// `code = poolIndex << 8 | kind << 6 | algorithm << 3 | encoding << 1 | cancellable`.
///
/// # Safety
/// Called by Node-API only, as a JS function on the env's thread.
unsafe extern "C" fn raw_submit(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut run = || -> Result<(u32, bool), Error> {
        // SAFETY: argv has room for argc values; env/info come from Node.
        let st = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if st != sys::Status::napi_ok || argc < 2 {
            return Err(Error::Napi {
                call: "napi_get_cb_info",
                status: st,
            });
        }
        let mut code = 0u32;
        // SAFETY: argv[0] is a live argument value.
        let st = unsafe { sys::napi_get_value_uint32(env, argv[0], &mut code) };
        if st != sys::Status::napi_ok {
            return Err(Error::Napi {
                call: "napi_get_value_uint32",
                status: st,
            });
        }
        let (index, kind_code) = (code >> 8, (code >> 6) & 3);
        let (alg, enc, cancellable) = ((code >> 3) & 7, (code >> 1) & 3, code & 1 != 0);
        let js = JsSide::current().ok_or(Error::NotAttached)?;
        let handle = js.pool(index).ok_or(Error::PoolClosed)?;
        if handle.closed.get() {
            return Err(Error::PoolClosed);
        }
        let (task, keep, watch) = hash_task(env, &js, kind_code, argv[1], alg, enc)?;
        if keep == [ptr::null_mut(); 2] && watch.is_none() {
            return js.enqueue_small(&handle, task, cancellable);
        }
        if let Err(e) = handle.core.reserve(task.op()) {
            js.release(keep);
            return Err(e);
        }
        Ok((js.enqueue(&handle, task, keep, watch, cancellable), false))
    };
    let mut out = ptr::null_mut();
    match run() {
        Ok((id, flush)) => {
            // Ids are slab keys, far below 2^31: `!id` (negative) tells
            // the façade to queue a flush.
            let id = id as i32;
            // SAFETY: env is live; out is a local.
            unsafe { sys::napi_create_int32(env, if flush { !id } else { id }, &mut out) };
        }
        Err(e) => {
            let env_ = Env::from_raw(env);
            let error = e.to_js(&env_).raw();
            // Env is live and we are in its callback; throwing the
            // error object just built is how a callback reports failure.
            // SAFETY: sound for the reasons just given.
            unsafe { sys::napi_throw(env, error) };
        }
    }
    out
}

/// Creates the raw submit function (the façade keeps it per thread).
#[napi(js_name = "__rawSubmit")]
pub fn raw_submit_fn(env: &Env) -> napi::Result<Unknown<'_>> {
    let mut f = ptr::null_mut();
    let name = c"submit";
    // SAFETY: on this env's thread inside a napi call; name is NUL-terminated.
    let st = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr(),
            6,
            Some(raw_submit),
            ptr::null_mut(),
            &mut f,
        )
    };
    if st != sys::Status::napi_ok {
        return Err(Error::Napi {
            call: "napi_create_function",
            status: st,
        }
        .into_napi(env));
    }
    Ok(unknown(env, f))
}

/// Hands this thread's held small tasks to their pools (the façade calls
/// it from a microtask when `submit` asks).
#[napi(js_name = "__flushSubmitted")]
pub fn flush_submitted() {
    JsSide::with_current(JsSide::flush_all);
}

/// Checks that `v` is a TypedArray of type `ty` with at least `min`
/// elements; returns its data pointer and length.
///
/// # Safety
/// On `env`'s thread inside a napi call; `v` is a live value of it.
unsafe fn typed_array(
    env: sys::napi_env,
    v: sys::napi_value,
    ty: sys::napi_typedarray_type,
    min: usize,
    what: &str,
) -> Result<(*mut std::ffi::c_void, usize), Error> {
    let (mut t, mut len, mut data, mut ab, mut off) =
        (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0);
    // For anything but a TypedArray it returns an error and writes nothing.
    // SAFETY: caller's contract; out-pointers are locals.
    let st = unsafe {
        sys::napi_get_typedarray_info(env, v, &mut t, &mut len, &mut data, &mut ab, &mut off)
    };
    if st != sys::Status::napi_ok || t != ty || len < min || data.is_null() {
        return Err(Error::InvalidArgValue {
            name: what.into(),
            reason: format!("must be the façade's own typed array (of {min} elements or more)"),
        });
    }
    Ok((data, len))
}

/// Hands the native side the façade's batch settler, its tags and its
/// stage (see `js.rs`). Their types and sizes are checked here, once:
/// the drain and the stage flush write into them.
#[napi(js_name = "__setSettler")]
pub fn set_settler(
    env: Env,
    settler: Unknown<'_>,
    tags: Unknown<'_>,
    stage: Unknown<'_>,
    codes: Unknown<'_>,
) -> napi::Result<()> {
    let js = JsSide::get(&env).or_throw(&env)?;
    let raw = env.raw();
    let check = || -> Result<(), Error> {
        let mut t = 0;
        // SAFETY: on this env's thread inside a napi call; live arguments.
        unsafe {
            sys::napi_typeof(raw, settler.raw(), &mut t);
            if t != sys::ValueType::napi_function {
                return Err(Error::invalid_arg_type(
                    "settler",
                    "of type function",
                    "another value",
                ));
            }
            typed_array(raw, tags.raw(), sys::TypedarrayType::int32_array, 1, "tags")?;
            typed_array(
                raw,
                stage.raw(),
                sys::TypedarrayType::uint8_array,
                STAGE_SLOTS * STAGE_SLOT,
                "stage",
            )?;
            typed_array(
                raw,
                codes.raw(),
                sys::TypedarrayType::int32_array,
                2 * STAGE_SLOTS,
                "codes",
            )?;
        }
        Ok(())
    };
    check().or_throw(&env)?;
    let mut refs = [ptr::null_mut(); 4];
    for (r, v) in refs
        .iter_mut()
        .zip([settler.raw(), tags.raw(), stage.raw(), codes.raw()])
    {
        // SAFETY: on this env's thread inside a napi call; v is a live argument (checked above).
        unsafe { sys::napi_create_reference(raw, v, 1, r) };
    }
    js.set_settler(refs);
    Ok(())
}

/// How many tasks the façade may stage for pool `index` now (see
/// `JsSide::stage_room`); -1 when that pool takes none (closed, or not
/// this thread's): the façade then submits the task the usual way, which
/// says why.
#[napi(js_name = "__stageRoom")]
pub fn stage_room(index: u32) -> i32 {
    let Some(js) = JsSide::current() else {
        return -1;
    };
    match js.pool(index) {
        Some(h) if !h.closed.get() => js.stage_room(&h) as i32,
        _ => -1,
    }
}

/// Accepts the `count` tasks the façade staged (see `STAGE_SLOTS` in
/// `js.rs`): each one's id is written over its code, or -1 for a task
/// refused; returns the refusals' errors in order (undefined if none).
#[napi(js_name = "__stageFlush")]
pub fn stage_flush(env: &Env, count: u32) -> napi::Result<Unknown<'_>> {
    let js = JsSide::get(env).or_throw(env)?;
    let count = count as usize;
    if count > STAGE_SLOTS {
        return Err(Error::out_of_range("count", "an integer <= 64", count as f64).into_napi(env));
    }
    let raw = env.raw();
    let [stage_ref, codes_ref] = js.stage_refs();
    let (mut stage, mut codes) = (ptr::null_mut(), ptr::null_mut());
    // A null reference (no stage set) gives an error, checked below.
    // SAFETY: on this env's thread inside a napi call; live references; local out-pointers.
    let arrays = unsafe {
        sys::napi_get_reference_value(raw, stage_ref, &mut stage);
        sys::napi_get_reference_value(raw, codes_ref, &mut codes);
        typed_array(
            raw,
            stage,
            sys::TypedarrayType::uint8_array,
            STAGE_SLOTS * STAGE_SLOT,
            "stage",
        )
        .and_then(|s| {
            typed_array(
                raw,
                codes,
                sys::TypedarrayType::int32_array,
                2 * STAGE_SLOTS,
                "codes",
            )
            .map(|c| (s.0.cast::<u8>(), c.0.cast::<i32>()))
        })
    };
    let (stage, codes) = arrays.or_throw(env)?;
    let mut refused = Vec::new();
    let mut current: Option<(u32, Rc<HandleState>)> = None;
    for k in 0..count {
        // Slot k's code and length: k < STAGE_SLOTS and `codes` holds
        // 2 × STAGE_SLOTS aligned i32s (checked above); it is this thread's
        // memory, and no JS runs during this call.
        // SAFETY: sound for the reasons just given.
        let (code, len) = unsafe { (codes.add(2 * k).read() as u32, codes.add(2 * k + 1).read()) };
        let index = code >> 8;
        let handle = match &current {
            Some((i, h)) if *i == index => Some(Rc::clone(h)),
            _ => js.pool(index),
        };
        let accepted = (|| {
            let handle = handle.ok_or(Error::PoolClosed)?;
            current = Some((index, Rc::clone(&handle)));
            if handle.closed.get() {
                return Err(Error::PoolClosed);
            }
            let len = usize::try_from(len)
                .ok()
                .filter(|&n| n <= STAGE_SLOT)
                .ok_or_else(|| {
                    Error::out_of_range("stage length", "an integer >= 0 and <= 64", len as f64)
                })?;
            // Slot k's first `len` bytes lie inside the stage (k <
            // STAGE_SLOTS, len <= STAGE_SLOT, size checked above); this
            // thread's memory, unchanged during this call.
            // SAFETY: sound for the reasons just given.
            let bytes = unsafe { std::slice::from_raw_parts(stage.add(k * STAGE_SLOT), len) };
            let task = Task::Hash {
                algorithm: algorithm((code >> 3) & 7)?,
                input: shared::Input::copy(bytes),
                encoding: encoding((code >> 1) & 3)?,
            };
            js.enqueue_small(&handle, task, false)
                .map(|(id, _)| id as i32)
        })();
        let id = accepted.unwrap_or_else(|e| {
            refused.push(e);
            -1
        });
        // SAFETY: as for the read above.
        unsafe { codes.add(2 * k).write(id) };
    }
    let mut out = ptr::null_mut();
    if refused.is_empty() {
        // SAFETY: env is live; out is a local.
        unsafe { sys::napi_get_undefined(raw, &mut out) };
    } else {
        // SAFETY: as above; each error value is set into the new array.
        unsafe {
            sys::napi_create_array_with_length(raw, refused.len(), &mut out);
            for (i, e) in refused.into_iter().enumerate() {
                sys::napi_set_element(raw, out, i as u32, e.to_js(env).raw());
            }
        }
    }
    Ok(unknown(env, out))
}

#[napi]
impl NativePool {
    /// This handle's index for the raw submit function.
    #[napi(getter)]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// `{ op: 'hash', algorithm, data, chunkSize, out }` → task id.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn submit_chunks<'e>(
        &self,
        env: &'e Env,
        kind_code: u32,
        data: Unknown<'e>,
        algorithm_code: u32,
        chunk_size: f64,
        out: Unknown<'e>,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(env).or_throw(env)?;
        accept(
            &js,
            &self.handle,
            |js| {
                let algorithm = algorithm(algorithm_code)?;
                let kind = kind(kind_code)?;
                if !(chunk_size >= 1.0 && chunk_size.fract() == 0.0 && chunk_size <= 4294967296.0) {
                    return Err(Error::out_of_range(
                        "task.chunkSize",
                        "an integer >= 1 and <= 4294967296 (4 GiB)",
                        chunk_size,
                    ));
                }
                let chunk = chunk_size as usize;
                // SAFETY: as in `submit`.
                let captured = unsafe { shared::capture_out(env.raw(), out.raw(), &js.thread) };
                let (out, out_ref) = captured?;
                // SAFETY: as in `submit`.
                let cap = match unsafe {
                    shared::capture(env.raw(), data.raw(), kind, &js.thread, CaptureMode::Task)
                } {
                    Ok(c) => c,
                    Err(e) => {
                        js.release([out_ref, ptr::null_mut()]);
                        return Err(e);
                    }
                };
                let keep = [cap.keep.unwrap_or(ptr::null_mut()), out_ref];
                let need = hash::chunk_count(cap.input.len(), chunk) * algorithm.digest_len();
                if out.len() < need {
                    js.release(keep);
                    return Err(Error::out_of_range(
                        "task.out.byteLength",
                        &format!(">= {need} (chunks x digest length)"),
                        out.len(),
                    ));
                }
                Ok((
                    Task::HashChunks {
                        algorithm,
                        input: cap.input,
                        chunk_size: chunk,
                        out,
                    },
                    keep,
                    cap.watch,
                ))
            },
            cancellable,
        )
        .or_throw(env)
    }

    /// Internal (the specs): a task that sleeps `ms` or panics → task id.
    #[napi(js_name = "__submitTest")]
    pub fn submit_test(
        &self,
        env: Env,
        panic: bool,
        ms: u32,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(&env).or_throw(&env)?;
        accept(
            &js,
            &self.handle,
            |_| Ok((Task::Test { panic, ms }, [ptr::null_mut(); 2], None)),
            cancellable,
        )
        .or_throw(&env)
    }

    /// Task `id`'s Promise was rejected by its `signal`: stop the task.
    #[napi]
    pub fn abort(&self, env: Env, id: u32) -> napi::Result<()> {
        JsSide::get(&env).or_throw(&env)?.abort(id);
        Ok(())
    }

    /// Stops accepting tasks on this handle; resolves once they are done.
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let js = JsSide::get(env).or_throw(env)?;
        let promise = js.close(&self.handle).or_throw(env)?;
        Ok(unknown(env, promise))
    }

    #[napi]
    pub fn stats(&self) -> PoolStats {
        // Small tasks this thread holds count as queued once handed over.
        JsSide::with_current(|js| js.flush(&self.handle));
        self.handle.core.snapshot().into()
    }

    /// This pool's metrics, packed as `defaultPoolMetrics` packs the
    /// default pool's.
    #[napi]
    pub fn metrics(&self, bounds: Vec<f64>) -> Float64Array {
        packed_metrics(&self.handle.core, &bounds)
    }

    #[napi(getter)]
    pub fn threads(&self) -> u32 {
        self.handle.core.threads() as u32
    }

    #[napi(getter)]
    pub fn max_queue(&self) -> f64 {
        let m = self.handle.core.max_queue();
        if m == usize::MAX {
            f64::INFINITY
        } else {
            m as f64
        }
    }

    #[napi(getter)]
    pub fn queue_size(&self) -> u32 {
        JsSide::with_current(|js| js.flush(&self.handle));
        self.handle.core.snapshot_queued() as u32
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.handle.closed.get()
    }
}

/// `hashSync(algorithm, data, encoding)` on the calling thread.
#[napi]
pub fn hash_sync<'e>(
    env: &'e Env,
    kind_code: u32,
    data: Unknown<'e>,
    algorithm_code: u32,
    encoding_code: u32,
) -> napi::Result<Unknown<'e>> {
    let run = || -> Result<Output, Error> {
        let algorithm = algorithm(algorithm_code)?;
        let encoding = encoding(encoding_code)?;
        let kind = kind(kind_code)?;
        let state = crate::thread::ThreadState::get(env)?;
        // On this env's thread inside a napi call; the capture is
        // used only before this call returns.
        // SAFETY: sound for the reasons just given.
        let cap = unsafe {
            shared::capture(
                env.raw(),
                data.raw(),
                kind,
                &state.shared,
                CaptureMode::Sync,
            )
        }?;
        let out = match cap.input.owned() {
            Some(v) => hash::encode(&hash::digest_bytes(algorithm, v), encoding),
            None => hash::hash(algorithm, &cap.input, encoding, &TaskCtx::default())
                .map_err(Error::from)?,
        };
        Ok(out)
    };
    let out = run().or_throw(env)?;
    let mut value = ptr::null_mut();
    // SAFETY: on this env's thread inside a napi call; out-pointers are locals.
    unsafe {
        match out {
            Output::Text(t) => {
                let s = t.as_bytes();
                sys::napi_create_string_latin1(
                    env.raw(),
                    s.as_ptr().cast(),
                    s.len() as isize,
                    &mut value,
                );
            }
            Output::Bytes(d) => {
                let b = d.as_bytes();
                let mut p = ptr::null_mut();
                sys::napi_create_buffer_copy(
                    env.raw(),
                    b.len(),
                    b.as_ptr().cast(),
                    &mut p,
                    &mut value,
                );
            }
            Output::Count(n) => {
                sys::napi_create_double(env.raw(), n, &mut value);
            }
        }
    }
    Ok(unknown(env, value))
}

/// Runs a JSON job's body on the default pool (see `src/json/job.rs`).
fn run_json_job(validate_only: bool, body: crate::json::JobBody) -> Result<(), Error> {
    let core = DEFAULT.get().ok_or(Error::PoolClosed)?;
    // After the small tasks this thread submitted before it.
    JsSide::with_current(JsSide::flush_all);
    let op = if validate_only {
        Op::JsonValidate
    } else {
        Op::JsonParse
    };
    core.spawn_body(op, body)
}

/// The default pool's metrics (see `PoolCore::metrics`), or null while it
/// has not been created. `bounds` are histogram bounds in seconds.
#[napi]
pub fn default_pool_metrics(bounds: Vec<f64>) -> Option<Float64Array> {
    Some(packed_metrics(DEFAULT.get()?, &bounds))
}

/// A pool's metrics packed for `@nodeperf/native/prom`, with histogram
/// bounds given in seconds.
fn packed_metrics(core: &PoolCore, bounds: &[f64]) -> Float64Array {
    let bounds_ns: Vec<u64> = bounds.iter().map(|b| (b * 1e9) as u64).collect();
    Float64Array::new(core.metrics(&bounds_ns))
}

/// The `op` label values, in the order `defaultPoolMetrics` packs them.
#[napi]
pub fn pool_ops() -> Vec<&'static str> {
    Op::ALL.iter().map(|o| o.name()).collect()
}
