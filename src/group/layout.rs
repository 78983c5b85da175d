//! The segment's layout: where each part lives, in 64-bit words, and how
//! the payloads are packed. Pure arithmetic and packing, shared by the
//! writer and the readers; nothing here touches a mapping.
//!
//! ```text
//! header   HEADER_WORDS words: MAGIC, VERSION, pid, pid start time,
//!          segment bytes, MAX_LOOPS, LOOP_CAP, POOL_CAP, PROC_CAP
//! process  one slot of PROC_CAP payload words (publish time, interval,
//!          window span, loops published, worker id, heap)
//! pool     one slot of POOL_CAP payload words
//! loops    MAX_LOOPS slots of LOOP_CAP payload words
//! ```
//!
//! A slot is `[index][buffer 0][buffer 1]`; a buffer is `[seq][len][payload
//! of cap words]` (see `seqlock.rs`).
#![forbid(unsafe_code)]

/// `"NPGROUP1"` as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"NPGROUP1");
pub const VERSION: u64 = 1;
pub const HEADER_WORDS: usize = 16;
/// Loops one process publishes (main thread + 31 worker threads); later
/// ones are counted in `ProcPayload::dropped_loops`, not published.
pub const MAX_LOOPS: usize = 32;
/// Histogram `(value, count)` pairs a loop buffer holds: a lifetime lag
/// histogram (2 digits, 1 µs .. 1 h) has 3456 counters, so it always fits.
pub const LOOP_PAIRS: usize = 4096;
pub const LABEL_WORDS: usize = 8;
/// Culprit text: 256 bytes of UTF-8 (32 words).
pub const CULPRIT_WORDS: usize = 32;
const LOOP_FIXED: usize = 16 + 1 + LABEL_WORDS + 1 + CULPRIT_WORDS + 2;
pub const LOOP_CAP: usize = LOOP_FIXED + 2 * LOOP_PAIRS;
/// The pool's payload: counters and its per-op histograms as pairs.
pub const POOL_CAP: usize = 32_768;
pub const PROC_CAP: usize = 16;

/// Words of a slot of `cap` payload words: index, then two buffers.
pub const fn slot_words(cap: usize) -> usize {
    1 + 2 * (2 + cap)
}

pub const PROC_SLOT: usize = HEADER_WORDS;
pub const POOL_SLOT: usize = PROC_SLOT + slot_words(PROC_CAP);
pub const LOOP_SLOTS: usize = POOL_SLOT + slot_words(POOL_CAP);
pub const fn loop_slot(i: usize) -> usize {
    LOOP_SLOTS + i * slot_words(LOOP_CAP)
}
pub const TOTAL_WORDS: usize = loop_slot(MAX_LOOPS);
/// The segment's size in bytes.
pub const SEGMENT_BYTES: usize = TOTAL_WORDS * 8;

/// The header as written once at creation, before anyone can map it.
pub fn header(pid: u64, start_time: u64) -> [u64; HEADER_WORDS] {
    let mut h = [0u64; HEADER_WORDS];
    h[..9].copy_from_slice(&[
        MAGIC,
        VERSION,
        pid,
        start_time,
        SEGMENT_BYTES as u64,
        MAX_LOOPS as u64,
        LOOP_CAP as u64,
        POOL_CAP as u64,
        PROC_CAP as u64,
    ]);
    h
}

/// Checks a header read from a mapping of `mapped` bytes against the
/// layout this build uses and the marker's `pid` and `start_time`.
pub fn check_header(h: &[u64], mapped: usize, pid: u64, start_time: u64) -> Result<(), String> {
    if h.len() < HEADER_WORDS || mapped < HEADER_WORDS * 8 {
        return Err(format!(
            "segment of {mapped} bytes is shorter than its header"
        ));
    }
    if h[0] != MAGIC {
        return Err(format!("segment magic is {:#x}, not {MAGIC:#x}", h[0]));
    }
    if h[1] != VERSION {
        return Err(format!(
            "segment layout version {} (this build reads {VERSION})",
            h[1]
        ));
    }
    if h[2] != pid || h[3] != start_time {
        return Err(format!(
            "segment belongs to pid {} started at {}, the marker names pid {pid} started at {start_time}",
            h[2], h[3]
        ));
    }
    let want = header(pid, start_time);
    if h[4..9] != want[4..9] {
        return Err(format!(
            "segment sizes {:?} differ from this build's {:?}",
            &h[4..9],
            &want[4..9]
        ));
    }
    if mapped != SEGMENT_BYTES {
        return Err(format!(
            "segment is {mapped} bytes, its layout needs {SEGMENT_BYTES}"
        ));
    }
    Ok(())
}

fn f(x: f64) -> u64 {
    x.to_bits()
}
fn g(x: u64) -> f64 {
    f64::from_bits(x)
}

/// Packs `s` into `words` (zero padded); returns the byte length kept:
/// at most `words.len() * 8`, cut on a char boundary.
fn put_str(s: &str, words: &mut [u64]) -> u64 {
    let max = words.len() * 8;
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut bytes = vec![0u8; max];
    bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    end as u64
}

fn get_str(len: u64, words: &[u64]) -> Result<String, String> {
    let len = len as usize;
    if len > words.len() * 8 {
        return Err(format!("text length {len} exceeds its field"));
    }
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .take(len)
        .collect();
    String::from_utf8(bytes).map_err(|_| "text is not UTF-8".to_string())
}

/// The process part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcPayload {
    pub published_at_ms: f64,
    pub published_hr_ns: u64,
    pub interval_ms: u64,
    pub window_span_ns: u64,
    pub loops: u64,
    pub dropped_loops: u64,
    /// `cluster.worker.id`, if any.
    pub worker_id: Option<u64>,
    /// Main thread heap `(used, limit, at epoch ms)`, once JS pushed it.
    pub heap: Option<(u64, u64, f64)>,
    pub publishes: u64,
}

impl ProcPayload {
    pub fn pack(&self) -> Vec<u64> {
        let (used, limit, at) = self.heap.unwrap_or((0, 0, 0.0));
        vec![
            f(self.published_at_ms),
            self.published_hr_ns,
            self.interval_ms,
            self.window_span_ns,
            self.loops,
            self.dropped_loops,
            self.worker_id.map_or(0, |w| w + 1),
            u64::from(self.heap.is_some()),
            used,
            limit,
            f(at),
            self.publishes,
        ]
    }

    pub fn unpack(w: &[u64]) -> Result<Self, String> {
        if w.len() != 12 {
            return Err(format!("process record of {} words, expected 12", w.len()));
        }
        if w[4] > MAX_LOOPS as u64 {
            return Err(format!(
                "process record lists {} loops, at most {MAX_LOOPS} fit",
                w[4]
            ));
        }
        Ok(Self {
            published_at_ms: g(w[0]),
            published_hr_ns: w[1],
            interval_ms: w[2],
            window_span_ns: w[3],
            loops: w[4],
            dropped_loops: w[5],
            worker_id: w[6].checked_sub(1),
            heap: (w[7] == 1).then(|| (w[8], w[9], g(w[10]))),
            publishes: w[11],
        })
    }
}

/// One loop's published state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopPayload {
    pub running: bool,
    /// Export data present (the lifetime histogram and window figures).
    pub exported: bool,
    pub stalled_for_ns: u64,
    pub poll_entry_ns: u64,
    /// CLOCK_MONOTONIC when `stalled_for_ns` was measured.
    pub at_ns: u64,
    pub stalls_total: u64,
    pub stalled_ns_total: u64,
    /// Window p50, p90, p99, p999, max, min (ns).
    pub window_ns: [u64; 6],
    pub mean_ns: f64,
    pub stddev_ns: f64,
    pub utilization: f64,
    pub label: String,
    pub culprit: Option<String>,
    pub digits: u64,
    /// The lifetime histogram, `(value, count)` per recorded bucket.
    pub pairs: Vec<(u64, u64)>,
}

impl LoopPayload {
    /// Packs the payload; `None` if the histogram has more buckets than a
    /// buffer holds (cannot happen for the lag histogram's bounds).
    pub fn pack(&self) -> Option<Vec<u64>> {
        if self.pairs.len() > LOOP_PAIRS {
            return None;
        }
        let mut w = vec![0u64; LOOP_FIXED];
        w[0] = u64::from(self.running)
            | u64::from(self.exported) << 1
            | u64::from(self.culprit.is_some()) << 2;
        w[1] = self.stalled_for_ns;
        w[2] = self.poll_entry_ns;
        w[3] = self.stalls_total;
        w[4] = self.stalled_ns_total;
        w[5..11].copy_from_slice(&self.window_ns);
        w[11] = f(self.mean_ns);
        w[12] = f(self.stddev_ns);
        w[13] = f(self.utilization);
        w[14] = self.at_ns;
        let l = 16;
        w[l] = put_str(&self.label, &mut w[l + 1..l + 1 + LABEL_WORDS]);
        let c = l + 1 + LABEL_WORDS;
        w[c] = put_str(
            self.culprit.as_deref().unwrap_or(""),
            &mut w[c + 1..c + 1 + CULPRIT_WORDS],
        );
        let h = c + 1 + CULPRIT_WORDS;
        w[h] = self.digits;
        w[h + 1] = self.pairs.len() as u64;
        for (v, n) in &self.pairs {
            w.push(*v);
            w.push(*n);
        }
        Some(w)
    }

    pub fn unpack(w: &[u64]) -> Result<Self, String> {
        if w.len() < LOOP_FIXED {
            return Err(format!(
                "loop record of {} words, shorter than {LOOP_FIXED}",
                w.len()
            ));
        }
        let l = 16;
        let c = l + 1 + LABEL_WORDS;
        let h = c + 1 + CULPRIT_WORDS;
        let n = w[h + 1];
        if n > LOOP_PAIRS as u64 || w.len() != LOOP_FIXED + 2 * n as usize {
            return Err(format!(
                "loop record of {} words holds {n} histogram pairs",
                w.len()
            ));
        }
        let culprit = get_str(w[c], &w[c + 1..c + 1 + CULPRIT_WORDS])?;
        Ok(Self {
            running: w[0] & 1 != 0,
            exported: w[0] & 2 != 0,
            stalled_for_ns: w[1],
            poll_entry_ns: w[2],
            stalls_total: w[3],
            stalled_ns_total: w[4],
            window_ns: w[5..11].try_into().expect("6 words"),
            mean_ns: g(w[11]),
            stddev_ns: g(w[12]),
            utilization: g(w[13]),
            at_ns: w[14],
            label: get_str(w[l], &w[l + 1..l + 1 + LABEL_WORDS])?,
            culprit: (w[0] & 4 != 0).then_some(culprit),
            digits: w[h],
            pairs: w[LOOP_FIXED..]
                .chunks_exact(2)
                .map(|p| (p[0], p[1]))
                .collect(),
        })
    }
}

/// One pool op's published figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolOp {
    pub outcomes: [u64; 4],
    pub wait: Vec<(u64, u64)>,
    pub run: Vec<(u64, u64)>,
}

/// The default pool's published state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolPayload {
    /// threads, queued, active, completed, failed, rejected
    pub counts: [u64; 6],
    pub ops: Vec<PoolOp>,
}

impl PoolPayload {
    /// `None` if it does not fit [`POOL_CAP`] words.
    pub fn pack(&self) -> Option<Vec<u64>> {
        let mut w = self.counts.to_vec();
        w.push(self.ops.len() as u64);
        for op in &self.ops {
            w.extend_from_slice(&op.outcomes);
            for h in [&op.wait, &op.run] {
                w.push(h.len() as u64);
                for (v, n) in h {
                    w.push(*v);
                    w.push(*n);
                }
            }
        }
        (w.len() <= POOL_CAP).then_some(w)
    }

    pub fn unpack(w: &[u64]) -> Result<Self, String> {
        let bad = |what: &str| format!("pool record: {what}");
        if w.len() < 7 {
            return Err(bad("too short"));
        }
        let mut p = PoolPayload {
            counts: w[..6].try_into().expect("6 words"),
            ops: Vec::new(),
        };
        let nops = w[6] as usize;
        if nops > 64 {
            return Err(bad("too many ops"));
        }
        let mut at: usize = 7;
        let mut take = |n: usize| -> Result<&[u64], String> {
            let s = w.get(at..at.checked_add(n).ok_or_else(|| bad("length overflows"))?);
            at += n;
            s.ok_or_else(|| bad("a length runs past the record"))
        };
        for _ in 0..nops {
            let outcomes: [u64; 4] = take(4)?.try_into().expect("4 words");
            let mut hists = [Vec::new(), Vec::new()];
            for h in &mut hists {
                let n = take(1)?[0] as usize;
                let pairs = take(n.checked_mul(2).ok_or_else(|| bad("length overflows"))?)?;
                *h = pairs.chunks_exact(2).map(|p| (p[0], p[1])).collect();
            }
            let [wait, run] = hists;
            p.ops.push(PoolOp {
                outcomes,
                wait,
                run,
            });
        }
        if at != w.len() {
            return Err(bad("trailing words"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_do_not_overlap_and_fit() {
        const { assert!(PROC_SLOT >= HEADER_WORDS) };
        assert_eq!(POOL_SLOT, PROC_SLOT + slot_words(PROC_CAP));
        assert_eq!(loop_slot(1) - loop_slot(0), slot_words(LOOP_CAP));
        assert_eq!(SEGMENT_BYTES, TOTAL_WORDS * 8);
        // The figures src/group/README.md gives.
        assert_eq!(LOOP_CAP, 8252);
        assert_eq!(SEGMENT_BYTES, 4_751_056);
    }

    #[test]
    fn payloads_round_trip() {
        let l = LoopPayload {
            running: true,
            exported: true,
            stalled_for_ns: 5,
            label: "worker-3".into(),
            culprit: Some("é".repeat(200)),
            digits: 2,
            pairs: vec![(0, 10), (1023, 4)],
            utilization: 0.25,
            ..Default::default()
        };
        let packed = l.pack().unwrap();
        let back = LoopPayload::unpack(&packed).unwrap();
        // 200 two-byte chars cut at 256 bytes, on a char boundary.
        assert_eq!(back.culprit.as_deref().unwrap().len(), 256);
        assert_eq!(
            LoopPayload {
                culprit: l.culprit.clone(),
                ..back.clone()
            },
            l.clone()
        );
        let p = PoolPayload {
            counts: [1, 2, 3, 4, 5, 6],
            ops: vec![PoolOp {
                outcomes: [1, 0, 0, 0],
                wait: vec![(5, 1)],
                run: vec![],
            }],
        };
        assert_eq!(PoolPayload::unpack(&p.pack().unwrap()).unwrap(), p);
        let pr = ProcPayload {
            worker_id: Some(0),
            heap: Some((1, 2, 3.0)),
            loops: 2,
            ..Default::default()
        };
        assert_eq!(ProcPayload::unpack(&pr.pack()).unwrap(), pr);
    }

    #[test]
    fn hostile_payloads_are_errors() {
        let mut w = LoopPayload::default().pack().unwrap();
        let h = 16 + 1 + LABEL_WORDS + 1 + CULPRIT_WORDS + 1;
        w[h] = u64::MAX;
        assert!(LoopPayload::unpack(&w).is_err());
        let mut w = LoopPayload::default().pack().unwrap();
        w[16] = 10_000;
        assert!(LoopPayload::unpack(&w).is_err());
        assert!(PoolPayload::unpack(&[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, u64::MAX]).is_err());
        assert!(PoolPayload::unpack(&[0; 3]).is_err());
        let mut h = header(7, 9).to_vec();
        assert!(check_header(&h, SEGMENT_BYTES, 7, 9).is_ok());
        assert!(check_header(&h, SEGMENT_BYTES - 8, 7, 9).is_err());
        assert!(check_header(&h, SEGMENT_BYTES, 8, 9).is_err());
        h[6] = 1 << 40;
        assert!(check_header(&h, SEGMENT_BYTES, 7, 9).is_err());
    }
}
