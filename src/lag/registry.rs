//! Every live loop monitor in the process (main thread and each worker
//! thread that loaded the module). A monitor leaves when its thread ends.

use super::monitor::Monitor;
use parking_lot::Mutex;
use std::sync::Arc;

static MONITORS: Mutex<Vec<Arc<Monitor>>> = Mutex::new(Vec::new());
/// Window spans (ns) exporters asked for; empty until one does.
static EXPORT_SPANS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

pub fn add(monitor: Arc<Monitor>) {
    // Hold the spans while adding, so an enable_export() racing with this
    // either sees the monitor or is seen by it.
    let spans = EXPORT_SPANS.lock();
    if !spans.is_empty() {
        monitor.enable_export(&spans);
    }
    MONITORS.lock().push(monitor);
}

pub fn remove(monitor: &Arc<Monitor>) {
    MONITORS.lock().retain(|m| !Arc::ptr_eq(m, monitor));
}

/// The live monitors, main thread first, then workers in start order.
pub fn all() -> Vec<Arc<Monitor>> {
    MONITORS.lock().clone()
}

/// Makes every monitor, present and future, keep what metrics exporters
/// read, with a sliding window of `span_ns` (one per distinct span).
pub fn enable_export(span_ns: u64) {
    let mut spans = EXPORT_SPANS.lock();
    if !spans.contains(&span_ns) {
        spans.push(span_ns);
    }
    for m in MONITORS.lock().iter() {
        m.enable_export(&spans);
    }
}
