/**
 * @nodeperf/native: event-loop lag you can trust, a native thread pool for
 * CPU-bound work, and zero-copy shared memory for Node.js.
 */

/** What {@link loopInfo} returns. */
export interface LoopInfo {
  /** The libuv version inside this process, e.g. `'1.46.0'`. */
  libuv: string
  /** The Node-API version of this Node.js (`process.versions.napi`). */
  napi: number
  /** `'main'` or `'worker-<threadId>'`. */
  thread: 'main' | `worker-${number}`
  /** Loop iterations counted since the module was loaded on this thread. */
  iterations: number
}

/** What this thread's event loop is, seen from the addon. */
export declare function loopInfo(): LoopInfo

/**
 * Every error this package throws or rejects with carries a stable `code`:
 * Node's own (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`, `ABORT_ERR`, …) for
 * argument errors and aborts, `ERR_NODEPERF_*` for the package's own failures.
 */
export interface NodeperfError extends Error {
  code: string
}
