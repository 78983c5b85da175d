'use strict'
// OpenTelemetry integration (`@nodeperf/native/otel`): the event-loop lag of
// every loop and the pool, under the semantic-convention names where they
// exist (`nodejs.eventloop.delay.*`, `nodejs.eventloop.utilization`) and
// ours otherwise, with the lag and the pool task times as real histograms.
//
// Two pieces, because the OpenTelemetry API has no asynchronous
// (observable) histogram:
//
// - `collectMetrics({ meterProvider })` registers observable gauges and
//   counters on a Meter, as any instrumentation does: they follow the
//   reader's views and temporality like the SDK's own.
// - `createMetricProducer()` returns a `MetricProducer` for the reader's
//   `metricProducers` option (PeriodicExportingMetricReader,
//   PrometheusExporter, any MetricReader): at each collection it hands the
//   reader the native histograms as HistogramMetricData, cumulative, on
//   explicit buckets. That is the SDK's public way to export data that was
//   aggregated elsewhere. A synchronous Histogram would need one record()
//   per observation (one per µs of loop time) and its own buckets; a
//   gauge per bucket is not a histogram to any backend.
//
// Everything is read with the public `readLag` / `readPool` (lib/read.js;
// `lag`, `monitors`, `Pool` and `pool` are the public ones too),
// cumulatively: nothing here resets anything, so prom, OpenTelemetry and
// the user's own reads see the same histograms.

const { lag, monitors } = require('./lag.js')
const { readLag, readPool } = require('./read.js')
const { Pool, pool: defaultPool } = require('./pool.js')
const { invalidArgType, invalidArgValue, isRevokedProxy, outOfRange, requirePeer } = require('./errors.js')
const { validateObject, validateOptions, numberOption } = require('./validate.js')
const { version: VERSION } = require('../package.json')

const loadApi = () => requirePeer('@nodeperf/native/otel', '@opentelemetry/api', '>=1.3.0 <2')

/** The instrumentation scope of everything registered here. */
const SCOPE = Object.freeze({ name: '@nodeperf/native', version: VERSION })

// The default buckets are the prom exporter's (seconds).
const { DEFAULT_BUCKETS, DEFAULT_POOL_BUCKETS } = require('./prom-options.js')
const DEFAULT_WINDOW_MS = 60_000

// Semantic conventions (experimental, nodejs.*): gauges over our window.
const DELAY = Object.freeze({
  min: 'nodejs.eventloop.delay.min',
  max: 'nodejs.eventloop.delay.max',
  mean: 'nodejs.eventloop.delay.mean',
  stddev: 'nodejs.eventloop.delay.stddev',
  p50: 'nodejs.eventloop.delay.p50',
  p90: 'nodejs.eventloop.delay.p90',
  p99: 'nodejs.eventloop.delay.p99',
})
const NAMES = Object.freeze({
  ...Object.fromEntries(Object.entries(DELAY).map(([k, v]) => [`delay_${k}`, v])),
  utilization: 'nodejs.eventloop.utilization',
  stalls: 'nodeperf.eventloop.stalls',
  stallTime: 'nodeperf.eventloop.stall.time',
  poolThreads: 'nodeperf.pool.threads',
  poolQueue: 'nodeperf.pool.queue.depth',
  poolActive: 'nodeperf.pool.active_tasks',
  poolTasks: 'nodeperf.pool.tasks',
  lag: 'nodeperf.eventloop.lag',
  poolWait: 'nodeperf.pool.task.wait.duration',
  poolRun: 'nodeperf.pool.task.run.duration',
})
/** What `collectMetrics` registers on the Meter. */
const instrumentNames = Object.freeze(Object.values(NAMES).filter((n) => ![NAMES.lag, NAMES.poolWait, NAMES.poolRun].includes(n)))
/** What `createMetricProducer` produces: the histograms. */
const histogramNames = Object.freeze([NAMES.lag, NAMES.poolWait, NAMES.poolRun])
/** Every name, both pieces. */
const metricNames = Object.freeze([...instrumentNames, ...histogramNames])

/** Attributes our data points set themselves. */
const ATTR = Object.freeze({
  thread: 'nodejs.thread',
  pool: 'nodeperf.pool.name',
  op: 'nodeperf.pool.op',
  outcome: 'nodeperf.pool.outcome',
})
const RESERVED = Object.values(ATTR)

// sdk-metrics' enums, by value (stable parts of the data model; the SDK is
// the user's, not a dependency of ours): DataPointType.HISTOGRAM and
// AggregationTemporality.CUMULATIVE.
const HISTOGRAM = 0
const CUMULATIVE = 1

/** Registered Meters: a second collectMetrics for one changes nothing. */
const registered = new WeakSet()

function checkBuckets(name, buckets, fallback) {
  if (buckets === undefined) return fallback.slice()
  if (isRevokedProxy(buckets) || !Array.isArray(buckets) || buckets.length === 0) {
    throw invalidArgType(name, 'a non-empty array of numbers', buckets)
  }
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]
    if (typeof b !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', b)
    if (!(b > 0 && b <= 3600)) throw outOfRange(`${name}[${i}]`, '> 0 and <= 3600 (seconds)', b)
    if (i > 0 && !(b > buckets[i - 1])) throw outOfRange(`${name}[${i}]`, `> ${buckets[i - 1]} (buckets must increase)`, b)
  }
  return buckets.slice()
}

/** The options both pieces take (each checks them all, so one object can serve both). */
function checkOptions(options) {
  validateOptions(options)
  const o = options === undefined ? {} : options
  const attributes = o.attributes === undefined ? {} : o.attributes
  validateObject(attributes, 'options.attributes')
  for (const [k, v] of Object.entries(attributes)) {
    if (k === '' || RESERVED.includes(k)) {
      throw invalidArgType('options.attributes', `non-empty attribute names other than ${RESERVED.join(', ')}; got '${k}'`, attributes)
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw invalidArgType(`options.attributes.${k}`, 'of type string, number or boolean', v)
    }
  }
  const threads = o.threads === undefined ? 'all' : o.threads
  if (threads !== 'all' && threads !== 'self') throw invalidArgType('options.threads', "'all' or 'self'", threads)
  const windowMs = numberOption(o.windowMs, 'options.windowMs', DEFAULT_WINDOW_MS, 1000, 86_400_000, '>= 1000 and <= 86400000')
  const buckets = checkBuckets('options.buckets', o.buckets, DEFAULT_BUCKETS)
  const poolBuckets = checkBuckets('options.poolBuckets', o.poolBuckets, DEFAULT_POOL_BUCKETS)
  const pools = [{ name: null, pool: undefined }]
  if (o.pools !== undefined) {
    validateObject(o.pools, 'options.pools')
    for (const [name, p] of Object.entries(o.pools)) {
      if (name === '' || name.length > 128) {
        throw invalidArgValue('options.pools', `must name each pool with 1 to 128 characters; got ${JSON.stringify(name)}`)
      }
      if (isRevokedProxy(p) || !(p instanceof Pool)) throw invalidArgType(`options.pools.${name}`, 'a pool made by createPool()', p)
      if (p === defaultPool) {
        throw invalidArgValue(`options.pools.${name}`, 'is the default pool, which is always exported (without a pool name)')
      }
      pools.push({ name, pool: p })
    }
  }
  return {
    attributes: { ...attributes },
    loops: threads === 'all' ? monitors : () => [lag],
    windowMs,
    buckets,
    poolBuckets,
    pools,
  }
}

/** Every loop's read, with its attributes. */
function readLoops(o, bounds) {
  const out = []
  for (const m of o.loops()) {
    const r = readLag(m, { bounds, windowMs: o.windowMs })
    if (r !== null) out.push({ attributes: { ...o.attributes, [ATTR.thread]: r.thread }, r })
  }
  return out
}

/** Every exported pool's read (null before the default pool starts), with its attributes. */
function readPools(o, bounds) {
  return o.pools.map(({ name, pool }) => ({
    attributes: name === null ? { ...o.attributes } : { ...o.attributes, [ATTR.pool]: name },
    r: readPool(pool, { bounds }),
  }))
}

/**
 * Registers observable instruments on a Meter: the semantic-convention
 * lag gauges and utilisation per loop, our stall counters, and the pool's
 * threads, queue, active tasks and task counts. Returns the names
 * registered; a second call for the same Meter changes nothing.
 *
 * @param {object} [options]
 * @param {import('@opentelemetry/api').MeterProvider} [options.meterProvider] default: the global one
 * @param {import('@opentelemetry/api').Meter} [options.meter] instead of a provider
 * @param {Record<string, string|number|boolean>} [options.attributes] added to every data point
 * @param {'all'|'self'} [options.threads] every loop in the process (default) or the calling thread's
 * @param {number} [options.windowMs] the window of the gauges, default 60000
 * @param {Record<string, import('../index.js').Pool>} [options.pools] createPool() pools, attribute nodeperf.pool.name
 * @returns {string[]}
 */
function collectMetrics(options) {
  const o = checkOptions(options)
  const meter = meterOf(options)
  const names = instrumentNames.slice()
  if (registered.has(meter)) return names
  const { ValueType } = loadApi()
  const opts = (description, unit) => ({ description, unit, valueType: ValueType.DOUBLE })
  const w = `over the last ${o.windowMs / 1000} s`
  const delay = Object.entries(DELAY).map(([stat, name]) => [
    stat,
    meter.createObservableGauge(name, opts(`Event loop ${stat} delay ${w} (@nodeperf/native: the wait of an event arriving at a random moment)`, 's')),
  ])
  const utilization = meter.createObservableGauge(NAMES.utilization, opts(`Event loop utilization ${w}`, '1'))
  const stalls = meter.createObservableCounter(NAMES.stalls, opts('Event-loop busy periods longer than the stall threshold (lag.configure stallThresholdMs)', '{stall}'))
  const stallTime = meter.createObservableCounter(NAMES.stallTime, opts('Total length of those stalls', 's'))
  const threads = meter.createObservableUpDownCounter(NAMES.poolThreads, opts('Threads of the pool (0 until the default pool is first used)', '{thread}'))
  const queue = meter.createObservableUpDownCounter(NAMES.poolQueue, opts('Tasks waiting in the pool', '{task}'))
  const active = meter.createObservableUpDownCounter(NAMES.poolActive, opts('Tasks running on the pool', '{task}'))
  const tasks = meter.createObservableCounter(NAMES.poolTasks, opts('Tasks of the pool by op and outcome', '{task}'))
  const ONE = [1]
  meter.addBatchObservableCallback(
    (result) => {
      for (const { attributes, r } of readLoops(o, ONE)) {
        for (const [stat, g] of delay) result.observe(g, r.window[stat] / 1e3, attributes)
        result.observe(utilization, r.window.utilization, attributes)
        result.observe(stalls, r.stallsTotal, attributes)
        result.observe(stallTime, r.stalledMsTotal / 1e3, attributes)
      }
      for (const { attributes, r } of readPools(o, ONE)) {
        result.observe(threads, r === null ? 0 : r.threads, attributes)
        result.observe(queue, r === null ? 0 : r.queued, attributes)
        result.observe(active, r === null ? 0 : r.active, attributes)
        if (r === null) continue
        for (const [op, x] of Object.entries(r.ops)) {
          for (const [outcome, n] of Object.entries(x.tasks)) {
            result.observe(tasks, n, { ...attributes, [ATTR.op]: op, [ATTR.outcome]: outcome })
          }
        }
      }
    },
    [...delay.map(([, g]) => g), utilization, stalls, stallTime, threads, queue, active, tasks],
  )
  registered.add(meter)
  return names
}

function meterOf(options) {
  const given = options === undefined ? {} : options
  const { meter, meterProvider } = given
  if (meter !== undefined && meterProvider !== undefined) {
    throw invalidArgValue('options', given, 'must have meter or meterProvider, not both')
  }
  if (meter !== undefined) {
    if (!meter || isRevokedProxy(meter) || typeof meter.createObservableGauge !== 'function' || typeof meter.addBatchObservableCallback !== 'function') {
      throw invalidArgType('options.meter', 'an OpenTelemetry Meter', meter)
    }
    return meter
  }
  const provider = meterProvider === undefined ? loadApi().metrics.getMeterProvider() : meterProvider
  if (!provider || isRevokedProxy(provider) || typeof provider.getMeter !== 'function') {
    throw invalidArgType('options.meterProvider', 'an OpenTelemetry MeterProvider', meterProvider)
  }
  return provider.getMeter(SCOPE.name, SCOPE.version)
}

/** Epoch ms as an OpenTelemetry HrTime, [seconds, nanoseconds]. */
function hrTime(ms) {
  const s = Math.floor(ms / 1000)
  return [s, Math.round((ms - s * 1000) * 1e6)]
}

// Every cumulative series here starts after the process did: its start is
// the start time of every point (stable from one collection to the next, as
// a cumulative stream's must be).
const PROCESS_START_MS = Math.round(Date.now() - process.uptime() * 1000)

/**
 * A MetricProducer for a MetricReader's `metricProducers` option: at each
 * collection, the lag histogram of every loop (`nodeperf.eventloop.lag`)
 * and the pools' task wait and run histograms, cumulative, on explicit
 * buckets (seconds).
 *
 * @param {object} [options] as collectMetrics (meter and meterProvider aside), plus
 * @param {number[]} [options.buckets] lag histogram bounds, seconds
 * @param {number[]} [options.poolBuckets] pool task time bounds, seconds
 * @returns {{ collect(): Promise<object> }}
 */
function createMetricProducer(options) {
  const o = checkOptions(options)
  const { ValueType } = loadApi()
  const lagMs = o.buckets.map((b) => b * 1e3)
  const poolMs = o.poolBuckets.map((b) => b * 1e3)
  const startTime = hrTime(PROCESS_START_MS)
  const descriptor = (name, description) => ({ name, description, unit: 's', valueType: ValueType.DOUBLE })
  const metric = (desc, dataPoints) => ({ descriptor: desc, aggregationTemporality: CUMULATIVE, dataPointType: HISTOGRAM, dataPoints })
  const lagDesc = descriptor(NAMES.lag, 'Event-loop lag: how long an event arriving at a random moment waited; one observation per microsecond of loop time')
  const waitDesc = descriptor(NAMES.poolWait, 'Time tasks waited in the pool before a thread took them')
  const runDesc = descriptor(NAMES.poolRun, 'Time tasks ran on a pool thread')
  // The histogram of a read, in seconds on the caller's bounds (readLag and
  // readPool count per bucket already, as OpenTelemetry does).
  const point = (attributes, h, boundaries, endTime) => ({
    attributes,
    startTime,
    endTime,
    value: { buckets: { boundaries, counts: h.counts }, sum: h.sum / 1e3, count: h.count },
  })
  return {
    collect() {
      let metrics
      try {
        const endTime = hrTime(Date.now())
        const lagPoints = readLoops(o, lagMs).map(({ attributes, r }) => point(attributes, r.histogram, o.buckets, endTime))
        const wait = []
        const run = []
        for (const { attributes, r } of readPools(o, poolMs)) {
          if (r === null) continue
          for (const [op, x] of Object.entries(r.ops)) {
            const a = { ...attributes, [ATTR.op]: op }
            wait.push(point(a, x.wait, o.poolBuckets, endTime))
            run.push(point(a, x.run, o.poolBuckets, endTime))
          }
        }
        metrics = [metric(lagDesc, lagPoints), metric(waitDesc, wait), metric(runDesc, run)].filter((m) => m.dataPoints.length > 0)
      } catch (err) {
        return Promise.resolve(result([], [err]))
      }
      return Promise.resolve(result(metrics, []))
    },
  }
}

// The reader replaces a producer's resource with the SDK's own.
const NO_RESOURCE = Object.freeze({ attributes: Object.freeze({}) })
const result = (metrics, errors) => ({
  resourceMetrics: { resource: NO_RESOURCE, scopeMetrics: metrics.length === 0 ? [] : [{ scope: SCOPE, metrics }] },
  errors,
})

module.exports = {
  collectMetrics,
  createMetricProducer,
  metricNames,
  instrumentNames,
  histogramNames,
  DEFAULT_BUCKETS,
  DEFAULT_POOL_BUCKETS,
}
