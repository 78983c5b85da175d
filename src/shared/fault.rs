//! Reading a non-shared ArrayBuffer whose caller broke the zero-copy
//! contract (module doc, case 4): if its backing store is transferred to a
//! worker that frees it while a pool thread reads it, the read faults. Here
//! such a fault ends the read instead of the process.
//!
//! `fault.c` runs the read inside `sigsetjmp`; a `SIGSEGV`/`SIGBUS` on an
//! address inside the range being read, on the thread reading it, jumps
//! back and the read reports [`Faulted`]. Any other fault goes on to the
//! handler installed before ours (Node's) or to the default action, so
//! crashes elsewhere stay crashes.
//!
//! What a jump skips must be safe to skip: the frames between the C call
//! and the fault are this module's trampoline and the read itself, which
//! must not lock, allocate, or own anything with a destructor (a hash
//! update over a byte slice). That is the contract of [`read`].
//!
//! Reads that do not fault but land on memory that was freed and reused
//! give a wrong digest, which the contract allows; the detach watch then
//! rejects the task anyway.

use napi_derive::napi;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The read touched memory that is no longer mapped.
#[derive(Debug)]
pub struct Faulted;

#[cfg(unix)]
extern "C" {
    fn nodeperf_fault_install() -> i32;
    fn nodeperf_fault_call(
        f: unsafe extern "C" fn(*mut c_void),
        ctx: *mut c_void,
        lo: usize,
        hi: usize,
    ) -> i32;
}

static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Reads ended by a fault since the process started.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// Whether the handler is installed in this process (for the specs).
#[napi(js_name = "__faultGuardInstalled")]
pub fn guard_installed() -> bool {
    INSTALLED.get() == Some(&true)
}

/// How many reads a fault ended (a diagnostic for the stress fixtures).
#[napi(js_name = "__faultsCaught")]
pub fn faults_caught() -> f64 {
    CAUGHT.load(Ordering::Relaxed) as f64
}

/// Installs the fault handler once per process; true if reads are guarded.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: nodeperf_fault_install (fault.c) takes no arguments and
            // only calls sigaction for SIGSEGV/SIGBUS; INSTALLED's OnceLock
            // runs it once per process, and it saves the previous handlers
            // and hands them every fault it does not own.
            unsafe { nodeperf_fault_install() == 0 }
        }
        #[cfg(not(unix))]
        {
            false
        }
    })
}

struct Call<'a, F, R> {
    f: Option<F>,
    bytes: &'a [u8],
    out: Option<std::thread::Result<R>>,
}

#[cfg(unix)]
unsafe extern "C" fn trampoline<F: FnOnce(&[u8]) -> R, R>(ctx: *mut c_void) {
    // SAFETY: nodeperf_fault_call passes back the `ctx` that `read` gave it:
    // a `Call<'_, F, R>` of the same F and R `read` instantiated this
    // trampoline with, alive on `read`'s stack for the whole C call, and used
    // by nothing else meanwhile, so a unique borrow of it is sound.
    let call = unsafe { &mut *ctx.cast::<Call<'_, F, R>>() };
    let (f, bytes) = (call.f.take(), call.bytes);
    // A panic must not unwind through the C frame: catch it here and
    // resume it in `read`, after the guard is gone.
    call.out = f.map(|f| panic::catch_unwind(AssertUnwindSafe(|| f(bytes))));
}

/// Runs `f(bytes)`; `Err(Faulted)` if reading `bytes` faulted because the
/// memory went away meanwhile. Without the handler (not installed, or not a
/// unix), `f` runs unguarded.
///
/// # Safety
/// `bytes` must have been valid when the read started (it may be unmapped
/// concurrently: that is what this guards), and `f` must be a plain
/// computation over `bytes`: no locks, no allocation, nothing owned with a
/// destructor, because a fault abandons its frames without unwinding them.
pub unsafe fn read<R, F: FnOnce(&[u8]) -> R>(bytes: &[u8], f: F) -> Result<R, Faulted> {
    #[cfg(unix)]
    if INSTALLED.get() == Some(&true) {
        let mut call = Call {
            f: Some(f),
            bytes,
            out: None,
        };
        let lo = bytes.as_ptr() as usize;
        let ctx = (&mut call as *mut Call<'_, F, R>).cast::<c_void>();
        // SAFETY: trampoline::<F, R> casts `ctx` back to the Call<'_, F, R>
        // it points to, which lives on this stack until the C call returns;
        // `lo..lo + bytes.len()` is `bytes`, valid when the read starts, and
        // `read`'s caller promised `f` is safe to abandon mid-way.
        let faulted = unsafe { nodeperf_fault_call(trampoline::<F, R>, ctx, lo, lo + bytes.len()) };
        if faulted != 0 {
            // `f` was abandoned: forget it rather than drop what it held
            // (it holds nothing with a destructor, per the contract).
            std::mem::forget(call.f.take());
            CAUGHT.fetch_add(1, Ordering::Relaxed);
            return Err(Faulted);
        }
        return match call.out.take().expect("the trampoline ran") {
            Ok(r) => Ok(r),
            Err(p) => panic::resume_unwind(p),
        };
    }
    Ok(f(bytes))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_read_of_unmapped_memory_faults_and_the_thread_goes_on() {
        assert!(install());
        assert!(guard_installed());
        let page = 4096;
        // SAFETY: a fresh anonymous mapping of two pages, ours alone.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: the mapping is two pages long and mapped now.
        let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), 2 * page) };
        let sum = |b: &[u8]| b.iter().map(|&x| x as u64).sum::<u64>();
        // SAFETY: the slice is mapped; `sum` is a plain computation.
        assert_eq!(unsafe { read(bytes, sum) }.ok(), Some(0));
        // The second page goes away, as a freed backing store would.
        let second = (p as usize + page) as *mut libc::c_void;
        // SAFETY: unmaps the second page of our own mapping.
        let unmapped = unsafe { libc::munmap(second, page) };
        assert_eq!(unmapped, 0);
        let caught = faults_caught();
        // SAFETY: `read`'s contract holds: `bytes` was valid when the read
        // started (the unmap stands for a concurrent free), and `sum` is a
        // plain computation (no locks, allocation or destructors).
        assert!(unsafe { read(bytes, sum) }.is_err());
        assert_eq!(faults_caught(), caught + 1.0);
        // The first page still reads.
        // SAFETY: still mapped.
        assert_eq!(unsafe { read(&bytes[..page], sum) }.ok(), Some(0));
        // SAFETY: unmaps the page that is left.
        unsafe { libc::munmap(p, page) };
    }
}
