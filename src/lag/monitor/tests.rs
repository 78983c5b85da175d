//! Unit tests of the monitor: how a histogram reset splits a loop cycle.

use super::*;

fn hists(export: bool) -> Hists {
    Hists {
        current: LagHistogram::new(),
        export: export.then(|| Export {
            lifetime: LagHistogram::with_digits(2),
            windows: Vec::new(),
        }),
    }
}

const MS: u64 = 1_000_000;

// One cycle: idle from 5 ms to 12 ms, busy from 12 ms to 15 ms.
const AT: u64 = 15 * MS;
const IDLE: u64 = 7 * MS;
const BUSY: u64 = 3 * MS;

#[test]
fn a_cycle_after_the_reset_is_recorded_whole() {
    let mut h = hists(false);
    h.record(AT, IDLE, BUSY, 4 * MS);
    assert_eq!(h.current.observed_ns(), IDLE + BUSY);
    assert_eq!(h.current.periods(), 1);
    assert_eq!(h.current.max_ns(), BUSY);
}

#[test]
fn a_reset_in_the_idle_part_keeps_the_idle_after_it_and_the_busy_period() {
    let mut h = hists(true);
    h.record(AT, IDLE, BUSY, 10 * MS);
    // 2 ms of idle (10..12 ms) and the whole busy period.
    assert_eq!(h.current.observed_ns(), 2 * MS + BUSY);
    assert_eq!(h.current.periods(), 1);
    assert_eq!(h.current.max_ns(), BUSY);
    assert!((h.current.utilization() - 0.6).abs() < 1e-9);
    // The never-reset histogram gets the whole cycle.
    let lifetime = &h.export.as_ref().expect("export on").lifetime;
    assert_eq!(lifetime.observed_ns(), IDLE + BUSY);
}

#[test]
fn a_reset_in_the_busy_part_keeps_only_the_busy_time_after_it() {
    let mut h = hists(true);
    h.record(AT, IDLE, BUSY, 14 * MS);
    // 1 ms of the busy period (14..15 ms): arrivals then waited 0..1 ms.
    assert_eq!(h.current.observed_ns(), MS);
    assert_eq!(h.current.periods(), 1);
    assert_eq!(h.current.max_ns(), MS);
    assert_eq!(h.current.utilization(), 1.0);
    let lifetime = &h.export.as_ref().expect("export on").lifetime;
    assert_eq!(lifetime.observed_ns(), IDLE + BUSY);
    assert_eq!(lifetime.max_ns(), BUSY);
}

#[test]
fn a_cycle_before_the_reset_is_not_counted() {
    let mut h = hists(true);
    h.record(AT, IDLE, BUSY, 20 * MS);
    assert_eq!(h.current.observed_ns(), 0);
    assert_eq!(h.current.periods(), 0);
    let lifetime = &h.export.as_ref().expect("export on").lifetime;
    assert_eq!(lifetime.periods(), 1);
}

#[test]
fn a_reset_exactly_at_the_cycle_start_or_end() {
    let mut h = hists(false);
    h.record(AT, IDLE, BUSY, 5 * MS);
    assert_eq!(h.current.observed_ns(), IDLE + BUSY);
    let mut h = hists(false);
    h.record(AT, IDLE, BUSY, AT);
    assert_eq!(h.current.observed_ns(), 0);
    assert_eq!(h.current.periods(), 0);
}
