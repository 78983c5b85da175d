//! A pool's metrics before packing, and the packing itself: what
//! `PoolCore::metrics` returns, and what the group reader rebuilds from a
//! published copy, with the same code.
#![forbid(unsafe_code)]

use super::OUTCOMES;
use hdrhistogram::Histogram;

/// Cumulative counts (at or below each bound, then the total) and the sum
/// (in seconds) of one histogram of nanoseconds, appended to `out`.
fn cumulative(h: &Histogram<u64>, bounds_ns: &[u64], out: &mut Vec<f64>) {
    let (counts, sum_ns) = crate::hdr::cumulative(h, bounds_ns);
    out.extend(counts.iter().map(|c| *c as f64));
    out.push(h.len() as f64);
    out.push(sum_ns / 1e9);
}

/// A pool's metrics before packing (see [`PoolCore::metrics_parts`]).
pub struct MetricsParts {
    /// threads, queued, active
    pub head: [u64; 3],
    /// completed, failed, rejected (for `stats()`-like views)
    pub counts: [u64; 3],
    /// Per public op: outcomes `[ok, error, aborted, rejected]`, wait and
    /// run histograms (ns, 2 digits).
    pub ops: Vec<([u64; OUTCOMES], Histogram<u64>, Histogram<u64>)>,
}

/// Packs `parts` as [`PoolCore::metrics`] documents it.
pub fn pack_metrics(parts: &MetricsParts, bounds_ns: &[u64]) -> Vec<f64> {
    let mut out: Vec<f64> = parts.head.iter().map(|v| *v as f64).collect();
    for (outcomes, wait, run) in &parts.ops {
        out.extend(outcomes.iter().map(|c| *c as f64));
        cumulative(wait, bounds_ns, &mut out);
        cumulative(run, bounds_ns, &mut out);
    }
    out
}
