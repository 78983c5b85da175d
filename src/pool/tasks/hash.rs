//! The `hash` op: seven algorithms over an [`Input`], whole or in chunks,
//! read piece by piece so that a cancel or the owner thread's end stops it
//! within [`PIECE`](crate::shared::PIECE) bytes.

use super::{Output, Stop, TaskCtx};
use crate::shared::{Gone, Input, OutRegion, PIECE};
use base64::Engine;
use rayon::prelude::*;
use sha2::Digest as _;

/// The algorithms of `{ op: 'hash' }`, by the façade's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha1,
    Sha512,
    Md5,
    Blake3,
    Xxh3,
    Crc32,
}

impl Algorithm {
    pub const NAMES: [&'static str; 7] =
        ["sha256", "sha1", "sha512", "md5", "blake3", "xxh3", "crc32"];

    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Sha256,
            1 => Self::Sha1,
            2 => Self::Sha512,
            3 => Self::Md5,
            4 => Self::Blake3,
            5 => Self::Xxh3,
            6 => Self::Crc32,
            _ => return None,
        })
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Blake3 => 32,
            Self::Sha1 => 20,
            Self::Sha512 => 64,
            Self::Md5 => 16,
            Self::Xxh3 => 8,
            Self::Crc32 => 4,
        }
    }
}

/// How a digest is returned, by the façade's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
    Base64Url,
    Buffer,
    /// The digest as an unsigned integer in a JS number (crc32 only).
    Number,
    /// The digest as an unsigned integer in a BigInt (crc32, xxh3).
    BigInt,
}

impl Encoding {
    pub const NAMES: [&'static str; 6] =
        ["hex", "base64", "base64url", "buffer", "number", "bigint"];

    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Hex,
            1 => Self::Base64,
            2 => Self::Base64Url,
            3 => Self::Buffer,
            4 => Self::Number,
            5 => Self::BigInt,
            _ => return None,
        })
    }

    /// Whether `a`'s digest can be given this way: a number holds 53 bits
    /// exactly (so a 4-byte digest), a BigInt here at most 64.
    pub fn fits(self, a: Algorithm) -> bool {
        match self {
            Self::Number => a.digest_len() <= 4,
            Self::BigInt => a.digest_len() <= 8,
            _ => true,
        }
    }
}

/// Why `e` cannot give `a`'s digest (see [`Encoding::fits`]).
pub fn does_not_fit(a: Algorithm, e: Encoding) -> String {
    let (name, fits) = match e {
        Encoding::Number => ("number", "crc32"),
        _ => ("bigint", "xxh3 and crc32"),
    };
    format!(
        "must not be '{name}' for {}: its {}-byte digest does not fit ('{name}' is for {fits})",
        Algorithm::NAMES[a as usize],
        a.digest_len()
    )
}

/// A digest of at most 64 bytes, inline.
#[derive(Clone, Copy)]
pub struct Digest {
    bytes: [u8; 64],
    len: u8,
}

impl Digest {
    fn new(b: &[u8]) -> Self {
        let mut bytes = [0; 64];
        bytes[..b.len()].copy_from_slice(b);
        Self {
            bytes,
            len: b.len() as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Text of at most 128 ASCII bytes (the hex of a SHA-512), inline.
#[derive(Clone, Copy)]
pub struct Text {
    bytes: [u8; 128],
    len: u8,
}

impl Text {
    /// The ASCII bytes (for `napi_create_string_latin1`, no UTF-8 check).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The digest's bytes read as a big-endian unsigned integer (the byte
/// order of its hex: crc32's and xxh3's value as their own APIs give it).
/// Only for digests of at most 8 bytes ([`Encoding::fits`]).
fn as_u64(d: &Digest) -> u64 {
    let b = d.as_bytes();
    debug_assert!(b.len() <= 8);
    b.iter().take(8).fold(0, |v, &x| (v << 8) | u64::from(x))
}

/// Encodes a digest on the pool thread, so the JS thread only copies text.
/// `encoding` must fit the digest ([`Encoding::fits`], checked when the
/// task is made).
pub fn encode(d: &Digest, encoding: Encoding) -> Output {
    let src = d.as_bytes();
    let mut t = Text {
        bytes: [0; 128],
        len: 0,
    };
    let n = match encoding {
        Encoding::Buffer => return Output::Bytes(*d),
        Encoding::Number => return Output::U32(as_u64(d) as u32),
        Encoding::BigInt => return Output::U64(as_u64(d)),
        Encoding::Hex => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, b) in src.iter().enumerate() {
                t.bytes[2 * i] = HEX[(b >> 4) as usize];
                t.bytes[2 * i + 1] = HEX[(b & 15) as usize];
            }
            src.len() * 2
        }
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .encode_slice(src, &mut t.bytes)
            .expect("88 bytes fit"),
        Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(src, &mut t.bytes)
            .expect("86 bytes fit"),
    };
    t.len = n as u8;
    Output::Text(t)
}

/// Incremental state of one algorithm.
pub(super) enum State {
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Blake3(Box<blake3::Hasher>),
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
    Crc32(crc32fast::Hasher),
}

impl State {
    pub(super) fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            Algorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
            Algorithm::Md5 => Self::Md5(md5::Md5::new()),
            Algorithm::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Xxh3 => Self::Xxh3(Box::new(xxhash_rust::xxh3::Xxh3::new())),
            Algorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
        }
    }

    pub(super) fn update(&mut self, b: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(b),
            Self::Sha1(h) => h.update(b),
            Self::Sha512(h) => h.update(b),
            Self::Md5(h) => h.update(b),
            Self::Blake3(h) => {
                h.update(b);
            }
            Self::Xxh3(h) => h.update(b),
            Self::Crc32(h) => h.update(b),
        }
    }

    pub(super) fn finish(self) -> Digest {
        match self {
            Self::Sha256(h) => Digest::new(&h.finalize()),
            Self::Sha1(h) => Digest::new(&h.finalize()),
            Self::Sha512(h) => Digest::new(&h.finalize()),
            Self::Md5(h) => Digest::new(&h.finalize()),
            Self::Blake3(h) => Digest::new(h.finalize().as_bytes()),
            Self::Xxh3(h) => Digest::new(&h.digest().to_be_bytes()),
            Self::Crc32(h) => Digest::new(&h.finalize().to_be_bytes()),
        }
    }
}

/// One-shot digest of a byte slice (small inputs, `hashSync` on owned data).
pub fn digest_bytes(a: Algorithm, b: &[u8]) -> Digest {
    match a {
        Algorithm::Xxh3 => Digest::new(&xxhash_rust::xxh3::xxh3_64(b).to_be_bytes()),
        Algorithm::Crc32 => Digest::new(&crc32fast::hash(b).to_be_bytes()),
        Algorithm::Blake3 => Digest::new(blake3::hash(b).as_bytes()),
        _ => {
            let mut s = State::new(a);
            s.update(b);
            s.finish()
        }
    }
}

/// BLAKE3 inputs at least this long are hashed as a tree across the pool.
const BLAKE3_PARALLEL_MIN: usize = 2 * LEAF;
/// Size of one BLAKE3 leaf subtree hashed under one alive guard.
const LEAF: usize = PIECE;

impl From<Gone> for Stop {
    fn from(g: Gone) -> Self {
        match g {
            Gone::Ended => Stop::Ended,
            Gone::Detached => Stop::Detached,
        }
    }
}

/// Digest of `input[range]`, sequentially in pieces.
fn digest_range(
    a: Algorithm,
    input: &Input,
    range: std::ops::Range<usize>,
    ctx: &TaskCtx,
) -> Result<Digest, Stop> {
    if let Some(v) = input.owned() {
        if range.len() <= PIECE {
            return Ok(digest_bytes(a, &v[range]));
        }
    }
    let mut state = State::new(a);
    // SAFETY: `Input::for_each_piece`'s contract holds: `f` is
    // `State::update`, a hash update over a byte slice into a hasher
    // borrowed from this frame: no locks, no allocation, nothing owned with
    // a destructor, so a fault may abandon it mid-way.
    let done = unsafe { input.for_each_piece(range, || !ctx.cancelled(), |b| state.update(b))? };
    if !done {
        return Err(Stop::Cancelled);
    }
    Ok(state.finish())
}

/// BLAKE3 over the whole input, as a tree: leaves of [`LEAF`] bytes are
/// hashed on any pool thread (each under its own alive guard, none held
/// across a join), then merged.
fn blake3_parallel(input: &Input, ctx: &TaskCtx) -> Result<Digest, Stop> {
    use blake3::hazmat::{
        left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt,
        Mode,
    };

    fn subtree(
        input: &Input,
        start: usize,
        len: usize,
        ctx: &TaskCtx,
    ) -> Result<ChainingValue, Stop> {
        if ctx.cancelled() {
            return Err(Stop::Cancelled);
        }
        if len <= LEAF {
            // SAFETY: `Input::read`'s contract holds: `f` builds a BLAKE3
            // hasher on the stack (plain data) and hashes the borrowed
            // byte slice: no locks, no allocation, so a fault may abandon it.
            return Ok(unsafe {
                input.read(start..start + len, |b| {
                    blake3::Hasher::new()
                        .set_input_offset(start as u64)
                        .update(b)
                        .finalize_non_root()
                })?
            });
        }
        let left = left_subtree_len(len as u64) as usize;
        let (l, r) = rayon::join(
            || subtree(input, start, left, ctx),
            || subtree(input, start + left, len - left, ctx),
        );
        Ok(merge_subtrees_non_root(&l?, &r?, Mode::Hash))
    }

    let len = input.len();
    let left = left_subtree_len(len as u64) as usize;
    let (l, r) = rayon::join(
        || subtree(input, 0, left, ctx),
        || subtree(input, left, len - left, ctx),
    );
    Ok(Digest::new(
        merge_subtrees_root(&l?, &r?, Mode::Hash).as_bytes(),
    ))
}

/// `{ op: 'hash', algorithm, data, encoding }`.
pub fn hash(
    a: Algorithm,
    input: &Input,
    encoding: Encoding,
    ctx: &TaskCtx,
) -> Result<Output, Stop> {
    let d = if a == Algorithm::Blake3 && input.len() >= BLAKE3_PARALLEL_MIN {
        blake3_parallel(input, ctx)?
    } else {
        digest_range(a, input, 0..input.len(), ctx)?
    };
    Ok(encode(&d, encoding))
}

/// Number of `chunk`-byte pieces of `len` bytes (the last may be shorter).
pub fn chunk_count(len: usize, chunk: usize) -> usize {
    len.div_ceil(chunk)
}

/// `{ op: 'hash', algorithm, data, chunkSize, out }`: every chunk on any pool
/// thread, its digest written at `index * digest_len` in `out`.
pub fn hash_chunks(
    a: Algorithm,
    input: &Input,
    chunk: usize,
    out: &OutRegion,
    ctx: &TaskCtx,
) -> Result<Output, Stop> {
    let n = chunk_count(input.len(), chunk);
    let dl = a.digest_len();
    (0..n).into_par_iter().try_for_each(|i| {
        let start = i * chunk;
        let end = input.len().min(start + chunk);
        let d = digest_range(a, input, start..end, ctx)?;
        out.write(i * dl, d.as_bytes())?;
        Ok::<(), Stop>(())
    })?;
    Ok(Output::Count(n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(a: Algorithm, b: &[u8]) -> String {
        match encode(&digest_bytes(a, b), Encoding::Hex) {
            Output::Text(t) => String::from_utf8(t.as_bytes().to_vec()).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn published_vectors() {
        // FIPS 180 / RFC 1321 "abc", the BLAKE3 empty-input vector, xxh3's
        // empty-input seed-0 value, and the CRC-32 check value of "123456789".
        assert_eq!(
            hex(Algorithm::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(Algorithm::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(Algorithm::Md5, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex(Algorithm::Blake3, b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(hex(Algorithm::Xxh3, b""), "2d06800538d394c2");
        assert_eq!(hex(Algorithm::Crc32, b"123456789"), "cbf43926");
        assert!(hex(Algorithm::Sha512, b"abc").starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn encodings() {
        let d = digest_bytes(Algorithm::Md5, b"abc");
        let text = |e| match encode(&d, e) {
            Output::Text(t) => String::from_utf8(t.as_bytes().to_vec()).unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(text(Encoding::Base64), "kAFQmDzST7DWlj99KOF/cg==");
        assert_eq!(text(Encoding::Base64Url), "kAFQmDzST7DWlj99KOF_cg");
        assert!(
            matches!(encode(&d, Encoding::Buffer), Output::Bytes(b) if b.as_bytes().len() == 16)
        );
    }

    #[test]
    fn pieces_and_trees_match_one_shot() {
        let data: Vec<u8> = (0..(5 * PIECE + 12345))
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let input = Input::Owned(data.clone());
        let ctx = TaskCtx::default();
        for a in (0..7).filter_map(Algorithm::from_code) {
            let want = digest_bytes(a, &data);
            let got = digest_range(a, &input, 0..data.len(), &ctx).ok().unwrap();
            assert_eq!(got.as_bytes(), want.as_bytes(), "{a:?}");
        }
        for len in [2 * LEAF, 2 * LEAF + 1, 3 * LEAF + 1024, data.len()] {
            let input = Input::Owned(data[..len].to_vec());
            let got = blake3_parallel(&input, &ctx).ok().unwrap();
            assert_eq!(
                got.as_bytes(),
                blake3::hash(&data[..len]).as_bytes(),
                "len {len}"
            );
        }
    }

    #[test]
    fn numeric_encodings_read_the_digest_big_endian_where_it_fits() {
        let crc = digest_bytes(Algorithm::Crc32, b"123456789");
        assert!(matches!(
            encode(&crc, Encoding::Number),
            Output::U32(0xcbf4_3926)
        ));
        assert!(matches!(
            encode(&crc, Encoding::BigInt),
            Output::U64(0xcbf4_3926)
        ));
        // xxh3-64 of the empty input, seed 0 (its hex is 2d06800538d394c2).
        let xxh = digest_bytes(Algorithm::Xxh3, b"");
        assert!(matches!(
            encode(&xxh, Encoding::BigInt),
            Output::U64(0x2d06_8005_38d3_94c2)
        ));
        for a in (0..7).filter_map(Algorithm::from_code) {
            assert_eq!(Encoding::Number.fits(a), a == Algorithm::Crc32, "{a:?}");
            assert_eq!(
                Encoding::BigInt.fits(a),
                matches!(a, Algorithm::Crc32 | Algorithm::Xxh3),
                "{a:?}"
            );
            assert!(Encoding::Hex.fits(a) && Encoding::Buffer.fits(a));
        }
        assert!(does_not_fit(Algorithm::Sha256, Encoding::Number).contains("32-byte"));
    }

    #[test]
    fn chunk_counts() {
        assert_eq!(chunk_count(0, 4), 0);
        assert_eq!(chunk_count(1, 4), 1);
        assert_eq!(chunk_count(8, 4), 2);
        assert_eq!(chunk_count(9, 4), 3);
    }
}
