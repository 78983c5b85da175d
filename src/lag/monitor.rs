//! One loop's monitor, as every thread sees it. Over 500 lines: its state,
//! the loop thread's writes and every other thread's reads are one unit,
//! whose ordering comments refer to each other.
//!
//! The loop's own thread writes it from a prepare hook (see `local.rs`);
//! any thread reads it. Reads that need the loop itself (its idle-time
//! counter) hold the loop thread's alive guard, so they never touch a loop
//! that has been closed; once the thread has ended, reads return the values
//! frozen at teardown.
//!
//! ## Memory ordering
//! The heartbeat (last poll entry, idle time then) is a seqlock: the writer
//! bumps `seq` to odd, stores both values, bumps it to even (Release); a
//! reader retries until it sees the same even `seq` before and after
//! (Acquire). Counters are independent Relaxed atomics. The histogram is
//! behind a mutex the loop thread only ever `try_lock`s.
#![forbid(unsafe_code)]

use super::histogram::LagHistogram;
use super::window::Window;
use crate::thread::ThreadShared;
use crate::uv::{self, LoopRef};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A busy period still running is folded into reads once it is this long.
const ONGOING_MIN_NS: u64 = 1_000_000;
/// Default `stallThresholdMs`: busy periods at least this long count as stalls.
pub const DEFAULT_STALL_THRESHOLD_NS: u64 = 100_000_000;

pub fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

#[derive(Default)]
struct Heartbeat {
    seq: AtomicU64,
    poll_entry_ns: AtomicU64,
    idle_ns: AtomicU64,
}

impl Heartbeat {
    /// Single writer: the loop's own thread.
    fn store(&self, poll_entry_ns: u64, idle_ns: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s + 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        self.poll_entry_ns.store(poll_entry_ns, Ordering::Relaxed);
        self.idle_ns.store(idle_ns, Ordering::Relaxed);
        self.seq.store(s + 2, Ordering::Release);
    }

    fn load(&self) -> (u64, u64) {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            let entry = self.poll_entry_ns.load(Ordering::Relaxed);
            let idle = self.idle_ns.load(Ordering::Relaxed);
            std::sync::atomic::fence(Ordering::Acquire);
            let s2 = self.seq.load(Ordering::Relaxed);
            if s1 == s2 && s1.is_multiple_of(2) {
                return (entry, idle);
            }
            std::hint::spin_loop();
        }
    }
}

/// The histograms one lock guards, so a cycle is recorded in one go.
struct Hists {
    /// What the `lag` API reads; `reset()` clears it.
    current: LagHistogram,
    /// For metrics exporters; allocated on first use, never reset.
    export: Option<Export>,
}

struct Export {
    lifetime: LagHistogram,
    /// One per span asked for (prom's gauges, `overloaded()`, the sidecar).
    windows: Vec<Window>,
}

impl Hists {
    /// Records a cycle ending at `at_ns`; `current` only gets the part of
    /// it after `since_ns` (the last `reset()`).
    fn record(&mut self, at_ns: u64, idle_ns: u64, busy_ns: u64, since_ns: u64) {
        let idle_end = at_ns.saturating_sub(busy_ns);
        let start = idle_end.saturating_sub(idle_ns);
        if start >= since_ns {
            self.current.record_cycle(idle_ns, busy_ns);
        } else {
            let idle_after = idle_end.saturating_sub(since_ns.max(start));
            let busy_after = at_ns.saturating_sub(since_ns.max(idle_end));
            self.current
                .record_part(idle_after, 0, busy_after, busy_after > 0);
        }
        if let Some(e) = &mut self.export {
            e.lifetime.record_cycle(idle_ns, busy_ns);
            for w in &mut e.windows {
                w.record_cycle(at_ns, idle_ns, busy_ns);
            }
        }
    }
}

/// What a metrics exporter reads: cumulative (never reset) histogram
/// buckets and counters, and gauges over the sliding window.
pub struct ExportRead {
    /// Cumulative weights (ns of loop time) at or below each bound, then
    /// the total (`+Inf`).
    pub cumulative: Vec<u64>,
    /// Sum of lag x weight, in s x µs.
    pub sum_s_us: f64,
    pub stalls_total: u64,
    pub stalled_ns_total: u64,
    pub window: WindowRead,
}

/// The sliding window's figures (ns, or a ratio).
pub struct WindowRead {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub min: u64,
    pub mean: f64,
    pub stddev: f64,
    pub utilization: f64,
}

impl WindowRead {
    /// `max`: the longest wait in the window (the merged histogram's own
    /// maximum may belong to a slot that has left it).
    fn of(h: &LagHistogram, max: u64) -> Self {
        let s = h.summary(&[0.5, 0.9, 0.99, 0.999]);
        Self {
            p50: s.quantiles[0],
            p90: s.quantiles[1],
            p99: s.quantiles[2],
            p999: s.quantiles[3],
            max,
            min: s.min_ns,
            mean: s.mean_ns,
            stddev: s.stddev_ns,
            utilization: h.utilization(),
        }
    }
}

/// Everything the API reports, read at one instant.
pub struct Snapshot {
    pub hist: LagHistogram,
    pub utilization: f64,
    pub stalls: u64,
    pub stalled_ns: u64,
    pub since_ms: f64,
    pub stalled_for_ns: u64,
}

pub struct Monitor {
    pub label: String,
    thread: Arc<ThreadShared>,
    loop_ref: LoopRef,
    heartbeat: Heartbeat,
    hists: Mutex<Hists>,
    running: AtomicBool,
    /// A poll-to-poll cycle has begun since `start()`: the busy period in
    /// progress will be recorded when it ends. Before the first poll after
    /// a start (module load, startup code) it will not be (src/lag/README.md,
    /// "Known limits"), so reads do not fold it in either: a value must not
    /// show a busy period and then lose it.
    cycling: AtomicBool,
    stall_threshold_ns: AtomicU64,
    stalls: AtomicU64,
    stalled_ns: AtomicU64,
    /// Never reset (metrics counters).
    stalls_total: AtomicU64,
    stalled_ns_total: AtomicU64,
    /// Start of the utilisation window: hrtime and idle time at reset.
    window: Mutex<(u64, u64)>,
    /// hrtime of the last reset: the `lag` API counts nothing before it.
    reset_at: AtomicU64,
    since_ms: Mutex<f64>,
    /// Utilisation at teardown, read once the thread has ended.
    final_utilization: Mutex<Option<f64>>,
    /// `logStalls.thresholdMs` in ns; 0 = off.
    log_threshold_ns: AtomicU64,
    /// Busy this long, the watchdog asks the capturer (stall culprits'
    /// precise mode) for the stack in progress; 0: never.
    capture_threshold_ns: AtomicU64,
}

impl Monitor {
    pub fn new(label: String, thread: Arc<ThreadShared>, loop_ref: LoopRef) -> Self {
        // Created at attach, on the loop's own thread: it is alive (0 only
        // if a broken caller created it after teardown).
        let idle = thread.alive().map_or(0, |open| loop_ref.idle_time(&open));
        let now = uv::hrtime();
        let heartbeat = Heartbeat::default();
        heartbeat.store(now, idle);
        Self {
            label,
            thread,
            loop_ref,
            heartbeat,
            hists: Mutex::new(Hists {
                current: LagHistogram::new(),
                export: None,
            }),
            running: AtomicBool::new(false),
            cycling: AtomicBool::new(false),
            stall_threshold_ns: AtomicU64::new(DEFAULT_STALL_THRESHOLD_NS),
            stalls: AtomicU64::new(0),
            stalled_ns: AtomicU64::new(0),
            stalls_total: AtomicU64::new(0),
            stalled_ns_total: AtomicU64::new(0),
            window: Mutex::new((now, idle)),
            reset_at: AtomicU64::new(0),
            since_ms: Mutex::new(epoch_ms()),
            final_utilization: Mutex::new(None),
            log_threshold_ns: AtomicU64::new(0),
            capture_threshold_ns: AtomicU64::new(0),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    // ---- written by the loop's own thread --------------------------------

    /// The loop is about to poll: remember when, for `stalled_for`.
    pub fn beat(&self, poll_entry_ns: u64, idle_ns: u64) {
        self.heartbeat.store(poll_entry_ns, idle_ns);
        self.cycling.store(true, Ordering::Relaxed);
    }

    /// Tries to record cycles `(at, idle, busy)`; keeps them in `cycles` if
    /// a reader holds the lock.
    pub fn try_record(&self, cycles: &mut Vec<(u64, u64, u64)>) {
        if let Some(mut hists) = self.hists.try_lock() {
            let since = self.reset_at.load(Ordering::Relaxed);
            for (at, idle, busy) in cycles.drain(..) {
                hists.record(at, idle, busy, since);
            }
        }
    }

    /// Records cycles, waiting for the lock if needed.
    pub fn record(&self, cycles: &mut Vec<(u64, u64, u64)>) {
        let mut hists = self.hists.lock();
        let since = self.reset_at.load(Ordering::Relaxed);
        for (at, idle, busy) in cycles.drain(..) {
            hists.record(at, idle, busy, since);
        }
    }

    /// Counts a busy period as a stall if it reached the threshold.
    pub fn count_stall(&self, busy_ns: u64) {
        if busy_ns >= self.stall_threshold_ns.load(Ordering::Relaxed) {
            self.stalls.fetch_add(1, Ordering::Relaxed);
            self.stalled_ns.fetch_add(busy_ns, Ordering::Relaxed);
            self.stalls_total.fetch_add(1, Ordering::Relaxed);
            self.stalled_ns_total.fetch_add(busy_ns, Ordering::Relaxed);
        }
    }

    pub fn set_running(&self, running: bool) {
        self.cycling.store(false, Ordering::Relaxed);
        self.running.store(running, Ordering::Relaxed);
    }

    /// Teardown, on the loop's thread while the loop is still alive.
    pub fn freeze(&self) {
        let utilization = self.utilization();
        *self.final_utilization.lock() = Some(utilization);
        self.running.store(false, Ordering::Relaxed);
    }

    // ---- configuration (any thread) ---------------------------------------

    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub fn set_stall_threshold_ns(&self, ns: u64) {
        self.stall_threshold_ns.store(ns, Ordering::Relaxed);
    }

    pub fn stall_threshold_ns(&self) -> u64 {
        self.stall_threshold_ns.load(Ordering::Relaxed)
    }

    pub fn set_log_threshold_ns(&self, ns: u64) {
        self.log_threshold_ns.store(ns, Ordering::Relaxed);
    }

    pub fn log_threshold_ns(&self) -> u64 {
        self.log_threshold_ns.load(Ordering::Relaxed)
    }

    pub fn set_capture_threshold_ns(&self, ns: u64) {
        self.capture_threshold_ns.store(ns, Ordering::Relaxed);
    }

    pub fn capture_threshold_ns(&self) -> u64 {
        self.capture_threshold_ns.load(Ordering::Relaxed)
    }

    // ---- reads (any thread) -----------------------------------------------

    /// The cycle in progress: `(idle, busy)` since the last poll entry.
    pub fn ongoing_cycle(&self) -> (u64, u64) {
        if !self.running() || !self.cycling.load(Ordering::Relaxed) {
            return (0, 0);
        }
        let Some(alive) = self.thread.alive() else {
            return (0, 0);
        };
        let (entry, idle_then) = self.heartbeat.load();
        let idle_now = self.loop_ref.idle_time(&alive);
        let now = uv::hrtime();
        let idle = idle_now.saturating_sub(idle_then);
        (idle, now.saturating_sub(entry).saturating_sub(idle))
    }

    /// How long the loop has been busy without polling, right now; 0 when it
    /// is blocked in its poll (idle), stopped, or its thread has ended.
    pub fn stalled_for_ns(&self) -> u64 {
        if !self.running() {
            return 0;
        }
        let Some(alive) = self.thread.alive() else {
            return 0;
        };
        let (entry, idle_then) = self.heartbeat.load();
        let idle_now = self.loop_ref.idle_time(&alive);
        let now = uv::hrtime();
        // Since the last poll entry the loop was idle for (idle_now -
        // idle_then), and busy for the rest. If it is polling right now, the
        // idle time includes the poll in progress and this is ~0.
        now.saturating_sub(entry)
            .saturating_sub(idle_now.saturating_sub(idle_then))
    }

    /// `(busy for, poll entry it is counted from)`: the second identifies
    /// the busy period, so a watcher can tell one stall from the next.
    pub fn stall_state(&self) -> (u64, u64) {
        let busy = self.stalled_for_ns();
        (busy, self.heartbeat.load().0)
    }

    /// The busy period in progress, counted from the last reset at most.
    fn ongoing_since_reset(&self) -> u64 {
        if !self.cycling.load(Ordering::Relaxed) {
            return 0;
        }
        let since = uv::hrtime().saturating_sub(self.reset_at.load(Ordering::Relaxed));
        self.stalled_for_ns().min(since)
    }

    /// Event-loop utilisation since the last reset: busy / elapsed.
    pub fn utilization(&self) -> f64 {
        if let Some(frozen) = *self.final_utilization.lock() {
            return frozen;
        }
        let Some(alive) = self.thread.alive() else {
            return self.final_utilization.lock().unwrap_or(0.0);
        };
        let (start, idle_start) = *self.window.lock();
        let idle = self.loop_ref.idle_time(&alive);
        let elapsed = uv::hrtime().saturating_sub(start);
        if elapsed == 0 {
            return 0.0;
        }
        let idle = idle.saturating_sub(idle_start).min(elapsed);
        (elapsed - idle) as f64 / elapsed as f64
    }

    /// The histogram, with a busy period still in progress folded in once it
    /// passes 1 ms (a reader on another thread sees a stall while it lasts).
    pub fn histogram(&self) -> LagHistogram {
        let ongoing = self.ongoing_since_reset();
        let hists = self.hists.lock();
        if ongoing >= ONGOING_MIN_NS {
            hists.current.with_ongoing(ongoing)
        } else {
            hists.current.with_ongoing(0)
        }
    }

    /// Runs `f` on the recorded histogram without copying it, unless a busy
    /// period in progress must be folded in.
    pub fn with_histogram<R>(&self, f: impl FnOnce(&LagHistogram) -> R) -> R {
        let ongoing = self.ongoing_since_reset();
        let hists = self.hists.lock();
        if ongoing >= ONGOING_MIN_NS {
            let live = hists.current.with_ongoing(ongoing);
            drop(hists);
            f(&live)
        } else {
            f(&hists.current)
        }
    }

    pub fn stalls(&self) -> (u64, u64) {
        (
            self.stalls.load(Ordering::Relaxed),
            self.stalled_ns.load(Ordering::Relaxed),
        )
    }

    pub fn since_ms(&self) -> f64 {
        *self.since_ms.lock()
    }

    pub fn snapshot(&self) -> Snapshot {
        let stalled_for_ns = self.stalled_for_ns();
        let hist = self.histogram();
        let (stalls, stalled_ns) = self.stalls();
        Snapshot {
            hist,
            utilization: self.utilization(),
            stalls,
            stalled_ns,
            since_ms: self.since_ms(),
            stalled_for_ns,
        }
    }

    /// Clears the histogram, the stall counts and the utilisation window.
    pub fn reset(&self) {
        {
            let mut hists = self.hists.lock();
            hists.current.reset();
            self.reset_at.store(uv::hrtime(), Ordering::Relaxed);
        }
        self.stalls.store(0, Ordering::Relaxed);
        self.stalled_ns.store(0, Ordering::Relaxed);
        *self.since_ms.lock() = epoch_ms();
        if let Some(alive) = self.thread.alive() {
            let idle = self.loop_ref.idle_time(&alive);
            *self.window.lock() = (uv::hrtime(), idle);
        }
    }
}

impl Monitor {
    /// Starts keeping the never-reset histogram, and a sliding window of
    /// `span_ns` (idempotent per span).
    pub fn enable_export(&self, spans_ns: &[u64]) {
        let mut hists = self.hists.lock();
        let export = hists.export.get_or_insert_with(|| Export {
            // Prometheus buckets are coarse: 2 digits (1 %) keep a scrape
            // of many loops well under a millisecond.
            lifetime: LagHistogram::with_digits(2),
            windows: Vec::new(),
        });
        for span in spans_ns {
            if !export.windows.iter().any(|w| w.span_ns() == *span) {
                export.windows.push(Window::new(*span));
            }
        }
    }

    /// Exporter read; `None` until [`Self::enable_export`] for `span_ns`. A busy period
    /// still in progress is folded in (the counts only grow when it ends and
    /// is recorded in full, so the cumulative series stay monotone).
    pub fn export_read(&self, bounds_ns: &[u64], span_ns: u64) -> Option<ExportRead> {
        let lifetime_read = |lifetime: &LagHistogram| {
            let mut cumulative = lifetime.cumulative(bounds_ns);
            cumulative.push(lifetime.total_weight());
            (cumulative, lifetime.weighted_sum_s_us())
        };
        let ((cumulative, sum_s_us), window) = self.export_visit(span_ns, lifetime_read)?;
        Some(ExportRead {
            cumulative,
            sum_s_us,
            stalls_total: self.stalls_total.load(Ordering::Relaxed),
            stalled_ns_total: self.stalled_ns_total.load(Ordering::Relaxed),
            window,
        })
    }

    /// What [`Self::export_read`] reads, given to `f` as the lifetime
    /// histogram (the busy period in progress folded in, as there) while
    /// the lock is held, with the window figures; the group publisher
    /// copies the histogram out of it, so a reader in another process
    /// computes buckets with the very code and data `export_read` uses.
    pub fn export_visit<R>(
        &self,
        span_ns: u64,
        f: impl FnOnce(&LagHistogram) -> R,
    ) -> Option<(R, WindowRead)> {
        let (ongoing_idle, ongoing) = self.ongoing_cycle();
        let now = uv::hrtime();
        let mut hists = self.hists.lock();
        let export = hists.export.as_mut()?;
        let window = export.windows.iter_mut().find(|w| w.span_ns() == span_ns)?;
        // The window sees the cycle in progress (its idle time too: a loop
        // idle for a minute has a window of idle time, not an empty one).
        let (window_hist, window_max) = window.read(now, ongoing_idle, ongoing);
        let window = WindowRead::of(&window_hist, window_max);
        let r = if ongoing >= ONGOING_MIN_NS {
            f(&export.lifetime.with_ongoing(ongoing))
        } else {
            f(&export.lifetime)
        };
        drop(hists);
        Some((r, window))
    }

    /// `(stalls_total, stalled_ns_total)`: never reset.
    pub fn stall_totals(&self) -> (u64, u64) {
        (
            self.stalls_total.load(Ordering::Relaxed),
            self.stalled_ns_total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests;
