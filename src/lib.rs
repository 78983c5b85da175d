//! @nodeperf/native: event-loop lag, a native thread pool and zero-copy
//! shared memory for Node.js. This file is the table of contents.

mod alloc;
mod args;
mod error;
mod group;
mod hdr;
mod heap;
mod info;
mod json;
mod lag;
mod node_api;
mod pool;
mod shared;
mod thread;
mod uv;

pub use args::make_error;
pub use error::{Error, JsClass};
pub use group::*;
pub use info::{attach, error_for_test, loop_info, LoopInfo};
pub use json::{
    json_check_bytes_sync, json_check_string_sync, json_plan_bytes_sync, json_plan_string_sync,
    json_set_dialect, plan_utf16, plan_utf8, validate_utf16, validate_utf8, DEFAULT_SLICE,
};
pub use lag::{
    culprit_counts, stalls_capture, stalls_recent, stalls_record, CulpritCount, RecentStalls,
};
pub use lag::{
    culprits_clear_capturer, culprits_set_capturer, lag_block_profiler_signal,
    lag_set_capture_threshold,
};
pub use lag::{
    enable_export, export_fields, lag_config, lag_configure, lag_export_read, lag_monitor,
    lag_set_stall_listener, lag_start, lag_stop, monitors, LagConfig, LagSnapshot, LoopMonitor,
};
pub use pool::{
    create_pool, default_pool, default_pool_metrics, flush_submitted, hash_sync, hasher_fn,
    many_add_fn, raw_submit_fn, set_hash_checked, set_settler, stage_flush, stage_room, JsonJob,
    NativePool, PoolStats, TimeSummary,
};
pub use pool::{pool_tables, PoolTables};
