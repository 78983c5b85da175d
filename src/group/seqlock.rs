//! Double-buffered seqlock over a slot of shared words (layout.rs: a slot
//! is `[index][buffer 0][buffer 1]`, a buffer `[seq][len][payload]`).
//!
//! One writer per segment (the process's publisher thread); any number of
//! readers, in any process, that can never make the writer wait.
//!
//! ## Memory ordering
//! Writer: it writes the buffer that is *not* current: `seq` to odd
//! (Relaxed), a Release fence, `len` and the payload (Relaxed), `seq` to the
//! next even value (Release), then the index to that buffer (Release).
//! Reader: index (Acquire); `seq` (Acquire), skip if odd or 0 (never
//! written); `len` and the payload (Relaxed word loads: the words another
//! process writes are only ever touched as atomics); an Acquire fence; `seq`
//! again: the copy is whole only if it did not change. A bounded number of
//! tries on the current buffer, then the other one, which is the previous
//! complete publish unless the writer is rewriting it (then the reader says
//! the slot is unreadable this time). A writer killed mid-write leaves its
//! buffer odd forever and the other one complete, which readers then use.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Tries per buffer before a reader moves on.
pub const TRIES: u32 = 64;

/// What a read saw, for the stress tests and benches.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Copies thrown away because `seq` was odd or changed.
    pub retries: u64,
    /// Reads served from the non-current buffer.
    pub fallbacks: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Never published.
    Empty,
    /// No stable copy of either buffer within the tries.
    Unstable,
    /// A stable buffer whose length does not fit: the segment was tampered with.
    Corrupt(String),
}

fn buffer(slot: usize, cap: usize, b: usize) -> usize {
    slot + 1 + b * (2 + cap)
}

/// Publishes `payload` in the slot at word `slot` of `cap` payload words.
/// Single writer: only one thread may write a given slot.
pub fn write(words: &[AtomicU64], slot: usize, cap: usize, payload: &[u64]) {
    assert!(
        payload.len() <= cap,
        "payload of {} words over {cap}",
        payload.len()
    );
    let current = (words[slot].load(Ordering::Relaxed) & 1) as usize;
    let b = buffer(slot, cap, 1 - current);
    // Even before (a writer killed mid-write cannot be this one: the
    // segment dies with it), so `| 1` is `+ 1`; a value scribbled there by
    // someone else still gives an odd one, never one whose `+ 1` wraps to
    // 0 ("never written").
    let seq = match words[b].load(Ordering::Relaxed) | 1 {
        u64::MAX => 1,
        s => s,
    };
    words[b].store(seq, Ordering::Relaxed);
    fence(Ordering::Release);
    words[b + 1].store(payload.len() as u64, Ordering::Relaxed);
    for (w, v) in words[b + 2..b + 2 + payload.len()].iter().zip(payload) {
        w.store(*v, Ordering::Relaxed);
    }
    words[b].store(seq + 1, Ordering::Release);
    words[slot].store((1 - current) as u64, Ordering::Release);
}

fn try_buffer(
    words: &[AtomicU64],
    b: usize,
    cap: usize,
    out: &mut Vec<u64>,
    stats: &mut ReadStats,
) -> Result<(), SlotError> {
    for _ in 0..TRIES {
        let s1 = words[b].load(Ordering::Acquire);
        if s1 == 0 {
            return Err(SlotError::Empty);
        }
        if s1 & 1 == 1 {
            stats.retries += 1;
            std::hint::spin_loop();
            continue;
        }
        let len = words[b + 1].load(Ordering::Relaxed);
        let n = (len as usize).min(cap);
        out.clear();
        out.extend(
            words[b + 2..b + 2 + n]
                .iter()
                .map(|w| w.load(Ordering::Relaxed)),
        );
        fence(Ordering::Acquire);
        if words[b].load(Ordering::Relaxed) != s1 {
            stats.retries += 1;
            std::hint::spin_loop();
            continue;
        }
        if len as usize > cap {
            return Err(SlotError::Corrupt(format!(
                "buffer length {len} over its capacity {cap}"
            )));
        }
        return Ok(());
    }
    Err(SlotError::Unstable)
}

/// Reads the slot at word `slot` into `out`: the current buffer, or the
/// previous one if the current one stays unstable. Never a torn copy.
pub fn read(
    words: &[AtomicU64],
    slot: usize,
    cap: usize,
    out: &mut Vec<u64>,
    stats: &mut ReadStats,
) -> Result<(), SlotError> {
    let current = (words[slot].load(Ordering::Acquire) & 1) as usize;
    match try_buffer(words, buffer(slot, cap, current), cap, out, stats) {
        Ok(()) => Ok(()),
        Err(SlotError::Corrupt(e)) => Err(SlotError::Corrupt(e)),
        Err(first) => match try_buffer(words, buffer(slot, cap, 1 - current), cap, out, stats) {
            Ok(()) => {
                stats.fallbacks += 1;
                Ok(())
            }
            Err(SlotError::Empty) => Err(first),
            Err(e) => Err(e),
        },
    }
}

/// A self-checking payload for the stress tests: word 0 is `seq`, each
/// other word derives from `seq` and its index, the last is the xor of all
/// the others; any mix of two writes fails [`stress_check`].
pub fn stress_payload(seq: u64, words: usize, out: &mut Vec<u64>) {
    out.clear();
    out.push(seq);
    for i in 1..words - 1 {
        out.push(
            seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64),
        );
    }
    let x = out.iter().fold(0u64, |a, w| a ^ w.rotate_left(7));
    out.push(x);
}

/// Whether `w` is one whole [`stress_payload`].
pub fn stress_check(w: &[u64]) -> bool {
    let Some((&last, body)) = w.split_last() else {
        return false;
    };
    let seq = body[0];
    body.iter().enumerate().skip(1).all(|(i, v)| {
        *v == seq
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(i as u64)
    }) && body.iter().fold(0u64, |a, w| a ^ w.rotate_left(7)) == last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_falls_back() {
        let cap = 8;
        let words: Vec<AtomicU64> = (0..crate::group::layout::slot_words(cap))
            .map(|_| AtomicU64::new(0))
            .collect();
        let mut out = Vec::new();
        let mut st = ReadStats::default();
        assert_eq!(
            read(&words, 0, cap, &mut out, &mut st),
            Err(SlotError::Empty)
        );
        write(&words, 0, cap, &[1, 2, 3]);
        read(&words, 0, cap, &mut out, &mut st).unwrap();
        assert_eq!(out, [1, 2, 3]);
        write(&words, 0, cap, &[4, 5]);
        // A writer killed while writing the next buffer: its seq stays odd.
        let idle = buffer(0, cap, 1 - (words[0].load(Ordering::Relaxed) as usize & 1));
        let cur = buffer(0, cap, words[0].load(Ordering::Relaxed) as usize & 1);
        words[cur].fetch_add(1, Ordering::Relaxed);
        read(&words, 0, cap, &mut out, &mut st).unwrap();
        assert_eq!(out, [1, 2, 3], "the previous complete buffer");
        assert_eq!(st.fallbacks, 1);
        assert!(st.retries >= u64::from(TRIES));
        let _ = idle;
        // A stable buffer with a length past its capacity: corrupt.
        words[cur].fetch_add(1, Ordering::Relaxed);
        words[cur + 1].store(1000, Ordering::Relaxed);
        assert!(matches!(
            read(&words, 0, cap, &mut out, &mut st),
            Err(SlotError::Corrupt(_))
        ));
    }
}
