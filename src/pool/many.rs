//! `pool.hashMany`'s way in: the façade hands a batch's items over as call
//! arguments of a raw callback (`__manyAdd(kinds, first, ...items)`, a few
//! thousand at a time: no `napi_get_element` per item), which captures
//! them into this thread's batch under construction; `submitMany` then
//! makes that batch one task. No JS runs between the calls of one batch
//! (the façade makes them back to back), and a batch left unfinished by a
//! throw is dropped by the next `__manyAdd(…, 0, …)`. See
//! `src/shared/many.rs` for why the items need no reference each.

use super::api::{accept, algorithm, unknown, NativePool};
use super::js::JsSide;
use super::tasks::hash::{Algorithm, Encoding};
use super::tasks::many::{Dest, HashMany};
use super::tasks::Task;
use crate::error::{Error, OrThrow};
use crate::node_api::{self, CallbackInfo, RawEnv, Reference, Value};
use crate::shared::{self, Items};
use napi::bindgen_prelude::Unknown;
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use std::cell::RefCell;

/// Most items in one batch (the façade checks it first).
pub const MAX_ITEMS: usize = 1 << 24;

thread_local! {
    /// This thread's batch under construction (see the module doc).
    static BUILDING: RefCell<Option<Items>> = const { RefCell::new(None) };
    /// The argument buffer of `__manyAdd` (reused).
    static ARGV: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

/// `__manyAdd(kinds, first, ...items)`: captures items `first..` of the
/// batch (`kinds`, the façade's Uint8Array, holds every item's kind).
///
/// # Safety
/// Called by Node-API only, as a JS function on the env's thread.
unsafe extern "C" fn many_add(env: node_api::EnvPtr, info: CallbackInfo) -> Value {
    // SAFETY: `RawEnv::new`'s contract holds: Node-API calls us on the env's
    // own thread, inside a call from JS.
    let env = unsafe { RawEnv::new(env) };
    let run = || -> Result<(), Error> {
        let js = JsSide::current().ok_or(Error::NotAttached)?;
        ARGV.with(|argv| {
            let mut argv = argv.borrow_mut();
            // SAFETY: node_api's contract: we are the callback now running
            // for `info`; its arguments are live for the whole call.
            unsafe { node_api::all_args(env, info, &mut argv) }?;
            let bad = || Error::InvalidArgValue {
                name: "kinds".into(),
                reason: "must be the façade's own kinds array".into(),
            };
            let [kinds, first, items @ ..] = argv.as_slice() else {
                return Err(bad());
            };
            // SAFETY: node_api's contract: inside this callback, `first` and
            // `kinds` are its live arguments.
            let first = unsafe { node_api::get_uint32(env, *first) }? as usize;
            // SAFETY: node_api's contract: inside this callback; `kinds` is
            // its live argument (a wrong type is answered, not UB).
            let kinds = match unsafe { node_api::typed_array(env, *kinds) }? {
                Some(t) if t.ty == sys::TypedarrayType::uint8_array && !t.data.is_null() => t,
                _ => return Err(bad()),
            };
            let total = kinds.len;
            if first
                .checked_add(items.len())
                .is_none_or(|end| end > kinds.len.min(MAX_ITEMS))
            {
                return Err(bad());
            }
            // The façade's own array, of `kinds.len` bytes (checked just
            // above to cover `first..first + items.len()`); no JS runs
            // during this call, and nothing else holds a Rust borrow of it.
            // SAFETY: an in-bounds slice of live, initialised bytes.
            let kinds = unsafe {
                std::slice::from_raw_parts_mut(kinds.data.cast::<u8>().add(first), items.len())
            };
            BUILDING.with(|b| {
                let mut b = b.borrow_mut();
                if first == 0 {
                    *b = Some(Items::new(std::sync::Arc::clone(&js.thread), total));
                }
                let Some(building) = b.as_mut().filter(|i| i.len() == first) else {
                    *b = None;
                    return Err(bad());
                };
                // SAFETY: `capture_items`'s contract holds: inside this call
                // on the env's thread; `items` are its live arguments; the
                // batch was made with this thread's ThreadShared; the façade
                // keeps every item in arrays of its own that `submitMany`
                // references until the task is done (or, on a throw, the
                // batch is dropped unread); it replaced resizable non-shared
                // buffers by copies.
                let captured = unsafe { shared::capture_items(env, items, kinds, first, building) };
                if captured.is_err() {
                    *b = None;
                }
                captured
            })
        })
    };
    match run() {
        // SAFETY: node_api's contract: inside the callback; returned to JS.
        Ok(()) => unsafe { node_api::undefined(env) }.unwrap_or(std::ptr::null_mut()),
        Err(e) => {
            let error = e.to_js(&env.env()).raw();
            // SAFETY: node_api's contract (inside this callback): throwing the
            // error object just made; we return no value after it.
            let thrown = unsafe { node_api::throw(env, error) };
            debug_assert!(thrown.is_ok());
            std::ptr::null_mut()
        }
    }
}

/// Creates the raw `__manyAdd` function (the façade keeps it per thread).
#[napi(js_name = "__manyAdd")]
pub fn many_add_fn(env: &Env) -> napi::Result<Unknown<'_>> {
    // SAFETY: `node_api::function`'s contract holds: inside this napi call on
    // the env's thread; `many_add` is a Node-API callback that checks its own
    // arguments.
    let f = unsafe { node_api::function(RawEnv::of(env), c"manyAdd", many_add) }.or_throw(env)?;
    // SAFETY: `unknown`'s contract holds: `f` was made in this call, which
    // returns it.
    Ok(unsafe { unknown(env, f) })
}

/// Where `dest_code` says the digests go: 0–2 an encoding's code (one
/// string each), 3 one Buffer, 4 `out`.
const DEST_OUT: u32 = 4;

#[napi]
impl NativePool {
    /// Makes this thread's batch of `count` captured items one task →
    /// task id. `owner` is the façade's array of the arrays that hold the
    /// items (referenced until the task is done).
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn submit_many<'e>(
        &self,
        env: &'e Env,
        owner: Unknown<'e>,
        count: u32,
        algorithm_code: u32,
        dest_code: u32,
        out: Unknown<'e>,
        cancellable: bool,
    ) -> napi::Result<u32> {
        let js = JsSide::get(env).or_throw(env)?;
        let items = BUILDING.with(|b| b.borrow_mut().take());
        accept(
            &js,
            self.handle(),
            |js| {
                let items = items
                    .filter(|i| i.len() == count as usize && count > 0)
                    .ok_or_else(|| Error::InvalidArgValue {
                        name: "count".into(),
                        reason: "must be the number of items just added".into(),
                    })?;
                let algorithm: Algorithm = algorithm(algorithm_code)?;
                let raw = RawEnv::of(env);
                // SAFETY: node_api's contract: inside this napi call on the
                // env's thread; `owner` is its live argument.
                let owner = unsafe { Reference::new(raw, owner.raw()) }?;
                let (dest, out_ref) = match dest_code {
                    DEST_OUT => {
                        // SAFETY: `shared::capture_out`'s contract holds:
                        // inside this napi call on the env's thread; `out` is
                        // its live argument, `js.thread` this env's.
                        let (region, keep) =
                            unsafe { shared::capture_out(raw, out.raw(), &js.thread) }?;
                        let need = items.len() * algorithm.digest_len();
                        if region.len() < need {
                            return Err(Error::out_of_range(
                                "options.out.byteLength",
                                &format!(">= {need} (inputs.length x digest length)"),
                                region.len(),
                            ));
                        }
                        (Dest::Out(region), Some(keep))
                    }
                    3 => (Dest::Bytes, None),
                    c => match Encoding::from_code(c) {
                        Some(e) => (Dest::Text(e), None),
                        None => {
                            return Err(Error::InvalidArgValue {
                                name: "options.encoding".into(),
                                reason: "must be 'hex', 'base64' or 'base64url'".into(),
                            })
                        }
                    },
                };
                let task = Task::HashMany(Box::new(HashMany {
                    algorithm,
                    items,
                    dest,
                }));
                Ok((task, [Some(owner), out_ref], None))
            },
            cancellable,
        )
        .or_throw(env)
    }
}
