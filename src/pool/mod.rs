//! The native thread pool: CPU-bound tasks on threads of its own, settled
//! as Promises on the thread that submitted them, in batches. See
//! `README.md` beside this file for the design.

mod api;
mod completion;
mod core;
mod fast;
mod js;
mod json;
mod many;
mod sync;
mod tables;
pub mod tasks;

pub use api::default_metrics_parts;
pub use core::{pack_metrics, MetricsParts};
pub use tables::{pool_tables, PoolTables};

pub use api::{
    create_pool, default_pool, default_pool_metrics, NativePool, PoolStats, TimeSummary,
};
pub use fast::{flush_submitted, raw_submit_fn, set_settler, stage_flush, stage_room};
pub use json::JsonJob;
pub use many::many_add_fn;
pub use sync::{hash_sync, hasher_fn, set_hash_checked};
