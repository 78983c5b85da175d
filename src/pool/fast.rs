//! The façade's fast paths into the pool, past napi-rs's argument
//! handling: the raw `submit` callback and `__flushSubmitted`, the stage
//! (`__stageRoom`, `__stageFlush`), and `__setSettler`, which checks once
//! the arrays the drain and the stage flush write into. The rest of the
//! napi surface is in `api.rs`.

use super::api::{hash_codes, kind, unknown, Built};
use super::js::{HandleState, JsSide, STAGE_SLOT, STAGE_SLOTS};
use super::tasks::Task;
use crate::error::{Error, OrThrow};
use crate::node_api::{self, CallbackInfo, RawEnv, Reference, Value};
use crate::shared::{self, CaptureMode};
use napi::bindgen_prelude::Unknown;
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use std::rc::Rc;

/// A hash task's packed code, as the façade packs it (lib/pool.js
/// `packCode`; the stage's codes too): `poolIndex << 9 | kind << 7 |
/// algorithm << 4 | encoding << 1 | cancellable`. Three bits each for the
/// algorithm (7 names) and the encoding (6 names), two for the data kind.
struct Packed {
    index: u32,
    kind: u32,
    algorithm: u32,
    encoding: u32,
    cancellable: bool,
}

fn unpack(code: u32) -> Packed {
    Packed {
        index: code >> 9,
        kind: (code >> 7) & 3,
        algorithm: (code >> 4) & 7,
        encoding: (code >> 1) & 7,
        cancellable: code & 1 != 0,
    }
}

/// # Safety
/// Caller must ensure: inside a napi call on `env`'s thread, with `data`
/// a live argument of it.
unsafe fn hash_task(
    env: RawEnv,
    js: &Rc<JsSide>,
    kind_code: u32,
    data: Value,
    algorithm_code: u32,
    encoding_code: u32,
) -> Result<Built, Error> {
    let (algorithm, encoding) = hash_codes(algorithm_code, encoding_code)?;
    let kind = kind(kind_code)?;
    // SAFETY: `shared::capture`'s contract holds: our caller's contract, and
    // `js.thread` is this env's ThreadShared (`js` is this thread's side).
    let cap = unsafe { shared::capture(env, data, kind, &js.thread, CaptureMode::Task) }?;
    let keep = [cap.keep, None];
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
/// `code = poolIndex << 9 | kind << 7 | algorithm << 4 | encoding << 1 | cancellable`
/// ([`unpack`]).
///
/// # Safety
/// Called by Node-API only, as a JS function on the env's thread.
unsafe extern "C" fn raw_submit(env: node_api::EnvPtr, info: CallbackInfo) -> Value {
    // SAFETY: `RawEnv::new`'s contract holds: Node-API calls us on the env's
    // own thread, inside a call from JS.
    let env = unsafe { RawEnv::new(env) };
    let run = || -> Result<(u32, bool), Error> {
        // SAFETY: node_api's contract for both calls holds: we are the callback
        // now running for `info`; its arguments are live for the whole call.
        let [code, data] = unsafe { node_api::args::<2>(env, info) }?;
        // SAFETY: `node_api::get_uint32`'s contract holds: we are inside the
        // callback for `info` on the env's thread, and `code` is its argument.
        let code = unsafe { node_api::get_uint32(env, code) }?;
        let Packed {
            index,
            kind: kind_code,
            algorithm: alg,
            encoding: enc,
            cancellable,
        } = unpack(code);
        let js = JsSide::current().ok_or(Error::NotAttached)?;
        let handle = js.pool(index).ok_or(Error::PoolClosed)?;
        if handle.closed.get() {
            return Err(Error::PoolClosed);
        }
        // SAFETY: `hash_task`'s contract holds: inside this call on the env's
        // thread; `data` is a live argument.
        let (task, keep, watch) = unsafe { hash_task(env, &js, kind_code, data, alg, enc) }?;
        if matches!(keep, [None, None]) && watch.is_none() {
            return js.enqueue_small(&handle, task, cancellable);
        }
        handle.core.reserve(task.op())?;
        Ok((js.enqueue(&handle, task, keep, watch, cancellable), false))
    };
    let result = run().and_then(|(id, flush)| {
        // Ids are slab keys, far below 2^31: `!id` (negative) tells the
        // façade to queue a flush. Making the integer fails only for a null
        // env or out-pointer (Node's CHECK_ENV / CHECK_ARG), never ours; if
        // it did, the throw below would leave an accepted task the façade
        // has no id for (its result would be dropped by the settler).
        let id = id as i32;
        // SAFETY: node_api's contract holds: still inside the callback: the
        // value is returned to JS below.
        unsafe { node_api::int32(env, if flush { !id } else { id }) }
    });
    match result {
        Ok(v) => v,
        Err(e) => {
            let error = e.to_js(&env.env()).raw();
            // SAFETY: node_api's contract (inside this callback) holds:
            // throwing the error object just made is how a callback from JS
            // reports failure; we return no value after it.
            let thrown = unsafe { node_api::throw(env, error) };
            // Fails only if an exception is already pending, which then
            // reaches the caller instead: either way JS sees a throw.
            debug_assert!(thrown.is_ok());
            std::ptr::null_mut()
        }
    }
}

/// Creates the raw submit function (the façade keeps it per thread).
#[napi(js_name = "__rawSubmit")]
pub fn raw_submit_fn(env: &Env) -> napi::Result<Unknown<'_>> {
    // SAFETY: `node_api::function`'s contract holds: inside this napi call on
    // the env's thread; `raw_submit` is a Node-API callback that checks its own
    // arguments.
    let f = unsafe { node_api::function(RawEnv::of(env), c"submit", raw_submit) }.or_throw(env)?;
    // SAFETY: `unknown`'s contract holds: `f` was made in this call, which
    // returns it.
    Ok(unsafe { unknown(env, f) })
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
/// Caller must ensure: on `env`'s thread inside a napi call or handle
/// scope; `v` is a live value of it.
unsafe fn typed_array(
    env: RawEnv,
    v: Value,
    ty: node_api::TypedArrayType,
    min: usize,
    what: &str,
) -> Result<(*mut std::ffi::c_void, usize), Error> {
    // SAFETY: `node_api::typed_array`'s contract is this function's: on
    // `env`'s thread inside a napi call or handle scope, `v` live in it.
    match unsafe { node_api::typed_array(env, v) } {
        Ok(Some(t)) if t.ty == ty && t.len >= min && !t.data.is_null() => Ok((t.data, t.len)),
        _ => Err(Error::InvalidArgValue {
            name: what.into(),
            reason: format!("must be the façade's own typed array (of {min} elements or more)"),
        }),
    }
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
    let raw = RawEnv::of(&env);
    let check = || -> Result<[Reference; 4], Error> {
        // SAFETY: node_api's / `typed_array`'s contract holds: inside this napi
        // call on the env's thread; all four values are its live arguments.
        unsafe {
            if !node_api::is_function(raw, settler.raw())? {
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
            Ok([
                Reference::new(raw, settler.raw())?,
                Reference::new(raw, tags.raw())?,
                Reference::new(raw, stage.raw())?,
                Reference::new(raw, codes.raw())?,
            ])
        }
    };
    js.set_settler(check().or_throw(&env)?);
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
    let raw = RawEnv::of(env);
    // SAFETY: `stage_arrays`' and `typed_array`'s contract holds: inside this
    // napi call on the env's thread: the values fetched from the stage's
    // references live until it returns.
    let arrays = unsafe {
        js.stage_arrays().and_then(|(stage, codes)| {
            let s = typed_array(
                raw,
                stage,
                sys::TypedarrayType::uint8_array,
                STAGE_SLOTS * STAGE_SLOT,
                "stage",
            )?;
            let c = typed_array(
                raw,
                codes,
                sys::TypedarrayType::int32_array,
                2 * STAGE_SLOTS,
                "codes",
            )?;
            Ok((s.0.cast::<u8>(), c.0.cast::<i32>()))
        })
    };
    let (stage, codes) = arrays.or_throw(env)?;
    let mut refused = Vec::new();
    let mut current: Option<(u32, Rc<HandleState>)> = None;
    for k in 0..count {
        // Slot k's code and length: k < STAGE_SLOTS and `codes` holds
        // 2 × STAGE_SLOTS aligned i32s (checked above); it is this thread's
        // memory, and no JS runs during this call.
        // SAFETY: two in-bounds, aligned i32 reads of live memory.
        let (code, len) = unsafe { (codes.add(2 * k).read() as u32, codes.add(2 * k + 1).read()) };
        let Packed {
            index,
            algorithm: alg,
            encoding: enc,
            ..
        } = unpack(code);
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
            // SAFETY: an in-bounds slice of live, initialised bytes.
            let bytes = unsafe { std::slice::from_raw_parts(stage.add(k * STAGE_SLOT), len) };
            let (algorithm, encoding) = hash_codes(alg, enc)?;
            let task = Task::Hash {
                algorithm,
                input: shared::Input::copy(bytes),
                encoding,
            };
            js.enqueue_small(&handle, task, false)
                .map(|(id, _)| id as i32)
        })();
        let id = accepted.unwrap_or_else(|e| {
            refused.push(e);
            -1
        });
        // Slot k's code, the i32 read above: in bounds, aligned, this
        // thread's own array, and no JS runs during this call.
        // SAFETY: an in-bounds, aligned i32 write into live memory.
        unsafe { codes.add(2 * k).write(id) };
    }
    // SAFETY: node_api's and `unknown`'s contract holds: inside this napi call
    // on the env's thread; the error values are made here and set into the
    // array in the same call, which returns it.
    unsafe {
        let out = if refused.is_empty() {
            node_api::undefined(raw)
        } else {
            let errors: Vec<Value> = refused.into_iter().map(|e| e.to_js(env).raw()).collect();
            node_api::array_of(raw, errors.into_iter())
        };
        Ok(unknown(env, out.or_throw(env)?))
    }
}
