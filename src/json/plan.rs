//! The plan: what the main thread does to build the value, as a flat list
//! of ops (four `u32`s each: `[code | flags, a, b, n]`), in document order.
//!
//! `a..b` are positions in the source's own units (UTF-16 units for a
//! string, bytes for binary input). The main thread (lib/json.js) runs a
//! small stack machine over these ops; every span it hands to `JSON.parse`
//! has already been validated here, so `JSON.parse` cannot fail on it and
//! its result is exactly what `JSON.parse` would build for that part of the
//! whole document.
//!
//! | op | fields | main thread |
//! | --- | --- | --- |
//! | `VALUE` | `a..b` a whole value | deliver `JSON.parse(src[a..b])` |
//! | `ARRAY_OPEN` / `OBJECT_OPEN` | | push a new container |
//! | `CLOSE` | | pop it and deliver it |
//! | `KEY` | `a..b` a key token, quotes included | the next delivered value's key |
//! | `ITEMS` | `a..b`, `n` elements | push each of `JSON.parse('[' + src[a..b] + ']')` |
//! | `MEMBERS` | `a..b`, `n` members | define each of `JSON.parse('{' + src[a..b] + '}')` |
//! | `STRING_OPEN` | | start a long string |
//! | `STRING_PIECE` | `a..b` inside the quotes | append `JSON.parse('"' + src[a..b] + '"')` |
//! | `STRING_CLOSE` | | deliver the string |
//! | `STRING_CLOSE_KEY` | | the string is the next delivered value's key |
//!
//! Flag `NON_ASCII` (UTF-8 input only): the span holds bytes above 0x7F, so
//! it must be decoded as UTF-8 (otherwise Latin-1 decoding is exact and
//! faster). In a streamed plan such spans arrive decoded instead: flag
//! `DECODED`, and `a..b` index the UTF-16 text sent with the ops' batch.

pub const VALUE: u32 = 1;
pub const ARRAY_OPEN: u32 = 2;
pub const OBJECT_OPEN: u32 = 3;
pub const CLOSE: u32 = 4;
pub const KEY: u32 = 5;
pub const ITEMS: u32 = 6;
pub const MEMBERS: u32 = 7;
pub const STRING_OPEN: u32 = 8;
pub const STRING_PIECE: u32 = 9;
pub const STRING_CLOSE: u32 = 10;
pub const STRING_CLOSE_KEY: u32 = 11;

/// Flag bit on the code: the span holds non-ASCII UTF-8.
pub const NON_ASCII: u32 = 0x100;

/// Flag bit on the code (binary input, streamed plans): the span was
/// decoded off the main thread; `a..b` index the text published with the
/// op's batch instead of the input.
pub const DECODED: u32 = 0x200;

/// Units in one op.
pub const OP_LEN: usize = 4;

/// Where the scanner puts ops.
pub trait Sink {
    fn op(&mut self, code: u32, a: usize, b: usize, n: usize);

    /// Called every so often (roughly every slice of input scanned) so a
    /// streaming sink can hand what it has to the main thread.
    fn progress(&mut self) {}
}

/// Collects every op (the whole plan at once).
#[derive(Default, Debug)]
pub struct VecSink {
    pub ops: Vec<u32>,
}

impl Sink for VecSink {
    #[inline]
    fn op(&mut self, code: u32, a: usize, b: usize, n: usize) {
        // Positions fit: the scanner refuses sources of u32::MAX units or more.
        self.ops
            .extend_from_slice(&[code, a as u32, b as u32, n.min(u32::MAX as usize) as u32]);
    }
}

/// Drops every op: validation only.
#[derive(Default, Debug)]
pub struct NullSink;

impl Sink for NullSink {
    #[inline(always)]
    fn op(&mut self, _: u32, _: usize, _: usize, _: usize) {}
}
