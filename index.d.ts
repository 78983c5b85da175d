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

// ---------------------------------------------------------------------------
// The pool

/** Algorithms of `{ op: 'hash' }`. */
export type HashAlgorithm = 'sha256' | 'sha1' | 'sha512' | 'md5' | 'blake3' | 'xxh3' | 'crc32'

/** How a digest is returned: text (default `'hex'`) or a Buffer. */
export type HashEncoding = 'hex' | 'base64' | 'base64url' | 'buffer'

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

export interface RunOptions {
  /** Aborting rejects with an AbortError; a queued task then never runs. */
  signal?: AbortSignal
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
  run(task: HashTask & { encoding: 'buffer' }, options?: RunOptions): Promise<Buffer>
  run(task: HashTask, options?: RunOptions): Promise<string>
  run(task: ChunkedHashTask, options?: RunOptions): Promise<number>
  hash(algorithm: HashAlgorithm, data: HashData, encoding: 'buffer', options?: RunOptions): Promise<Buffer>
  hash(algorithm: HashAlgorithm, data: HashData, encoding?: Exclude<HashEncoding, 'buffer'>, options?: RunOptions): Promise<string>
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

/** Hashes on the calling thread. */
export declare function hashSync(algorithm: HashAlgorithm, data: HashData, encoding: 'buffer'): Buffer
export declare function hashSync(algorithm: HashAlgorithm, data: HashData, encoding?: Exclude<HashEncoding, 'buffer'>): string

/** SharedArrayBuffer helpers. */
export declare const shared: {
  /** A Uint8Array over a new SharedArrayBuffer of `bytes` bytes. */
  alloc(bytes: number): Uint8Array
  /** Whether `value` is a SharedArrayBuffer or a view over one. */
  isShared(value: unknown): boolean
}
