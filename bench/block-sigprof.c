/* A diagnostic for bench/culprits-soak.mjs and bench/culprits-overhead.mjs
 * (their `on+block` arm): loaded with LD_PRELOAD, it asks libuv to block
 * SIGPROF while the main loop polls (`uv_loop_configure(loop,
 * UV_LOOP_BLOCK_SIGNAL, SIGPROF)`, what Node itself does under --prof), so
 * V8's sampling profiler no longer interrupts epoll_wait. Without it, every
 * SIGPROF that lands in a poll makes libuv re-enter the poll with a fresh
 * idle-time entry stamp, and the idle time before it is lost
 * (uv_metrics_idle_time, which our lag monitor and ELU both read).
 *
 *   cc -shared -fPIC -o block-sigprof.so bench/block-sigprof.c
 *   LD_PRELOAD=./block-sigprof.so node app.js
 */
#include <signal.h>

typedef struct uv_loop_s uv_loop_t;
extern uv_loop_t* uv_default_loop(void);
extern int uv_loop_configure(uv_loop_t* loop, int option, ...);

__attribute__((constructor)) static void block_sigprof(void) {
  /* UV_LOOP_BLOCK_SIGNAL is 0 in enum uv_loop_option. */
  uv_loop_configure(uv_default_loop(), 0, SIGPROF);
}
