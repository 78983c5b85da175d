import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import client from 'prom-client'
import { MeterProvider, MetricReader, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { createPool, lag, monitors, readLag, readPool } from '@nodeperf/native'
import { collectMetrics as promMetrics } from '@nodeperf/native/prom'
import { collectMetrics, createMetricProducer, metricNames, instrumentNames, histogramNames, DEFAULT_BUCKETS } from '@nodeperf/native/otel'
import { parse } from './exposition.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

// The semantic conventions' names and units (nodejs metrics, experimental).
const SEMCONV = {
  'nodejs.eventloop.delay.min': 's',
  'nodejs.eventloop.delay.max': 's',
  'nodejs.eventloop.delay.mean': 's',
  'nodejs.eventloop.delay.stddev': 's',
  'nodejs.eventloop.delay.p50': 's',
  'nodejs.eventloop.delay.p90': 's',
  'nodejs.eventloop.delay.p99': 's',
  'nodejs.eventloop.utilization': '1',
}

/** A worker that loads the addon, blocks its loop for a while, then sits idle (no timers: its histogram stays still). */
async function idleWorker() {
  const worker = new Worker(
    `require('@nodeperf/native')
     const { parentPort } = require('node:worker_threads')
     // Listening keeps the worker alive with nothing that wakes its loop.
     parentPort.on('message', () => {})
     // Blocks in a later iteration: the monitor times busy periods from a
     // poll's end, so the first iteration's is not one.
     const block = () => {
       const end = performance.now() + 30
       while (performance.now() < end);
       setImmediate(() => parentPort.postMessage('idle'))
     }
     setImmediate(() => setImmediate(() => setImmediate(block)))`,
    { eval: true },
  )
  await once(worker, 'message')
  return { worker, thread: `worker-${worker.threadId}` }
}

/**
 * prom's cumulative lag bucket counts of `thread`, by `le`: a fresh read
 * (prom's collectors share one read per tick, so wait for the next).
 */
async function promBuckets(register, thread) {
  await new Promise(setImmediate)
  const p = parse(await register.metrics())
  return p.nodeperf_eventloop_lag_seconds_bucket.filter((s) => s.labels.thread === thread).map((s) => s.value)
}

/** An OTel histogram point's counts made cumulative per bound, then +Inf (prom's shape). */
const cumulative = (counts) => {
  let n = 0
  return counts.map((c) => (n += c))
}

class ManualReader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}

function findMetric(resourceMetrics, name) {
  for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) return { scope: sm.scope, m }
  return undefined
}

test('in-memory exporter: semconv names and units, real cumulative histograms, nodejs.thread per loop, counts equal prom collectMetrics', async (t) => {
  const register = new client.Registry()
  promMetrics({ register, gc: false })
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, metricProducers: [createMetricProducer()] })
  const meterProvider = new MeterProvider({ readers: [reader] })
  t.after(() => meterProvider.shutdown())
  assert.deepEqual(collectMetrics({ meterProvider }), instrumentNames)
  // A second call for the same Meter registers nothing more.
  assert.deepEqual(collectMetrics({ meterProvider }), instrumentNames)
  const { worker, thread } = await idleWorker()
  t.after(() => worker.terminate())
  busyWait(20)
  await sleep(20)

  const collect = async () => {
    exporter.reset()
    await reader.forceFlush()
    return exporter.getMetrics().at(-1)
  }
  const rm = await collect()
  for (const [name, unit] of Object.entries(SEMCONV)) {
    const found = findMetric(rm, name)
    assert.ok(found, `${name} exported`)
    assert.equal(found.m.descriptor.unit, unit, name)
    assert.equal(found.m.dataPointType, DataPointType.GAUGE, name)
    assert.equal(found.scope.name, '@nodeperf/native')
    const threads = found.m.dataPoints.map((d) => d.attributes['nodejs.thread'])
    assert.ok(threads.includes('main') && threads.includes(thread), `${name}: ${threads}`)
    for (const d of found.m.dataPoints) assert.ok(d.value >= 0 && Number.isFinite(d.value), `${name} = ${d.value}`)
  }
  const util = findMetric(rm, 'nodejs.eventloop.utilization').m.dataPoints
  for (const d of util) assert.ok(d.value <= 1, `utilization ${d.value}`)
  // The worker blocked 30 ms inside the window: its max delay covers it.
  const max = findMetric(rm, 'nodejs.eventloop.delay.max').m.dataPoints.find((d) => d.attributes['nodejs.thread'] === thread)
  assert.ok(max.value >= 0.029, `worker max delay ${max.value} s`)
  const stalls = findMetric(rm, 'nodeperf.eventloop.stalls').m
  assert.equal(stalls.dataPointType, DataPointType.SUM)
  assert.equal(stalls.isMonotonic, true)

  const lagMetric = findMetric(rm, 'nodeperf.eventloop.lag').m
  assert.equal(lagMetric.dataPointType, DataPointType.HISTOGRAM)
  assert.equal(lagMetric.aggregationTemporality, AggregationTemporality.CUMULATIVE)
  assert.equal(lagMetric.descriptor.unit, 's')
  const pointOf = (r, th) => findMetric(r, 'nodeperf.eventloop.lag').m.dataPoints.find((d) => d.attributes['nodejs.thread'] === th)
  for (const th of ['main', thread]) {
    const { value } = pointOf(rm, th)
    assert.deepEqual(value.buckets.boundaries, [...DEFAULT_BUCKETS])
    assert.equal(value.buckets.counts.length, DEFAULT_BUCKETS.length + 1)
    assert.equal(value.buckets.counts.reduce((a, b) => a + b, 0), value.count)
    assert.ok(value.count > 0 && value.sum > 0, `${th}: count ${value.count}, sum ${value.sum}`)
  }
  // The worker's 30 ms block: ~30 000 observations (one per µs) above 1 ms.
  const w = pointOf(rm, thread).value
  assert.ok(w.count - cumulative(w.buckets.counts)[4] >= 25_000, `worker counts ${w.buckets.counts}`)

  // The idle worker's histogram does not move: read prom, OTel, prom; when
  // both prom reads agree (a stray wakeup of the worker's loop would show
  // as a difference: read again), OTel's counts must equal them exactly.
  let compared = false
  for (let attempt = 0; attempt < 20 && !compared; attempt++) {
    const before = await promBuckets(register, thread)
    await new Promise(setImmediate)
    const otel = cumulative(pointOf(await collect(), thread).value.buckets.counts)
    const after = await promBuckets(register, thread)
    if (JSON.stringify(before) !== JSON.stringify(after)) continue
    assert.deepEqual(otel, before)
    compared = true
  }
  assert.ok(compared, "the worker's loop never held still across a read")
  // The main loop's histogram grows while it runs: OTel's counts lie between
  // two prom reads taken around it, bucket by bucket (all only grow).
  const before = await promBuckets(register, 'main')
  await new Promise(setImmediate)
  const otel = cumulative(pointOf(await collect(), 'main').value.buckets.counts)
  const after = await promBuckets(register, 'main')
  assert.equal(otel.length, before.length)
  for (let i = 0; i < otel.length; i++) {
    assert.ok(before[i] <= otel[i] && otel[i] <= after[i], `le #${i}: ${before[i]} <= ${otel[i]} <= ${after[i]}`)
  }
})

test('Prometheus exporter: the OTel lag histogram scrapes to prom collectMetrics\' bucket counts, semconv gauges with units', async (t) => {
  const buckets = [0.0001, 0.001, 0.01, 0.02, 0.05]
  const register = new client.Registry()
  promMetrics({ register, buckets, gc: false })
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [createMetricProducer({ buckets, attributes: { service: 'api' } })] })
  const meterProvider = new MeterProvider({ readers: [exporter] })
  t.after(() => meterProvider.shutdown())
  collectMetrics({ meterProvider, attributes: { service: 'api' } })
  const { worker, thread } = await idleWorker()
  t.after(() => worker.terminate())
  const scrape = () =>
    new Promise((resolve) => {
      exporter.getMetricsRequestHandler({}, { statusCode: 0, setHeader() {}, end: resolve })
    })
  let compared = false
  let text = ''
  for (let attempt = 0; attempt < 20 && !compared; attempt++) {
    const before = await promBuckets(register, thread)
    await new Promise(setImmediate)
    text = await scrape()
    const after = await promBuckets(register, thread)
    if (JSON.stringify(before) !== JSON.stringify(after)) continue
    const ours = parse(text).nodeperf_eventloop_lag_bucket.filter((s) => s.labels.nodejs_thread === thread)
    assert.deepEqual(ours.map((s) => s.labels.le), [...buckets.map(String), '+Inf'])
    for (const s of ours) assert.equal(s.labels.service, 'api')
    assert.deepEqual(ours.map((s) => s.value), before)
    compared = true
  }
  assert.ok(compared, "the worker's loop never held still across a scrape")
  assert.match(text, /^# TYPE nodeperf_eventloop_lag histogram$/m)
  assert.match(text, /^# UNIT nodejs_eventloop_delay_p99 s$/m)
  assert.match(text, /^# UNIT nodejs_eventloop_utilization 1$/m)
  const p = parse(text)
  for (const name of Object.keys(SEMCONV)) {
    const series = p[name.replaceAll('.', '_')]
    assert.ok(series, `${name} scraped`)
    assert.ok(series.some((s) => s.labels.nodejs_thread === thread), `${name} has the worker's loop`)
  }
  assert.ok(p.nodeperf_eventloop_stalls_total, 'the stall counter scrapes with one _total')
})

test('pool task wait and run histograms after a few tasks, equal to prom\'s', async (t) => {
  const pools = { hashing: createPool({ threads: 1 }) }
  t.after(() => pools.hashing.close())
  const poolBuckets = [0.00001, 0.0001, 0.001, 0.01, 0.1, 1]
  const register = new client.Registry()
  promMetrics({ register, poolBuckets, pools, gc: false })
  const reader = new ManualReader({ metricProducers: [createMetricProducer({ poolBuckets, pools })] })
  const meterProvider = new MeterProvider({ readers: [reader] })
  t.after(() => meterProvider.shutdown())
  collectMetrics({ meterProvider, pools })
  const data = Buffer.alloc(1 << 20, 7)
  for (let i = 0; i < 5; i++) await pools.hashing.hash('sha256', data)
  await assert.rejects(pools.hashing.run({ op: 'hash', algorithm: 'nope', data }))

  const { resourceMetrics, errors } = await reader.collect()
  assert.deepEqual(errors, [])
  const prom = parse(await register.metrics())
  for (const [name, promName] of [
    ['nodeperf.pool.task.wait.duration', 'nodeperf_pool_task_wait_seconds'],
    ['nodeperf.pool.task.run.duration', 'nodeperf_pool_task_run_seconds'],
  ]) {
    const { m } = findMetric(resourceMetrics, name)
    assert.equal(m.dataPointType, DataPointType.HISTOGRAM)
    assert.equal(m.aggregationTemporality, AggregationTemporality.CUMULATIVE)
    assert.equal(m.descriptor.unit, 's')
    const d = m.dataPoints.find((x) => x.attributes['nodeperf.pool.name'] === 'hashing' && x.attributes['nodeperf.pool.op'] === 'hash')
    assert.ok(d, `${name} has the hashing pool's hash op`)
    assert.deepEqual(d.value.buckets.boundaries, poolBuckets)
    assert.ok(d.value.count >= 5, `${name} count ${d.value.count}`)
    const promCounts = prom[`${promName}_bucket`].filter((s) => s.labels.pool === 'hashing' && s.labels.op === 'hash').map((s) => s.value)
    assert.deepEqual(cumulative(d.value.buckets.counts), promCounts)
  }
  const tasks = findMetric(resourceMetrics, 'nodeperf.pool.tasks').m.dataPoints
  const count = (outcome) => tasks.find((d) => d.attributes['nodeperf.pool.name'] === 'hashing' && d.attributes['nodeperf.pool.op'] === 'hash' && d.attributes['nodeperf.pool.outcome'] === outcome)?.value
  assert.equal(count('ok'), 5)
  const threads = findMetric(resourceMetrics, 'nodeperf.pool.threads').m.dataPoints.find((d) => d.attributes['nodeperf.pool.name'] === 'hashing')
  assert.equal(threads.value, 1)
})

test('readLag and readPool: public, cumulative, never reset by reads or by monitor.reset()', async () => {
  const bounds = [0.1, 1, 10, 100]
  const first = readLag(lag, { bounds })
  busyWait(15)
  await sleep(10)
  lag.reset()
  const second = readLag(lag, { bounds })
  assert.equal(second.thread, 'main')
  assert.deepEqual(second.histogram.bounds, bounds)
  assert.equal(second.histogram.counts.length, bounds.length + 1)
  assert.equal(second.histogram.counts.reduce((a, b) => a + b, 0), second.histogram.count)
  const c1 = cumulative(first.histogram.counts)
  const c2 = cumulative(second.histogram.counts)
  for (let i = 0; i < c1.length; i++) assert.ok(c2[i] >= c1[i], `bound #${i}: ${c1[i]} then ${c2[i]}`)
  // The 15 ms block adds ~5 000 observations between 10 and 15 ms.
  assert.ok(c2[3] - c2[2] - (c1[3] - c1[2]) >= 4000, `10..100 ms: ${c1} then ${c2}`)
  for (const k of ['p50', 'p90', 'p99', 'p999', 'max', 'min', 'mean', 'stddev']) assert.equal(typeof second.window[k], 'number')
  assert.ok(second.window.max >= 14, `window max ${second.window.max} ms`)
  for (const m of monitors()) assert.equal(readLag(m).thread, m.thread)

  assert.throws(() => readLag({}), { code: 'ERR_INVALID_ARG_TYPE', message: /LoopMonitor/ })
  assert.throws(() => readLag(lag, { bounds: [] }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.bounds/ })
  assert.throws(() => readLag(lag, { bounds: [1, 1] }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /bounds\[1\]/ })
  assert.throws(() => readLag(lag, { windowMs: 10 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /windowMs/ })
  assert.throws(() => readLag(lag, { bucket: [1] }), { code: 'ERR_INVALID_ARG_VALUE', message: /unknown field 'bucket'/ })
  assert.throws(() => readPool({}), { code: 'ERR_INVALID_ARG_TYPE', message: /Pool/ })
  const p = createPool({ threads: 1 })
  try {
    await p.hash('sha256', Buffer.alloc(1 << 20))
    const r = readPool(p, { bounds: [1000] })
    assert.equal(r.threads, 1)
    assert.equal(r.ops.hash.tasks.ok, 1)
    assert.deepEqual(r.ops.hash.run.counts, [1, 0])
    assert.equal(readPool(p).ops.hash.run.count, 1, 'a read resets nothing')
  } finally {
    await p.close()
  }
})

test('the otel module reads through the public API only', () => {
  const source = readFileSync(fileURLToPath(new URL('../lib/otel.js', import.meta.url)), 'utf8')
  const requires = [...source.matchAll(/require\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]).sort()
  // prom-options.js: the default buckets, shared with the prom exporter.
  assert.deepEqual(requires, ['../package.json', './errors.js', './lag.js', './pool.js', './prom-options.js', './read.js', './validate.js'])
  assert.match(source, /requirePeer\('@nodeperf\/native\/otel', '@opentelemetry\/api'/)
  // From lag.js and pool.js, only what index.js exports.
  assert.match(source, /^const \{ lag, monitors \} = require\('\.\/lag\.js'\)$/m)
  assert.match(source, /^const \{ Pool, pool: defaultPool \} = require\('\.\/pool\.js'\)$/m)
  assert.doesNotMatch(source, /readExport|enableExport|poolMetrics|binding|native\.js/)
})

test('bad options get Node-convention errors', () => {
  assert.throws(() => createMetricProducer(5), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => createMetricProducer({ threads: 'some' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.threads/ })
  assert.throws(() => createMetricProducer({ buckets: [0.1, 0.05] }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /buckets\[1\]/ })
  assert.throws(() => createMetricProducer({ poolBuckets: [] }), { code: 'ERR_INVALID_ARG_TYPE', message: /poolBuckets/ })
  assert.throws(() => createMetricProducer({ windowMs: 10 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => createMetricProducer({ attributes: { 'nodejs.thread': 'x' } }), { code: 'ERR_INVALID_ARG_TYPE', message: /attributes/ })
  assert.throws(() => createMetricProducer({ attributes: { a: null } }), { code: 'ERR_INVALID_ARG_TYPE', message: /attributes\.a/ })
  assert.throws(() => createMetricProducer({ pools: { x: {} } }), { code: 'ERR_INVALID_ARG_TYPE', message: /pools\.x/ })
  assert.throws(() => collectMetrics({ meterProvider: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /MeterProvider/ })
  assert.throws(() => collectMetrics({ meter: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /Meter/ })
  const meterProvider = new MeterProvider()
  assert.throws(() => collectMetrics({ meterProvider, meter: meterProvider.getMeter('x') }), { code: 'ERR_INVALID_ARG_VALUE', message: /not both/ })
  assert.deepEqual(metricNames, [...instrumentNames, ...histogramNames])
})

test('without @opentelemetry/api installed: a clear error that says how to install it', () => {
  const hide = fileURLToPath(new URL('./fixtures/hide-opentelemetry-api.cjs', import.meta.url))
  for (const call of ['collectMetrics()', 'createMetricProducer()']) {
    const child = spawnSync(
      process.execPath,
      ['--require', hide, '-e', `try { require('@nodeperf/native/otel').${call} } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`],
      { encoding: 'utf8' },
    )
    assert.equal(child.status, 0, child.stderr)
    const e = JSON.parse(child.stdout)
    assert.equal(e.code, 'ERR_NODEPERF_PEER_MISSING', call)
    assert.match(e.message, /@nodeperf\/native\/otel needs @opentelemetry\/api/)
    assert.match(e.message, /npm install @opentelemetry\/api/)
  }
})

test('docs/otel.md: the setup snippet runs as pasted and exports the gauges and the lag histogram', () => {
  const doc = readFileSync(fileURLToPath(new URL('../docs/otel.md', import.meta.url)), 'utf8')
  const snippet = doc.slice(doc.indexOf('## Setup')).match(/```js\n([\s\S]*?)```/)[1]
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', snippet], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(child.status, 0, child.stderr)
  assert.match(child.stdout, /name: 'nodejs\.eventloop\.delay\.p99'/)
  assert.match(child.stdout, /name: 'nodeperf\.eventloop\.lag'/)
  assert.match(child.stdout, /name: 'nodeperf\.pool\.threads'/)
})
