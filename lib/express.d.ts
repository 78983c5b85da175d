import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Offload, underPressure as underPressureMiddleware } from '../index.js'

/** Options of {@link json}: `express.json()`'s, plus `offload`. */
export interface JsonOptions {
  /** The largest body, bytes: a number, or a string for the `bytes` package (`'20mb'`). @default '100kb' */
  limit?: number | string
  /** Only objects and arrays at the top; anything else is 400 `entity.parse.failed`. @default true */
  strict?: boolean
  /** As `JSON.parse`'s; the body is then parsed with `JSON.parse` on the calling thread. */
  reviver?: (this: any, key: string, value: any) => any
  /** Which requests to parse: a type-is type, an array of them, or a predicate. @default 'application/json' */
  type?: string | readonly string[] | ((req: IncomingMessage) => boolean)
  /** Inflate gzip, deflate and br bodies; `false` answers them 415 `encoding.unsupported`. @default true */
  inflate?: boolean
  /** Where a UTF-8 body is parsed, as for `pool.parseJson`: `'auto'` parses up to 1 MiB on the calling thread, larger on the pool. @default 'auto' */
  offload?: Offload
}

/**
 * A drop-in for `express.json(options)` (body-parser 2): the same requests
 * parsed, the same `req.body`, the same http-errors errors; bodies over
 * 1 MiB (with `offload: 'auto'`) are parsed on the pool. Does not load Express.
 */
export declare function json(
  options?: JsonOptions,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void

/** The load-shedding middleware, as exported by `@nodeperf/native`. */
export declare const underPressure: typeof underPressureMiddleware
