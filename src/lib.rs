//! @nodeperf/native: event-loop lag, a native thread pool and zero-copy
//! shared memory for Node.js. This file is the table of contents.

mod alloc;
mod error;
mod info;
mod pool;
mod shared;
mod thread;
mod uv;

pub use error::{Error, JsClass};
pub use info::{attach, error_for_test, loop_info, LoopInfo};
pub use pool::{
    create_pool, default_pool, hash_sync, make_error, raw_submit_fn, set_settler, NativePool,
    PoolStats, TimeSummary,
};
