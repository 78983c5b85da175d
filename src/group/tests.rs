//! The seqlock across two independent mappings of one memfd, under a
//! writer far faster than any publisher (1 MHz and up).

use super::layout::{self, LOOP_CAP};
use super::segment;
use super::seqlock::{self, ReadStats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Payload words: 128 bytes, so a copy spans cache lines (plus the seq and
/// length words). The debug build writes 0.6 M/s here on the shared 2-vCPU
/// machine, 0.9 M/s with 8 words; the release build across two processes
/// (bench/group-stress.mjs, 64 words) writes 4.4 M/s.
const WORDS: usize = 16;

#[test]
fn no_torn_read_is_ever_returned() {
    let seg = segment::create_segment(std::process::id(), 1).unwrap();
    let reader_map = segment::reopen_own(&seg);
    let slot = layout::loop_slot(3);
    let stop = Arc::new(AtomicBool::new(false));
    let mut payload = Vec::new();
    seqlock::stress_payload(1, WORDS, &mut payload);
    seqlock::write(seg.map.words(), slot, LOOP_CAP, &payload);
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut stats, mut buf) = (ReadStats::default(), Vec::new());
            let (mut reads, mut torn, mut unstable, mut control_torn) = (0u64, 0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match seqlock::read(reader_map.words(), slot, LOOP_CAP, &mut buf, &mut stats) {
                    Ok(()) => {
                        reads += 1;
                        torn += u64::from(!seqlock::stress_check(&buf));
                    }
                    Err(_) => unstable += 1,
                }
                // Control: the same copy without the seqlock's checks.
                let b = slot
                    + 1
                    + (reader_map.words()[slot].load(Ordering::Relaxed) as usize & 1)
                        * (2 + LOOP_CAP);
                let raw: Vec<u64> = reader_map.words()[b + 2..b + 2 + WORDS]
                    .iter()
                    .map(|w| w.load(Ordering::Relaxed))
                    .collect();
                control_torn += u64::from(!seqlock::stress_check(&raw));
            }
            (reads, torn, unstable, control_torn, stats)
        })
    };
    let t0 = Instant::now();
    let mut writes = 0u64;
    while t0.elapsed() < Duration::from_millis(800) {
        for _ in 0..1024 {
            writes += 1;
            seqlock::stress_payload(writes + 1, WORDS, &mut payload);
            seqlock::write(seg.map.words(), slot, LOOP_CAP, &payload);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (reads, torn, unstable, control_torn, stats) = reader.join().unwrap();
    eprintln!(
        "group seqlock stress: {:.2} M writes/s, {reads} reads, {} retries, {} fallbacks, {unstable} unstable, {torn} torn returned; unguarded control copies torn: {control_torn}",
        writes as f64 / secs / 1e6,
        stats.retries,
        stats.fallbacks
    );
    assert_eq!(torn, 0, "a torn copy was returned");
    assert!(reads > 0, "the reader never got a stable copy");
}

#[test]
fn a_hostile_mapping_is_an_error_not_a_crash() {
    let seg = segment::create_segment(std::process::id(), 1).unwrap();
    let words = seg.map.words();
    // Lengths past the capacity, in every slot.
    for slot in [layout::PROC_SLOT, layout::POOL_SLOT, layout::loop_slot(0)] {
        words[slot + 1 + 2 + layout::LOOP_CAP].store(0, Ordering::Relaxed);
        words[slot + 1].store(2, Ordering::Relaxed);
        words[slot + 2].store(u64::MAX / 2, Ordering::Relaxed);
    }
    let map = segment::reopen_own(&seg);
    let mut st = ReadStats::default();
    assert!(super::reader::read_mapping(map.words(), &mut st).is_err());
}
