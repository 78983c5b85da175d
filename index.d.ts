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
 * Parses JSON without blocking the event loop: a native thread validates
 * the document and plans the work, and the main thread builds the value in
 * slices of a few milliseconds with V8's own `JSON.parse`, yielding to the
 * loop between them. Resolves to exactly what `JSON.parse(text)` returns
 * (deep-equal, same key order), where `text` is `data` itself or, for
 * binary input, `Buffer.from(data).toString('utf8')`.
 *
 * Binary input is read in place: do not transfer, detach or write to it
 * until the promise settles.
 *
 * Rejects with a {@link JsonSyntaxError} for invalid JSON, an `AbortError`
 * when `options.signal` aborts, a `TypeError` (`ERR_INVALID_ARG_TYPE`) or
 * `RangeError` (`ERR_OUT_OF_RANGE`) for bad arguments.
 */
export declare function parseJson(data: JsonInput, options?: JsonOptions | null): Promise<unknown>

/**
 * Validates JSON off the main thread. Resolves to `true`, or rejects with
 * the {@link JsonSyntaxError} `parseJson` would reject with.
 */
export declare function validateJson(data: JsonInput, options?: JsonOptions | null): Promise<true>

/**
 * `JSON.parse` on the calling thread, for strings and UTF-8 bytes alike;
 * throws a {@link JsonSyntaxError} (position named, `position` set) for
 * invalid JSON.
 */
export declare function parseJsonSync(data: JsonInput): unknown
