//! What Prometheus exporters read from an HdrHistogram: cumulative counts
//! at or below a list of bucket bounds, in one pass. Shared by the lag
//! monitors and the pool's task times.
#![forbid(unsafe_code)]

use hdrhistogram::Histogram;

/// Counts at or below each of the sorted `bounds` (a histogram bucket
/// counts at or below a bound if its highest equivalent value does), and
/// the sum of value x count over the whole histogram (bucket midpoints).
pub fn cumulative(h: &Histogram<u64>, bounds: &[u64]) -> (Vec<u64>, f64) {
    let mut out = vec![0u64; bounds.len()];
    let mut running = 0u64;
    let mut sum = 0f64;
    let mut i = 0;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        let top = h.highest_equivalent(value);
        while i < bounds.len() && bounds[i] < top {
            out[i] = running;
            i += 1;
        }
        running += v.count_at_value();
        sum += h.median_equivalent(value) as f64 * v.count_at_value() as f64;
    }
    for slot in out.iter_mut().skip(i) {
        *slot = running;
    }
    (out, sum)
}

/// The recorded buckets of `h` as `(value, count)`, lowest first: the
/// histogram as data, for another process to rebuild with [`fill`].
pub fn pairs(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Records `pairs` (from [`pairs`] of a histogram with the same bounds and
/// digits) into `h`: every value lands in the bucket it came from, so
/// [`cumulative`] gives exactly what it gives on the original. Refuses
/// values out of range and unsorted or duplicate values (a tampered copy).
pub fn fill(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) -> Result<(), String> {
    let mut last = None;
    for &(value, count) in pairs {
        if last.is_some_and(|l| l >= value) {
            return Err(format!("histogram value {value} out of order"));
        }
        last = Some(value);
        h.record_n(value, count)
            .map_err(|e| format!("histogram value {value}: {e:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_cumulative_and_complete() {
        let mut h = Histogram::<u64>::new(2).unwrap();
        for v in [10, 100, 1_000, 10_000] {
            h.record_n(v, 2).unwrap();
        }
        let (c, sum) = cumulative(&h, &[5, 100, 5_000, 1_000_000]);
        assert_eq!(c, vec![0, 4, 6, 8]);
        assert!(
            (sum - 2.0 * 11_110.0).abs() / (2.0 * 11_110.0) < 0.01,
            "{sum}"
        );
    }

    #[test]
    fn pairs_rebuild_the_same_buckets() {
        let mut h = Histogram::<u64>::new(2).unwrap();
        for v in [1, 7, 999, 12_345, 9_999_999, 3_600_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let mut back = Histogram::<u64>::new(2).unwrap();
        fill(&mut back, &pairs(&h)).unwrap();
        let bounds = [5, 1_000, 100_000, 10_000_000_000];
        assert_eq!(cumulative(&h, &bounds), cumulative(&back, &bounds));
        assert_eq!(h.mean().to_bits(), back.mean().to_bits());
        let mut bad = pairs(&h);
        bad.reverse();
        assert!(fill(&mut Histogram::<u64>::new(2).unwrap(), &bad).is_err());
    }
}
