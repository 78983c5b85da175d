//! Every live loop monitor in the process (main thread and each worker
//! thread that loaded the module). A monitor leaves when its thread ends.

use super::monitor::Monitor;
use parking_lot::Mutex;
use std::sync::Arc;

static MONITORS: Mutex<Vec<Arc<Monitor>>> = Mutex::new(Vec::new());

pub fn add(monitor: Arc<Monitor>) {
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
