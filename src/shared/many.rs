//! A batch's inputs (`pool.hashMany`): many items captured in one Node-API
//! call, binary ones read in place with no napi reference of their own.
//!
//! # Why no reference per item
//!
//! A reference costs more than everything else a batch pays per item. The
//! façade (`lib/many.js`) puts every item into arrays of its own, which no
//! other code can reach or change, and the submitting thread references
//! those (one reference per batch, `Keep`) until the task is done: every
//! item's backing store stays reachable, so the garbage collector frees
//! none of them. The other ways memory can go away are those of the
//! zero-copy contract (`mod.rs`), handled the same way:
//! - the owner thread ending: every item is read inside its
//!   [`ThreadShared::alive`] guard, at most a piece ([`GROUP_BYTES`], or one
//!   [`PIECE`] of a large item) under one guard;
//! - a non-shared buffer detached by its caller (contract broken): every
//!   in-place read is fault-guarded (`fault.rs`), and the façade checks each
//!   item for detachment before the result reaches JS (`lib/many.js`), so
//!   no value computed from freed memory is seen; a batch has no per-loop
//!   detach watch, so such a batch stops only at its end or on a fault;
//! - resizable non-shared buffers are copied by the façade before capture
//!   (shrinking one may unmap pages), as for single tasks.
//!
//! Small items are not copied (unlike a single task's ≤ 1 KiB inputs): for
//! 10,000 × 1 KiB the copy alone measured more than the whole batch's
//! budget on the JS thread. Strings are encoded to UTF-8 into one arena.

use super::fault;
use super::view::{is_shared, view_info};
use super::{Gone, PIECE};
use crate::error::Error;
use crate::node_api::{self, RawEnv, Value};
use crate::thread::ThreadShared;
use std::ops::Range;
use std::sync::Arc;

/// Most bytes of small items read under one alive guard (teardown of the
/// owner waits at most for this much hashing).
pub const GROUP_BYTES: usize = 64 * 1024;

/// The façade's item kinds (`lib/many.js`): a hint; every Node-API call
/// checks the value again, so a wrong hint is an error, never UB.
const KIND_STRING: u8 = 0;
const KIND_TYPED_ARRAY: u8 = 1;
const KIND_ARRAY_BUFFER: u8 = 2;
const KIND_DATA_VIEW: u8 = 3;

#[derive(Clone, Copy)]
enum Span {
    /// `len` bytes at `at` in the arena.
    Arena { at: usize, len: usize },
    /// `len` bytes of JS memory at `ptr`, read in place.
    Place { ptr: *const u8, len: usize },
}

/// The inputs of one batch, in order.
pub struct Items {
    spans: Vec<Span>,
    arena: Vec<u8>,
    owner: Arc<ThreadShared>,
}

// SAFETY: the `Place` pointers are only dereferenced inside `owner.alive()`
// and under the fault guard (module doc), which makes reading them from any
// thread sound; the bytes are plain data with no thread affinity.
unsafe impl Send for Items {}
// SAFETY: `&Items` only hands out shared slices, made as `Send` says, and
// has no interior mutability.
unsafe impl Sync for Items {}

impl Items {
    pub fn new(owner: Arc<ThreadShared>, capacity: usize) -> Self {
        Self {
            spans: Vec::with_capacity(capacity),
            arena: Vec::new(),
            owner,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Item `i`'s length in bytes.
    pub fn byte_len(&self, i: usize) -> usize {
        match self.spans[i] {
            Span::Arena { len, .. } | Span::Place { len, .. } => len,
        }
    }

    /// Runs `f(i, bytes)` for each item `i` in `range` under one alive
    /// guard, until `f` returns false (then `Ok(false)`). Keep the range's
    /// bytes near [`GROUP_BYTES`]: the owner's teardown waits for it.
    ///
    /// # Safety
    /// `f` must be a plain computation over the bytes (no locks, no
    /// allocation, nothing owned with a destructor): on a non-shared buffer
    /// whose caller broke the contract, a fault abandons it mid-way.
    pub unsafe fn read_each(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<bool, Gone> {
        let _alive = self.owner.alive().ok_or(Gone::Ended)?;
        for i in range {
            let go = match self.spans[i] {
                Span::Arena { at, len } => f(i, &self.arena[at..at + len]),
                Span::Place { ptr, len } => {
                    // SAFETY: captured from a live view of the owner env,
                    // whose backing store its façade arrays keep reachable
                    // until the task is done; the env is alive while
                    // `_alive` is held. If the caller detached a non-shared
                    // buffer (contract broken) and it was freed, the guarded
                    // read stops at the fault; `f` is plain (our caller's
                    // promise), so abandoning it is sound.
                    unsafe {
                        let bytes = std::slice::from_raw_parts(ptr, len);
                        fault::read(bytes, |b| f(i, b)).map_err(|_| Gone::Detached)?
                    }
                }
            };
            if !go {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Feeds item `i` to `f` in pieces of at most [`PIECE`] bytes, each
    /// under its own alive guard, asking `keep_going` before each piece;
    /// `Ok(false)` when it says no.
    ///
    /// # Safety
    /// As [`Items::read_each`].
    pub unsafe fn for_each_piece(
        &self,
        i: usize,
        mut keep_going: impl FnMut() -> bool,
        mut f: impl FnMut(&[u8]),
    ) -> Result<bool, Gone> {
        let len = self.byte_len(i);
        let mut at = 0;
        loop {
            if !keep_going() {
                return Ok(false);
            }
            let end = len.min(at + PIECE);
            let _alive = self.owner.alive().ok_or(Gone::Ended)?;
            match self.spans[i] {
                Span::Arena { at: a, .. } => f(&self.arena[a + at..a + end]),
                Span::Place { ptr, .. } => {
                    // SAFETY: as in `read_each`; `at..end` lies inside the
                    // item's captured range.
                    unsafe {
                        let bytes = std::slice::from_raw_parts(ptr.add(at), end - at);
                        fault::read(bytes, &mut f).map_err(|_| Gone::Detached)?;
                    }
                }
            }
            at = end;
            if at >= len {
                return Ok(true);
            }
        }
    }
}

fn item_name(i: usize) -> String {
    format!("inputs[{i}]")
}

fn wrong_type(i: usize) -> Error {
    Error::invalid_arg_type(
        &item_name(i),
        "of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer",
        "another value",
    )
}

/// Captures `values` (items `first..`, of the façade's `kinds`) into
/// `items`. For each value that needs no detach check at settle time (a
/// string, an empty item) its kind is set to 0 in `kinds`.
///
/// # Safety
/// Caller must ensure: `env` is the calling thread's env inside a napi
/// call; `values` are live napi values of it; `items` was made with this
/// thread's [`ThreadShared`]; every value stays reachable from a napi
/// reference of this env, in arrays no JS can change, until the task that
/// reads `items` is done with them (module doc); resizable non-shared
/// buffers were replaced by copies.
pub unsafe fn capture_items(
    env: RawEnv,
    values: &[Value],
    kinds: &mut [u8],
    first: usize,
    items: &mut Items,
) -> Result<(), Error> {
    let guarded = fault::install();
    for (k, (&v, kind)) in values.iter().zip(kinds.iter_mut()).enumerate() {
        let i = first + k;
        let (data, len, buffer) = match *kind {
            KIND_STRING => {
                let at = items.arena.len();
                let mut small = [0u8; 128];
                // SAFETY: our contract (env current, `v` live); `small` is ours.
                let n = unsafe { node_api::utf8_into(env, v, &mut small) }
                    .map_err(|_| wrong_type(i))?;
                if n + 4 <= small.len() {
                    items.arena.extend_from_slice(&small[..n]);
                } else {
                    // SAFETY: our contract; `v` is a string (read just above).
                    let len = unsafe { node_api::utf8_len(env, v) }.map_err(|_| wrong_type(i))?;
                    items.arena.resize(at + len + 1, 0);
                    // SAFETY: our contract; the arena's tail has room for the
                    // whole string and its NUL (measured just above).
                    let n = unsafe { node_api::utf8_into(env, v, &mut items.arena[at..]) }?;
                    items.arena.truncate(at + n);
                }
                let len = items.arena.len() - at;
                items.spans.push(Span::Arena { at, len });
                *kind = 0;
                continue;
            }
            KIND_TYPED_ARRAY | KIND_DATA_VIEW => {
                // SAFETY: our contract is `view_info`'s.
                let info = unsafe { view_info(env, v) }?.ok_or_else(|| wrong_type(i))?;
                (info.data, info.byte_len, Some(info.buffer))
            }
            KIND_ARRAY_BUFFER => {
                // SAFETY: our contract; fails (no UB) unless `v` is a
                // non-shared ArrayBuffer.
                let (data, len) =
                    unsafe { node_api::array_buffer(env, v) }.map_err(|_| wrong_type(i))?;
                (data, len, None)
            }
            _ => return Err(wrong_type(i)),
        };
        if len == 0 || data.is_null() {
            let buffer = buffer.unwrap_or(v);
            // SAFETY: our contract; `buffer` is the live buffer behind `v`
            // (or `v` itself, an ArrayBuffer).
            let detached =
                unsafe { !is_shared(env, buffer)? && node_api::is_detached(env, buffer)? };
            if detached {
                return Err(Error::InvalidArgValue {
                    name: item_name(i),
                    reason: "must not be a detached ArrayBuffer (or a view over one)".into(),
                });
            }
            items.spans.push(Span::Arena { at: 0, len: 0 });
            *kind = 0;
            continue;
        }
        let ptr = data.cast::<u8>().cast_const();
        if guarded {
            items.spans.push(Span::Place { ptr, len });
        } else {
            // No fault guard on this platform: copied, as single tasks'
            // non-shared inputs are (see `view.rs`).
            // SAFETY: the range Node-API reported for `v` just now, read
            // before this napi call returns (no JS runs in between).
            let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
            let at = items.arena.len();
            items.arena.extend_from_slice(bytes);
            items.spans.push(Span::Arena { at, len });
        }
    }
    Ok(())
}

/// Bytes `i * 7 + i / 251` (mod 256): test data of any length.
#[cfg(test)]
pub fn test_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[cfg(test)]
impl Items {
    /// Items of these lengths (of [`test_bytes`]), in the arena.
    pub fn for_test(owner: Arc<ThreadShared>, lens: &[usize]) -> Self {
        let mut items = Self::new(owner, lens.len());
        for &len in lens {
            let at = items.arena.len();
            items.arena.extend_from_slice(&test_bytes(len));
            items.spans.push(Span::Arena { at, len });
        }
        items
    }
}
