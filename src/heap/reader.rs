//! A streaming JSON reader over any `Read`: a fixed 1 MiB buffer, the byte
//! offset of every failure, and only what a heap snapshot needs (objects
//! with string keys, arrays of non-negative integers, strings, and skipping
//! any other value). Nothing here holds more than one string at a time.
#![forbid(unsafe_code)]

use std::io::{self, Read};

/// Bytes read from the file per refill.
const CHUNK: usize = 1 << 20;

/// Why reading stopped: at `offset`, for `reason`.
#[derive(Debug)]
pub enum Bad {
    At { offset: u64, reason: String },
    Io(io::Error),
    Cancelled,
}

pub type Res<T> = Result<T, Bad>;

pub struct Reader<'c, R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    cancelled: &'c dyn Fn() -> bool,
}

impl<'c, R: Read> Reader<'c, R> {
    pub fn new(src: R, cancelled: &'c dyn Fn() -> bool) -> Self {
        Self {
            src,
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            cancelled,
        }
    }

    /// A reader of `src`, which is positioned at byte `offset` of the file.
    pub fn at(src: R, offset: u64, cancelled: &'c dyn Fn() -> bool) -> Self {
        let mut r = Self::new(src, cancelled);
        r.base = offset;
        r
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn bad<T>(&self, reason: impl Into<String>) -> Res<T> {
        Err(Bad::At {
            offset: self.offset(),
            reason: reason.into(),
        })
    }

    /// Refills an exhausted buffer; false at the end of the file.
    #[cold]
    fn fill(&mut self) -> Res<bool> {
        if self.eof {
            return Ok(false);
        }
        if (self.cancelled)() {
            return Err(Bad::Cancelled);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Bad::Io(e)),
            }
        }
    }

    #[inline]
    pub fn peek(&mut self) -> Res<Option<u8>> {
        if self.pos < self.len || self.fill()? {
            Ok(Some(self.buf[self.pos]))
        } else {
            Ok(None)
        }
    }

    /// The next byte, failing at the end of the file.
    #[inline]
    fn next(&mut self) -> Res<u8> {
        match self.peek()? {
            Some(b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.bad("unexpected end of file (the file is truncated)"),
        }
    }

    /// The next two bytes without consuming them (for the gzip check).
    pub fn peek2(&mut self) -> Res<Option<[u8; 2]>> {
        if self.len - self.pos < 2 && self.pos == self.len {
            self.fill()?;
        }
        if self.len - self.pos >= 2 {
            Ok(Some([self.buf[self.pos], self.buf[self.pos + 1]]))
        } else {
            Ok(None)
        }
    }

    /// Skips JSON whitespace; the next byte, if any.
    #[inline]
    pub fn ws(&mut self) -> Res<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.pos += 1,
                other => return Ok(other),
            }
        }
    }

    /// Skips whitespace, then requires `want`.
    pub fn expect(&mut self, want: u8, what: &str) -> Res<()> {
        match self.ws()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => self.bad(format!("expected {what}, found {}", show(b))),
            None => self.bad(format!(
                "unexpected end of file while expecting {what} (the file is truncated)"
            )),
        }
    }

    /// After a member or element: true if a `,` follows, false at `close`.
    pub fn more(&mut self, close: u8) -> Res<bool> {
        match self.ws()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) => self.bad(format!(
                "expected ',' or '{}', found {}",
                close as char,
                show(b)
            )),
            None => self.bad("unexpected end of file (the file is truncated)"),
        }
    }

    /// Reads a string (the opening quote next, after whitespace), decoding
    /// escapes into UTF-8 (a lone surrogate becomes U+FFFD) and keeping at
    /// most `keep` bytes of it in `out` (cleared first); the rest is read
    /// and dropped.
    pub fn string(&mut self, out: &mut Vec<u8>, keep: usize) -> Res<()> {
        out.clear();
        self.expect(b'"', "a string")?;
        loop {
            // Copy the plain run in the buffer at once.
            let start = self.pos;
            let run = self.buf[start..self.len]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let end = run.map_or(self.len, |i| start + i);
            if out.len() < keep {
                let take = (end - start).min(keep - out.len());
                out.extend_from_slice(&self.buf[start..start + take]);
            }
            self.pos = end;
            if run.is_none() {
                if !self.fill()? {
                    return self
                        .bad("unexpected end of file inside a string (the file is truncated)");
                }
                continue;
            }
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => {
                    let (first, second) = self.escape()?;
                    for ch in std::iter::once(first).chain(second) {
                        let mut tmp = [0u8; 4];
                        let s = ch.encode_utf8(&mut tmp);
                        if out.len() + s.len() <= keep {
                            out.extend_from_slice(s.as_bytes());
                        }
                    }
                }
                b => {
                    self.pos -= 1;
                    return self.bad(format!("control character {} inside a string", show(b)));
                }
            }
        }
    }

    /// After a backslash: one escape (a `\u` pair of surrogates joined). A
    /// lone surrogate becomes U+FFFD; the escape after it, if it is not a
    /// `\u`, comes back as the second character.
    fn escape(&mut self) -> Res<(char, Option<char>)> {
        let b = self.next()?;
        if b != b'u' {
            return Ok((self.simple(b)?, None));
        }
        let hi = self.hex4()?;
        if !(0xD800..0xDC00).contains(&hi) {
            return Ok((char::from_u32(hi).unwrap_or('\u{FFFD}'), None));
        }
        // A high surrogate: joined with a following low one.
        if self.peek()? != Some(b'\\') {
            return Ok(('\u{FFFD}', None));
        }
        self.pos += 1;
        let b = self.next()?;
        if b != b'u' {
            return Ok(('\u{FFFD}', Some(self.simple(b)?)));
        }
        let lo = self.hex4()?;
        if (0xDC00..0xE000).contains(&lo) {
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return Ok((char::from_u32(c).unwrap_or('\u{FFFD}'), None));
        }
        let second = char::from_u32(lo).unwrap_or('\u{FFFD}');
        Ok(('\u{FFFD}', Some(second)))
    }

    /// A one-letter escape (the letter just read).
    fn simple(&mut self, b: u8) -> Res<char> {
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b => {
                self.pos -= 1;
                return self.bad(format!("invalid escape \\{} in a string", show(b)));
            }
        })
    }

    fn hex4(&mut self) -> Res<u32> {
        let mut v = 0;
        for _ in 0..4 {
            let b = self.next()?;
            let d = (b as char).to_digit(16);
            match d {
                Some(d) => v = v * 16 + d,
                None => {
                    self.pos -= 1;
                    return self.bad(format!(
                        "invalid \\u escape: {} is not a hex digit",
                        show(b)
                    ));
                }
            }
        }
        Ok(v)
    }

    /// Reads `[` integers `]`, calling `each` with every value. Integers
    /// only: a sign, fraction or exponent is an error.
    pub fn uints(
        &mut self,
        what: &str,
        mut each: impl FnMut(u64) -> Result<(), String>,
    ) -> Res<()> {
        self.expect(b'[', &format!("'[' opening {what}"))?;
        if self.ws()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws()?;
            let at = self.offset();
            let mut v: u64 = 0;
            let mut digits = 0u32;
            loop {
                if self.pos == self.len && !self.fill()? {
                    break;
                }
                let b = self.buf[self.pos];
                if !b.is_ascii_digit() {
                    break;
                }
                if digits == 19 {
                    return self.bad(format!("a number in {what} is too large"));
                }
                v = v * 10 + u64::from(b - b'0');
                digits += 1;
                self.pos += 1;
            }
            if digits == 0 {
                return match self.peek()? {
                    Some(b) => self.bad(format!(
                        "expected a non-negative integer in {what}, found {}",
                        show(b)
                    )),
                    None => self.bad(format!(
                        "unexpected end of file inside {what} (the file is truncated)"
                    )),
                };
            }
            match self.peek()? {
                Some(b'.' | b'e' | b'E') => {
                    return self.bad(format!("expected an integer in {what}, found a fraction"))
                }
                None => {
                    return self.bad(format!(
                        "unexpected end of file inside {what} (the file is truncated)"
                    ))
                }
                _ => {}
            }
            if let Err(reason) = each(v) {
                return Err(Bad::At { offset: at, reason });
            }
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    /// Reads `[` strings `]`, calling `each(index, buffer)`; `keep(index)`
    /// says how many bytes of string `index` to keep.
    pub fn strings(
        &mut self,
        keep: impl Fn(usize) -> usize,
        mut each: impl FnMut(usize, &[u8]),
    ) -> Res<()> {
        self.expect(b'[', "'[' opening strings")?;
        if self.ws()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut s = Vec::new();
        let mut i = 0;
        loop {
            self.string(&mut s, keep(i))?;
            each(i, &s);
            i += 1;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    /// Reads one whole value into `out` as its JSON text, failing past
    /// `max` bytes (for the small `snapshot` header).
    pub fn capture(&mut self, out: &mut Vec<u8>, max: usize) -> Res<()> {
        self.ws()?;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let b = self.next()?;
            if out.len() >= max {
                return self.bad(format!("the 'snapshot' header is larger than {max} bytes"));
            }
            out.push(b);
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        self.pos -= 1;
                        out.pop();
                        return self.bad(format!("unexpected {}", show(b)));
                    }
                    depth -= 1;
                }
                _ => {}
            }
            if depth == 0 {
                // A scalar ends at the next delimiter; a container here.
                if matches!(b, b'}' | b']' | b'"') {
                    return Ok(());
                }
                match self.peek()? {
                    Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') | None => return Ok(()),
                    _ => {}
                }
            }
        }
    }

    /// Skips one value of any kind (the sections the analyser does not
    /// use). Iterative, so any nesting depth is fine (an allocation trace
    /// tree nests as deep as the stacks it recorded); it checks brackets
    /// and strings, not commas and colons.
    pub fn skip_value(&mut self) -> Res<()> {
        let mut scratch = Vec::new();
        let mut open: Vec<u8> = Vec::new();
        loop {
            match self.ws()? {
                Some(b'"') => self.string(&mut scratch, 0)?,
                Some(b @ (b'[' | b'{')) => {
                    self.pos += 1;
                    open.push(if b == b'[' { b']' } else { b'}' });
                }
                Some(b @ (b']' | b'}')) => {
                    if open.pop() != Some(b) {
                        return self.bad(format!("unexpected {}", show(b)));
                    }
                    self.pos += 1;
                }
                Some(b',' | b':') if !open.is_empty() => self.pos += 1,
                Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                    while let Some(b) = self.peek()? {
                        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                Some(b) => return self.bad(format!("expected a value, found {}", show(b))),
                None => return self.bad("unexpected end of file (the file is truncated)"),
            }
            if open.is_empty() {
                return Ok(());
            }
        }
    }
}

/// A byte as an error message shows it.
pub fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}
