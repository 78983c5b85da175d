//! Event-loop lag: a stall-weighted, nanosecond-resolution histogram of how
//! long a randomly arriving event waits, for every loop in the process. See
//! `README.md` beside this file for why it is built on busy periods.

pub(crate) mod histogram;
pub(crate) mod js;
mod local;
pub(crate) mod monitor;
pub(crate) mod registry;
mod stalls;
mod watchdog;
mod window;

pub use js::{
    culprits_clear_capturer, culprits_set_capturer, enable_export, export_fields,
    lag_block_profiler_signal, lag_config, lag_configure, lag_export_read, lag_monitor,
    lag_set_capture_threshold, lag_set_stall_listener, lag_start, lag_stop, monitors, LagConfig,
    LagSnapshot, LoopMonitor,
};
pub use local::LocalLag;
pub use stalls::{
    culprit_counts, last_culprit, stalls_capture, stalls_recent, stalls_record, CulpritCount,
    RecentStalls,
};
