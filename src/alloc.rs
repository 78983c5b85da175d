//! The addon's allocator for its own (Rust) allocations: mimalloc.
//!
//! Pool traffic allocates on one thread and frees on another (a job boxed
//! on the JS thread is freed on a pool thread, and the other way round).
//! glibc's malloc takes the owning arena's lock for such frees, which
//! measured as the largest single cost of a tiny task on the JS thread;
//! mimalloc frees across threads without a lock.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
