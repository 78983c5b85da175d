//! The lag distribution of a loop, built from its busy periods.
//!
//! An event that becomes ready at a random instant waits until the loop next
//! polls for events. If the loop is blocked in its poll (idle), that wait is
//! ~0. If it arrives during a busy period of length `B` (from one poll's
//! return to the next poll's entry), it waits the rest of that period: a
//! wait uniform on `[0, B]`, and the chance of arriving inside it is
//! proportional to `B`. So every nanosecond of loop time is one "virtual
//! probe": idle time records lag 0, and a busy period records the uniform
//! distribution on `[0, B]` with total weight `B`. A 2 s stall therefore
//! weighs 2 s of probes spread over 0..2 s, never a single sample
//! (no coordinated omission), and nothing wakes the loop to measure it.
//!
//! Values and weights are nanoseconds. The uniform part is recorded as
//! slices (see [`spread`]) that bound the quantile error by 25 µs or 1 %,
//! whichever is larger, at a cost of one histogram record for a busy period
//! under 50 µs and a few hundred for a 2 s stall.
#![forbid(unsafe_code)]

use hdrhistogram::Histogram;

/// Lowest discernible value: 1 µs (values are nanoseconds).
const LOWEST_NS: u64 = 1_000;
/// Highest trackable value: one hour. Longer periods are clamped.
pub const HIGHEST_NS: u64 = 3_600_000_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;
/// Width of the slices a busy period is spread over near lag 0 …
const SLICE_ABS_NS: u64 = 50_000;
/// … and, further out, their width relative to where they start.
const SLICE_REL: f64 = 0.02;

/// What [`LagHistogram::summary`] computes (ns).
pub struct Summary {
    pub quantiles: Vec<u64>,
    pub mean_ns: f64,
    pub stddev_ns: f64,
    pub min_ns: u64,
}

pub struct LagHistogram {
    hist: Histogram<u64>,
    /// Busy periods recorded (the `count()` of the API).
    periods: u64,
    /// Total nanoseconds of loop time observed (busy + idle).
    observed_ns: u64,
    /// Of which busy.
    busy_ns: u64,
    /// The longest busy period: the worst wait any event could have had.
    max_ns: u64,
}

impl Default for LagHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LagHistogram {
    pub fn new() -> Self {
        Self::with_digits(SIGNIFICANT_DIGITS)
    }

    /// A histogram of `digits` significant decimal digits (2 takes ~25 KiB,
    /// 3 ~190 KiB).
    pub fn with_digits(digits: u8) -> Self {
        let hist = Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, digits)
            .expect("static histogram bounds are valid");
        Self {
            hist,
            periods: 0,
            observed_ns: 0,
            busy_ns: 0,
            max_ns: 0,
        }
    }

    /// Records one poll-to-poll cycle: `idle_ns` spent blocked in the poll
    /// (events arriving then wait ~0), then `busy_ns` of work until the next
    /// poll.
    pub fn record_cycle(&mut self, idle_ns: u64, busy_ns: u64) {
        self.record_part(idle_ns, 0, busy_ns, busy_ns > 0);
    }

    /// Records part of a cycle: `idle_ns` of idle time, and the stretch of
    /// a busy period whose arrivals wait between `wait_lo` and `wait_hi`
    /// (uniformly, weight `wait_hi - wait_lo`). `ends_period` counts the
    /// busy period (once, in the part where it ends). A whole cycle is
    /// `(idle, 0, busy, true)`; the sliding window records the parts that
    /// fall into each of its slots.
    pub fn record_part(&mut self, idle_ns: u64, wait_lo: u64, wait_hi: u64, ends_period: bool) {
        if idle_ns > 0 {
            self.hist.saturating_record_n(0, idle_ns);
        }
        let (lo, hi) = (wait_lo.min(HIGHEST_NS), wait_hi.min(HIGHEST_NS));
        if hi > lo {
            spread(lo, hi, |value, weight| {
                self.hist.saturating_record_n(value, weight)
            });
            self.max_ns = self.max_ns.max(hi);
        }
        if ends_period {
            self.periods += 1;
        }
        let busy = wait_hi.saturating_sub(wait_lo);
        self.busy_ns = self.busy_ns.saturating_add(busy);
        self.observed_ns = self
            .observed_ns
            .saturating_add(idle_ns.saturating_add(busy));
    }

    /// A copy that also counts a busy period that has not ended yet.
    pub fn with_ongoing(&self, busy_ns: u64) -> LagHistogram {
        let mut copy = self.copy();
        copy.record_cycle(0, busy_ns);
        copy
    }

    pub fn copy(&self) -> LagHistogram {
        LagHistogram {
            hist: self.hist.clone(),
            periods: self.periods,
            observed_ns: self.observed_ns,
            busy_ns: self.busy_ns,
            max_ns: self.max_ns,
        }
    }

    pub fn reset(&mut self) {
        self.hist.reset();
        self.periods = 0;
        self.observed_ns = 0;
        self.busy_ns = 0;
        self.max_ns = 0;
    }

    /// The lag (ns) at quantile `q` in `(0, 1]`; 0 when empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            return 0;
        }
        let v = self.hist.value_at_quantile(q);
        // The lowest bucket holds the idle time (lag 0) and anything below
        // the 1 µs resolution: report it as 0, not as its top edge.
        if self.hist.equivalent(v, 0) {
            return 0;
        }
        // value_at_quantile reports the top of a bucket; never above the
        // longest period actually seen.
        v.min(self.max_ns)
    }

    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    pub fn min_ns(&self) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.min()
        }
    }

    pub fn mean_ns(&self) -> f64 {
        if self.hist.is_empty() {
            0.0
        } else {
            self.hist.mean()
        }
    }

    pub fn stddev_ns(&self) -> f64 {
        if self.hist.is_empty() {
            0.0
        } else {
            self.hist.stdev()
        }
    }

    pub fn periods(&self) -> u64 {
        self.periods
    }

    pub fn observed_ns(&self) -> u64 {
        self.observed_ns
    }

    /// Removes `other`'s data, which must have been recorded here too. The
    /// maximum cannot be subtracted: it stays as it was.
    pub fn subtract(&mut self, other: &LagHistogram) {
        // `other`'s counts were added to `self` before: none goes negative,
        // and both have the same bounds, so this cannot fail.
        let _ = self.hist.subtract(&other.hist);
        self.periods = self.periods.saturating_sub(other.periods);
        self.observed_ns = self.observed_ns.saturating_sub(other.observed_ns);
        self.busy_ns = self.busy_ns.saturating_sub(other.busy_ns);
    }

    /// Busy share of the observed time, 0..1.
    pub fn utilization(&self) -> f64 {
        if self.observed_ns == 0 {
            0.0
        } else {
            self.busy_ns as f64 / self.observed_ns as f64
        }
    }

    /// Cumulative weights (ns of loop time) at or below each of the sorted
    /// `bounds` (ns), in one pass: a Prometheus histogram's `le` buckets.
    pub fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        crate::hdr::cumulative(&self.hist, bounds).0
    }

    /// The quantiles `qs` (sorted, in `(0, 1]`), mean, stddev and min, in
    /// one pass over the histogram (each of them alone would be a pass).
    pub fn summary(&self, qs: &[f64]) -> Summary {
        let total = self.hist.len();
        let mut out = Summary {
            quantiles: vec![0; qs.len()],
            mean_ns: 0.0,
            stddev_ns: 0.0,
            min_ns: self.min_ns(),
        };
        if total == 0 {
            return out;
        }
        let targets: Vec<u64> = qs
            .iter()
            .map(|q| ((q * total as f64).ceil() as u64).clamp(1, total))
            .collect();
        let (mut seen, mut next) = (0u64, 0usize);
        let (mut sum, mut sum_sq) = (0f64, 0f64);
        for v in self.hist.iter_recorded() {
            let count = v.count_at_value();
            let value = v.value_iterated_to();
            seen += count;
            while next < targets.len() && seen >= targets[next] {
                out.quantiles[next] = if self.hist.equivalent(value, 0) {
                    0
                } else {
                    self.hist.highest_equivalent(value).min(self.max_ns)
                };
                next += 1;
            }
            let mid = self.hist.median_equivalent(value) as f64;
            sum += mid * count as f64;
            sum_sq += mid * mid * count as f64;
        }
        let n = total as f64;
        out.mean_ns = sum / n;
        out.stddev_ns = (sum_sq / n - out.mean_ns * out.mean_ns).max(0.0).sqrt();
        out
    }

    /// Sum of lag x weight, in seconds x µs-probes (Prometheus `_sum` when
    /// one observation is one µs of loop time).
    pub fn weighted_sum_s_us(&self) -> f64 {
        self.mean_ns() / 1e9 * (self.total_weight() as f64 / 1e3)
    }

    /// Total weight (ns) in the histogram.
    pub fn total_weight(&self) -> u64 {
        self.hist.len()
    }

    /// Significant digits of the underlying histogram.
    pub fn digits(&self) -> u8 {
        self.hist.sigfig()
    }

    /// The recorded buckets as `(value, count)`, lowest first: with
    /// [`Self::from_pairs`], the histogram as data (the group segment).
    pub fn pairs(&self) -> Vec<(u64, u64)> {
        crate::hdr::pairs(&self.hist)
    }

    /// A histogram of `digits` digits holding `pairs` (from [`Self::pairs`]):
    /// the same buckets and counts, so `cumulative` and
    /// `weighted_sum_s_us` give exactly what the original gives. Only the
    /// histogram's buckets travel: periods, busy and observed time are 0.
    pub fn from_pairs(digits: u8, pairs: &[(u64, u64)]) -> Result<Self, String> {
        if !(1..=5).contains(&digits) {
            return Err(format!("{digits} significant digits"));
        }
        let mut h = Self::with_digits(digits);
        crate::hdr::fill(&mut h.hist, pairs)?;
        Ok(h)
    }
}

/// Spreads the uniform distribution on `[lo, hi]` over slices, calling
/// `record(midpoint, width)` for each; the widths sum to `hi - lo`. Slices are
/// [`SLICE_ABS_NS`] wide near 0 and grow to [`SLICE_REL`] of their start
/// further out, so a quantile is off by at most 25 µs or 1 %.
fn spread(lo: u64, hi: u64, mut record: impl FnMut(u64, u64)) {
    let mut start = lo;
    while start < hi {
        let width = SLICE_ABS_NS.max((start as f64 * SLICE_REL) as u64);
        let end = hi.min(start.saturating_add(width));
        record(start + (end - start) / 2, end - start);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn within(actual: u64, expected: u64, tolerance: f64) -> bool {
        (actual as f64 - expected as f64).abs() <= expected as f64 * tolerance
    }

    #[test]
    fn spread_weights_sum_to_the_period() {
        for busy in [1, 999, 20_000, 1_234_567, 2_000 * MS] {
            let mut total = 0;
            let mut n = 0;
            spread(0, busy, |v, w| {
                assert!(v <= busy);
                total += w;
                n += 1;
            });
            assert_eq!(total, busy);
            assert!((1..=400).contains(&n), "{n} slices for {busy}");
        }
    }

    #[test]
    fn a_stall_is_weighted_by_its_length() {
        // 60 ms idle, then a 40 ms block, repeated: an event arriving at a
        // random time is inside a block 40 % of the time and then waits
        // uniform 0..40 ms. So P(lag > x) = 0.4 * (1 - x / 40 ms):
        // p50 = 0, p90 = 30 ms, p99 = 39 ms.
        let mut h = LagHistogram::new();
        for _ in 0..50 {
            h.record_cycle(60 * MS, 40 * MS);
        }
        assert_eq!(h.quantile_ns(0.5), 0);
        assert!(
            within(h.quantile_ns(0.9), 30 * MS, 0.02),
            "{}",
            h.quantile_ns(0.9)
        );
        assert!(
            within(h.quantile_ns(0.99), 39 * MS, 0.02),
            "{}",
            h.quantile_ns(0.99)
        );
        assert_eq!(h.max_ns(), 40 * MS);
        assert_eq!(h.periods(), 50);
        assert_eq!(h.observed_ns(), 50 * 100 * MS);
        // Weighted mean: 0.4 * 20 ms = 8 ms.
        assert!(within(h.mean_ns() as u64, 8 * MS, 0.02), "{}", h.mean_ns());
    }

    #[test]
    fn one_long_stall_dominates_many_short_periods() {
        // 10 000 periods of 10 µs busy + 90 µs idle (1 s), then one 2 s stall.
        // Two thirds of all time is inside the stall, so p50 falls in it:
        // P(lag > x) = (2/3) * (1 - x / 2 s) = 0.5  =>  x = 0.5 s.
        let mut h = LagHistogram::new();
        for _ in 0..10_000 {
            h.record_cycle(90_000, 10_000);
        }
        h.record_cycle(0, 2_000 * MS);
        assert!(
            within(h.quantile_ns(0.5), 500 * MS, 0.015),
            "{}",
            h.quantile_ns(0.5)
        );
        assert!(
            within(h.quantile_ns(0.99), 1_970 * MS, 0.02),
            "{}",
            h.quantile_ns(0.99)
        );
        assert_eq!(h.max_ns(), 2_000 * MS);
    }

    #[test]
    fn ongoing_period_is_counted_in_a_copy_only() {
        let mut h = LagHistogram::new();
        h.record_cycle(10 * MS, 0);
        let live = h.with_ongoing(90 * MS);
        assert!(live.quantile_ns(0.99) > 80 * MS);
        assert_eq!(live.max_ns(), 90 * MS);
        assert_eq!(h.max_ns(), 0);
        assert_eq!(h.quantile_ns(0.99), 0);
    }

    #[test]
    fn cumulative_weights_are_monotone_and_complete() {
        let mut h = LagHistogram::new();
        h.record_cycle(5 * MS, 50 * MS);
        let c = h.cumulative(&[1_000, 10 * MS, 25 * MS, 100 * MS]);
        // 5 ms idle at lag 0; the 50 ms busy period spread over 0..50 ms.
        assert!(within(c[0], 5 * MS, 0.01), "{c:?}");
        assert!(within(c[1], 15 * MS, 0.01), "{c:?}");
        assert!(within(c[2], 30 * MS, 0.01), "{c:?}");
        assert_eq!(c[3], h.total_weight());
        assert_eq!(h.total_weight(), 55 * MS);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn subtract_removes_and_utilization_is_busy_share() {
        let mut a = LagHistogram::with_digits(2);
        a.record_cycle(30 * MS, 10 * MS);
        a.record_cycle(10 * MS, 50 * MS);
        assert!((a.utilization() - 0.6).abs() < 1e-9);
        let mut b = LagHistogram::with_digits(2);
        b.record_cycle(10 * MS, 50 * MS);
        let mut c = a.with_ongoing(0);
        c.subtract(&b);
        assert_eq!(c.periods(), 1);
        assert!((c.utilization() - 0.25).abs() < 1e-9);
        // Left: 30 ms idle, 10 ms busy: P(lag > x) = 0.25 (1 - x / 10 ms).
        assert!(
            within(c.quantile_ns(0.99), 9_600_000, 0.02),
            "{}",
            c.quantile_ns(0.99)
        );
    }

    #[test]
    fn summary_matches_the_single_reads() {
        let mut h = LagHistogram::new();
        for i in 0..200u64 {
            h.record_cycle(50_000 * (i % 7), 10_000 * (i % 13) + 1_000);
        }
        h.record_cycle(0, 80 * MS);
        let s = h.summary(&[0.5, 0.9, 0.99, 0.999]);
        for (q, v) in [0.5, 0.9, 0.99, 0.999].iter().zip(&s.quantiles) {
            assert_eq!(*v, h.quantile_ns(*q), "q {q}");
        }
        assert!((s.mean_ns - h.mean_ns()).abs() <= h.mean_ns() * 1e-3);
        assert!((s.stddev_ns - h.stddev_ns()).abs() <= h.stddev_ns() * 1e-2);
        assert_eq!(s.min_ns, h.min_ns());
    }

    #[test]
    fn reset_empties_everything() {
        let mut h = LagHistogram::new();
        h.record_cycle(MS, MS);
        h.reset();
        assert_eq!(h.total_weight(), 0);
        assert_eq!((h.periods(), h.observed_ns(), h.max_ns()), (0, 0, 0));
        assert_eq!(h.quantile_ns(0.99), 0);
    }
}
