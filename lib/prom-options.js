'use strict'
// The options of collectMetrics (lib/prom.js): checked, defaulted, and
// compared, so that a second call on one registry can tell whether it asks
// for what the first registered.

const v8 = require('node:v8')
const { isMainThread } = require('node:worker_threads')
const { Pool, pool: defaultPool } = require('./pool.js')
const { invalidArgType, invalidArgValue, isRevokedProxy, outOfRange, requirePeer } = require('./errors.js')
const { validateObject, validateOptions } = require('./validate.js')

const loadPromClient = () => requirePeer('@nodeperf/native/prom', 'prom-client', '>= 14')

/** Default lag buckets (seconds): log-spaced from 50 µs to 10 s. */
const DEFAULT_BUCKETS = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
])
/** Default pool task time buckets (seconds): 10 µs to 10 s. */
const DEFAULT_POOL_BUCKETS = Object.freeze([
  0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10,
])
const DEFAULT_WINDOW_MS = 60_000
/** Labels our series set themselves (`worker` too, unless `worker: false`). */
const RESERVED_LABELS = ['thread', 'le', 'quantile', 'culprit', 'kind']
const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * The `worker` label's value when `options.worker` is not given.
 *
 * Under `cluster`, every worker's main thread is `thread="main"`, so once
 * prom-client's AggregatorRegistry merges the workers' series (by name and
 * labels) the per-worker view is gone. A cluster worker's main thread
 * therefore labels its series `worker="<cluster.worker.id>"`: the id is the
 * one the primary and the cluster recipe (docs/cluster.md) already use
 * (`port + cluster.worker.id`), it is small, and a restarted worker's new
 * id only replaces a series the aggregate no longer has. A pid would be
 * as unique but means nothing in the primary. Outside a cluster worker
 * (including worker threads of one, where `cluster.worker` is undefined)
 * there is no label; `options.worker` sets or turns it off explicitly.
 */
function defaultWorker() {
  // A cluster worker's worker threads have no cluster.worker.
  if (!isMainThread) return null
  const cluster = require('node:cluster')
  return cluster.isWorker && cluster.worker ? String(cluster.worker.id) : null
}

function checkPrefix(name, prefix) {
  if (typeof prefix !== 'string') throw invalidArgType(name, 'of type string', prefix)
  if (prefix !== '' && !PREFIX.test(prefix)) throw invalidArgType(name, 'a valid Prometheus metric name prefix', prefix)
  return prefix
}

function checkOptions(options) {
  validateOptions(options)
  if (options === undefined) options = {}
  const prom = options.register === undefined ? loadPromClient().register : options.register
  if (!prom || isRevokedProxy(prom) || typeof prom.registerMetric !== 'function' || typeof prom.getSingleMetric !== 'function') {
    throw invalidArgType('options.register', 'a prom-client Registry', options.register)
  }
  const prefix = options.prefix === undefined ? '' : checkPrefix('options.prefix', options.prefix)
  const labels = options.labels === undefined ? {} : options.labels
  validateObject(labels, 'options.labels')
  for (const [k, v] of Object.entries(labels)) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) || k.startsWith('__') || RESERVED_LABELS.includes(k)) {
      throw invalidArgType('options.labels', `label names that are valid and not reserved (${RESERVED_LABELS.join(', ')}); got '${k}'`, labels)
    }
    if (typeof v !== 'string' && typeof v !== 'number') throw invalidArgType(`options.labels.${k}`, 'of type string or number', v)
  }
  const worker = checkWorker(options.worker, labels)
  const buckets = options.buckets === undefined ? DEFAULT_BUCKETS : options.buckets
  checkBuckets('options.buckets', buckets)
  const threads = options.threads === undefined ? 'all' : options.threads
  if (threads !== 'all' && threads !== 'self') throw invalidArgType('options.threads', "'all' or 'self'", threads)
  const compat = checkCompat(options.compat, prefix)
  const windowMs = options.windowMs === undefined ? DEFAULT_WINDOW_MS : options.windowMs
  if (typeof windowMs !== 'number') throw invalidArgType('options.windowMs', 'of type number', windowMs)
  if (!(windowMs >= 1000 && windowMs <= 86_400_000)) throw outOfRange('options.windowMs', '>= 1000 and <= 86400000', windowMs)
  const poolBuckets = options.poolBuckets === undefined ? DEFAULT_POOL_BUCKETS : options.poolBuckets
  checkBuckets('options.poolBuckets', poolBuckets)
  const heapStatistics = options.heapStatistics === undefined ? v8.getHeapStatistics : options.heapStatistics
  if (typeof heapStatistics !== 'function') throw invalidArgType('options.heapStatistics', 'of type function', heapStatistics)
  const pools = checkPools(options.pools, labels)
  const gcOn = options.gc === undefined ? true : options.gc
  if (typeof gcOn !== 'boolean') throw invalidArgType('options.gc', 'of type boolean', gcOn)
  const processes = options.processes === undefined ? false : options.processes
  if (typeof processes !== 'boolean') throw invalidArgType('options.processes', 'of type boolean', processes)
  // Fails now, not at the first scrape, when there is no group to read.
  if (processes) require('./group.js').keyFor(undefined, 'collectMetrics({ processes: true })')
  return {
    register: prom,
    prefix,
    labels: worker === null ? { ...labels } : { ...labels, worker },
    worker,
    buckets: [...buckets],
    poolBuckets: [...poolBuckets],
    threads,
    compat,
    windowMs,
    heapStatistics,
    pools,
    gc: gcOn,
    processes,
  }
}

/**
 * `options.worker`: the `worker` label's value (string or number), `false`
 * for none, or by default the cluster worker's id (see defaultWorker). A
 * `labels.worker` of the caller's own stands for the default; given with
 * `worker` as well, the two would fight over one label, so that throws.
 */
function checkWorker(worker, labels) {
  const own = Object.hasOwn(labels, 'worker')
  if (worker === undefined) return own ? null : defaultWorker()
  if (worker === false) return null
  if (own) {
    throw invalidArgValue('options.labels', labels, "must not have a 'worker' label when options.worker is given (it sets that label)")
  }
  if (typeof worker === 'number' ? !Number.isFinite(worker) : typeof worker !== 'string' || worker === '') {
    throw invalidArgType('options.worker', 'a non-empty string, a finite number or false', worker)
  }
  return String(worker)
}

/**
 * `options.compat`: `false`, `true`, or `{ prefix }` with the prefix given
 * to prom-client's `collectDefaultMetrics` (default: `options.prefix`).
 */
function checkCompat(compat, prefix) {
  if (compat === undefined || compat === false) return null
  if (compat === true) return { prefix }
  if (compat === null || typeof compat !== 'object' || isRevokedProxy(compat) || Array.isArray(compat)) {
    throw invalidArgType('options.compat', 'of type boolean or an object ({ prefix })', compat)
  }
  for (const k of Object.keys(compat)) {
    if (k !== 'prefix') throw invalidArgValue('options.compat', compat, `has an unknown key '${k}' (known: prefix)`)
  }
  return { prefix: compat.prefix === undefined ? prefix : checkPrefix('options.compat.prefix', compat.prefix) }
}

/** `options.pools`: `{ name: pool }` of createPool() pools, exported with label pool="name". */
function checkPools(pools, labels) {
  if (pools === undefined) return []
  validateObject(pools, 'options.pools')
  const out = []
  for (const [name, p] of Object.entries(pools)) {
    if (name === '' || name.length > 128) {
      throw invalidArgValue('options.pools', `must name each pool with 1 to 128 characters; got ${JSON.stringify(name)}`)
    }
    if (isRevokedProxy(p) || !(p instanceof Pool)) throw invalidArgType(`options.pools.${name}`, 'a pool made by createPool()', p)
    if (p === defaultPool) {
      throw invalidArgValue(`options.pools.${name}`, 'is the default pool, which is always exported (without a pool label)')
    }
    out.push({ name, pool: p })
  }
  if (out.length > 0 && Object.hasOwn(labels, 'pool')) {
    throw invalidArgValue('options.labels', "must not have a 'pool' label when options.pools is given (the pools' series carry it)")
  }
  return out
}

function checkBuckets(name, buckets) {
  if (isRevokedProxy(buckets) || !Array.isArray(buckets) || buckets.length === 0) {
    throw invalidArgType(name, 'a non-empty array of numbers', buckets)
  }
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]
    if (typeof b !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', b)
    if (!(b > 0 && b <= 3600)) throw outOfRange(`${name}[${i}]`, '> 0 and <= 3600 (seconds)', b)
    if (i > 0 && !(b > buckets[i - 1])) throw outOfRange(`${name}[${i}]`, `> ${buckets[i - 1]} (buckets must increase)`, b)
  }
}

/**
 * The options (checked, as checkOptions returns them) in which `a` and `b`
 * differ: [] when a second collectMetrics call asks for exactly what the
 * first registered.
 */
function differences(a, b) {
  const same = {
    prefix: a.prefix === b.prefix,
    labels: JSON.stringify(Object.entries(a.labels).sort()) === JSON.stringify(Object.entries(b.labels).sort()),
    buckets: String(a.buckets) === String(b.buckets),
    poolBuckets: String(a.poolBuckets) === String(b.poolBuckets),
    threads: a.threads === b.threads,
    compat: (a.compat && a.compat.prefix) === (b.compat && b.compat.prefix),
    windowMs: a.windowMs === b.windowMs,
    heapStatistics: a.heapStatistics === b.heapStatistics,
    pools: a.pools.length === b.pools.length && a.pools.every((p, i) => p.name === b.pools[i].name && p.pool === b.pools[i].pool),
    gc: a.gc === b.gc,
    processes: a.processes === b.processes,
  }
  return Object.keys(same).filter((k) => !same[k])
}

module.exports = { loadPromClient, checkOptions, defaultWorker, differences, DEFAULT_BUCKETS, DEFAULT_POOL_BUCKETS }
