//! A sliding window over the last `span` of loop time, as a ring of
//! [`SLOTS`] sub-histograms of 2 significant digits plus their running sum:
//! a slot that leaves the window is subtracted from the sum, so a read costs
//! no merging. Every reader at the same moment sees the same values, however
//! often it reads (no reset-on-read).
#![forbid(unsafe_code)]

use super::histogram::LagHistogram;

pub const SLOTS: usize = 6;

pub struct Window {
    slot_ns: u64,
    slots: Vec<(u64, LagHistogram)>,
    merged: LagHistogram,
}

impl Window {
    pub fn new(span_ns: u64) -> Self {
        let slot_ns = (span_ns / SLOTS as u64).max(1_000_000);
        // span_ns() must give back exactly what was asked for.
        debug_assert!(span_ns.is_multiple_of(SLOTS as u64));
        Self {
            slot_ns,
            slots: (0..SLOTS)
                .map(|_| (u64::MAX, LagHistogram::with_digits(2)))
                .collect(),
            merged: LagHistogram::with_digits(2),
        }
    }

    pub fn span_ns(&self) -> u64 {
        self.slot_ns * SLOTS as u64
    }

    /// Drops the slots that are no longer inside the window at `epoch`.
    fn expire(&mut self, epoch: u64) {
        let oldest = epoch.saturating_sub(SLOTS as u64 - 1);
        for (slot_epoch, hist) in &mut self.slots {
            if *slot_epoch != u64::MAX && *slot_epoch < oldest {
                self.merged.subtract(hist);
                hist.reset();
                *slot_epoch = u64::MAX;
            }
        }
    }

    pub fn record_cycle(&mut self, now_ns: u64, idle_ns: u64, busy_ns: u64) {
        let epoch = now_ns / self.slot_ns;
        self.expire(epoch);
        let (slot_epoch, hist) = &mut self.slots[(epoch % SLOTS as u64) as usize];
        *slot_epoch = epoch;
        hist.record_cycle(idle_ns, busy_ns);
        self.merged.record_cycle(idle_ns, busy_ns);
    }

    /// The window as of `now_ns`: the current slot and the ones before it
    /// that are still less than `span` old; `max_ns` is their longest busy
    /// period.
    pub fn read(&mut self, now_ns: u64) -> (&LagHistogram, u64) {
        self.expire(now_ns / self.slot_ns);
        let max = self
            .slots
            .iter()
            .filter(|(e, _)| *e != u64::MAX)
            .map(|(_, h)| h.max_ns())
            .max()
            .unwrap_or(0);
        (&self.merged, max)
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
        assert_eq!(w.read(31 * S).1, 500 * MS);
        // 70 s later the 500 ms stall has left the window; the 10 ms one not.
        let (later, max) = w.read(75 * S);
        assert_eq!(max, 10 * MS);
        assert!((later.utilization() - 0.1).abs() < 1e-9);
        assert!(later.quantile_ns(0.999) <= 10 * MS);
        assert_eq!(w.read(200 * S).0.periods(), 0);
    }

    #[test]
    fn reads_do_not_change_the_window() {
        let mut w = Window::new(60 * S);
        w.record_cycle(S, 10 * MS, 40 * MS);
        let a = w.read(2 * S).0.quantile_ns(0.99);
        let b = w.read(2 * S).0.quantile_ns(0.99);
        assert_eq!(a, b);
        assert!(a > 30 * MS);
    }
}
