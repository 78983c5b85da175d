//! Every live loop monitor in the process (main thread and each worker
//! thread that loaded the module). A monitor leaves when its thread ends.

use super::monitor::Monitor;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static MONITORS: Mutex<Vec<Arc<Monitor>>> = Mutex::new(Vec::new());
/// Window span (ns) of the exporters' view; 0 until one asks for it.
static EXPORT_WINDOW_NS: AtomicU64 = AtomicU64::new(0);

pub fn add(monitor: Arc<Monitor>) {
    let window = EXPORT_WINDOW_NS.load(Ordering::Acquire);
    if window > 0 {
        monitor.enable_export(window);
    }
    MONITORS.lock().push(monitor);
    super::watchdog::notify();
}

pub fn remove(monitor: &Arc<Monitor>) {
    MONITORS.lock().retain(|m| !Arc::ptr_eq(m, monitor));
}

/// The live monitors, main thread first, then workers in start order.
pub fn all() -> Vec<Arc<Monitor>> {
    MONITORS.lock().clone()
}

/// Makes every monitor, present and future, keep what metrics exporters read.
/// The first call fixes the window span; returns the span in force.
pub fn enable_export(window_ns: u64) -> u64 {
    let span = match EXPORT_WINDOW_NS.compare_exchange(
        0,
        window_ns,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => window_ns,
        Err(existing) => existing,
    };
    for m in MONITORS.lock().iter() {
        m.enable_export(span);
    }
    span
}
