import type { Offload, underPressure as underPressureMiddleware } from '../index.js'

/** What the prototype-poisoning protection does with a forbidden key (secure-json-parse's actions). */
export type PoisoningAction = 'error' | 'remove' | 'ignore'

/** Options of the {@link json} plugin. */
export interface JsonPluginOptions {
  /** Where a body is parsed, as for `pool.parseJson`: `'auto'` parses up to 1 MiB on the calling thread, larger on the pool. @default 'auto' */
  offload?: Offload
  /** A `__proto__` key. @default the Fastify instance's `onProtoPoisoning` ('error') */
  onProtoPoisoning?: PoisoningAction
  /** A `constructor` object with a `prototype` key. @default the Fastify instance's `onConstructorPoisoning` ('error') */
  onConstructorPoisoning?: PoisoningAction
}

/**
 * Fastify plugin: `app.register(json, options)` replaces the
 * `application/json` content-type parser with one that answers as
 * Fastify's default parser and parses bodies over 1 MiB on the pool. Not
 * encapsulated (as fastify-plugin). Typed structurally, so Fastify is not
 * a dependency of these types.
 */
export declare function json(
  instance: { addContentTypeParser(contentType: string, options: { parseAs: 'buffer' }, parser: (...args: any[]) => any): unknown },
  options: JsonPluginOptions,
  done: (err?: Error) => void,
): void

/** The load-shedding plugin: `underPressure.fastify` of `@nodeperf/native`. */
export declare const underPressure: (typeof underPressureMiddleware)['fastify']
