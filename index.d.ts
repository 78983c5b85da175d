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

/** A stack frame (lines and columns from 1). */
export interface StallFrame {
  functionName: string
  /** `file://` URL or path of the script; `''` for V8's own entries. */
  url: string
  line: number
  column: number
}

/** The code a stall ran, from the CPU profile's samples inside it. */
export interface StallCulprit extends StallFrame {
  /**
   * `'js'`: the function's own JavaScript (a loop, a regex, `JSON.parse`);
   * `'native'`: a call into Node or the addon it made (`pbkdf2Sync`,
   * `gzipSync`, `readFileSync`); `'gc'`: garbage collection took more of the
   * stall than any function (the function is then the one that allocated most).
   */
  kind: 'js' | 'native' | 'gc'
  /** The heaviest stack through the function, top frame first. */
  frames: StallFrame[]
  /** Samples in the stall that ran the function. */
  samples: number
  /** Its share of the stall's sampled time, 0..1 (GC's share for `'gc'`). */
  share: number
}

/** What `onStall` listeners receive after a stall ends. */
export interface StallInfo {
  /** How long the loop was busy, in ms. */
  durationMs: number
  /** When the stall began, epoch ms. */
  startedAt: number
  /** With culprits on: the loop's thread, `'main'` or `'worker-<threadId>'`. */
  thread?: string
  /** With culprits on: the code that ran the stall, or null when no sample fell inside it. */
  culprit?: StallCulprit | null
  /** With culprits on: the heaviest stacks (up to 3), top frame first. */
  stacks?: { frames: StallFrame[]; samples: number; ms: number }[]
  /** With culprits on: share of the stall's sampled time in garbage collection, 0..1. */
  gcShare?: number
  /** With culprits on: share in Node's own code and native calls, 0..1. */
  nativeShare?: number
  /** With culprits on: profile samples inside the stall. */
  samples?: number
  /**
   * While GC metrics run on this thread (`memory.startGcStats()`,
   * `collectMetrics()`): ms of GC pause inside the stall.
   */
  gcMs?: number
}

/** Settings of stall culprits (`lag.configure({ culprits })`). */
export interface CulpritOptions {
  /** CPU profile sampling interval, ms (1..1000). @default 10 */
  intervalMs?: number
  /** Stalls at least this long get a culprit, are kept in `recentStalls()` and counted. @default 100 */
  thresholdMs?: number
  /** With no stall, the profile is still handed over (and dropped) this often, bounding its memory, ms. @default 30000 */
  rotateMs?: number
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
  /**
   * Name the code that ran each stall (a CPU profile kept running on this
   * thread through an in-process inspector session). `true` for the
   * defaults; `false` or `null` turns it off. It steps aside, with a
   * `NODEPERF_CULPRITS_OFF` warning, while the inspector is open. @default false
   */
  culprits?: boolean | CulpritOptions | null
}

/** The monitor of the calling thread's loop, with its own-thread controls. */
export interface Lag extends LoopMonitor {
  /** Starts recording (it starts at module load); options as `configure`. */
  start(options?: LagOptions): void
  /** Stops recording and releases the loop hook. */
  stop(): void
  /** Changes options; returns the settings in force. */
  configure(options: LagOptions): {
    stallThresholdMs: number
    logStallsThresholdMs: number | null
    /** The culprit settings in force on this thread, or false when off. */
    culprits: Required<CulpritOptions> | false
  }
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

/**
 * A cumulative histogram as {@link readLag} and {@link readPool} return it.
 * Bounds and `sum` in ms; counts per bucket (not cumulative): bucket `i`
 * holds the observations in `(bounds[i-1], bounds[i]]`, the last one those
 * above every bound, so `counts.length === bounds.length + 1` and the counts
 * add up to `count`.
 */
export interface ReadHistogram {
  /** The upper bounds asked for, ms, increasing. */
  bounds: number[]
  /** Observations per bucket; `bounds.length + 1` of them. */
  counts: number[]
  /** All observations. */
  count: number
  /** Sum of the observed values, ms. */
  sum: number
}

/** Options of {@link readLag}. */
export interface ReadLagOptions {
  /** Histogram bucket upper bounds, ms, increasing, each in (0, 3600000]. @default 0.05 … 10000 (17, 1-2.5-5 steps) */
  bounds?: number[]
  /** The sliding window of `window`, ms, 1000 … 86400000. @default 60000 */
  windowMs?: number
}

/** What {@link readLag} returns. Times in ms. */
export interface LagRead {
  /** The monitor's `thread`: `'main'` or `'worker-<threadId>'`. */
  thread: string
  /**
   * Lag since reads were first enabled in the process (by the first
   * `readLag`, `@nodeperf/native/prom` or `/otel`, or `overloaded()`); one
   * observation per µs of loop time. Never reset, not by reads and not by
   * `monitor.reset()`.
   */
  histogram: ReadHistogram
  /** Lag statistics and utilisation over the last `windowMs`. */
  window: {
    windowMs: number
    p50: number
    p90: number
    p99: number
    p999: number
    max: number
    min: number
    mean: number
    stddev: number
    /** 0..1 */
    utilization: number
  }
  /** Stalls (busy periods over the stall threshold) since reads were enabled; never reset. */
  stallsTotal: number
  /** Their total length, ms. */
  stalledMsTotal: number
}

/**
 * Reads a loop's lag as an exporter does, without resetting anything: any
 * number of exporters can read side by side. Enables what it reads on first
 * use. Returns null only for a loop that ended before reads were enabled.
 * @param monitor `lag` (the default) or an element of `monitors()`
 */
export declare function readLag(monitor?: LoopMonitor, options?: ReadLagOptions): LagRead | null

/** Options of {@link readPool}. */
export interface ReadPoolOptions {
  /** Task time histogram bucket upper bounds, ms, increasing. @default 0.01 … 10000 (13) */
  bounds?: number[]
}

/** One op's counts and times in {@link PoolRead}, cumulative since the pool started. */
export interface PoolOpRead {
  /** Tasks by outcome. */
  tasks: { ok: number; error: number; aborted: number; rejected: number }
  /** From submission to start. */
  wait: ReadHistogram
  /** From start to end. */
  run: ReadHistogram
}

/** What {@link readPool} returns. */
export interface PoolRead {
  threads: number
  queued: number
  active: number
  /** By op: `hash`, `json.parse`, `json.validate`, `hash.many`. */
  ops: Record<string, PoolOpRead>
}

/**
 * Reads a pool as an exporter does: gauges now, counts and time histograms
 * cumulative since the pool started, nothing reset. Null for the default
 * pool before its first use.
 * @param pool `pool` (the default) or one from `createPool()`
 */
export declare function readPool(pool?: Pool, options?: ReadPoolOptions): PoolRead | null

/** Options of {@link overloaded} and {@link underPressure}. */
export interface PressureOptions {
  /** Overloaded when this loop's lag p99 over the window exceeds this. @default 100 */
  maxLagMs?: number
  /** … or its utilisation over the window exceeds this (0..1). @default 0.95 */
  maxUtilization?: number
  /** The sliding window. @default 10000 */
  windowMs?: number
}

/**
 * Whether this thread's loop is overloaded: lag p99 or utilisation over the
 * last `windowMs` above the limits. Cheap enough to call per request.
 */
export declare function overloaded(options?: PressureOptions): boolean

/**
 * Middleware for `http`, Express and Connect: answers 503 with `Retry-After`
 * while {@link overloaded}, else calls `next()`. Requests `exclude` names
 * are never shed; an `exclude` predicate's error goes to `next(err)`.
 */
export declare const underPressure: {
  (
    options?: UnderPressureOptions,
  ): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: (err?: unknown) => void) => void
  /**
   * The Fastify plugin form: `app.register(underPressure.fastify, { maxLagMs: 50 })`
   * adds an `onRequest` hook to the app's root instance, so it covers every
   * route wherever it is registered; a route opts out with
   * `config: { underPressure: false }`. Typed structurally, so Fastify is
   * not a dependency of these types.
   */
  fastify: (
    instance: { addHook(name: 'onRequest', hook: (...args: any[]) => void): unknown },
    options: UnderPressureOptions<FastifyRequestLike>,
    done: (err?: Error) => void,
  ) => void
}

/**
 * Options of {@link underPressure}: {@link PressureOptions}, the Retry-After
 * header, and the requests never shed.
 */
export interface UnderPressureOptions<Req = import('node:http').IncomingMessage> extends PressureOptions {
  /** The Retry-After header, seconds. @default windowMs / 1000 */
  retryAfterS?: number
  /**
   * Requests never shed: paths, exact (`'/metrics'`) or a prefix ending in
   * `*` (`'/health/*'`), matched against the path without its query
   * string; or a predicate returning `true` for the requests to let
   * through (given Fastify's request in the plugin form).
   */
  exclude?: readonly string[] | { bivariance(req: Req): boolean }['bivariance']
}

/** What the Fastify plugin's `exclude` predicate is given: Fastify's request, typed structurally. */
export interface FastifyRequestLike {
  url: string
  method: string
  headers: import('node:http').IncomingHttpHeaders
  raw: import('node:http').IncomingMessage
}

/**
 * Calls `fn(item, index)` for every item in batches of about `budgetMs`,
 * yielding to the event loop between batches. Resolves to the number of
 * items processed; rejects with an `AbortError` when `signal` aborts.
 */
export declare function yieldEvery<T>(
  items: Iterable<T> | ArrayLike<T>,
  fn: (item: T, index: number) => void,
  options?: { budgetMs?: number; signal?: AbortSignal },
): Promise<number>

/** Options of {@link startSidecar}. */
export interface SidecarOptions {
  /** @default 0 (any free port) */
  port?: number
  /**
   * A loopback address (127.0.0.0/8, `::1`) or `'localhost'`; any other host
   * (`'0.0.0.0'`, `'::'`, the pod's IP) needs `allowRemote`. `''` is refused.
   * @default '127.0.0.1'
   */
  host?: string
  /** Allow a `host` other than loopback (Kubernetes probes come from the node). @default false */
  allowRemote?: boolean
  /**
   * Connections held at once; at the cap a new one closes the one idle the
   * longest, so a probe always gets in.
   * @default min(256, soft RLIMIT_NOFILE / 8), at least 4 (256 where the limit cannot be read)
   */
  maxConnections?: number
  /** Drop a connection whose request headers are not in by then (408). @default 5000 */
  headersTimeoutMs?: number
  /** Drop a connection whose whole request is not in by then (408); `>= headersTimeoutMs`. @default 10000 */
  requestTimeoutMs?: number
  /** Close a kept-alive connection idle this long after an answer. @default 5000 */
  keepAliveTimeoutMs?: number
  /** Close a connection with no traffic either way for this long. @default 10000 */
  idleTimeoutMs?: number
  /** `/health/live` answers 503 once the loop has been busy this long. @default 1000 */
  stallThresholdMs?: number
  /** Serve `/metrics` (needs prom-client). @default true */
  metrics?: boolean
  /**
   * Serve `GET /debug/stalls`: {@link recentStalls} as JSON (function names
   * and paths: keep it off on a reachable port). @default false
   */
  stalls?: boolean
  /**
   * Serve `GET /debug/heap-growth`: the leak locator's read of the main
   * thread's heap ({@link LeakLocatorRead} as JSON), each read against the
   * sidecar's previous one. Starts V8's sampling heap profiler on the main
   * thread until `close()` (sharing it with a {@link LeakLocator} started
   * there). Main thread only. Function names and paths: keep it off on a
   * reachable port. @default false
   */
  heapGrowth?: boolean | LeakLocatorOptions
  /**
   * Serve `POST /debug/heap-snapshot`: the main thread writes its heap
   * snapshot into `dir` (`v8.writeHeapSnapshot`, a 0600 file; also while
   * its loop is stuck) and the sidecar answers `{ path, bytes, ms }` (`path`
   * absolute). Object ids stay comparable across its snapshots (heap.diff
   * by id). **Blocks the main loop for seconds and takes 8–30× the heap
   * used in extra memory**: refused (507, `ERR_NODEPERF_LOW_MEMORY`) when
   * that is more than is available, unless `force`; 409 `busy` while
   * another memory request runs. Main thread only. @default false
   */
  heapSnapshots?: false | { dir: string; force?: boolean }
  /** `/health/ready` limits, as {@link PressureOptions}. */
  maxLagMs?: number
  maxUtilization?: number
  windowMs?: number
}

/** A running sidecar. */
export interface Sidecar {
  readonly port: number
  /** The connection cap in force (`options.maxConnections` or its default). */
  readonly maxConnections: number
  /** Stops the server and its worker thread. */
  close(): Promise<void>
}

/**
 * Starts `/health/live`, `/health/ready` and `/metrics` on a worker thread,
 * watching the calling thread's loop: they answer while that loop is stuck.
 * Never keeps the process alive.
 */
export declare function startSidecar(options?: SidecarOptions): Promise<Sidecar>

/** A stall kept in {@link recentStalls}: what `onStall` got, always with the culprit fields. */
export interface RecentStall extends StallInfo {
  thread: string
  culprit: StallCulprit | null
}

/**
 * The last 64 stalls of every thread that has culprits on, oldest first;
 * readable from any thread (the sidecar serves it as `/debug/stalls`).
 */
export declare function recentStalls(): RecentStall[]

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

// ---------------------------------------------------------------------------
// The process group (cross-process registry in shared memory)

/** Options of {@link Group.join}. */
export interface GroupJoinOptions {
  /**
   * How often this process publishes, in ms (an integer, 10..10000).
   * @default 100
   */
  intervalMs?: number
  /**
   * Span of the published window figures (p50 … utilization), in ms; the
   * prom integration's `windowMs` must be the same.
   * @default 60000
   */
  windowMs?: number
}

/** What {@link Group.current} returns. */
export interface GroupCurrent {
  /** `n<name>` for a named group, `c<primary pid>-<its start time>` for a cluster's. */
  key: string
  /** The name given to `join` (or `NODEPERF_GROUP`); null for a cluster group. */
  name: string | null
  /** Joined automatically as a cluster worker. */
  cluster: boolean
  intervalMs: number
}

/** One loop of a process of the group, as last published. Times in ms. */
export interface GroupLoop {
  /** `'main'` or `'worker-<threadId>'`. */
  thread: string
  running: boolean
  /**
   * How long the loop has been busy without polling. While the publisher is
   * fresh (published within 3 intervals), the time since the publish is
   * added to a loop that was busy then; otherwise the published value.
   */
  stalledFor: number
  /** Busy share over the window. */
  utilization: number
  /** Stalls since the process started (never reset). */
  stalls: number
  stalledMs: number
  p50: number
  p90: number
  p99: number
  p999: number
  /** Longest wait in the window. */
  max: number
  /**
   * Label of the code that runs the stall in progress (stall culprits'
   * precise mode), else of the last stall that named one (stall culprits
   * on); at most 256 bytes.
   */
  culprit: string | null
}

/** One process of the group, as last published. */
export interface GroupProcess {
  pid: number
  /** `cluster.worker.id` of that process, or null. */
  workerId: number | null
  /** Epoch ms of the last publish (null with `error`). */
  publishedAt: number | null
  /** How long ago that was, in ms (monotonic clock). */
  ageMs: number | null
  loops: GroupLoop[]
  /** The process's default pool; null until it exists. */
  pool: { threads: number; queued: number; active: number; completed: number; failed: number; rejected: number } | null
  /** The main thread's heap (`used`/`limit` bytes, `at` epoch ms of the figures). */
  heap: { used: number; limit: number; ratio: number; at: number } | null
  /** Set when this process's segment could not be read (the others still come back). */
  error: { code: string; message: string } | null
}

/** Options of {@link Group.processes}. */
export interface GroupReadOptions {
  /** A named group to read; default: this cluster primary's group, or the group this process joined. */
  name?: string
}

/**
 * The process group: every process of a group publishes its loops' state
 * into shared memory from a native thread; any process of the group reads
 * all of them without IPC, so a stuck process is seen stuck while it is.
 * A cluster worker joins its primary's group at load (`NODEPERF_GROUP=off`
 * turns that off); `NODEPERF_GROUP=<name>` joins a named group at load.
 */
export interface Group {
  /**
   * Joins the named group (`/^[A-Za-z0-9_.-]{1,64}$/`), main thread only.
   * Throws `ERR_NODEPERF_GROUP_JOINED` if this process is in another group.
   */
  join(name: string, options?: GroupJoinOptions): { key: string; pid: number }
  /** Leaves the group: stops publishing and removes this process's marker. */
  leave(): void
  /** The group joined, or null. */
  current(): GroupCurrent | null
  /**
   * Every process of the group. Throws `ERR_NODEPERF_NO_GROUP` when there
   * is no default group and no `name` is given.
   */
  processes(options?: GroupReadOptions): GroupProcess[]
}

export declare const group: Group

/**
 * Every error this package throws or rejects with carries a stable `code`:
 * Node's own (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`, `ABORT_ERR`, …) for
 * argument errors and aborts, `ERR_NODEPERF_*` for the package's own failures.
 */
export interface NodeperfError extends Error {
  code: string
}

// ---------------------------------------------------------------------------
// The pool

/** Algorithms of `{ op: 'hash' }`. */
export type HashAlgorithm = 'sha256' | 'sha1' | 'sha512' | 'md5' | 'blake3' | 'xxh3' | 'crc32'

/**
 * How a digest is returned: text (default `'hex'`), a Buffer, or, where
 * the digest fits exactly, its value as an unsigned integer: `'number'`
 * (crc32) or `'bigint'` (crc32, xxh3; the value `@node-rs/xxhash`'s
 * `xxh3.xxh64` gives). Other algorithms refuse those two with
 * `ERR_INVALID_ARG_VALUE`.
 */
export type HashEncoding = 'hex' | 'base64' | 'base64url' | 'buffer' | 'number' | 'bigint'

/** The encodings that give text. */
export type HashTextEncoding = 'hex' | 'base64' | 'base64url'

/** Algorithms whose digest fits a JS number exactly (`encoding: 'number'`). */
export type NumberHashAlgorithm = 'crc32'

/** Algorithms whose digest fits a 64-bit BigInt (`encoding: 'bigint'`). */
export type BigIntHashAlgorithm = 'crc32' | 'xxh3'

/**
 * Bytes to hash: a string (as UTF-8), a Buffer, any TypedArray, a DataView,
 * an ArrayBuffer or a SharedArrayBuffer (views at any offset). Inputs over
 * 1 KiB are read in place: see "The zero-copy contract" in the README.
 */
export type HashData = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer

/** `{ op: 'hash', algorithm, data, encoding }` → the digest. */
export interface HashTask {
  op: 'hash'
  algorithm: HashAlgorithm
  data: HashData
  /** @default 'hex' */
  encoding?: HashEncoding
}

/**
 * `{ op: 'hash', algorithm, data, chunkSize, out }`: hashes every
 * `chunkSize` piece of `data` (the last may be shorter) in parallel and
 * writes the digests back to back into `out`; resolves to the number of
 * chunks.
 */
export interface ChunkedHashTask {
  op: 'hash'
  algorithm: HashAlgorithm
  data: HashData
  /** Bytes per chunk: an integer from 1 to 4 GiB. */
  chunkSize: number
  /** A view over a SharedArrayBuffer with room for every digest. */
  out: ArrayBufferView
}

/**
 * Where a task runs: `'auto'` hashes inputs below a per-algorithm size on
 * the calling thread (cheaper for it than a hand-over; the sizes are in
 * docs/api.md) and larger ones on the pool; `'always'` uses the pool,
 * `'never'` the calling thread. Either way the result is a Promise.
 */
export type Offload = 'auto' | 'always' | 'never'

/** Where `hashMany` puts the digests; see {@link Pool.hashMany}. */
export interface HashManyOptions extends RunOptions {
  /**
   * `'buffer'` (the default): one Buffer of N × digest length bytes, digest
   * `i` at `i × digestLength`; `'hex'`, `'base64'`, `'base64url'`: an Array
   * of N strings.
   * @default 'buffer'
   */
  encoding?: HashTextEncoding | 'buffer'
  /**
   * A view over a SharedArrayBuffer with room for N digests: they are
   * written into it (digest `i` at `i × digestLength`) and the Promise
   * resolves with it. Not with a text `encoding`.
   */
  out?: ArrayBufferView
}

/** `{ op: 'hash.many', algorithm, inputs, encoding, out }`: {@link Pool.hashMany} as a task. */
export interface HashManyTask {
  op: 'hash.many'
  algorithm: HashAlgorithm
  inputs: readonly HashData[]
  /** @default 'buffer' */
  encoding?: HashTextEncoding | 'buffer'
  out?: ArrayBufferView
}

export interface RunOptions {
  /** Aborting rejects with an AbortError; a queued task then never runs. */
  signal?: AbortSignal
  /** @default 'auto' */
  offload?: Offload
}

/** `{ op: 'json.parse', data }` → exactly what `JSON.parse` returns. */
export interface JsonParseTask {
  op: 'json.parse'
  data: JsonInput
}

/** `{ op: 'json.validate', data }` → `true`, or rejects with the {@link JsonSyntaxError}. */
export interface JsonValidateTask {
  op: 'json.validate'
  data: JsonInput
}

/** Wait or run time of finished tasks, in milliseconds. */
export interface TimeSummary {
  p50: number
  p99: number
  max: number
  mean: number
}

export interface PoolStats {
  /** Native threads. */
  threads: number
  /** Accepted tasks waiting for a thread. */
  queued: number
  /** Tasks running now. */
  active: number
  /** Tasks that ran to the end. */
  completed: number
  /** Tasks that failed (an error, a panic, or aborted before they started). */
  failed: number
  /** `run` calls refused because the queue was full. */
  rejected: number
  /**
   * Tasks this thread ran itself under `offload` (not counted above: they
   * never reached the pool).
   */
  inline: number
  /** From submission to start. */
  waitTime: TimeSummary
  /** From start to end. */
  runTime: TimeSummary
}

export interface CreatePoolOptions {
  /** @default Math.max(1, os.availableParallelism() - 1) */
  threads?: number
  /** Most tasks that may wait; `Infinity` for no bound. @default 131072 */
  maxQueue?: number
}

/** A pool of native threads; see `pool` and `createPool`. */
export declare class Pool {
  private constructor()
  run(task: HashTask & { algorithm: NumberHashAlgorithm; encoding: 'number' }, options?: RunOptions): Promise<number>
  run(task: HashTask & { algorithm: BigIntHashAlgorithm; encoding: 'bigint' }, options?: RunOptions): Promise<bigint>
  run(task: HashTask & { encoding: 'buffer' }, options?: RunOptions): Promise<Buffer>
  run(task: HashTask & { encoding?: HashTextEncoding }, options?: RunOptions): Promise<string>
  run(task: ChunkedHashTask, options?: RunOptions): Promise<number>
  run<O extends ArrayBufferView>(task: HashManyTask & { out: O }, options?: RunOptions): Promise<O>
  run(task: HashManyTask & { encoding: HashTextEncoding }, options?: RunOptions): Promise<string[]>
  run(task: HashManyTask, options?: RunOptions): Promise<Buffer>
  run(task: JsonParseTask, options?: JsonOptions): Promise<unknown>
  run(task: JsonValidateTask, options?: JsonOptions): Promise<true>
  /**
   * Parses JSON without blocking the event loop: a pool thread validates
   * the document and plans the work, and the main thread builds the value in
   * slices of a few milliseconds with V8's own `JSON.parse`, yielding to the
   * loop between them. Resolves to exactly what `JSON.parse(text)` returns
   * (deep-equal, same key order), where `text` is `data` itself or, for
   * binary input, `Buffer.from(data).toString('utf8')`. Binary input is read
   * in place: do not transfer, detach or write to it until the promise
   * settles. Rejects with a {@link JsonSyntaxError} for invalid JSON, an
   * `AbortError` when `options.signal` aborts.
   */
  parseJson(data: JsonInput, options?: JsonOptions | null): Promise<unknown>
  hash(algorithm: NumberHashAlgorithm, data: HashData, encoding: 'number', options?: RunOptions): Promise<number>
  hash(algorithm: BigIntHashAlgorithm, data: HashData, encoding: 'bigint', options?: RunOptions): Promise<bigint>
  hash(algorithm: HashAlgorithm, data: HashData, encoding: 'buffer', options?: RunOptions): Promise<Buffer>
  hash(algorithm: HashAlgorithm, data: HashData, encoding?: HashTextEncoding, options?: RunOptions): Promise<string>
  /**
   * Hashes every input of `inputs` as one pool task (one Promise, one
   * crossing each way), spread over the pool's threads. Inputs are of the
   * kinds `hash` takes, mixed freely; binary ones (of any size) are read in
   * place: do not write to, transfer or detach them until the promise
   * settles. Resolves with one Buffer of N × digest length bytes (default),
   * an Array of N strings (`encoding`), or `out`. Aborting stops the batch
   * between items. A bad item rejects before anything is accepted, naming
   * its index (`inputs[3]`).
   */
  hashMany<O extends ArrayBufferView>(
    algorithm: HashAlgorithm,
    inputs: readonly HashData[],
    options: HashManyOptions & { out: O },
  ): Promise<O>
  hashMany(
    algorithm: HashAlgorithm,
    inputs: readonly HashData[],
    options: HashManyOptions & { encoding: HashTextEncoding },
  ): Promise<string[]>
  hashMany(algorithm: HashAlgorithm, inputs: readonly HashData[], options?: HashManyOptions): Promise<Buffer>
  stats(): PoolStats
  /** Stops accepting tasks; resolves once every accepted task has settled. */
  close(): Promise<void>
  readonly threads: number
  readonly queueSize: number
  readonly maxQueue: number
}

/** The process-wide default pool, shared by the main thread and every worker. */
export declare const pool: Pool

/** A pool of its own, with `threads` native threads. */
export declare function createPool(options?: CreatePoolOptions): Pool

/** Hashes on the calling thread (only that thread, whatever the size). */
export declare function hashSync(algorithm: NumberHashAlgorithm, data: HashData, encoding: 'number'): number
export declare function hashSync(algorithm: BigIntHashAlgorithm, data: HashData, encoding: 'bigint'): bigint
export declare function hashSync(algorithm: HashAlgorithm, data: HashData, encoding: 'buffer'): Buffer
export declare function hashSync(algorithm: HashAlgorithm, data: HashData, encoding?: HashTextEncoding): string

/** A function that hashes its one argument on the calling thread, as `hashSync` does. */
export type Hasher<R> = (data: HashData) => R

/**
 * A native function with `algorithm` and `encoding` (default `'hex'`)
 * fixed, both checked here: `hasher('crc32', 'number')(data)` is
 * `hashSync('crc32', data, 'number')` without looking the names up on
 * each call. Same inputs, results and errors as `hashSync`.
 */
export declare function hasher(algorithm: NumberHashAlgorithm, encoding: 'number'): Hasher<number>
export declare function hasher(algorithm: BigIntHashAlgorithm, encoding: 'bigint'): Hasher<bigint>
export declare function hasher(algorithm: HashAlgorithm, encoding: 'buffer'): Hasher<Buffer>
export declare function hasher(algorithm: HashAlgorithm, encoding?: HashTextEncoding): Hasher<string>

/** SharedArrayBuffer helpers. */
export declare const shared: {
  /** A Uint8Array over a new SharedArrayBuffer of `bytes` bytes. */
  alloc(bytes: number): Uint8Array
  /** Whether `value` is a SharedArrayBuffer or a view over one. */
  isShared(value: unknown): boolean
}

// ---------------------------------------------------------------------------
// JSON

/** Any input `parseJson` / `validateJson` / `parseJsonSync` take. */
export type JsonInput = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer

/** Options of {@link parseJson} and {@link validateJson}. */
export interface JsonOptions {
  /**
   * Cancels the parse at any point (while the document is scanned or while
   * the value is built): the promise rejects with an `AbortError`
   * (`code: 'ABORT_ERR'`, `cause: signal.reason`).
   */
  signal?: AbortSignal
  /**
   * The longest span of the document (UTF-16 units for a string, bytes
   * for binary input) handed to V8's `JSON.parse` in one call, give or take
   * one member; strings up to 4 times this long are parsed whole. Smaller
   * values make the main thread's slices shorter and the parse slower.
   * @default 65536
   */
  sliceSize?: number
  /**
   * Where the parse runs. `'auto'`: documents up to 1 MiB (UTF-16 units of
   * a string, bytes of binary input; or up to an explicit `sliceSize`, if
   * smaller) are parsed by `JSON.parse` on the calling thread at once
   * (the promise is already settled), larger ones on the pool, where that
   * shortens the main thread's longest stall. `'always'`: the pool, even
   * for small documents. `'never'`: `JSON.parse` on the calling thread.
   * @default 'auto'
   */
  offload?: Offload
}

/**
 * A `SyntaxError` for invalid JSON. The message follows V8's own for the
 * running Node and always names the position; `position` is the UTF-16
 * offset where `JSON.parse` reports the error.
 */
export interface JsonSyntaxError extends SyntaxError {
  code: 'ERR_NODEPERF_JSON_SYNTAX'
  position: number
}

/**
 * `JSON.parse` on the calling thread, for strings and UTF-8 bytes alike;
 * throws a {@link JsonSyntaxError} (position named, `position` set) for
 * invalid JSON.
 */
export declare function parseJsonSync(data: JsonInput): unknown

/**
 * What every aborted operation rejects with, shaped as the error Node's own
 * signal-taking APIs (`timers/promises`, `events.once`) reject with: name
 * `'AbortError'`, code `'ABORT_ERR'`, the signal's reason as `cause`.
 */
export declare class AbortError extends Error {
  constructor(message?: string, options?: { cause?: unknown })
  readonly code: 'ABORT_ERR'
  readonly name: 'AbortError'
}

// ---------------------------------------------------------------------------
// Memory: the leak locator and heap snapshots

/** Options of {@link MemoryLeakLocatorApi.startLeakLocator}. */
export interface LeakLocatorOptions {
  /**
   * Mean bytes allocated between two samples of V8's sampling heap
   * profiler: smaller finds smaller leaks sooner and costs more. An
   * integer from 1024 to 2**30. @default 32768
   */
  samplingIntervalBytes?: number
  /** Sites returned per read (1 to 10000). @default 20 */
  top?: number
}

/**
 * An allocation site: a whole stack, named by its first frame that is the
 * app's (not Node's, V8's or this package's; the allocating frame when
 * there is none). `line` and `column` (1-based; 0 for V8's own frames
 * such as `(EXTERNAL)`, which have no position) are where that function
 * starts, as in CPU profiles, not the allocating statement.
 */
export interface AllocationSite extends StallFrame {
  /** Sampled bytes still alive that this stack allocated (an estimate). */
  liveBytes: number
  /** `liveBytes` minus the previous read's (the whole of it at the first read); > 0. */
  growthBytes: number
  /** The stack, the allocating function first (at most 16 frames). */
  frames: StallFrame[]
}

/**
 * The sites of one read summed per naming function (the frame that names
 * each site): one leak reached through several call paths is one row.
 */
export interface AllocationFunction extends StallFrame {
  /** Sampled live bytes of all its sites. */
  liveBytes: number
  /** `liveBytes` minus the previous read's (the whole of it at the first read); > 0. */
  growthBytes: number
  /** How many sites (distinct stacks with live bytes) it names. */
  sites: number
}

/** What {@link LeakLocator.read} resolves to. */
export interface LeakLocatorRead {
  /** 1 for the first read of this locator (or sidecar), then 2, … */
  read: number
  /** Every sampled live byte, of every site. */
  totalLiveBytes: number
  samplingIntervalBytes: number
  /** The sites that grew since the previous read, most growth first (`top` of them). */
  sites: AllocationSite[]
  /** The same per naming function: those that grew, most growth first (`top` of them). */
  functions: AllocationFunction[]
}

/** A running leak locator: see {@link MemoryLeakLocatorApi.startLeakLocator}. */
export interface LeakLocator {
  /**
   * The sites whose live bytes grew most since the previous read. Costs
   * this thread the time V8 takes to build the profile (tens of ms; see
   * docs/memory.md). Rejects with `ERR_NODEPERF_LOCATOR_STOPPED` after
   * `stop()`.
   */
  read(): Promise<LeakLocatorRead>
  /** Stops sampling (unless the sidecar's heapGrowth still reads it); a second call does nothing. */
  stop(): void
  readonly running: boolean
  readonly samplingIntervalBytes: number
}

/** Options of {@link MemorySnapshotApi.writeHeapSnapshot}. */
export interface HeapSnapshotOptions {
  /** Write even when the memory estimate exceeds what is available. @default false */
  force?: boolean
}

/** The leak locator part of {@link memory}. */
export interface MemoryLeakLocatorApi {
  /**
   * Starts the leak locator on the calling thread (main or worker): V8's
   * sampling heap profiler through an in-process inspector session. Off
   * until called; one per thread (`ERR_NODEPERF_LOCATOR_ACTIVE`); throws
   * `ERR_NODEPERF_INSPECTOR_IN_USE` while the inspector is open
   * (`--inspect`) or another session runs the sampler.
   */
  startLeakLocator(options?: LeakLocatorOptions): LeakLocator
}

/** The heap snapshot part of {@link memory}. */
export interface MemorySnapshotApi {
  /**
   * Writes a heap snapshot of the calling thread's heap to `path` (default:
   * Node's `Heap.<date>.<time>.<pid>.<thread>.<seq>.heapsnapshot` in the
   * working directory), a 0600 file, and returns its absolute path.
   * **Blocks the thread for seconds and takes 8–30× the heap used in extra
   * memory**: throws `ERR_NODEPERF_LOW_MEMORY` (with both figures) when the
   * estimate is more than the memory available (MemAvailable, and the
   * cgroup's limit minus its usage), unless `options.force`. Never taken
   * automatically. Warns once (`NODEPERF_SNAPSHOT_IDS`) when an inspector
   * session of the package ended since the previous snapshot (object ids
   * then differ: diff by constructor).
   */
  writeHeapSnapshot(path?: string, options?: HeapSnapshotOptions): string
  /** The options alone: the default path. */
  writeHeapSnapshot(options: HeapSnapshotOptions): string
}

// Heap snapshots

/** One constructor ("class name", as Chrome DevTools' summary shows it). */
export interface HeapConstructor {
  /** DevTools' class name: an object's constructor name, `(closure)`, `(array)`, `(string)`, `(system)`, `(compiled code)`, … */
  name: string
  /** Objects of this constructor. */
  count: number
  /** Their own sizes, bytes. */
  selfSize: number
  /** What they keep alive, bytes: the sum of the retained sizes of those with no dominator of the same constructor. */
  retainedSize: number
}

/** One object in a report. */
export interface HeapNodeInfo {
  /** Its constructor (class name). */
  class: string
  /** Its snapshot node type (`object`, `closure`, `string`, …). */
  type: string
  /** Its name (strings and long names cut to 200 bytes). */
  name: string
  /** Its snapshot object id. */
  id: number
  selfSize: number
  retainedSize: number
}

/** A shortest chain of references from the root to an object. */
export interface HeapRetainerPath {
  /** The constructor this path is for (one of the largest by retained size). */
  constructor: string
  retainedSize: number
  /** The representative: the object of that constructor that retains the most. */
  node: HeapNodeInfo
  /** False if no chain of non-weak references from the root leads to it. */
  reachable: boolean
  /** From the root's first reference down to `node`. */
  path: Array<{ edge: { type: string; name: string | number }; node: HeapNodeInfo }>
}

/** What {@link heap.summary} resolves with. */
export interface HeapSummary {
  file: string
  nodes: number
  edges: number
  /** The sum of every object's self size, bytes. */
  totalSize: number
  /** Largest retained size first; at most `options.top`. */
  constructors: HeapConstructor[]
  /** How many constructors there are in all. */
  constructorCount: number
  retainerPaths: HeapRetainerPath[]
  meta: {
    nodeFields: string[]
    edgeFields: string[]
    nodeTypes: string[]
    edgeTypes: string[]
    /** Strings in the snapshot. */
    strings: number
    /** Bytes. */
    fileSize: number
    title: string | null
  }
}

export interface HeapOptions {
  /** How many constructors to list (largest retained size first). @default Infinity */
  top?: number
  /** Cancels the analysis: the promise rejects with an `AbortError`. */
  signal?: AbortSignal
  /** The pool to run on. @default pool */
  pool?: Pool
}

export interface HeapSummaryOptions extends HeapOptions {
  /** Retainer paths, for this many of the largest constructors. @default 5 */
  paths?: number
}

export interface HeapDiffOptions extends HeapOptions {
  /**
   * `'id'`: objects of `b` whose ids are not in `a` (both from one
   * process, `a` taken first). `'constructor'`: count and size changes per
   * constructor (any two snapshots). @default 'id'
   */
  by?: 'id' | 'constructor'
  /**
   * Retainer paths (`by: 'id'` only): for this many of the largest added
   * constructors, a shortest path from the root in `b` to one of their new
   * objects. @default 5
   */
  paths?: number
}

interface HeapDiffSide {
  file: string
  nodes: number
  totalSize: number
}

/** What {@link heap.diff} resolves with for `by: 'id'`. */
export interface HeapDiffById {
  by: 'id'
  a: HeapDiffSide
  b: HeapDiffSide
  /** The objects of `b` that `a` did not have. */
  added: { count: number; selfSize: number; retainedSize: number }
  /** How many objects of `a` are gone from `b`. */
  removed: { count: number }
  /**
   * The added objects by constructor, largest self size first (the new
   * objects' own bytes; `retainedSize` also counts older objects held only
   * through new ones).
   */
  constructors: HeapConstructor[]
  /** For the first `options.paths` constructors: a path in `b` to a new object of each. */
  retainerPaths: HeapRetainerPath[]
}

/** What {@link heap.diff} resolves with for `by: 'constructor'`. */
export interface HeapDiffByConstructor {
  by: 'constructor'
  a: HeapDiffSide
  b: HeapDiffSide
  /** Changes (`b` minus `a`), largest self-size growth first (then count growth); unchanged constructors left out. */
  constructors: Array<
    HeapConstructor & {
      before: Omit<HeapConstructor, 'name'>
      after: Omit<HeapConstructor, 'name'>
    }
  >
}

/** Heap-snapshot analysis, run on the pool (never on the calling thread). */
export declare const heap: {
  /**
   * Reads a `.heapsnapshot` (streamed: files of several GB are fine) and
   * summarises it by constructor with retained sizes. Rejects with
   * `ERR_NODEPERF_HEAP_SNAPSHOT` (not a valid snapshot; `offset` set),
   * `ERR_NODEPERF_HEAP_LAYOUT` (a layout it does not know) or the OS code
   * (`ENOENT`, `EISDIR`, …; `path` and `syscall` set).
   */
  summary(path: string | URL, options?: HeapSummaryOptions): Promise<HeapSummary>
  /**
   * Compares two snapshots. An id diff of snapshots of different processes,
   * of one process whose ids V8 renumbered between them (an inspector
   * session with the heap profiler closed in between), or given newest
   * first rejects with `ERR_NODEPERF_HEAP_DIFFERENT_PROCESS`.
   */
  diff(a: string | URL, b: string | URL, options?: HeapDiffOptions & { by?: 'id' }): Promise<HeapDiffById>
  diff(a: string | URL, b: string | URL, options: HeapDiffOptions & { by: 'constructor' }): Promise<HeapDiffByConstructor>
}
/** A GC kind, as the `kind` label of `nodeperf_gc_pause_seconds`. */
export type GcKind = 'scavenge' | 'minor_mark_compact' | 'mark_compact' | 'incremental_marking' | 'weak_callbacks'

/** The pauses of one GC kind since GC metrics started on this thread. */
export interface GcPauses {
  count: number
  /** Total pause, seconds. */
  seconds: number
  /** Cumulative counts at each bound of {@link GcStats.buckets}. */
  buckets: number[]
}

/** What {@link MemoryGc.gcStats} returns. Heap numbers in bytes, exact. */
export interface GcStats {
  running: boolean
  /** `'main'` or `'worker-<threadId>'`. */
  thread: string
  /** Pause histogram bounds, seconds. */
  buckets: number[]
  pauses: Record<GcKind, GcPauses>
  majorGcs: number
  minorGcs: number
  /** Heap used right after the last major GC (null before the first). */
  heapUsedAfterMajorGc: number | null
  /** Old space used right after the last scavenge (null before the first). */
  oldSpaceUsedAfterMinorGc: number | null
  heapSizeLimit: number
  /** `heapSizeLimit - heapUsedAfterMajorGc` (null before the first major GC). */
  headroomBytes: number | null
  /** Epoch ms when the last major GC was seen. */
  lastMajorGcAt: number | null
}

/** Options of the leak rule (docs/memory.md). */
export interface LeakOptions {
  /** Most heap-after-major-GC points looked at, 6..120. @default 30 */
  window?: number
  /** Fewest points decided on, 6..window. @default 10 */
  minPoints?: number
  /** Mann–Kendall Z over the window. @default 2.5 */
  minZ?: number
  /** Mann–Kendall Z in each half of the window. @default 0.8 */
  minHalfZ?: number
  /** Each half's Theil–Sen slope within this factor of the window's, both ways, 0..1. @default 0.33 */
  minHalfSlopeRatio?: number
  /** Largest rise between neighbouring points as a share of the window's range, 0..1. @default 0.5 */
  maxJumpShare?: number
  /** Least rise over the window, bytes. @default 262144 */
  minRiseBytes?: number
  /** Least rise as a fraction of the window's median heap. @default 0.02 */
  minRiseFraction?: number
}

/** One heap-used-after-major-GC point. */
export interface LeakPoint {
  /** Epoch ms. */
  at: number
  heapUsed: number
}

/** The leak rule's verdict. */
export interface LeakVerdict {
  suspected: boolean
  slopeBytesPerMinute: number
  slopeBytesPerMajorGc: number
  /** 0..1: the least of Φ(Z) over the window and its two halves. */
  confidence: number
  z: number
  zHalves: [number, number]
  risenBytes: number
  windowPoints: number
  points: LeakPoint[]
}

/** What an {@link MemoryGc.onLeakSuspected} callback receives. */
export interface LeakInfo extends LeakVerdict {
  thread: string
  heapSizeLimit: number | null
}

/** What {@link MemoryGc.leakStatus} returns. */
export interface LeakStatus extends LeakVerdict {
  running: boolean
  majorGcs: number
}

/** GC metrics and the leak warning of the calling thread. */
export interface MemoryGc {
  /** Starts the rotated GC profiler on this thread (a pause observer too while stall listeners exist); false if it ran. */
  startGcStats(): boolean
  /** Removes them (counts so far stay); false if they were not running. */
  stopGcStats(): boolean
  /** Pauses by kind and the exact heap numbers after GC. */
  gcStats(): GcStats
  /**
   * Calls `callback` when the heap after major GCs starts to grow steadily
   * (starts GC metrics if off). Returns a function that unsubscribes.
   */
  onLeakSuspected(callback: (info: LeakInfo) => void, options?: LeakOptions): () => void
  /** The leak rule's verdict now (default options). */
  leakStatus(): LeakStatus
}

/** Memory: GC metrics and the leak warning, the leak locator, heap snapshots. */
export interface Memory extends MemoryGc, MemoryLeakLocatorApi, MemorySnapshotApi {}

/** Memory diagnostics of the calling thread. */
export declare const memory: Memory
