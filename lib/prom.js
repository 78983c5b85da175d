'use strict'
// prom-client integration: registers collectors for the event-loop lag of
// every loop in the process (a real, cumulative histogram, never reset by a
// scrape), window gauges, stall counters and heap utilisation, in the style
// of prom-client's own collectDefaultMetrics.
//
// The metric objects are read-only collectors that prom-client's Registry
// (and AggregatorRegistry, for cluster workers) calls at scrape time: their
// values come straight from the native monitors, so every scraper sees the
// same numbers and two scrapers never split the data between them.

const { lag, monitors, enableExport, readExport } = require('./lag.js')
const { culpritCounts } = require('./culprits.js')
const gc = require('./memory-gc.js')
const { poolMetrics, defaultPoolMetrics, OPS: POOL_OPS } = require('./pool.js')
const { invalidArgValue } = require('./errors.js')
const { loadPromClient, checkOptions, differences, DEFAULT_BUCKETS, DEFAULT_POOL_BUCKETS } = require('./prom-options.js')
// Node's own, not the globals that fake timers replace: a cached scrape
// must not outlive its tick because a test froze the clock.
const { setImmediate } = require('node:timers')
const resolvedPromise = Promise.resolve()

const NAMES = Object.freeze({
  lag: 'nodeperf_eventloop_lag_seconds',
  lagMax: 'nodeperf_eventloop_lag_max_seconds',
  lagQuantile: 'nodeperf_eventloop_lag_quantile_seconds',
  utilization: 'nodeperf_eventloop_utilization_ratio',
  stalls: 'nodeperf_eventloop_stalls_total',
  stallSeconds: 'nodeperf_eventloop_stall_seconds_total',
  stallCulprits: 'nodeperf_eventloop_stall_culprits_total',
  heapUtilization: 'nodeperf_heap_utilization_ratio',
  poolThreads: 'nodeperf_pool_threads',
  poolQueue: 'nodeperf_pool_queue_depth',
  poolActive: 'nodeperf_pool_active_tasks',
  poolTasks: 'nodeperf_pool_tasks_total',
  poolWait: 'nodeperf_pool_task_wait_seconds',
  poolRun: 'nodeperf_pool_task_run_seconds',
  gcPause: 'nodeperf_gc_pause_seconds',
  heapAfterMajorGc: 'nodeperf_heap_used_after_major_gc_bytes',
  oldSpaceAfterMinorGc: 'nodeperf_heap_old_space_used_after_minor_gc_bytes',
  heapHeadroom: 'nodeperf_heap_headroom_bytes',
  leakSuspected: 'nodeperf_memory_leak_suspected',
  leakSlope: 'nodeperf_memory_leak_slope_bytes_per_minute',
})

const OUTCOMES = ['ok', 'error', 'aborted', 'rejected']
/** The names of the calling thread's GC collectors (left out with `gc: false`). */
const GC_NAMES = [NAMES.gcPause, NAMES.heapAfterMajorGc, NAMES.oldSpaceAfterMinorGc, NAMES.heapHeadroom, NAMES.leakSuspected, NAMES.leakSlope]

/** Every metric name collectMetrics registers (before `prefix`). */
const metricNames = Object.freeze(Object.values(NAMES))

/** prom-client's own event-loop lag names, filled with our values when `compat: true`. */
const compatMetricNames = Object.freeze(
  ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((s) => `nodejs_eventloop_lag_${s}_seconds`),
)

const QUANTILES = [
  ['0.5', 'windowP50'],
  ['0.9', 'windowP90'],
  ['0.99', 'windowP99'],
  ['0.999', 'windowP999'],
]



/**
 * A read-only collector prom-client's Registry can hold: `get()` builds the
 * values at scrape time.
 *
 * Counters are named `…_total`, which is the sample name in both formats.
 * The Prometheus text format uses it for the family too; OpenMetrics names
 * the family without `_total`, and prom-client's OpenMetrics registry
 * appends `_total` to every counter sample. So a counter answers
 * `getForPromString()` (what the registry prints) with the family name of
 * the registry's current format, and `get()` (getMetricsAsJSON, which
 * AggregatorRegistry sums) always with the full name. Both formats then
 * expose the same series names, each with exactly one `_total`.
 */
function collector(register, name, help, type, aggregator, values) {
  const c = {
    name,
    help,
    type,
    aggregator,
    labelNames: [],
    get: async () => ({ name, help, type, aggregator, values: values() }),
    // Registry#resetMetrics calls this; our values are read, not kept, so
    // there is nothing to reset (the histogram is cumulative by design).
    reset() {},
  }
  if (type === 'counter') {
    const family = name.replace(/_total$/, '')
    c.getForPromString = async () => ({ name: isOpenMetrics(register) ? family : name, help, type, aggregator, values: values() })
  }
  return c
}

/** Whether `register` writes OpenMetrics (prom-client >= 15's `Registry.OPENMETRICS_CONTENT_TYPE`). */
const isOpenMetrics = (register) => String(register.contentType).startsWith('application/openmetrics-text')

/**
 * Reads every monitor once per scrape and registry: the collectors of one
 * registry share one read, taken by whichever is asked first.
 */
function scrapeCache(read) {
  let cached = null
  return () => {
    if (cached === null) {
      cached = read()
      // All collectors of one scrape run in the same tick (Promise.all).
      resolvedPromise.then(() => setImmediate(() => (cached = null)))
    }
    return cached
  }
}

/**
 * Registers our collectors on a prom-client Registry (default: prom-client's
 * global `register`). Calling it again for a registry that already has them
 * changes nothing and returns the names already registered (the first call's
 * options stay in force).
 *
 * @param {object} [options]
 * @param {import('prom-client').Registry} [options.register]
 * @param {string} [options.prefix] prepended to every name
 * @param {Record<string, string|number>} [options.labels] added to every series
 * @param {number[]} [options.buckets] lag histogram buckets, seconds
 * @param {number[]} [options.poolBuckets] pool task wait/run histogram buckets, seconds
 * @param {'all'|'self'} [options.threads] every loop in the process (default) or only the calling thread's
 * @param {boolean} [options.compat] also fill prom-client's nodejs_eventloop_lag_* gauges
 * @param {number} [options.windowMs] the sliding window of the gauges, default 60000
 * @param {Record<string, import('../index.js').Pool>} [options.pools] createPool() pools to export too, labelled pool="<key>"
 * @param {boolean} [options.gc] GC pause histograms, heap after GC and the leak warning of the calling thread
 *   (starts memory.startGcStats()); default true
 * @param {() => { used_heap_size: number, heap_size_limit: number } | null} [options.heapStatistics]
 *   where the heap gauge reads from (default v8.getHeapStatistics of the collecting thread)
 * @returns {string[]} the names registered
 */
function collectMetrics(options) {
  const o = checkOptions(options)
  const { register, prefix, labels } = o
  const n = (name) => prefix + name
  const compatName = (name) => o.compat.prefix + name
  const names = metricNames.filter((x) => o.gc || !GC_NAMES.includes(x)).map(n).concat(o.compat ? compatMetricNames.map(compatName) : [])

  const before = registered.get(register)
  if (before !== undefined && register.getSingleMetric(before.first.name) === before.first) {
    const differ = differences(before.options, o)
    if (differ.length === 0) return [...before.names]
    throw invalidArgValue(
      'options',
      options,
      `differs from the options of the first collectMetrics call on this registry (${differ.join(', ')}); a second set needs a Registry of its own (prom-client's Registry.merge combines them)`,
    )
  }
  checkFree(register, names.slice(0, names.length - (o.compat ? compatMetricNames.length : 0)), o)

  enableExport(o.windowMs)
  const loops = o.threads === 'all' ? monitors : () => [lag]
  // With `processes`, one read of the group's shared memory per scrape (the
  // other processes' loops and pools, as each publishes them; never their
  // own loop's help), cached like the local read.
  const readGroup = o.processes ? scrapeCache(() => groupSeries(o)) : () => []
  const read = scrapeCache(() =>
    loops()
      .map((m) => ({ base: labels, thread: m.thread, x: readExport(m, o.buckets, o.windowMs) }))
      .filter((r) => r.x !== null)
      .concat(readGroup().flatMap((p) => p.loops.filter((l) => l.x !== null).map(({ thread, x }) => ({ base: p.labels, thread, x })))),
  )
  const lbl = (thread, extra, base = labels) => ({ ...base, thread, ...extra })

  const collectors = [
    collector(register, n(NAMES.lag), 'Event-loop lag: how long an event arriving at a random moment waited; one observation per microsecond of loop time', 'histogram', 'sum', () => {
      const values = []
      for (const { base, thread, x } of read()) {
        for (let i = 0; i < o.buckets.length; i++) {
          values.push({ labels: lbl(thread, { le: o.buckets[i] }, base), value: x.buckets[i], metricName: `${n(NAMES.lag)}_bucket` })
        }
        const count = x.buckets[o.buckets.length]
        values.push({ labels: lbl(thread, { le: '+Inf' }, base), value: count, metricName: `${n(NAMES.lag)}_bucket` })
        values.push({ labels: lbl(thread, {}, base), value: x.sum, metricName: `${n(NAMES.lag)}_sum` })
        values.push({ labels: lbl(thread, {}, base), value: count, metricName: `${n(NAMES.lag)}_count` })
      }
      return values
    }),
    collector(register, n(NAMES.lagMax), `Longest event-loop busy period in the last ${o.windowMs / 1000} s`, 'gauge', 'max', () =>
      read().map(({ base, thread, x }) => ({ labels: lbl(thread, {}, base), value: x.windowMax })),
    ),
    // Quantile series must be typed summary (promtool rejects a gauge with a
    // quantile label): a summary over the sliding window, quantiles only.
    collector(register, n(NAMES.lagQuantile), `Event-loop lag quantiles over the last ${o.windowMs / 1000} s`, 'summary', 'max', () =>
      read().flatMap(({ base, thread, x }) => QUANTILES.map(([q, k]) => ({ labels: lbl(thread, { quantile: q }, base), value: x[k] }))),
    ),
    collector(register, n(NAMES.utilization), `Event-loop utilisation over the last ${o.windowMs / 1000} s`, 'gauge', 'average', () =>
      read().map(({ base, thread, x }) => ({ labels: lbl(thread, {}, base), value: x.windowUtilization })),
    ),
    collector(register, n(NAMES.stalls), 'Event-loop busy periods longer than the stall threshold (lag.configure stallThresholdMs)', 'counter', 'sum', () =>
      read().map(({ base, thread, x }) => ({ labels: lbl(thread, {}, base), value: x.stallsTotal })),
    ),
    collector(register, n(NAMES.stallSeconds), 'Total length of those stalls', 'counter', 'sum', () =>
      read().map(({ base, thread, x }) => ({ labels: lbl(thread, {}, base), value: x.stallSecondsTotal })),
    ),
    // At most 20 culprit labels per process (the first seen), then
    // culprit="other": the label set stays bounded however many distinct
    // functions stall (src/lag/CULPRITS.md).
    collector(register, n(NAMES.stallCulprits), 'Stalls by the code that ran them (lag.configure culprits): culprit is "function (file:line)", at most 20 distinct values then "other"; kind is js, native, gc or unknown', 'counter', 'sum', () =>
      culpritCounts()
        .filter((c) => o.threads === 'all' || c.thread === lag.thread)
        .map((c) => ({ labels: lbl(c.thread, { culprit: c.culprit, kind: c.kind }), value: c.count })),
    ),
    collector(register, n(NAMES.heapUtilization), 'V8 heap used / heap size limit of the collecting thread (alert at 0.75-0.85)', 'gauge', 'max', () => {
      const h = o.heapStatistics()
      const own = h ? [{ labels: { ...labels }, value: h.used_heap_size / h.heap_size_limit }] : []
      // The other processes' main-thread heaps, as each last published them.
      return own.concat(readGroup().filter((p) => p.heap !== null).map((p) => ({ labels: { ...p.labels }, value: p.heap.ratio })))
    }),
  ]

  // The process-wide default pool (shared by every thread), without a pool
  // label, and the createPool() pools of options.pools, labelled pool="name".
  const nb = o.poolBuckets.length
  const unpackPool = (a) => {
    if (a === null) return null
    const ops = []
    let i = 3
    for (const op of POOL_OPS) {
      const outcomes = a.subarray(i, i + 4)
      i += 4
      const wait = a.subarray(i, i + nb + 2)
      i += nb + 2
      const run = a.subarray(i, i + nb + 2)
      i += nb + 2
      ops.push({ op, outcomes, wait, run })
    }
    return { threads: a[0], queued: a[1], active: a[2], ops }
  }
  const readPools = scrapeCache(() => [
    { base: labels, extra: {}, p: unpackPool(defaultPoolMetrics(o.poolBuckets)) },
    ...o.pools.map(({ name, pool }) => ({ base: labels, extra: { pool: name }, p: unpackPool(poolMetrics(pool, o.poolBuckets)) })),
    // Each other process's default pool, null until it made one.
    ...readGroup().map((g) => ({ base: g.labels, extra: {}, p: unpackPool(g.pool) })),
  ])
  const poolHistogram = (name, field) => () => {
    const values = []
    for (const { base, extra, p } of readPools()) {
      if (p === null) continue
      for (const x of p.ops) {
        const h = x[field]
        const l = { ...base, ...extra, op: x.op }
        for (let i = 0; i < nb; i++) {
          values.push({ labels: { ...l, le: o.poolBuckets[i] }, value: h[i], metricName: `${name}_bucket` })
        }
        values.push({ labels: { ...l, le: '+Inf' }, value: h[nb], metricName: `${name}_bucket` })
        values.push({ labels: l, value: h[nb + 1], metricName: `${name}_sum` })
        values.push({ labels: l, value: h[nb], metricName: `${name}_count` })
      }
    }
    return values
  }
  const poolGauge = (field) => () =>
    readPools().map(({ base, extra, p }) => ({ labels: { ...base, ...extra }, value: p === null ? 0 : p[field] }))
  collectors.push(
    collector(register, n(NAMES.poolThreads), 'Threads of the default pool (0 until it is first used); pools from createPool() carry a pool label', 'gauge', 'sum', poolGauge('threads')),
    collector(register, n(NAMES.poolQueue), 'Tasks waiting in the pool', 'gauge', 'sum', poolGauge('queued')),
    collector(register, n(NAMES.poolActive), 'Tasks running on the pool', 'gauge', 'sum', poolGauge('active')),
    collector(register, n(NAMES.poolTasks), 'Tasks of the pool by op and outcome', 'counter', 'sum', () =>
      readPools().flatMap(({ base, extra, p }) =>
        p === null ? [] : p.ops.flatMap((x) => OUTCOMES.map((outcome, i) => ({ labels: { ...base, ...extra, op: x.op, outcome }, value: x.outcomes[i] }))),
      ),
    ),
    collector(register, n(NAMES.poolWait), 'Time tasks waited in the pool before a thread took them', 'histogram', 'sum', poolHistogram(n(NAMES.poolWait), 'wait')),
    collector(register, n(NAMES.poolRun), 'Time tasks ran on a pool thread', 'histogram', 'sum', poolHistogram(n(NAMES.poolRun), 'run')),
  )

  if (o.gc) collectors.push(...gcCollectors(register, n, labels))

  if (o.compat) {
    // prom-client's collectDefaultMetrics registers these names itself:
    // ours replace them on this registry (see the README).
    const fields = { min: 'windowMin', max: 'windowMax', mean: 'windowMean', stddev: 'windowStddev', p50: 'windowP50', p90: 'windowP90', p99: 'windowP99' }
    // Their series look like prom-client's: the calling thread's loop, the
    // caller's labels but not the worker label prom-client's lack, and the
    // aggregator prom-client gives each (lib/metrics/eventLoopLag.js), so
    // AggregatorRegistry merges the workers' values as it merges its own.
    const compatLabels = { ...labels }
    if (o.worker !== null) delete compatLabels.worker
    for (const [stat, field] of Object.entries(fields)) {
      const name = compatName(`nodejs_eventloop_lag_${stat}_seconds`)
      register.removeSingleMetric(name)
      collectors.push(
        collector(register, name, `The ${stat} of event-loop lag over the last ${o.windowMs / 1000} s (@nodeperf/native)`, 'gauge', COMPAT_AGGREGATORS[stat], () => {
          const self = read().find((r) => r.thread === lag.thread) || read()[0]
          return self ? [{ labels: { ...compatLabels }, value: self.x[field] }] : []
        }),
      )
    }
  }

  for (const c of collectors) register.registerMetric(c)
  registered.set(register, { options: o, names, first: collectors[0] })
  return [...names]
}

/**
 * The other processes of this process's group (in a cluster primary: its
 * workers), read from shared memory: their loops' export reads and pool
 * metrics, each with the labels its own collectMetrics would give it
 * (`worker="<cluster.worker.id>"`, or the pid outside a cluster), on top
 * of this call's static labels. Processes whose segment could not be read
 * are left out (group.processes() reports them with their error).
 */
function groupSeries(o) {
  return require('./group.js')
    .readGroupExport(o.buckets, o.poolBuckets, o.windowMs)
    .filter((p) => p.pid !== process.pid && p.error === null)
    .map((p) => ({ ...p, labels: { ...o.labels, worker: String(p.workerId ?? p.pid) } }))
}

/** Registry → what collectMetrics registered there: `{ options, names, first }` (first: the lag histogram). */
const registered = new WeakMap()

/** prom-client's aggregator for each of its lag gauges (min, max; average for the rest). */
const COMPAT_AGGREGATORS = { min: 'min', max: 'max', mean: 'average', stddev: 'average', p50: 'average', p90: 'average', p99: 'average' }

/**
 * Before registering anything: none of our names may be taken (prom-client
 * would throw half-way through), and with `compat`, prom-client's lag
 * gauges already on the registry must carry the compat prefix, or ours
 * would land next to them instead of replacing them.
 */
function checkFree(register, names, o) {
  const taken = names.find((name) => register.getSingleMetric(name))
  if (taken !== undefined) {
    throw invalidArgValue('options.register', register, `already has a metric named ${taken} (registered by other code)`)
  }
  if (o.compat === null || typeof register.getMetricsAsArray !== 'function') return
  const probe = 'nodejs_eventloop_lag_p99_seconds'
  for (const { name } of register.getMetricsAsArray()) {
    if (typeof name === 'string' && name.endsWith(probe) && name !== o.compat.prefix + probe) {
      const theirs = name.slice(0, -probe.length)
      throw invalidArgValue(
        'options.compat',
        o.compat,
        `names prom-client's lag gauges with the prefix '${o.compat.prefix}', but the registry has them with '${theirs}' (collectDefaultMetrics({ prefix })): pass compat: { prefix: '${theirs}' }`,
      )
    }
  }
}

/**
 * The calling thread's GC collectors (lib/memory-gc.js; each isolate has its
 * own GC): pause histograms by kind, the exact heap after the last major and
 * minor GC, the headroom to the heap limit and the leak warning. Starts GC
 * metrics on this thread.
 */
function gcCollectors(register, n, labels) {
  gc.startGcStats()
  const read = scrapeCache(() => ({ stats: gc.gcStats(), leak: gc.leakStatus() }))
  const lbl = (extra) => ({ ...labels, thread: lag.thread, ...extra })
  const name = n(NAMES.gcPause)
  const gauge = (value) => {
    const v = value(read())
    return v === null ? [] : [{ labels: lbl(), value: v }]
  }
  return [
    collector(register, name, 'GC pauses of this thread by kind (scavenge, minor_mark_compact, mark_compact, incremental_marking, weak_callbacks)', 'histogram', 'sum', () => {
      const { stats } = read()
      const values = []
      for (const [kind, p] of Object.entries(stats.pauses)) {
        for (let i = 0; i < stats.buckets.length; i++) {
          values.push({ labels: lbl({ kind, le: stats.buckets[i] }), value: p.buckets[i], metricName: `${name}_bucket` })
        }
        values.push({ labels: lbl({ kind, le: '+Inf' }), value: p.count, metricName: `${name}_bucket` })
        values.push({ labels: lbl({ kind }), value: p.seconds, metricName: `${name}_sum` })
        values.push({ labels: lbl({ kind }), value: p.count, metricName: `${name}_count` })
      }
      return values
    }),
    collector(register, n(NAMES.heapAfterMajorGc), 'V8 heap used right after the last major GC (exact, from v8.GCProfiler)', 'gauge', 'sum', () =>
      gauge((r) => r.stats.heapUsedAfterMajorGc),
    ),
    collector(register, n(NAMES.oldSpaceAfterMinorGc), 'V8 old space used right after the last scavenge (exact, from v8.GCProfiler)', 'gauge', 'sum', () =>
      gauge((r) => r.stats.oldSpaceUsedAfterMinorGc),
    ),
    collector(register, n(NAMES.heapHeadroom), 'heap_size_limit minus the heap used after the last major GC', 'gauge', 'min', () =>
      gauge((r) => r.stats.headroomBytes),
    ),
    collector(register, n(NAMES.leakSuspected), 'The leak rule holds: the heap after major GCs grows steadily (docs/memory.md), 0 or 1', 'gauge', 'max', () =>
      gauge((r) => (r.leak.suspected ? 1 : 0)),
    ),
    collector(register, n(NAMES.leakSlope), 'Theil-Sen slope of the heap used after major GCs over the leak rule window, bytes per minute', 'gauge', 'max', () =>
      gauge((r) => (r.leak.windowPoints >= 2 ? r.leak.slopeBytesPerMinute : null)),
    ),
  ]
}

module.exports = {
  loadPromClient,
  collectMetrics,
  metricNames,
  compatMetricNames,
  DEFAULT_BUCKETS,
  DEFAULT_POOL_BUCKETS,
}
