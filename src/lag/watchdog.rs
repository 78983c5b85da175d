//! The stall watchdog: a native thread that notices a loop has been busy for
//! longer than its `logStalls.thresholdMs` *while* it is busy, and says so on
//! stderr (the stuck loop cannot run JS to do it). For stall culprits'
//! precise mode it also tells the capturer (a helper worker's function,
//! called on that worker's loop) once per stall that reaches the capture
//! threshold. It sleeps on a condition variable while no monitor asks for
//! either, so it costs nothing unless asked for.

use super::registry;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STARTED: AtomicBool = AtomicBool::new(false);
static WAKE: Mutex<u64> = Mutex::new(0);
static WAKE_CV: Condvar = Condvar::new();

/// Called on the capturer's loop with `(stallStartHrMs, busyMs)`: the
/// stall's poll entry on `process.hrtime`'s clock (it names the stall), and
/// how long it had lasted.
pub type Capturer = ThreadsafeFunction<(f64, f64), (), (f64, f64), Status, false, false>;

/// The capturer and the number it was set under.
static CAPTURER: Mutex<Option<(u32, Capturer)>> = Mutex::new(None);
static CAPTURER_IDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Sets the capturer (replacing any other); returns the number that clears it.
pub fn set_capturer(capturer: Capturer) -> u32 {
    let id = CAPTURER_IDS.fetch_add(1, Ordering::Relaxed);
    *CAPTURER.lock() = Some((id, capturer));
    notify();
    id
}

/// Clears the capturer set under `id`; one set since stays.
pub fn clear_capturer(id: u32) {
    let mut c = CAPTURER.lock();
    if c.as_ref().is_some_and(|(set, _)| *set == id) {
        *c = None;
    }
}

fn wants_watch(m: &super::monitor::Monitor) -> bool {
    m.log_threshold_ns() > 0 || m.capture_threshold_ns() > 0
}

/// Re-reads the monitors' settings (call after changing `logStalls` or the
/// capture threshold).
pub fn notify() {
    let wanted = registry::all().iter().any(|m| wants_watch(m));
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

/// What was said about a monitor's current stall. Kept for every live
/// monitor, watched or not: turning `logStalls` off and on again during a
/// stall must not make the watchdog say it all over again.
#[derive(Debug, Default, PartialEq)]
struct Reported {
    /// The stall's start (its poll entry); a new one starts a new record.
    stall_start: u64,
    /// How long the stall had lasted at the last line about it; 0: no line.
    said_ns: u64,
}

impl Reported {
    /// Whether to write a line now about a stall that began at `stall_start`
    /// and has lasted `busy` ns, for `threshold` ns (> 0); records it if so.
    /// Doubling steps: a stuck loop is reported at 1x, 2x, 4x, … the
    /// threshold, once per step however often it is asked and whatever the
    /// settings did in between: the first line once `busy` reaches the
    /// threshold, then one each time it passes the next doubling above the
    /// last line's length.
    fn should_say(&mut self, stall_start: u64, busy: u64, threshold: u64) -> bool {
        if self.stall_start != stall_start {
            *self = Reported {
                stall_start,
                said_ns: 0,
            };
        }
        let mut next = threshold.max(1);
        while next <= self.said_ns {
            if next == u64::MAX {
                return false;
            }
            next = next.saturating_mul(2);
        }
        if busy < next {
            return false;
        }
        self.said_ns = busy;
        true
    }
}

fn run() {
    let mut reported: HashMap<usize, Reported> = HashMap::new();
    // Per monitor, the poll entry of the last stall the capturer was told of.
    let mut captured: HashMap<usize, u64> = HashMap::new();
    loop {
        let monitors = registry::all();
        // Only monitors that ended lose their record.
        reported.retain(|k, _| {
            monitors
                .iter()
                .any(|m| std::sync::Arc::as_ptr(m) as usize == *k)
        });
        captured.retain(|k, _| {
            monitors
                .iter()
                .any(|m| std::sync::Arc::as_ptr(m) as usize == *k)
        });
        let watched: Vec<_> = monitors.iter().filter(|m| wants_watch(m)).collect();
        let min_threshold = watched
            .iter()
            .flat_map(|m| [m.log_threshold_ns(), m.capture_threshold_ns()])
            .filter(|&t| t > 0)
            .min();
        let Some(min_threshold) = min_threshold else {
            let mut generation = WAKE.lock();
            let seen = *generation;
            while *generation == seen {
                WAKE_CV.wait(&mut generation);
            }
            continue;
        };
        for m in &watched {
            let key = std::sync::Arc::as_ptr(m) as usize;
            let (busy, stall_start) = m.stall_state();
            let capture = m.capture_threshold_ns();
            if capture > 0 && busy >= capture && captured.get(&key) != Some(&stall_start) {
                captured.insert(key, stall_start);
                if let Some((_, c)) = CAPTURER.lock().as_ref() {
                    // Non-blocking: a capturer whose thread is gone or busy
                    // misses this stall; the watchdog never waits for it.
                    c.call(
                        (stall_start as f64 / 1e6, busy as f64 / 1e6),
                        ThreadsafeFunctionCallMode::NonBlocking,
                    );
                }
            }
            let threshold = m.log_threshold_ns();
            if threshold == 0 {
                continue;
            }
            let entry = reported.entry(key).or_default();
            if entry.should_say(stall_start, busy, threshold) {
                let _ = writeln!(
                    std::io::stderr(),
                    "event loop of {} blocked for {} ms",
                    m.label,
                    busy / 1_000_000
                );
            }
        }
        let tick = Duration::from_nanos((min_threshold / 4).clamp(5_000_000, 250_000_000));
        let mut generation = WAKE.lock();
        WAKE_CV.wait_for(&mut generation, tick);
    }
}

#[cfg(test)]
mod tests {
    use super::Reported;

    const MS: u64 = 1_000_000;

    /// The lines a stall gets when the watchdog looks at these moments (ms).
    fn said(r: &mut Reported, start: u64, looks: &[u64], threshold_ms: u64) -> Vec<u64> {
        looks
            .iter()
            .copied()
            .filter(|&t| r.should_say(start, t * MS, threshold_ms * MS))
            .collect()
    }

    #[test]
    fn one_line_per_doubling_of_the_threshold() {
        let mut r = Reported::default();
        let looks: Vec<u64> = (0..=1000).step_by(10).collect();
        assert_eq!(said(&mut r, 7, &looks, 50), [50, 100, 200, 400, 800]);
    }

    #[test]
    fn looking_again_after_settings_changed_says_nothing_new() {
        // logStalls turned off at 120 ms and on again at 150 ms: the record
        // was kept, so the stall is not reported from the start again.
        let mut r = Reported::default();
        assert_eq!(said(&mut r, 7, &[50, 60, 120], 50), [50, 120]);
        assert_eq!(said(&mut r, 7, &[150, 160, 199, 200, 250], 50), [200]);
        // A lower threshold set mid-stall: the next doubling above the last
        // line, not the threshold.
        assert_eq!(said(&mut r, 7, &[210, 250, 390], 30), [250]);
    }

    #[test]
    fn a_new_stall_starts_over() {
        let mut r = Reported::default();
        assert_eq!(said(&mut r, 7, &[50, 100], 50), [50, 100]);
        assert_eq!(said(&mut r, 9, &[40, 50, 100], 50), [50, 100]);
    }

    #[test]
    fn huge_lengths_do_not_loop() {
        let mut r = Reported::default();
        assert!(r.should_say(1, u64::MAX, 1));
        assert!(!r.should_say(1, u64::MAX, 1));
    }
}
