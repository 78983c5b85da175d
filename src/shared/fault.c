/*
 * Reads of memory that may be unmapped under us (see fault.rs).
 *
 * nodeperf_fault_call(f, ctx, lo, hi) runs f(ctx) on the calling thread.
 * If f faults (SIGSEGV or SIGBUS) on an address in [lo, hi), the handler
 * jumps back here and the call returns 1 instead of crashing the process.
 * Every other fault goes to the handler that was installed before ours
 * (Node's, which hands WebAssembly traps to V8 and crashes otherwise), or
 * to the default action.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

struct guard {
    sigjmp_buf jump;
    uintptr_t lo, hi;
};

/* The innermost guarded call of this thread, or NULL. Written only by this
 * thread; read by its own signal handler. On glibc, initial-exec: a plain
 * %fs-relative load, so the handler never calls __tls_get_addr (which may
 * allocate the TLS block of a dlopen'd module on first use: not
 * async-signal-safe). musl allocates every module's TLS at dlopen, and
 * other platforms choose their own model. */
#if defined(__GLIBC__)
#define NODEPERF_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define NODEPERF_TLS_MODEL
#endif
static __thread struct guard *volatile current NODEPERF_TLS_MODEL;

static struct sigaction previous_segv, previous_bus;

static void chain(int sig, siginfo_t *info, void *context) {
    struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, info, context);
        return;
    }
    if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
        /* Back to the default action: returning re-runs the faulting
         * instruction, which now ends the process as it would have
         * without us. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        return;
    }
    prev->sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    struct guard *g = current;
    uintptr_t at = (uintptr_t)info->si_addr;
    if (g != NULL && at >= g->lo && at < g->hi) {
        current = NULL;
        /* SA_NODEFER: the signal is not blocked in this handler, so no
         * mask needs restoring on the way out. */
        siglongjmp(g->jump, 1);
    }
    chain(sig, info, context);
}

/* Installs the handler (once per process; the caller serialises). Returns
 * 0 on success or the errno-style failure of sigaction. */
int nodeperf_fault_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous_segv) != 0) return -1;
    if (sigaction(SIGBUS, &sa, &previous_bus) != 0) {
        sigaction(SIGSEGV, &previous_segv, NULL);
        return -1;
    }
    return 0;
}

/* Runs f(ctx); returns 0 when it finished, 1 when it faulted in [lo, hi)
 * and was abandoned. */
int nodeperf_fault_call(void (*f)(void *), void *ctx, uintptr_t lo, uintptr_t hi) {
    struct guard g;
    struct guard *volatile outer = current;
    g.lo = lo;
    g.hi = hi;
    if (sigsetjmp(g.jump, 0) != 0) {
        current = outer;
        return 1;
    }
    current = &g;
    /* The guard must be visible before f touches memory, and stay until
     * f is done: compiler barriers around the call. */
    __asm__ __volatile__("" ::: "memory");
    f(ctx);
    __asm__ __volatile__("" ::: "memory");
    current = outer;
    return 0;
}
