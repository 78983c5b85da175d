//! The two kinds of text the scanner reads, and what it needs to know about
//! them: UTF-8 bytes (a Buffer or any other binary view, decoded the way
//! `buffer.toString('utf8')` decodes it) and UTF-16 code units (a copy of a
//! JS string, lone surrogates included).
//!
//! Everything the scanner compares against is ASCII, so both kinds share one
//! scanner; positions are counted in the kind's own units (bytes or UTF-16
//! units). [`utf16_len`] and friends turn byte positions into the UTF-16
//! positions `JSON.parse` reports, replacement characters included.

/// One code unit of the source text: `u8` (UTF-8) or `u16` (UTF-16).
pub trait Unit: Copy + Eq + Send + Sync + 'static {
    /// `true` for UTF-8 bytes, `false` for UTF-16 units.
    const UTF8: bool;

    fn code(self) -> u32;

    /// Index of the first unit in `s` that may end a string's plain run:
    /// `"`, `\` or a control character (< 0x20); `s.len()` if none. Also
    /// says whether any unit before that index is outside ASCII.
    fn find_string_special(s: &[Self]) -> (usize, bool);
}

const ONES8: u64 = 0x0101_0101_0101_0101;
const HIGH8: u64 = 0x8080_8080_8080_8080;
const ONES16: u64 = 0x0001_0001_0001_0001;
const HIGH16: u64 = 0x8000_8000_8000_8000;

/// Bytes of `w` equal to `b`, as the high bit of each byte; exact for the
/// lowest such byte (higher ones may be false positives, never misses).
#[inline(always)]
fn eq8(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES8 * b as u64);
    x.wrapping_sub(ONES8) & !x & HIGH8
}

#[inline(always)]
fn lt8(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES8 * n as u64) & !w & HIGH8
}

#[inline(always)]
fn eq16(w: u64, u: u16) -> u64 {
    let x = w ^ (ONES16 * u as u64);
    x.wrapping_sub(ONES16) & !x & HIGH16
}

#[inline(always)]
fn lt16(w: u64, n: u16) -> u64 {
    w.wrapping_sub(ONES16 * n as u64) & !w & HIGH16
}

#[inline(always)]
fn is_special(c: u32) -> bool {
    c == b'"' as u32 || c == b'\\' as u32 || c < 0x20
}

impl Unit for u8 {
    const UTF8: bool = true;

    #[inline(always)]
    fn code(self) -> u32 {
        self as u32
    }

    #[inline]
    fn find_string_special(s: &[u8]) -> (usize, bool) {
        let mut high = 0u64;
        let mut i = 0;
        let mut words = s.chunks_exact(8);
        for chunk in &mut words {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let m = eq8(w, b'"') | eq8(w, b'\\') | lt8(w, 0x20);
            if m != 0 {
                let at = (m.trailing_zeros() / 8) as usize;
                // Bytes before the match only; `at < 8`.
                let before = if at == 0 {
                    0
                } else {
                    w & (u64::MAX >> (64 - 8 * at))
                };
                return (i + at, (high | before) & HIGH8 != 0);
            }
            high |= w;
            i += 8;
        }
        let mut seen_high = high & HIGH8 != 0;
        for &b in words.remainder() {
            if is_special(b as u32) {
                return (i, seen_high);
            }
            seen_high |= b >= 0x80;
            i += 1;
        }
        (i, seen_high)
    }
}

impl Unit for u16 {
    const UTF8: bool = false;

    #[inline(always)]
    fn code(self) -> u32 {
        self as u32
    }

    #[inline]
    fn find_string_special(s: &[u16]) -> (usize, bool) {
        let mut i = 0;
        let mut words = s.chunks_exact(4);
        for c in &mut words {
            let w = c[0] as u64 | (c[1] as u64) << 16 | (c[2] as u64) << 32 | (c[3] as u64) << 48;
            let m = eq16(w, b'"' as u16) | eq16(w, b'\\' as u16) | lt16(w, 0x20);
            if m != 0 {
                return (i + (m.trailing_zeros() / 16) as usize, true);
            }
            i += 4;
        }
        for &u in words.remainder() {
            if is_special(u as u32) {
                return (i, true);
            }
            i += 1;
        }
        // The ASCII flag only matters for UTF-8 input.
        (i, true)
    }
}

/// Whether a byte continues a UTF-8 sequence (10xxxxxx).
#[inline(always)]
pub fn is_continuation(b: u8) -> bool {
    (b as i8) < -64
}

/// UTF-16 length of `bytes` decoded as `buffer.toString('utf8')` decodes
/// them: each maximal invalid subsequence becomes one U+FFFD (the WHATWG
/// decoder's rule, which Rust's `utf8_chunks` follows too).
pub fn utf16_len(bytes: &[u8]) -> usize {
    let mut n = 0;
    for chunk in bytes.utf8_chunks() {
        n += utf16_len_of_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            n += 1;
        }
    }
    n
}

/// UTF-16 length of valid UTF-8: one unit per scalar, two for each scalar
/// above U+FFFF (a four-byte sequence).
pub fn utf16_len_of_str(s: &str) -> usize {
    s.as_bytes()
        .iter()
        .map(|&x| (!is_continuation(x)) as usize + (x >= 0xF0) as usize)
        .sum()
}

/// `bytes` decoded to UTF-16 the way `buffer.toString('utf8')` does it.
pub fn decode_utf16(bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().encode_utf16());
        if !chunk.invalid().is_empty() {
            out.push(0xFFFD);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive<C: Unit>(s: &[C]) -> (usize, bool) {
        let mut high = false;
        for (i, &c) in s.iter().enumerate() {
            if is_special(c.code()) {
                return (i, high);
            }
            high |= c.code() >= 0x80;
        }
        (s.len(), high)
    }

    #[test]
    fn swar_search_matches_a_plain_loop() {
        let mut seed = 7u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let alphabet: &[u8] = b"ab\"\\\x01\x1f\x20\x7f\x80\xc3\xa9\xff 0";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % 4 == 0 {
                        alphabet[(next() as usize) % alphabet.len()]
                    } else {
                        b'a' + (next() % 26) as u8
                    }
                })
                .collect();
            assert_eq!(u8::find_string_special(&v), naive(&v), "{v:?}");
            let w: Vec<u16> = v
                .iter()
                .map(|&b| {
                    if b >= 0x80 {
                        0xD800 + b as u16
                    } else {
                        b as u16
                    }
                })
                .collect();
            assert_eq!(u16::find_string_special(&w).0, naive(&w).0, "{w:?}");
        }
    }

    #[test]
    fn utf16_length_counts_replacements_like_node() {
        // Expected values measured with Buffer.from(bytes).toString().length
        // on Node 20.
        let cases: &[(&[u8], usize)] = &[
            (b"abc", 3),
            (&[0xE2, 0x82, 0x41], 2),
            (&[0xED, 0xA0, 0x80], 3),
            (&[0xF0, 0x80, 0x80], 3),
            (&[0xF4, 0x90, 0x80, 0x80], 4),
            (&[0xC0, 0xAF], 2),
            (&[0xE0, 0x80, 0xAF], 3),
            (&[0xF0, 0x9F, 0x98], 1),
            (&[0x80, 0x80], 2),
            (&[0xC3], 1),
            (&[0xF8, 0x88, 0x80, 0x80, 0x80], 5),
            (&[0xEF, 0xBB, 0xBF, 0x41], 2),
            ("é😀中".as_bytes(), 4),
        ];
        for &(bytes, len) in cases {
            assert_eq!(utf16_len(bytes), len, "{bytes:x?}");
            assert_eq!(decode_utf16(bytes).len(), len, "{bytes:x?}");
        }
        assert_eq!(decode_utf16("😀".as_bytes()), vec![0xD83D, 0xDE00]);
    }
}
