/**
 * @nodeperf/native: event-loop lag you can trust, a native thread pool for
 * CPU-bound work, and zero-copy shared memory for Node.js.
 */

/** Everything a loop monitor reports, read at one instant. Times in ms. */
export interface LagSnapshot {
  /** `'main'` or `'worker-<threadId>'`. */
  thread: string
  p50: number
  p90: number
  p99: number
  p999: number
  /** The longest busy period: the worst wait any event could have had. */
  max: number
  min: number
  mean: number
  stddev: number
  /** Busy periods (poll to poll) recorded since the last reset. */
  count: number
  /** Loop time observed since the last reset, in ms. */
  observedMs: number
  /** Event-loop utilisation since the last reset, 0..1. */
  utilization: number
  /** Busy periods at least `stallThresholdMs` long (default 100 ms). */
  stalls: number
  /** Their total length, in ms. */
  stalledMs: number
  /** How long the loop has been busy right now (0 when responsive). */
  stalledFor: number
  /** Epoch ms of the last reset. */
  since: number
}

/**
 * The lag monitor of one event loop. Lag is how long an event arriving at a
 * random moment waits before its callback starts; all values are fractional
 * milliseconds (0.153 is 153 µs). Every method may be called from any thread.
 */
export interface LoopMonitor {
  /** `'main'` or `'worker-<threadId>'`. */
  readonly thread: string
  /** False once the loop's thread has ended: reads then return the values frozen at that moment and `stalledFor()` returns 0. */
  readonly alive: boolean
  /** Whether the monitor is recording. */
  readonly running: boolean
  p50(): number
  p90(): number
  p99(): number
  p999(): number
  /** The lag at percentile `q`, 0 < q <= 100. */
  percentile(q: number): number
  max(): number
  min(): number
  mean(): number
  stddev(): number
  /** Busy periods (poll to poll) recorded since the last reset. */
  count(): number
  /** Clears the histogram, stall counts and utilisation window. */
  reset(): void
  snapshot(): LagSnapshot
  /** Event-loop utilisation since the last reset, 0..1. */
  utilization(): number
  /** Ms the loop has been continuously busy right now; 0 when responsive. */
  stalledFor(): number
}

/** What `onStall` listeners receive after a stall ends. */
export interface StallInfo {
  /** How long the loop was busy, in ms. */
  durationMs: number
  /** When the stall began, epoch ms. */
  startedAt: number
}

/** Options of {@link Lag.configure} and {@link Lag.start}. */
export interface LagOptions {
  /** Busy periods at least this long count in `stalls` / `stalledMs`. @default 100 */
  stallThresholdMs?: number
  /**
   * Write "event loop of <thread> blocked for <N> ms" to stderr from a
   * native thread while this loop is stuck (at 1x, 2x, 4x… the threshold).
   * `false` or `null` turns it off. @default false
   */
  logStalls?: { thresholdMs: number } | false | null
}

/** The monitor of the calling thread's loop, with its own-thread controls. */
export interface Lag extends LoopMonitor {
  /** Starts recording (it starts at module load); options as `configure`. */
  start(options?: LagOptions): void
  /** Stops recording and releases the loop hook. */
  stop(): void
  /** Changes options; returns the settings in force. */
  configure(options: LagOptions): { stallThresholdMs: number; logStallsThresholdMs: number | null }
  /**
   * Calls `callback` once after each stall longer than `thresholdMs` ends,
   * on this thread. Returns a function that unsubscribes.
   */
  onStall(thresholdMs: number, callback: (info: StallInfo) => void): () => void
}

/** The monitor of this thread's event loop, running from module load. */
export declare const lag: Lag

/** Every live loop monitor in the process: main thread first, then workers. */
export declare function monitors(): LoopMonitor[]

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
