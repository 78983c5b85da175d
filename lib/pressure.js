'use strict'
// Load shedding on measured lag, and a helper to break long loops into
// time-budgeted batches.

const { isArrayBuffer, isTypedArray } = require('node:util').types
const { abortError, invalidArgType, invalidArgValue, isRevokedProxy, outOfRangeAs, revokedProxy } = require('./errors.js')
const { numberOption, validateFunction, validateOptions, signalOption } = require('./validate.js')
// Node's own, not the globals that fake timers replace: @sinonjs/fake-timers
// (Jest's modern timers) swaps globalThis.performance and process.hrtime,
// and with a frozen clock a batch would never end. perf_hooks' own
// `performance` is the real one even when the fake came first.
const { setImmediate } = require('node:timers')
const { performance } = require('node:perf_hooks')
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
 * while {@link overloaded}, else calls `next()`. Requests `exclude` names
 * are never shed (see {@link excludeOption}).
 *
 * @param {{ maxLagMs?: number, maxUtilization?: number, windowMs?: number, retryAfterS?: number,
 *   exclude?: string[] | ((req: import('node:http').IncomingMessage) => boolean) }} [options]
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: (err?: unknown) => void) => void}
 */
function underPressure(options) {
  const { o, retryAfter, excluded } = sheddingOptions(options)
  return function underPressureMiddleware(req, res, next) {
    validateFunction(next, 'next')
    let skip
    try {
      // Express rewrites req.url under a mount path; originalUrl is the request's.
      skip = excluded(req, req.originalUrl ?? req.url)
    } catch (err) {
      next(err)
      return
    }
    if (skip) {
      next()
      return
    }
    const r = evaluate(o)
    if (!r.overloaded) {
      next()
      return
    }
    validateResponse(res)
    const body = JSON.stringify(overloadBody(r))
    res.statusCode = 503
    res.setHeader('Retry-After', retryAfter)
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Content-Length', Buffer.byteLength(body))
    res.end(body)
  }
}

/** What the middleware calls on `res` (an http.ServerResponse has them all). */
function validateResponse(res) {
  if (
    res === null ||
    typeof res !== 'object' ||
    isRevokedProxy(res) ||
    typeof res.setHeader !== 'function' ||
    typeof res.end !== 'function'
  ) {
    throw invalidArgType('res', 'an instance of http.ServerResponse', res)
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
  return { o, retryAfter, excluded: excludeOption(options?.exclude) }
}

/**
 * `options.exclude`: the requests never shed, as `(req, url) => boolean`.
 * Either paths, each exact (`'/metrics'`) or a prefix ending in `*`
 * (`'/health/*'` covers `/health/live` and `/health/`, not `/health`),
 * matched against the URL's path (the query string ignored); or a
 * predicate `(req) => boolean` given the request (Fastify's request in the
 * plugin form), which returns true for the requests to let through.
 */
function excludeOption(exclude) {
  if (exclude === undefined) return () => false
  if (typeof exclude === 'function') {
    validateFunction(exclude, 'options.exclude')
    return (req) => {
      const skip = exclude(req)
      if (typeof skip !== 'boolean') throw invalidArgType('the value options.exclude returned', 'of type boolean', skip)
      return skip
    }
  }
  if (!Array.isArray(exclude)) throw invalidArgType('options.exclude', 'an array of paths or a function', exclude)
  const exact = new Set()
  const prefixes = []
  exclude.forEach((path, i) => {
    const name = `options.exclude[${i}]`
    if (typeof path !== 'string') throw invalidArgType(name, 'of type string', path)
    if (path[0] !== '/') throw invalidArgValue(name, path, "must be a path starting with '/'")
    const star = path.indexOf('*')
    if (star !== -1 && star !== path.length - 1) throw invalidArgValue(name, path, "may hold '*' only as its last character (a prefix)")
    if (path.includes('?')) throw invalidArgValue(name, path, 'must be a path without a query string')
    if (star === -1) exact.add(path)
    else prefixes.push(path.slice(0, -1))
  })
  return (req, url) => {
    if (typeof url !== 'string') return false
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (exact.has(path)) return true
    for (const p of prefixes) if (path.startsWith(p)) return true
    return false
  }
}

const overloadBody = (r) => ({ status: 'overloaded', lagP99Ms: r.lagP99Ms, utilization: r.utilization })

/**
 * The Fastify plugin form of underPressure: `app.register(underPressure.fastify,
 * { maxLagMs: 50 })` adds an `onRequest` hook to the context it is
 * registered in, as fastify-plugin does (not encapsulated): registered on
 * the root or inside a plugin registered on the root, it covers every route
 * of the app. Answers 503 with Retry-After while overloaded. Options as
 * underPressure's (an `exclude` predicate is given Fastify's request); a
 * route with `config: { underPressure: false }` is never shed.
 */
function underPressureFastify(fastify, options, done) {
  validateFunction(done, 'done')
  let shed
  try {
    if (fastify === null || typeof fastify !== 'object' || isRevokedProxy(fastify) || typeof fastify.addHook !== 'function') {
      throw invalidArgType('fastify', 'a Fastify instance', fastify)
    }
    shed = sheddingOptions(options)
  } catch (err) {
    done(err)
    return
  }
  const { o, retryAfter, excluded } = shed
  // Every route of the app, wherever the plugin is registered: the hooks go
  // on the root instance. Fastify makes each encapsulated context with
  // Object.create(parent), so the root is the last Fastify instance up the
  // prototype chain; its addHook also adds the hook to every context already
  // made, and a route binds its context's hooks when the app gets ready.
  const app = rootInstance(fastify)
  // The per-route opt-out is checked once, where the route is declared.
  app.addHook('onRoute', function underPressureRoute(route) {
    const value = route.config?.underPressure
    if (value !== undefined && typeof value !== 'boolean') {
      throw invalidArgType(`config.underPressure of route ${route.method} ${route.url}`, 'of type boolean', value)
    }
  })
  app.addHook('onRequest', function underPressureHook(request, reply, next) {
    let skip
    try {
      skip = request.routeOptions?.config?.underPressure === false || excluded(request, request.url)
    } catch (err) {
      next(err)
      return
    }
    if (skip) {
      next()
      return
    }
    const r = evaluate(o)
    if (!r.overloaded) {
      next()
      return
    }
    reply.code(503).header('Retry-After', retryAfter).send(overloadBody(r))
  })
  done()
}
/** The root of a Fastify instance's encapsulation tree. */
function rootInstance(fastify) {
  let root = fastify
  for (let p = Object.getPrototypeOf(root); p !== null && typeof p.addHook === 'function'; p = Object.getPrototypeOf(p)) root = p
  return root
}

// As fastify-plugin marks a plugin: register on the parent context, so the
// hook covers every route, and name it in Fastify's plugin tree.
underPressureFastify[Symbol.for('skip-override')] = true
underPressureFastify[Symbol.for('fastify.display-name')] = '@nodeperf/native underPressure'
underPressure.fastify = underPressureFastify

/**
 * Calls `fn(item, index)` for every item, in batches that each run for at
 * most about `budgetMs`, yielding to the event loop (setImmediate) between
 * batches so other callbacks and requests get their turn. Like Node's own
 * Promise-returning functions it never throws: a bad argument rejects.
 *
 * @template T
 * @param {Iterable<T> | ArrayLike<T>} items
 * @param {(item: T, index: number) => void} fn
 * @param {{ budgetMs?: number, signal?: AbortSignal }} [options] budgetMs defaults to 5
 * @returns {Promise<number>} how many items were processed
 */
function yieldEvery(items, fn, options) {
  let iterator, signal, budgetMs
  try {
    iterator = iterate(items)
    validateFunction(fn, 'fn')
    signal = signalOption(options)
    budgetMs = numberOption(options?.budgetMs, 'options.budgetMs', 5, 0.01, 60_000, '>= 0.01 and <= 60000')
  } catch (err) {
    return Promise.reject(err)
  }
  return new Promise((resolve, reject) => {
    let index = 0
    // How many items to run between clock reads; adapts to the item cost.
    let stride = 1
    const batch = () => {
      try {
        if (signal && signal.aborted) return reject(abortError(signal))
        const end = performance.now() + budgetMs
        for (;;) {
          for (let k = 0; k < stride; k++) {
            const step = iterator.next()
            if (typeof step !== 'object' || step === null) throw invalidArgType('items', ITERABLE, items)
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

const ITERABLE = 'an iterable or array-like'

// Built-in iterator methods that throw an engine TypeError (no code) when
// called on what only looks like their kind: a Proxy of a typed array, Map
// or Set, or a typed array whose buffer was detached or shrunk.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const BRANDED_ITERATORS = new Set([TypedArrayPrototype.values, Map.prototype.entries, Set.prototype.values])

/** `items`' iterator, or a coded error saying why it has none. */
function iterate(items) {
  if (items === null || items === undefined) throw invalidArgType('items', ITERABLE, items)
  if ((typeof items === 'object' || typeof items === 'function') && isRevokedProxy(items)) throw revokedProxy('items', items)
  const method = items[Symbol.iterator]
  let iterator
  if (typeof method === 'function') {
    if (isTypedArray(items)) checkInBounds(items)
    try {
      iterator = method.call(items)
    } catch (err) {
      if (!BRANDED_ITERATORS.has(method)) throw err // the iterable's own error
      const e = invalidArgType('items', ITERABLE, items)
      e.cause = err
      throw e
    }
  } else if (typeof items.length === 'number') {
    iterator = Array.prototype.values.call(items)
  } else {
    throw invalidArgType('items', ITERABLE, items)
  }
  if ((typeof iterator !== 'object' && typeof iterator !== 'function') || iterator === null || typeof iterator.next !== 'function') {
    throw invalidArgType('items', ITERABLE, items)
  }
  return iterator
}

/** A typed array whose buffer is detached, or shrunk below it, has no items to give. */
function checkInBounds(view) {
  try {
    TypedArrayPrototype.at.call(view, 0)
  } catch {
    if (isDetached(typedArrayBuffer(view))) throw invalidArgValue('items', view, 'must not be a view over a detached ArrayBuffer')
    throw outOfRangeAs('items.byteLength', 'a view that lies inside its buffer', 'a view outside its (shrunk) buffer')
  }
}

const typedArrayBuffer = Function.prototype.call.bind(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'buffer').get)

/** Whether an ArrayBuffer was detached (transferred); no SharedArrayBuffer is. */
function isDetached(buffer) {
  if (!isArrayBuffer(buffer)) return false
  try {
    new Uint8Array(buffer, 0, 0)
    return false
  } catch {
    return true
  }
}

module.exports = { overloaded, underPressure, yieldEvery }
