//! The napi functions of the cross-process stress bench
//! (`bench/group-stress.mjs`): one process writes a loop slot as fast as it
//! can with self-checking payloads, another reads it and counts what it
//! got. Not part of the public API (`__`-prefixed names).

use super::segment::{self, GroupErr};
use super::{layout, seqlock};
use crate::error::{Error, OrThrow};
use napi::Env;
use napi_derive::napi;

#[napi(object)]
pub struct GroupStress {
    pub writes: f64,
    pub reads: f64,
    pub retries: f64,
    pub fallbacks: f64,
    pub torn: f64,
    pub unstable: f64,
}

const STRESS_WORDS: usize = 64;

/// Stress writer (bench/group-stress.mjs): a segment of its own with a
/// marker `stress.<pid>`; writes loop slot 0 with self-checking payloads as
/// fast as it can for `ms`.
#[napi(js_name = "__groupStressWrite")]
pub fn group_stress_write(env: &Env, ms: f64) -> napi::Result<GroupStress> {
    let run = || -> Result<GroupStress, GroupErr> {
        let dir = segment::group_dir()?;
        let pid = std::process::id();
        let start = segment::start_time(pid).unwrap_or(0);
        let seg = segment::create_segment(pid, start)?;
        let words = seg.map.words();
        let mut payload = Vec::new();
        seqlock::stress_payload(1, STRESS_WORDS, &mut payload);
        seqlock::write(words, layout::loop_slot(0), layout::LOOP_CAP, &payload);
        let marker = dir.join(format!("stress.{pid}"));
        use std::os::fd::AsRawFd;
        segment::write_marker(
            &marker,
            &segment::Marker {
                pid,
                start_time: start,
                fd: seg.file.as_raw_fd(),
                size: layout::SEGMENT_BYTES as u64,
            },
        )?;
        let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(ms / 1e3);
        let mut seq = 1u64;
        while std::time::Instant::now() < end {
            for _ in 0..256 {
                seq += 1;
                seqlock::stress_payload(seq, STRESS_WORDS, &mut payload);
                seqlock::write(words, layout::loop_slot(0), layout::LOOP_CAP, &payload);
            }
        }
        let _ = std::fs::remove_file(&marker);
        Ok(GroupStress {
            writes: seq as f64,
            reads: 0.0,
            retries: 0.0,
            fallbacks: 0.0,
            torn: 0.0,
            unstable: 0.0,
        })
    };
    run().map_err(Error::from).or_throw(env)
}

/// Stress reader: maps `stress.<pid>`'s segment and reads its loop slot 0
/// for `ms`, counting retries, fallbacks, unstable reads and torn payloads
/// returned (which must be 0).
#[napi(js_name = "__groupStressRead")]
pub fn group_stress_read(env: &Env, pid: u32, ms: f64) -> napi::Result<GroupStress> {
    let run = || -> Result<GroupStress, GroupErr> {
        let dir = segment::group_dir()?;
        let marker = segment::read_marker(&dir.join(format!("stress.{pid}")))?;
        let map = segment::open_segment(&marker)?;
        let mut stats = seqlock::ReadStats::default();
        let (mut reads, mut torn, mut unstable) = (0u64, 0u64, 0u64);
        let mut buf = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(ms / 1e3);
        while std::time::Instant::now() < end {
            for _ in 0..64 {
                match seqlock::read(
                    map.words(),
                    layout::loop_slot(0),
                    layout::LOOP_CAP,
                    &mut buf,
                    &mut stats,
                ) {
                    Ok(()) => {
                        reads += 1;
                        if !seqlock::stress_check(&buf) {
                            torn += 1;
                        }
                    }
                    Err(_) => unstable += 1,
                }
            }
        }
        Ok(GroupStress {
            writes: 0.0,
            reads: reads as f64,
            retries: stats.retries as f64,
            fallbacks: stats.fallbacks as f64,
            torn: torn as f64,
            unstable: unstable as f64,
        })
    };
    run().map_err(Error::from).or_throw(env)
}
