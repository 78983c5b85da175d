//! The reader side: finds a group's processes by their markers, maps each
//! segment read-only and copies its slots out through the seqlock. Any
//! process of the same user can read, with no help from the writers.
//! One unreadable process is an error for that process, never for the read.

use super::layout::{self, LoopPayload, PoolPayload, ProcPayload};
use super::segment::{self, GroupErr, SEGMENT_CODE};
use super::seqlock::{self, ReadStats, SlotError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const UNSTABLE_CODE: &str = "ERR_NODEPERF_GROUP_UNSTABLE";

/// One process as read.
pub struct ProcRead {
    pub pid: u32,
    pub data: Result<ProcData, GroupErr>,
}

pub struct ProcData {
    pub proc_: ProcPayload,
    pub loops: Vec<LoopPayload>,
    /// None until the writer's default pool exists.
    pub pool: Option<PoolPayload>,
}

/// `<key>.<pid>` → `(key, pid)`.
fn parse_name(name: &str) -> Option<(&str, u32)> {
    let (key, pid) = name.rsplit_once('.')?;
    let pid: u32 = pid.parse().ok()?;
    (pid > 0 && !key.is_empty()).then_some((key, pid))
}

fn remove_if_ours(path: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.uid() == segment::euid() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes the markers of processes that are gone (any group): pid not
/// running, or running with another start time than the marker names.
pub fn reclaim(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some((_, pid)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        let path = e.path();
        match segment::start_time(pid) {
            None => remove_if_ours(&path),
            Some(started) => {
                if let Ok(m) = segment::read_marker(&path) {
                    if m.pid == pid && m.start_time != started {
                        remove_if_ours(&path);
                    }
                }
            }
        }
    }
}

fn slot_err(what: &str, e: SlotError) -> GroupErr {
    match e {
        SlotError::Empty => GroupErr::new(UNSTABLE_CODE, format!("{what} was never published")),
        SlotError::Unstable => GroupErr::new(
            UNSTABLE_CODE,
            format!("{what} changed during every try of both buffers"),
        ),
        SlotError::Corrupt(why) => GroupErr::new(SEGMENT_CODE, format!("{what}: {why}")),
    }
}

/// Reads one segment's slots.
pub fn read_mapping(
    words: &[std::sync::atomic::AtomicU64],
    stats: &mut ReadStats,
) -> Result<ProcData, GroupErr> {
    let mut buf = Vec::new();
    seqlock::read(words, layout::PROC_SLOT, layout::PROC_CAP, &mut buf, stats)
        .map_err(|e| slot_err("the process record", e))?;
    let proc_ = ProcPayload::unpack(&buf).map_err(|e| GroupErr::new(SEGMENT_CODE, e))?;
    let mut loops = Vec::new();
    for i in 0..proc_.loops as usize {
        seqlock::read(
            words,
            layout::loop_slot(i),
            layout::LOOP_CAP,
            &mut buf,
            stats,
        )
        .map_err(|e| slot_err(&format!("loop {i}"), e))?;
        loops.push(LoopPayload::unpack(&buf).map_err(|e| GroupErr::new(SEGMENT_CODE, e))?);
    }
    let pool = match seqlock::read(words, layout::POOL_SLOT, layout::POOL_CAP, &mut buf, stats) {
        Err(SlotError::Empty) => None,
        Err(e) => return Err(slot_err("the pool record", e)),
        Ok(()) => Some(PoolPayload::unpack(&buf).map_err(|e| GroupErr::new(SEGMENT_CODE, e))?),
    };
    Ok(ProcData { proc_, loops, pool })
}

fn read_one(path: &Path, pid: u32) -> Option<Result<ProcData, GroupErr>> {
    let started = segment::start_time(pid);
    let marker = match segment::read_marker(path) {
        Ok(m) => m,
        Err(e) => {
            if started.is_none() {
                remove_if_ours(path);
                return None;
            }
            return Some(Err(e));
        }
    };
    if marker.pid != pid {
        return Some(Err(GroupErr::new(
            SEGMENT_CODE,
            format!("marker {} names pid {}", path.display(), marker.pid),
        )));
    }
    if started != Some(marker.start_time) {
        // The writer is gone (or its pid was reused): reclaim.
        remove_if_ours(path);
        return None;
    }
    let map = match segment::open_segment(&marker) {
        Ok(m) => m,
        Err(e) => {
            // Exited between the check and the open: gone, not an error.
            if segment::start_time(pid).is_none() {
                remove_if_ours(path);
                return None;
            }
            return Some(Err(e));
        }
    };
    let mut stats = ReadStats::default();
    Some(read_mapping(map.words(), &mut stats))
}

/// Every process of group `key`, by pid.
pub fn read_group(key: &str) -> Result<Vec<ProcRead>, GroupErr> {
    let dir = segment::group_dir()?;
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| GroupErr::io(&format!("group directory {}", dir.display()), &e))?;
    let mut found = Vec::new();
    let mut others = false;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some((k, pid)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if k != key {
            others = true;
            continue;
        }
        found.push((pid, e.path()));
    }
    found.sort_by_key(|(pid, _)| *pid);
    let mut out = Vec::new();
    for (pid, path) in found {
        if let Some(data) = read_one(&path, pid) {
            out.push(ProcRead { pid, data });
        }
    }
    if others {
        reclaim(&dir);
    }
    Ok(out)
}
