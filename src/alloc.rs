//! The addon's allocator for its own (Rust) allocations: mimalloc.
//!
//! Pool traffic allocates on one thread and frees on another (a job boxed
//! on the JS thread is freed on a pool thread, and the other way round).
//! glibc's malloc takes the owning arena's lock for such frees, which
//! measured as the largest single cost of a tiny task on the JS thread;
//! mimalloc frees across threads without a lock.
//!
//! mimalloc 2 (the crate's `v2` feature), not 3: with mimalloc 3 (0.1.49's
//! default), a process whose first thread to allocate through the addon was
//! a worker crashed in `mi_thread_init` as soon as another thread loaded the
//! addon after that worker had exited (the main thread never loading it, as
//! in apps that use the addon only from workers). `__test__/workers.spec.mjs`
//! covers it.

// Not under AddressSanitizer (`scripts/asan.sh` sets `--cfg nodeperf_asan`):
// it only sees the system allocator's blocks (redzones, quarantine).
#[cfg(not(nodeperf_asan))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same slot in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the OS at once. Its default
/// (a delay, and purging only by the owning thread) keeps the heaps of
/// worker threads that have exited committed: 100 workers that loaded the
/// addon left ~3 MB each behind (RSS 440 MB instead of 150 MB).
pub fn configure() {
    // SAFETY: mi_option_set has no precondition: it only stores a value in
    // mimalloc's option table (an atomic) and is documented as callable at
    // any time from any thread; MI_OPTION_PURGE_DELAY is a valid option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}
