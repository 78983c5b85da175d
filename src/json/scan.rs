//! The off-thread pass: validates a JSON document exactly as V8's
//! `JSON.parse` does (the same language, the same error at the same
//! position) and plans the main thread's work (see `plan.rs`).
//!
//! The scanner is iterative: nesting lives in a `Vec` of frames, never on
//! the call stack, so a document nested 5,000,000 levels deep costs memory
//! (32 bytes a level), not stack.
//!
//! # Splitting
//! A container whose text is longer than `slice` units is *open*: the main
//! thread builds it (an empty `[]`/`{}`) and fills it from ops; everything
//! else is handed to `JSON.parse` in runs of whole members of at most about
//! `slice` units. Because frames deeper in the stack start later, the open
//! frames are always a prefix of the stack (`self.open` long): when a frame
//! becomes open, so have all of its ancestors. A string value or key longer
//! than `slice` is cut into pieces (never inside an escape, never before a
//! UTF-8 continuation byte) that the main thread parses and concatenates.
//!
//! # Exactness
//! The error checks follow V8's `JsonParser` (src/json/json-parser.cc) rule
//! by rule: which character is looked at, which message applies, and where
//! the cursor is when it reports. `bench/json-fuzz.mjs` and the specs compare
//! the results with `JSON.parse` itself.
//!
//! Over 500 lines because the scanner is one state machine: [`Scanner`]'s
//! methods validate and plan character by character over the same fields
//! (the input window, the frame stack, the open prefix, the pending run),
//! so splitting them would split one loop across files.

use super::plan::{self, Sink};
use super::text::{is_continuation, Unit};
use std::sync::atomic::{AtomicBool, Ordering};

/// What went wrong, in V8's terms. `UnexpectedToken`'s message depends on
/// the character at the position (see `message.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    UnexpectedToken,
    NonWhitespaceAfter,
    ExpectedPropNameOrRBrace,
    ExpectedCommaOrRBrace,
    ExpectedCommaOrRBrack,
    ExpectedColon,
    /// A key after a comma lacks its `:`. V8 11 (Node 20) reports it as an
    /// unexpected token, V8 12+ as `ExpectedColon`; same position.
    ExpectedColonAfterLaterKey,
    ExpectedDoubleQuotedPropertyName,
    UnterminatedString,
    BadControlCharacter,
    BadEscapedCharacter,
    BadUnicodeEscape,
    NoNumberAfterMinusSign,
    UnterminatedFractionalNumber,
    ExponentPartMissingNumber,
}

/// A syntax error at `at`, in the source's own units (bytes or UTF-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: ErrorKind,
    pub at: usize,
}

/// Why a scan stopped before the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Syntax(Fault),
    Cancelled,
}

/// Where the scanner's text comes from: all of it at once ([`Whole`]), or a
/// prefix that grows while the main thread copies a string in.
pub trait Input<'a, C> {
    /// The available prefix, waiting until it is at least `min` units long;
    /// shorter only when the text ends before `min`. `Err(Stop::Cancelled)`
    /// once cancelled.
    fn wait(&mut self, min: usize) -> Result<&'a [C], Stop>;
    fn cancelled(&self) -> bool;
}

/// A complete text.
pub struct Whole<'a, C> {
    buf: &'a [C],
    cancel: &'a AtomicBool,
}

impl<'a, C> Whole<'a, C> {
    pub fn new(buf: &'a [C], cancel: &'a AtomicBool) -> Self {
        Self { buf, cancel }
    }
}

impl<'a, C: Unit> Input<'a, C> for Whole<'a, C> {
    fn wait(&mut self, _min: usize) -> Result<&'a [C], Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        Ok(self.buf)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// The largest source the scanner takes: positions travel as `u32`.
pub const MAX_UNITS: usize = u32::MAX as usize - 1;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Array,
    Object,
}

/// One container being scanned. Positions are `u32` to keep deep documents
/// small (the source is at most [`MAX_UNITS`] long).
#[derive(Clone, Copy, Debug)]
struct Frame {
    start: u32,
    /// The current member's key token (objects).
    key_start: u32,
    key_end: u32,
    /// Members/elements collected but not yet emitted: `run_start..run_end`.
    run_start: u32,
    run_end: u32,
    run_count: u32,
    kind: Kind,
    /// The current member's key was already emitted (KEY or a long key).
    key_sent: bool,
    key_non_ascii: bool,
    run_non_ascii: bool,
    /// Anything non-ASCII inside this container so far.
    non_ascii: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum What {
    Scalar,
    Str,
    /// A container not split (parsed whole by `JSON.parse`).
    Small,
    /// A container the main thread built from ops (already delivered).
    Open,
}

#[derive(Clone, Copy, Debug)]
struct Val {
    what: What,
    start: usize,
    end: usize,
    non_ascii: bool,
}

const QUOTE: u32 = b'"' as u32;
const BACKSLASH: u32 = b'\\' as u32;

#[inline(always)]
fn is_digit(c: u32) -> bool {
    c.wrapping_sub(b'0' as u32) < 10
}

#[inline(always)]
fn is_hex(c: u32) -> bool {
    is_digit(c) || (c | 0x20).wrapping_sub(b'a' as u32) < 6
}

#[inline(always)]
fn fail<T>(kind: ErrorKind, at: usize) -> Result<T, Stop> {
    Err(Stop::Syntax(Fault { kind, at }))
}

/// Validates and plans one document. Create with [`Scanner::new`], run with
/// [`Scanner::run`].
pub struct Scanner<'a, C: Unit, I: Input<'a, C>, K: Sink> {
    input: I,
    /// What is available so far; all of the text once `at` saw the end.
    buf: &'a [C],
    pos: usize,
    stack: Vec<Frame>,
    open: usize,
    slice: usize,
    /// Strings up to this long go to `JSON.parse` whole (V8 parses a long
    /// string much faster than anything else here builds one); longer ones
    /// are cut into pieces this long.
    string_slice: usize,
    sink: K,
}

impl<'a, C: Unit, I: Input<'a, C>, K: Sink> Scanner<'a, C, I, K> {
    /// `slice`: the longest span (in units) handed to `JSON.parse` in one
    /// piece, give or take one member; at least 1. The caller keeps the
    /// text at most [`MAX_UNITS`] long.
    pub fn new(input: I, sink: K, slice: usize) -> Self {
        Self {
            input,
            buf: &[],
            pos: 0,
            stack: Vec::new(),
            open: 0,
            slice: slice.max(1),
            string_slice: slice.max(1).saturating_mul(4),
            sink,
        }
    }

    /// Scans to the end. Returns the sink (with every op of a valid
    /// document) and how it ended.
    pub fn run(mut self) -> (K, Result<(), Stop>) {
        let result = match self.input.wait(0) {
            Ok(buf) => {
                self.buf = buf;
                self.document()
            }
            Err(stop) => Err(stop),
        };
        self.sink.progress();
        (self.sink, result)
    }

    #[inline(always)]
    fn at(&mut self, i: usize) -> Result<Option<u32>, Stop> {
        if i < self.buf.len() {
            Ok(Some(self.buf[i].code()))
        } else {
            self.at_slow(i)
        }
    }

    #[cold]
    #[inline(never)]
    fn at_slow(&mut self, i: usize) -> Result<Option<u32>, Stop> {
        self.sink.progress();
        self.buf = self.input.wait(i + 1)?;
        debug_assert!(self.buf.len() <= MAX_UNITS);
        Ok(self.buf.get(i).map(|c| c.code()))
    }

    /// The end of the text; only meaningful once `at` returned `None`.
    #[inline(always)]
    fn end(&self) -> usize {
        self.buf.len()
    }

    #[inline(always)]
    fn skip_ws(&mut self) -> Result<(), Stop> {
        // Whole units: U+0120 is not a space, however it ends.
        while let Some(0x20 | 0x09 | 0x0A | 0x0D) = self.at(self.pos)? {
            self.pos += 1;
        }
        Ok(())
    }

    /// The main loop, shaped like V8's `ParseJsonValue`: produce a value
    /// (or open a container and go on to its first member), then consume it
    /// into its container, closing containers as they end.
    fn document(&mut self) -> Result<(), Stop> {
        let mut ticks = 0u32;
        'produce: loop {
            ticks = ticks.wrapping_add(1);
            if ticks & 0xFFF == 0 {
                if self.input.cancelled() {
                    return Err(Stop::Cancelled);
                }
                self.sink.progress();
            }
            self.skip_ws()?;
            let start = self.pos;
            let mut val = match self.at(start)? {
                Some(QUOTE) => {
                    self.pos += 1;
                    let non_ascii = self.string()?;
                    Val {
                        what: What::Str,
                        start,
                        end: self.pos,
                        non_ascii,
                    }
                }
                Some(c) if is_digit(c) || c == b'-' as u32 => {
                    self.number()?;
                    self.scalar(start)
                }
                Some(0x7B) => {
                    self.pos += 1;
                    self.skip_ws()?;
                    if self.at(self.pos)? == Some(b'}' as u32) {
                        self.pos += 1;
                        Val {
                            what: What::Small,
                            start,
                            end: self.pos,
                            non_ascii: false,
                        }
                    } else {
                        self.push(Kind::Object, start);
                        if self.at(self.pos)? != Some(QUOTE) {
                            return fail(ErrorKind::ExpectedPropNameOrRBrace, self.pos);
                        }
                        self.key(ErrorKind::ExpectedColon)?;
                        continue 'produce;
                    }
                }
                Some(0x5B) => {
                    self.pos += 1;
                    self.skip_ws()?;
                    if self.at(self.pos)? == Some(b']' as u32) {
                        self.pos += 1;
                        Val {
                            what: What::Small,
                            start,
                            end: self.pos,
                            non_ascii: false,
                        }
                    } else {
                        self.push(Kind::Array, start);
                        continue 'produce;
                    }
                }
                Some(0x74) => {
                    self.literal(b"true")?;
                    self.scalar(start)
                }
                Some(0x66) => {
                    self.literal(b"false")?;
                    self.scalar(start)
                }
                Some(0x6E) => {
                    self.literal(b"null")?;
                    self.scalar(start)
                }
                _ => return fail(ErrorKind::UnexpectedToken, start),
            };
            loop {
                self.deliver(val);
                let Some(top) = self.stack.last() else {
                    self.skip_ws()?;
                    if self.at(self.pos)?.is_some() {
                        return fail(ErrorKind::NonWhitespaceAfter, self.pos);
                    }
                    return Ok(());
                };
                let kind = top.kind;
                self.skip_ws()?;
                match self.at(self.pos)? {
                    Some(0x2C) => {
                        self.pos += 1;
                        if kind == Kind::Object {
                            self.skip_ws()?;
                            if self.at(self.pos)? != Some(QUOTE) {
                                return fail(ErrorKind::ExpectedDoubleQuotedPropertyName, self.pos);
                            }
                            self.key(ErrorKind::ExpectedColonAfterLaterKey)?;
                        }
                        continue 'produce;
                    }
                    Some(0x7D) if kind == Kind::Object => {
                        self.pos += 1;
                        val = self.close();
                    }
                    Some(0x5D) if kind == Kind::Array => {
                        self.pos += 1;
                        val = self.close();
                    }
                    _ => {
                        let kind = if kind == Kind::Object {
                            ErrorKind::ExpectedCommaOrRBrace
                        } else {
                            ErrorKind::ExpectedCommaOrRBrack
                        };
                        return fail(kind, self.pos);
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn scalar(&self, start: usize) -> Val {
        Val {
            what: What::Scalar,
            start,
            end: self.pos,
            non_ascii: false,
        }
    }

    fn push(&mut self, kind: Kind, start: usize) {
        self.stack.push(Frame {
            start: start as u32,
            key_start: 0,
            key_end: 0,
            run_start: 0,
            run_end: 0,
            run_count: 0,
            kind,
            key_sent: false,
            key_non_ascii: false,
            run_non_ascii: false,
            non_ascii: false,
        });
    }

    /// A key token at `self.pos` (a `"`), then the `:` after it; `no_colon`
    /// is the error when the `:` is missing.
    fn key(&mut self, no_colon: ErrorKind) -> Result<(), Stop> {
        let start = self.pos;
        self.pos += 1;
        let non_ascii = self.string()?;
        let end = self.pos;
        let i = self.stack.len() - 1;
        let f = &mut self.stack[i];
        f.key_start = start as u32;
        f.key_end = end as u32;
        f.key_sent = false;
        f.key_non_ascii = non_ascii;
        if end - start > self.slice {
            // The object is longer than a slice too, so it is open now: the
            // key goes alone.
            self.open_check();
            self.flush(i);
            if end - start > self.string_slice {
                self.long_string(start, end, true);
            } else {
                self.emit(plan::KEY, start, end, 0, non_ascii);
            }
            self.stack[i].key_sent = true;
        }
        self.skip_ws()?;
        if self.at(self.pos)? != Some(b':' as u32) {
            return fail(no_colon, self.pos);
        }
        self.pos += 1;
        Ok(())
    }

    /// Opens every frame whose text is now longer than a slice (a prefix of
    /// the stack grows), emitting what comes before each in its parent.
    fn open_check(&mut self) {
        while self.open < self.stack.len()
            && self.pos - self.stack[self.open].start as usize > self.slice
        {
            let i = self.open;
            if i > 0 {
                self.flush(i - 1);
                let p = &mut self.stack[i - 1];
                if p.kind == Kind::Object && !p.key_sent {
                    p.key_sent = true;
                    let (a, b, na) = (p.key_start, p.key_end, p.key_non_ascii);
                    self.emit(plan::KEY, a as usize, b as usize, 0, na);
                }
            }
            let code = match self.stack[i].kind {
                Kind::Array => plan::ARRAY_OPEN,
                Kind::Object => plan::OBJECT_OPEN,
            };
            self.emit(code, self.stack[i].start as usize, 0, 0, false);
            self.open += 1;
        }
    }

    #[inline(always)]
    fn emit(&mut self, code: u32, a: usize, b: usize, n: usize, non_ascii: bool) {
        let flag = if C::UTF8 && non_ascii {
            plan::NON_ASCII
        } else {
            0
        };
        self.sink.op(code | flag, a, b, n);
    }

    /// Emits frame `i`'s collected run, if any.
    fn flush(&mut self, i: usize) {
        let f = self.stack[i];
        if f.run_count > 0 {
            let code = match f.kind {
                Kind::Array => plan::ITEMS,
                Kind::Object => plan::MEMBERS,
            };
            self.emit(
                code,
                f.run_start as usize,
                f.run_end as usize,
                f.run_count as usize,
                f.run_non_ascii,
            );
            self.stack[i].run_count = 0;
        }
    }

    /// A finished value goes to its container (or is the document).
    fn deliver(&mut self, v: Val) {
        self.open_check();
        let span = v.end - v.start;
        let long = v.what == What::Str && span > self.string_slice;
        // Large members go alone: JSON.parse reads a slice of the source in
        // place, whereas a run is copied into a new string first.
        let alone = matches!(v.what, What::Str | What::Small) && span > self.slice / 4;
        let Some(i) = self.stack.len().checked_sub(1) else {
            match v.what {
                What::Open => {}
                _ if long => self.long_string(v.start, v.end, false),
                _ => self.emit(plan::VALUE, v.start, v.end, 1, v.non_ascii),
            }
            return;
        };
        let f = self.stack[i];
        let (member_start, non_ascii) = match f.kind {
            Kind::Object => (f.key_start as usize, v.non_ascii || f.key_non_ascii),
            Kind::Array => (v.start, v.non_ascii),
        };
        if i < self.open {
            match v.what {
                // Delivered by its CLOSE; the run before it was flushed when
                // it opened.
                What::Open => {}
                _ if long || alone => {
                    self.flush(i);
                    if f.kind == Kind::Object && !f.key_sent {
                        self.emit(
                            plan::KEY,
                            f.key_start as usize,
                            f.key_end as usize,
                            0,
                            f.key_non_ascii,
                        );
                    }
                    if long {
                        self.long_string(v.start, v.end, false);
                    } else {
                        self.emit(plan::VALUE, v.start, v.end, 1, v.non_ascii);
                    }
                }
                _ if f.kind == Kind::Object && f.key_sent => {
                    // After a long key: the value alone.
                    self.emit(plan::VALUE, v.start, v.end, 1, v.non_ascii);
                }
                _ => {
                    if f.run_count > 0 && v.end - f.run_start as usize > self.slice {
                        self.flush(i);
                    }
                    self.add_to_run(i, member_start, v.end, non_ascii);
                }
            }
        } else {
            // Not open: the value is small (anything longer than a slice
            // would have opened this frame above).
            debug_assert!(v.what != What::Open && span <= self.slice);
            self.add_to_run(i, member_start, v.end, non_ascii);
        }
        let f = &mut self.stack[i];
        f.key_sent = false;
        f.non_ascii |= non_ascii;
    }

    #[inline(always)]
    fn add_to_run(&mut self, i: usize, start: usize, end: usize, non_ascii: bool) {
        let f = &mut self.stack[i];
        if f.run_count == 0 {
            f.run_start = start as u32;
            f.run_non_ascii = false;
        }
        f.run_end = end as u32;
        f.run_count += 1;
        f.run_non_ascii |= non_ascii;
    }

    /// The container on top of the stack ended (`self.pos` is just past its
    /// bracket).
    fn close(&mut self) -> Val {
        self.open_check();
        let i = self.stack.len() - 1;
        if i < self.open {
            self.flush(i);
            self.emit(
                plan::CLOSE,
                self.stack[i].start as usize,
                self.pos,
                0,
                false,
            );
            self.open -= 1;
            let f = self.stack.pop().unwrap_or_else(|| unreachable!());
            Val {
                what: What::Open,
                start: f.start as usize,
                end: self.pos,
                non_ascii: f.non_ascii,
            }
        } else {
            let f = self.stack.pop().unwrap_or_else(|| unreachable!());
            Val {
                what: What::Small,
                start: f.start as usize,
                end: self.pos,
                non_ascii: f.non_ascii,
            }
        }
    }

    /// A string token `start..end` (quotes included) longer than a slice:
    /// emitted as pieces. The whole token is in `self.buf`.
    fn long_string(&mut self, start: usize, end: usize, key: bool) {
        self.emit(plan::STRING_OPEN, start, end, 0, false);
        let stop = end - 1;
        let mut p = start + 1;
        while p < stop {
            let (q, non_ascii) = self.cut(p, stop);
            self.emit(plan::STRING_PIECE, p, q, 0, non_ascii);
            p = q;
        }
        let code = if key {
            plan::STRING_CLOSE_KEY
        } else {
            plan::STRING_CLOSE
        };
        self.emit(code, start, end, 0, false);
    }

    /// Where the piece of string content starting at `p` ends: about a
    /// string slice later, never inside an escape, never before a UTF-8
    /// continuation byte (the decoder's replacement of invalid sequences is
    /// then the same piece by piece as for the whole text).
    fn cut(&self, p: usize, stop: usize) -> (usize, bool) {
        let target = p.saturating_add(self.string_slice).min(stop);
        let buf = self.buf;
        let mut i = p;
        let mut non_ascii = false;
        while i < target {
            let c = buf[i].code();
            if c == BACKSLASH {
                i += if buf[i + 1].code() == b'u' as u32 {
                    6
                } else {
                    2
                };
            } else {
                non_ascii |= c >= 0x80;
                i += 1;
            }
        }
        if C::UTF8 {
            while i < stop && is_continuation(buf[i].code() as u8) {
                non_ascii = true;
                i += 1;
            }
        }
        (i.min(stop), non_ascii)
    }

    /// String content after the opening quote, through the closing quote.
    /// Returns whether it holds non-ASCII units.
    fn string(&mut self) -> Result<bool, Stop> {
        let mut non_ascii = false;
        loop {
            let rest = &self.buf[self.pos.min(self.buf.len())..];
            let (n, high) = C::find_string_special(rest);
            non_ascii |= high;
            self.pos += n;
            let Some(c) = self.at(self.pos)? else {
                return fail(ErrorKind::UnterminatedString, self.end());
            };
            match c {
                QUOTE => {
                    self.pos += 1;
                    return Ok(non_ascii);
                }
                BACKSLASH => self.escape()?,
                c if c < 0x20 => return fail(ErrorKind::BadControlCharacter, self.pos),
                // More text arrived; go on searching from here.
                _ => {}
            }
        }
    }

    /// An escape at `self.pos` (the backslash).
    fn escape(&mut self) -> Result<(), Stop> {
        self.pos += 1;
        let Some(c) = self.at(self.pos)? else {
            return fail(ErrorKind::UnexpectedToken, self.end());
        };
        match c {
            0x22 | 0x5C | 0x2F | 0x62 | 0x66 | 0x6E | 0x72 | 0x74 => {
                self.pos += 1;
                Ok(())
            }
            0x75 => {
                self.pos += 1;
                for _ in 0..4 {
                    match self.at(self.pos)? {
                        Some(h) if is_hex(h) => self.pos += 1,
                        _ => return fail(ErrorKind::BadUnicodeEscape, self.pos),
                    }
                }
                Ok(())
            }
            c if c < 0x80 => fail(ErrorKind::BadEscapedCharacter, self.pos),
            c => {
                // V8 looks at the UTF-16 unit after the backslash: up to
                // U+00FF it is a bad escape, above it an unexpected token.
                let latin1 = if C::UTF8 {
                    (c == 0xC2 || c == 0xC3)
                        && self
                            .at(self.pos + 1)?
                            .is_some_and(|n| is_continuation(n as u8))
                } else {
                    c <= 0xFF
                };
                let kind = if latin1 {
                    ErrorKind::BadEscapedCharacter
                } else {
                    ErrorKind::UnexpectedToken
                };
                fail(kind, self.pos)
            }
        }
    }

    /// A number at `self.pos` (`-` or a digit), by V8's rules.
    fn number(&mut self) -> Result<(), Stop> {
        let mut c = self.at(self.pos)?;
        if c == Some(b'-' as u32) {
            self.pos += 1;
            c = self.at(self.pos)?;
        }
        if c == Some(b'0' as u32) {
            self.pos += 1;
            if self.at(self.pos)?.is_some_and(is_digit) {
                return fail(ErrorKind::UnexpectedToken, self.pos);
            }
        } else {
            if !c.is_some_and(is_digit) {
                return fail(ErrorKind::NoNumberAfterMinusSign, self.pos);
            }
            self.digits()?;
        }
        if self.at(self.pos)? == Some(b'.' as u32) {
            self.pos += 1;
            if !self.at(self.pos)?.is_some_and(is_digit) {
                return fail(ErrorKind::UnterminatedFractionalNumber, self.pos);
            }
            self.digits()?;
        }
        if let Some(0x65 | 0x45) = self.at(self.pos)? {
            self.pos += 1;
            if let Some(0x2B | 0x2D) = self.at(self.pos)? {
                self.pos += 1;
            }
            if !self.at(self.pos)?.is_some_and(is_digit) {
                return fail(ErrorKind::ExponentPartMissingNumber, self.pos);
            }
            self.digits()?;
        }
        Ok(())
    }

    #[inline(always)]
    fn digits(&mut self) -> Result<(), Stop> {
        while self.at(self.pos)?.is_some_and(is_digit) {
            self.pos += 1;
        }
        Ok(())
    }

    /// `true`, `false` or `null` at `self.pos` (first letter already seen).
    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        for (k, &ch) in word.iter().enumerate().skip(1) {
            match self.at(self.pos + k)? {
                Some(c) if c == ch as u32 => {}
                Some(_) => return fail(ErrorKind::UnexpectedToken, self.pos + k),
                None => return fail(ErrorKind::UnexpectedToken, self.end()),
            }
        }
        self.pos += word.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
