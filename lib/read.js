'use strict'
// The public reads a metrics exporter needs (`readLag`, `readPool`): a loop's
// cumulative lag histogram and window, a pool's task counts and time
// histograms, on bucket bounds the caller picks. Both read without resetting
// anything, so any number of exporters (prom, OpenTelemetry, a user's own)
// read the same never-reset histograms side by side. Times in ms, as the
// rest of the JS API.

const { lag, enableExport, readExport } = require('./lag.js')
const { Pool, pool: defaultPool, poolMetrics, defaultPoolMetrics, OPS } = require('./pool.js')
const { invalidArgType, isRevokedProxy, outOfRange } = require('./errors.js')
const { validateOptions, numberOption, validateKeys } = require('./validate.js')

/** Default lag bucket bounds (ms): log-spaced from 50 µs to 10 s, the prom exporter's. */
const DEFAULT_LAG_BOUNDS_MS = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
])
/** Default pool task time bounds (ms): 10 µs to 10 s, the prom exporter's. */
const DEFAULT_POOL_BOUNDS_MS = Object.freeze([0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000])
const DEFAULT_WINDOW_MS = 60_000
const OUTCOMES = ['ok', 'error', 'aborted', 'rejected']
const LoopMonitor = Object.getPrototypeOf(lag).constructor

/**
 * `bounds` (ms): a non-empty increasing array of numbers in (0, 3600000].
 * Returns [ms copy, the same in seconds] (the native reads take seconds).
 */
function checkBounds(bounds, name, fallback) {
  if (bounds === undefined) bounds = fallback
  if (isRevokedProxy(bounds) || !Array.isArray(bounds) || bounds.length === 0) {
    throw invalidArgType(name, 'a non-empty array of numbers', bounds)
  }
  const ms = []
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i]
    if (typeof b !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', b)
    if (!(b > 0 && b <= 3_600_000)) throw outOfRange(`${name}[${i}]`, '> 0 and <= 3600000 (ms)', b)
    if (i > 0 && !(b > bounds[i - 1])) throw outOfRange(`${name}[${i}]`, `> ${bounds[i - 1]} (bounds must increase)`, b)
    ms.push(b)
  }
  return [ms, ms.map((b) => b / 1e3)]
}

/**
 * A histogram from the native read: `cumulative[i]` counts at or below
 * bound i, `cumulative[n]` all; `sumS` in seconds. Counts become per bucket
 * (bucket i is (bounds[i-1], bounds[i]], the last one above every bound).
 */
function histogram(boundsMs, cumulative, sumS) {
  const n = boundsMs.length
  const counts = new Array(n + 1)
  let below = 0
  for (let i = 0; i <= n; i++) {
    counts[i] = cumulative[i] - below
    below = cumulative[i]
  }
  return { bounds: boundsMs.slice(), counts, count: cumulative[n], sum: sumS * 1e3 }
}

/**
 * The lag of one loop as exporters read it: the cumulative histogram (never
 * reset, not even by `monitor.reset()`; one observation per µs of loop
 * time), the window statistics over the last `windowMs`, and the stall
 * totals. Enables what it reads on first use: the histogram counts from
 * the first read (or the first exporter) in the process.
 *
 * @param {import('../index.js').LoopMonitor} [monitor] default: this thread's `lag`
 * @param {{ bounds?: number[], windowMs?: number }} [options]
 */
function readLag(monitor, options) {
  if (monitor === undefined) monitor = lag
  if (isRevokedProxy(monitor) || !(monitor instanceof LoopMonitor)) {
    throw invalidArgType('monitor', 'a LoopMonitor (lag or an element of monitors())', monitor)
  }
  validateOptions(options)
  const o = options === undefined ? {} : options
  validateKeys(o, 'options', ['bounds', 'windowMs'], 'known: bounds, windowMs')
  const [boundsMs, boundsS] = checkBounds(o.bounds, 'options.bounds', DEFAULT_LAG_BOUNDS_MS)
  const windowMs = numberOption(o.windowMs, 'options.windowMs', DEFAULT_WINDOW_MS, 1000, 86_400_000, '>= 1000 and <= 86400000')
  enableExport(windowMs)
  const x = readExport(monitor, boundsS, windowMs)
  // Only a loop that ended before any exporter enabled reads has none.
  if (x === null) return null
  return {
    thread: monitor.thread,
    histogram: histogram(boundsMs, x.buckets, x.sum),
    window: {
      windowMs,
      p50: x.windowP50 * 1e3,
      p90: x.windowP90 * 1e3,
      p99: x.windowP99 * 1e3,
      p999: x.windowP999 * 1e3,
      max: x.windowMax * 1e3,
      min: x.windowMin * 1e3,
      mean: x.windowMean * 1e3,
      stddev: x.windowStddev * 1e3,
      utilization: x.windowUtilization,
    },
    stallsTotal: x.stallsTotal,
    stalledMsTotal: x.stallSecondsTotal * 1e3,
  }
}

/**
 * A pool as exporters read it: threads, queue and running tasks now, and by
 * op the task counts by outcome with the wait and run time histograms, all
 * cumulative since the pool started. Null for the default pool before its
 * first use (it starts then).
 *
 * @param {import('../index.js').Pool} [p] default: the default `pool`
 * @param {{ bounds?: number[] }} [options]
 */
function readPool(p, options) {
  if (p === undefined) p = defaultPool
  if (isRevokedProxy(p) || !(p instanceof Pool)) throw invalidArgType('pool', 'a Pool (pool or one from createPool())', p)
  validateOptions(options)
  const o = options === undefined ? {} : options
  validateKeys(o, 'options', ['bounds'], 'known: bounds')
  const [boundsMs, boundsS] = checkBounds(o.bounds, 'options.bounds', DEFAULT_POOL_BOUNDS_MS)
  const a = p === defaultPool ? defaultPoolMetrics(boundsS) : poolMetrics(p, boundsS)
  if (a === null) return null
  // Packed natively (`PoolCore::metrics`): threads, queued, active, then by
  // op its 4 outcome counts and the wait and run reads (the cumulative
  // count per bound, the total count, the sum in seconds).
  const nb = boundsS.length
  const ops = {}
  let i = 3
  for (const op of OPS) {
    const tasks = {}
    for (let k = 0; k < OUTCOMES.length; k++) tasks[OUTCOMES[k]] = a[i + k]
    i += OUTCOMES.length
    const wait = histogram(boundsMs, a.subarray(i, i + nb + 1), a[i + nb + 1])
    i += nb + 2
    const run = histogram(boundsMs, a.subarray(i, i + nb + 1), a[i + nb + 1])
    i += nb + 2
    ops[op] = { tasks, wait, run }
  }
  return { threads: a[0], queued: a[1], active: a[2], ops }
}

module.exports = { readLag, readPool, DEFAULT_LAG_BOUNDS_MS, DEFAULT_POOL_BOUNDS_MS }
