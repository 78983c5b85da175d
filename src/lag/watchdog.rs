//! The stall watchdog: a native thread that notices a loop has been busy for
//! longer than its `logStalls.thresholdMs` *while* it is busy, and says so on
//! stderr (the stuck loop cannot run JS to do it). It sleeps on a condition
//! variable while no monitor has `logStalls` on, so it costs nothing unless
//! asked for.

use super::registry;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STARTED: AtomicBool = AtomicBool::new(false);
static WAKE: Mutex<u64> = Mutex::new(0);
static WAKE_CV: Condvar = Condvar::new();

/// Re-reads the monitors' settings (call after changing `logStalls`).
pub fn notify() {
    let wanted = registry::all().iter().any(|m| m.log_threshold_ns() > 0);
    if wanted && !STARTED.swap(true, Ordering::AcqRel) {
        let spawned = std::thread::Builder::new()
            .name("nodeperf-watchdog".into())
            .spawn(run);
        if spawned.is_err() {
            STARTED.store(false, Ordering::Release);
        }
    }
    *WAKE.lock() += 1;
    WAKE_CV.notify_all();
}

/// What was said about a monitor's current stall.
struct Reported {
    stall_start: u64,
    next_ns: u64,
}

fn run() {
    let mut reported: HashMap<usize, Reported> = HashMap::new();
    loop {
        let monitors = registry::all();
        let watched: Vec<_> = monitors
            .iter()
            .filter(|m| m.log_threshold_ns() > 0)
            .collect();
        let min_threshold = watched.iter().map(|m| m.log_threshold_ns()).min();
        let Some(min_threshold) = min_threshold else {
            reported.clear();
            let mut generation = WAKE.lock();
            let seen = *generation;
            while *generation == seen {
                WAKE_CV.wait(&mut generation);
            }
            continue;
        };
        for m in &watched {
            let key = std::sync::Arc::as_ptr(m) as usize;
            let threshold = m.log_threshold_ns();
            let (busy, stall_start) = m.stall_state();
            let entry = reported.entry(key).or_insert(Reported {
                stall_start: 0,
                next_ns: threshold,
            });
            if entry.stall_start != stall_start {
                *entry = Reported {
                    stall_start,
                    next_ns: threshold,
                };
            }
            if busy >= entry.next_ns {
                // Doubling steps: a stuck loop is reported at 1x, 2x, 4x, …
                // the threshold, not once per tick.
                let _ = writeln!(
                    std::io::stderr(),
                    "event loop of {} blocked for {} ms",
                    m.label,
                    busy / 1_000_000
                );
                while entry.next_ns <= busy {
                    entry.next_ns = entry.next_ns.saturating_mul(2);
                }
            }
        }
        reported.retain(|k, _| {
            watched
                .iter()
                .any(|m| std::sync::Arc::as_ptr(m) as usize == *k)
        });
        let tick = Duration::from_nanos((min_threshold / 4).clamp(5_000_000, 250_000_000));
        let mut generation = WAKE.lock();
        WAKE_CV.wait_for(&mut generation, tick);
    }
}
