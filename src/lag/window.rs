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

    /// Records a cycle that ended at `now_ns`: `idle_ns` idle, then
    /// `busy_ns` busy. Each slot gets the part of it that fell in its time.
    pub fn record_cycle(&mut self, now_ns: u64, idle_ns: u64, busy_ns: u64) {
        let epoch = now_ns / self.slot_ns;
        self.expire(epoch);
        let parts = self.parts(now_ns, idle_ns, busy_ns);
        for (e, idle, lo, hi, ends) in parts {
            let (slot_epoch, hist) = &mut self.slots[(e % SLOTS as u64) as usize];
            *slot_epoch = e;
            hist.record_part(idle, lo, hi, ends);
            self.merged.record_part(idle, lo, hi, ends);
        }
    }

    /// Splits a cycle ending at `now` over the slots still in the window:
    /// `(epoch, idle, wait_lo, wait_hi, ends_period)` per slot. Arrivals at
    /// time `t` of the busy stretch `[now - busy, now]` wait `now - t`.
    fn parts(&self, now: u64, idle: u64, busy: u64) -> Vec<(u64, u64, u64, u64, bool)> {
        let epoch = now / self.slot_ns;
        let oldest = epoch.saturating_sub(SLOTS as u64 - 1);
        let busy_start = now.saturating_sub(busy);
        let idle_start = busy_start.saturating_sub(idle);
        let first = (idle_start / self.slot_ns).max(oldest);
        let overlap = |a: u64, b: u64, s0: u64, s1: u64| -> (u64, u64) { (a.max(s0), b.min(s1)) };
        (first..=epoch)
            .map(|e| {
                let (s0, s1) = (e * self.slot_ns, (e + 1) * self.slot_ns);
                let (i0, i1) = overlap(idle_start, busy_start, s0, s1);
                let (b0, b1) = overlap(busy_start, now, s0, s1);
                let idle_part = i1.saturating_sub(i0);
                let (lo, hi) = if b1 > b0 {
                    (now - b1, now - b0)
                } else {
                    (0, 0)
                };
                (e, idle_part, lo, hi, e == epoch && busy > 0)
            })
            .collect()
    }

    /// The window as of `now_ns`, with the cycle still in progress (`idle`
    /// then `busy` so far, ending now) folded into a copy: the current slot
    /// and the ones before it that are still less than `span` old. Returns
    /// the histogram and the longest wait in it.
    pub fn read(&mut self, now_ns: u64, idle_so_far: u64, busy_so_far: u64) -> (LagHistogram, u64) {
        self.expire(now_ns / self.slot_ns);
        let mut max = self
            .slots
            .iter()
            .filter(|(e, _)| *e != u64::MAX)
            .map(|(_, h)| h.max_ns())
            .max()
            .unwrap_or(0);
        let mut out = self.merged.copy();
        for (_, idle, lo, hi, _) in self.parts(now_ns, idle_so_far, busy_so_far) {
            out.record_part(idle, lo, hi, false);
            max = max.max(hi);
        }
        (out, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_idle_cycle_only_counts_inside_the_window() {
        // 10 s of idle, then 300 ms busy, ending at t = 20 s. The window's
        // 200 ms slots start at 19.0 s: it sees 700 ms of idle and the 300 ms
        // busy stretch.
        let mut w = Window::new(1_200 * MS);
        w.record_cycle(20 * S, 10 * S, 300 * MS);
        let (h, max) = w.read(20 * S, 0, 0);
        assert_eq!(max, 300 * MS);
        assert!((h.utilization() - 0.3).abs() < 0.01, "{}", h.utilization());
        // A cycle in progress (idle 1 s so far) is seen by reads, not kept.
        let (h, _) = w.read(21 * S, S, 0);
        assert!(h.utilization() < 0.2, "{}", h.utilization());
    }

    #[test]
    fn a_busy_period_across_slots_keeps_its_waits() {
        // One 1 s busy period in a 6 s window of 1 s slots, ending at 10.5 s:
        // all its waits are 0..1 s wherever they are kept.
        let mut w = Window::new(6 * S);
        w.record_cycle(10_500 * MS, 0, S);
        let (h, max) = w.read(10_500 * MS, 0, 0);
        assert_eq!(max, S);
        assert_eq!(h.periods(), 1);
        assert!(
            (h.quantile_ns(0.5) as f64 - 0.5e9).abs() < 0.02e9,
            "{}",
            h.quantile_ns(0.5)
        );
    }

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn old_data_slides_out() {
        let mut w = Window::new(60 * S);
        w.record_cycle(5 * S, 0, 500 * MS);
        w.record_cycle(30 * S, 90 * MS, 10 * MS);
        assert_eq!(w.read(31 * S, 0, 0).1, 500 * MS);
        // 70 s later the 500 ms stall has left the window; the 10 ms one not.
        let (later, max) = w.read(75 * S, 0, 0);
        assert_eq!(max, 10 * MS);
        assert!((later.utilization() - 0.1).abs() < 1e-9);
        assert!(later.quantile_ns(0.999) <= 10 * MS);
        assert_eq!(w.read(200 * S, 0, 0).0.periods(), 0);
    }

    #[test]
    fn reads_do_not_change_the_window() {
        let mut w = Window::new(60 * S);
        w.record_cycle(S, 10 * MS, 40 * MS);
        let a = w.read(2 * S, 0, 0).0.quantile_ns(0.99);
        let b = w.read(2 * S, 0, 0).0.quantile_ns(0.99);
        assert_eq!(a, b);
        assert!(a > 30 * MS);
    }
}
