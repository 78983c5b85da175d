'use strict'
// Load shedding on measured lag, and a helper to break long loops into
// time-budgeted batches.

const { abortError, invalidArgType } = require('./errors.js')
const { numberOption, validateFunction, validateOptions, signalOption } = require('./validate.js')
// Node's own, not the global one that fake timers replace.
const { setImmediate } = require('node:timers')
const { lag, windowRead } = require('./lag.js')

function pressureOptions(options) {
  validateOptions(options)
  const o = options ?? {}
  return {
    maxLagMs: numberOption(o.maxLagMs, 'options.maxLagMs', 100, 0.001, 3_600_000, '>= 0.001 and <= 3600000'),
    maxUtilization: numberOption(o.maxUtilization, 'options.maxUtilization', 0.95, 0, 1, '>= 0 and <= 1'),
    windowMs: numberOption(o.windowMs, 'options.windowMs', 10_000, 1000, 86_400_000, '>= 1000 and <= 86400000'),
  }
}

const cache = new Map()
/**
 * Whether this thread's loop is overloaded: its lag p99 over the last
 * `windowMs` is above `maxLagMs`, or its utilisation over the window is above
 * `maxUtilization`. Cheap enough to call per request: the answer is
 * recomputed at most every min(50 ms, windowMs / 100).
 *
 * @param {{ maxLagMs?: number, maxUtilization?: number, windowMs?: number }} [options]
 *   defaults: 100 ms, 0.95, 10000 ms
 * @returns {boolean}
 */
function overloaded(options) {
  const o = pressureOptions(options)
  return evaluate(o).overloaded
}

function evaluate(o) {
  const key = `${o.maxLagMs}/${o.maxUtilization}/${o.windowMs}`
  const now = performance.now()
  const hit = cache.get(key)
  if (hit && now - hit.at < Math.min(50, o.windowMs / 100)) return hit
  const w = windowRead(lag, o.windowMs)
  const result = {
    at: now,
    overloaded: w.p99Ms > o.maxLagMs || w.utilization > o.maxUtilization,
    lagP99Ms: w.p99Ms,
    utilization: w.utilization,
  }
  cache.set(key, result)
  return result
}

/**
 * Middleware for `http`, Express and Connect: answers 503 with `Retry-After`
 * while {@link overloaded}, else calls `next()`.
 *
 * @param {{ maxLagMs?: number, maxUtilization?: number, windowMs?: number, retryAfterS?: number }} [options]
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void}
 */
function underPressure(options) {
  const { o, retryAfter } = sheddingOptions(options)
  return function underPressureMiddleware(req, res, next) {
    const r = evaluate(o)
    if (!r.overloaded) {
      next()
      return
    }
    const body = JSON.stringify(overloadBody(r))
    res.statusCode = 503
    res.setHeader('Retry-After', retryAfter)
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Content-Length', Buffer.byteLength(body))
    res.end(body)
  }
}

/** The options of underPressure and its Fastify form; starts the window. */
function sheddingOptions(options) {
  const o = pressureOptions(options)
  // Start the window now, so it holds real history by the first request.
  windowRead(lag, o.windowMs)
  const retryAfter = String(
    numberOption(options?.retryAfterS, 'options.retryAfterS', Math.ceil(o.windowMs / 1000), 1, 86_400, '>= 1 and <= 86400'),
  )
  return { o, retryAfter }
}

const overloadBody = (r) => ({ status: 'overloaded', lagP99Ms: r.lagP99Ms, utilization: r.utilization })

/**
 * The Fastify plugin form of underPressure: `app.register(underPressure.fastify,
 * { maxLagMs: 50 })` adds an `onRequest` hook to the whole app (not only the
 * plugin's encapsulation context) that answers 503 with Retry-After while
 * overloaded. Options as underPressure's.
 */
function underPressureFastify(fastify, options, done) {
  let shed
  try {
    shed = sheddingOptions(options)
  } catch (err) {
    done(err)
    return
  }
  const { o, retryAfter } = shed
  fastify.addHook('onRequest', function underPressureHook(request, reply, next) {
    const r = evaluate(o)
    if (!r.overloaded) {
      next()
      return
    }
    reply.code(503).header('Retry-After', retryAfter).send(overloadBody(r))
  })
  done()
}
// As fastify-plugin marks a plugin: register on the parent context, so the
// hook covers every route, and name it in Fastify's plugin tree.
underPressureFastify[Symbol.for('skip-override')] = true
underPressureFastify[Symbol.for('fastify.display-name')] = '@nodeperf/native underPressure'
underPressure.fastify = underPressureFastify

/**
 * Calls `fn(item, index)` for every item, in batches that each run for at
 * most about `budgetMs`, yielding to the event loop (setImmediate) between
 * batches so other callbacks and requests get their turn.
 *
 * @template T
 * @param {Iterable<T> | ArrayLike<T>} items
 * @param {(item: T, index: number) => void} fn
 * @param {{ budgetMs?: number, signal?: AbortSignal }} [options] budgetMs defaults to 5
 * @returns {Promise<number>} how many items were processed
 */
function yieldEvery(items, fn, options) {
  if (items === null || items === undefined || (typeof items[Symbol.iterator] !== 'function' && typeof items.length !== 'number')) {
    throw invalidArgType('items', 'an iterable or array-like', items)
  }
  validateFunction(fn, 'fn')
  const signal = signalOption(options)
  const budgetMs = numberOption(options?.budgetMs, 'options.budgetMs', 5, 0.01, 60_000, '>= 0.01 and <= 60000')

  const iterator = typeof items[Symbol.iterator] === 'function' ? items[Symbol.iterator]() : Array.prototype.values.call(items)
  return new Promise((resolve, reject) => {
    let index = 0
    // How many items to run between clock reads; adapts to the item cost.
    let stride = 1
    const batch = () => {
      if (signal && signal.aborted) return reject(abortError(signal))
      const end = performance.now() + budgetMs
      try {
        for (;;) {
          for (let k = 0; k < stride; k++) {
            const step = iterator.next()
            if (step.done) return resolve(index)
            fn(step.value, index++)
          }
          const now = performance.now()
          if (now >= end) break
          // Aim for ~10 clock reads per budget.
          if (end - now > budgetMs * 0.9) stride *= 2
        }
      } catch (e) {
        return reject(e)
      }
      setImmediate(batch)
    }
    batch()
  })
}

module.exports = { overloaded, underPressure, yieldEvery }
