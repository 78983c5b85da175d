//! The writer side: one native thread per process that, every `intervalMs`,
//! copies what the prom exporter reads of every loop of the process (and
//! the default pool, and the heap figures JS pushes) into this process's
//! segment. The loops themselves do nothing for it: it reads them the way
//! a scrape does (`Monitor::export_visit`, the same lock the loop thread
//! only ever `try_lock`s).

use super::layout::{self, LoopPayload, PoolOp, PoolPayload, ProcPayload};
use super::segment::{self, GroupErr, Marker, OwnSegment};
use super::seqlock;
use crate::lag::monitor::epoch_ms;
use crate::lag::{last_culprit, registry};
use parking_lot::{Condvar, Mutex};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const JOINED_CODE: &str = "ERR_NODEPERF_GROUP_JOINED";
/// How often the publisher checks that its marker is still there.
const MARKER_CHECK: Duration = Duration::from_secs(2);

/// What a process joined with.
#[derive(Clone, Debug)]
pub struct Config {
    pub key: String,
    pub interval_ms: u64,
    pub window_span_ns: u64,
    pub worker_id: Option<u64>,
}

struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

struct Publisher {
    config: Config,
    stop: Arc<Stop>,
    thread: Option<std::thread::JoinHandle<()>>,
    marker: PathBuf,
}

static CURRENT: Mutex<Option<Publisher>> = Mutex::new(None);

/// The main thread's heap, pushed from JS: used, limit, epoch ms (bits).
static HEAP_SET: AtomicBool = AtomicBool::new(false);
static HEAP_USED: AtomicU64 = AtomicU64::new(0);
static HEAP_LIMIT: AtomicU64 = AtomicU64::new(0);
static HEAP_AT: AtomicU64 = AtomicU64::new(0);

pub fn set_heap(used: f64, limit: f64) {
    HEAP_USED.store(used.max(0.0) as u64, Ordering::Relaxed);
    HEAP_LIMIT.store(limit.max(0.0) as u64, Ordering::Relaxed);
    HEAP_AT.store(epoch_ms().to_bits(), Ordering::Relaxed);
    HEAP_SET.store(true, Ordering::Release);
}

/// Publishes made and the thread time they took, since the process started
/// (bench/group-overhead.mjs: the publisher's own cost).
static PUBLISHES: AtomicU64 = AtomicU64::new(0);
static PUBLISH_NS: AtomicU64 = AtomicU64::new(0);

pub fn publish_stats() -> (u64, u64) {
    (
        PUBLISHES.load(Ordering::Relaxed),
        PUBLISH_NS.load(Ordering::Relaxed),
    )
}

pub fn current() -> Option<Config> {
    CURRENT.lock().as_ref().map(|p| p.config.clone())
}

/// Everything a publish reads, packed; `pid` for the loop labels' sake.
fn publish(seg: &OwnSegment, config: &Config, publishes: u64) {
    let words = seg.map.words();
    let monitors = registry::all();
    let mut loops = 0u64;
    for m in monitors.iter().take(layout::MAX_LOOPS) {
        let (stalled_for_ns, poll_entry_ns) = m.stall_state();
        let at_ns = segment::monotonic_ns();
        let read = m.export_visit(config.window_span_ns, |h| (h.digits(), h.pairs()));
        let (stalls_total, stalled_ns_total) = m.stall_totals();
        let mut p = LoopPayload {
            running: m.running(),
            stalled_for_ns,
            poll_entry_ns,
            at_ns,
            stalls_total,
            stalled_ns_total,
            label: m.label.clone(),
            culprit: last_culprit(&m.label),
            ..Default::default()
        };
        if let Some(((digits, pairs), w)) = read {
            p.exported = true;
            p.digits = u64::from(digits);
            p.pairs = pairs;
            p.window_ns = [w.p50, w.p90, w.p99, w.p999, w.max, w.min];
            p.mean_ns = w.mean;
            p.stddev_ns = w.stddev;
            p.utilization = w.utilization;
        }
        let packed = p.pack().unwrap_or_else(|| {
            // More buckets than a buffer holds: publish without the histogram.
            LoopPayload {
                exported: false,
                pairs: Vec::new(),
                ..p
            }
            .pack()
            .expect("fits without pairs")
        });
        seqlock::write(
            words,
            layout::loop_slot(loops as usize),
            layout::LOOP_CAP,
            &packed,
        );
        loops += 1;
    }
    if let Some(parts) = crate::pool::default_metrics_parts() {
        let pool = PoolPayload {
            counts: [
                parts.head[0],
                parts.head[1],
                parts.head[2],
                parts.counts[0],
                parts.counts[1],
                parts.counts[2],
            ],
            ops: parts
                .ops
                .iter()
                .map(|(outcomes, wait, run)| PoolOp {
                    outcomes: *outcomes,
                    wait: crate::hdr::pairs(wait),
                    run: crate::hdr::pairs(run),
                })
                .collect(),
        };
        let packed = pool.pack().unwrap_or_else(|| {
            // Too many buckets: counters only (a reader's export says so).
            PoolPayload {
                ops: Vec::new(),
                ..pool
            }
            .pack()
            .expect("counters fit")
        });
        seqlock::write(words, layout::POOL_SLOT, layout::POOL_CAP, &packed);
    }
    let heap = HEAP_SET.load(Ordering::Acquire).then(|| {
        (
            HEAP_USED.load(Ordering::Relaxed),
            HEAP_LIMIT.load(Ordering::Relaxed),
            f64::from_bits(HEAP_AT.load(Ordering::Relaxed)),
        )
    });
    let proc_ = ProcPayload {
        published_at_ms: epoch_ms(),
        published_hr_ns: segment::monotonic_ns(),
        interval_ms: config.interval_ms,
        window_span_ns: config.window_span_ns,
        loops,
        dropped_loops: monitors.len().saturating_sub(layout::MAX_LOOPS) as u64,
        worker_id: config.worker_id,
        heap,
        publishes,
    };
    seqlock::write(words, layout::PROC_SLOT, layout::PROC_CAP, &proc_.pack());
}

fn marker_of(seg: &OwnSegment, pid: u32, start_time: u64) -> Marker {
    Marker {
        pid,
        start_time,
        fd: seg.file.as_raw_fd(),
        size: layout::SEGMENT_BYTES as u64,
    }
}

/// Creates our marker at `path`, replacing a stale one (a process of ours
/// that left without removing it, or a dead one whose pid we now have).
fn place_marker(path: &std::path::Path, marker: &Marker) -> Result<(), GroupErr> {
    match segment::write_marker(path, marker) {
        Err(e) if e.code == "EEXIST" => {
            // Only our pid writes `<key>.<pid>`: whatever is there is stale.
            let _ = std::fs::remove_file(path);
            segment::write_marker(path, marker)
        }
        r => r,
    }
}

/// Joins group `key`: creates the segment, publishes once, places the
/// marker and starts the publisher thread. Joining the group already
/// joined only updates the interval.
pub fn join(config: Config) -> Result<(), GroupErr> {
    let mut current = CURRENT.lock();
    if let Some(p) = current.as_ref() {
        if p.config.key == config.key {
            return Ok(());
        }
        return Err(GroupErr::new(
            JOINED_CODE,
            format!(
                "this process is already in group '{}'; call group.leave() first",
                p.config.key
            ),
        ));
    }
    let dir = segment::group_dir()?;
    super::reader::reclaim(&dir);
    let pid = std::process::id();
    let start_time = segment::start_time(pid).ok_or_else(|| {
        GroupErr::new(
            segment::SEGMENT_CODE,
            "cannot read this process's start time from /proc",
        )
    })?;
    let seg = segment::create_segment(pid, start_time)?;
    registry::enable_export(config.window_span_ns);
    publish(&seg, &config, 1);
    let marker = dir.join(format!("{}.{pid}", config.key));
    let record = marker_of(&seg, pid, start_time);
    place_marker(&marker, &record)?;
    let stop = Arc::new(Stop {
        stopped: Mutex::new(false),
        wake: Condvar::new(),
    });
    let thread = {
        let (stop, config, marker) = (Arc::clone(&stop), config.clone(), marker.clone());
        std::thread::Builder::new()
            .name("nodeperf-group".into())
            .spawn(move || run(seg, config, stop, marker, record))
            .map_err(|e| GroupErr::io("cannot start the group publisher thread", &e))?
    };
    *current = Some(Publisher {
        config,
        stop,
        thread: Some(thread),
        marker,
    });
    Ok(())
}

fn run(seg: OwnSegment, config: Config, stop: Arc<Stop>, marker: PathBuf, record: Marker) {
    let interval = Duration::from_millis(config.interval_ms);
    let mut publishes = 1u64;
    let mut checked = Instant::now();
    let mut next = Instant::now() + interval;
    loop {
        {
            let mut stopped = stop.stopped.lock();
            while !*stopped && Instant::now() < next {
                stop.wake.wait_until(&mut stopped, next);
            }
            if *stopped {
                break;
            }
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now + interval;
        }
        publishes += 1;
        let t0 = Instant::now();
        publish(&seg, &config, publishes);
        PUBLISH_NS.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        PUBLISHES.fetch_add(1, Ordering::Relaxed);
        if checked.elapsed() >= MARKER_CHECK {
            checked = Instant::now();
            // Deleted (a cleaner, a reader's mistaken reclaim, a person):
            // put it back so readers find us again.
            if std::fs::symlink_metadata(&marker).is_err() {
                let _ = place_marker(&marker, &record);
            }
        }
    }
    // The marker goes before the segment (dropped here): a reader that finds
    // the marker meanwhile gets an error for this process, never a crash.
    let _ = std::fs::remove_file(&marker);
    drop(seg);
}

/// Leaves the group: stops the publisher, removes the marker; the memfd
/// goes with the last mapping. No-op when not in a group.
pub fn leave() {
    let p = CURRENT.lock().take();
    if let Some(mut p) = p {
        *p.stop.stopped.lock() = true;
        p.stop.wake.notify_all();
        if let Some(t) = p.thread.take() {
            let _ = t.join();
        }
        let _ = &p.marker;
    }
}
