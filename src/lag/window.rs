//! A sliding window over the last `span` of loop time, as a ring of
//! [`SLOTS`] sub-histograms of 2 significant digits. Reads merge the slots
//! still inside the window, so every reader at the same moment sees the same
//! values, however often it reads (no reset-on-read).
#![forbid(unsafe_code)]

use super::histogram::LagHistogram;

pub const SLOTS: usize = 6;

pub struct Window {
    slot_ns: u64,
    slots: Vec<(u64, LagHistogram)>,
}

impl Window {
    pub fn new(span_ns: u64) -> Self {
        let slot_ns = (span_ns / SLOTS as u64).max(1_000_000);
        Self {
            slot_ns,
            slots: (0..SLOTS)
                .map(|_| (u64::MAX, LagHistogram::with_digits(2)))
                .collect(),
        }
    }

    pub fn record_cycle(&mut self, now_ns: u64, idle_ns: u64, busy_ns: u64) {
        let epoch = now_ns / self.slot_ns;
        let (slot_epoch, hist) = &mut self.slots[(epoch % SLOTS as u64) as usize];
        if *slot_epoch != epoch {
            hist.reset();
            *slot_epoch = epoch;
        }
        hist.record_cycle(idle_ns, busy_ns);
    }

    /// The merged window as of `now_ns`: the current slot and the ones
    /// before it that are still less than `span` old.
    pub fn read(&self, now_ns: u64) -> LagHistogram {
        let epoch = now_ns / self.slot_ns;
        let oldest = epoch.saturating_sub(SLOTS as u64 - 1);
        let mut out = LagHistogram::with_digits(2);
        for (slot_epoch, hist) in &self.slots {
            if *slot_epoch != u64::MAX && *slot_epoch >= oldest && *slot_epoch <= epoch {
                out.merge(hist);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn old_data_slides_out() {
        let mut w = Window::new(60 * S);
        w.record_cycle(5 * S, 0, 500 * MS);
        w.record_cycle(30 * S, 90 * MS, 10 * MS);
        assert_eq!(w.read(31 * S).max_ns(), 500 * MS);
        // 70 s later the 500 ms stall has left the window; the 10 ms one not.
        let later = w.read(75 * S);
        assert_eq!(later.max_ns(), 10 * MS);
        assert!((later.utilization() - 0.1).abs() < 1e-9);
        assert_eq!(w.read(200 * S).periods(), 0);
    }

    #[test]
    fn reads_do_not_change_the_window() {
        let mut w = Window::new(60 * S);
        w.record_cycle(S, 10 * MS, 40 * MS);
        let a = w.read(2 * S).quantile_ns(0.99);
        let b = w.read(2 * S).quantile_ns(0.99);
        assert_eq!(a, b);
        assert!(a > 30 * MS);
    }
}
