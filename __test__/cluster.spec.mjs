// collectMetrics under `cluster`: each worker's series carry worker="<id>",
// so they stay apart after prom-client's AggregatorRegistry merges the
// workers; the histograms and counters still add up exactly; and the
// `compat` gauges merge the way prom-client's own do.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import client from 'prom-client'
import { collectMetrics, compatMetricNames } from '@nodeperf/native/prom'
import { parse } from './exposition.mjs'

const LAG = 'nodeperf_eventloop_lag_seconds'

/** The fixture's output: each worker's own getMetricsAsJSON and the aggregate. */
function runCluster() {
  const fixture = fileURLToPath(new URL('./fixtures/cluster-prom.cjs', import.meta.url))
  // A hang guard, not a timing assertion.
  const child = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(child.status, 0, `${child.stderr}`)
  const { perWorker, aggregated } = JSON.parse(child.stdout.trim().split('\n').pop())
  return { perWorker, agg: parse(aggregated) }
}

const valuesOf = (json, name) => json.find((m) => m.name === name).values
const ofThread = (values, suffix) => values.filter((v) => v.labels.thread === 'main' && (v.metricName ?? '').endsWith(suffix))

test('2 workers with AggregatorRegistry: per-worker series apart, histograms and counters summing exactly, compat gauges merged as prom-client merges its own', () => {
  const { perWorker, agg } = runCluster()
  assert.equal(perWorker.length, 2)
  const ids = perWorker.map((w) => String(w.id)).sort()
  assert.equal(new Set(ids).size, 2)

  // Each worker labels its own series with its cluster id.
  for (const w of perWorker) {
    for (const v of valuesOf(w.metrics, LAG)) assert.equal(v.labels.worker, String(w.id), JSON.stringify(v.labels))
  }
  // So does the sidecar's /metrics in each worker.
  for (const w of perWorker) {
    const series = parse(w.sidecar)[`${LAG}_count`]
    assert.ok(series.length > 0 && series.every((s) => s.labels.worker === String(w.id)), JSON.stringify(series))
  }
  // After aggregation: one main-thread series per worker, not one merged.
  const counts = agg[`${LAG}_count`].filter((s) => s.labels.thread === 'main')
  assert.deepEqual(counts.map((s) => s.labels.worker).sort(), ids)

  // Every bucket, _sum and _count of each worker is exactly its own, and
  // summed over the workers (what `sum by (le)` does) exactly the sum of theirs.
  const bucketsOwn = perWorker.map((w) => ofThread(valuesOf(w.metrics, LAG), '_bucket'))
  const les = bucketsOwn[0].map((v) => String(v.labels.le))
  assert.ok(les.length >= 2 && les.at(-1) === '+Inf')
  for (const le of les) {
    let total = 0
    for (const w of perWorker) {
      const own = ofThread(valuesOf(w.metrics, LAG), '_bucket').find((v) => String(v.labels.le) === le).value
      const merged = agg[`${LAG}_bucket`].filter((s) => s.labels.thread === 'main' && s.labels.le === le && s.labels.worker === String(w.id))
      assert.equal(merged.length, 1, `le=${le} worker=${w.id}`)
      assert.equal(merged[0].value, own, `le=${le} worker=${w.id}`)
      total += own
    }
    const mergedTotal = agg[`${LAG}_bucket`].filter((s) => s.labels.thread === 'main' && s.labels.le === le).reduce((a, s) => a + s.value, 0)
    assert.equal(mergedTotal, total, `le=${le}`)
  }
  for (const w of perWorker) {
    const own = ofThread(valuesOf(w.metrics, LAG), '_count')[0].value
    assert.ok(own > 0)
    assert.equal(counts.find((s) => s.labels.worker === String(w.id)).value, own)
  }
  for (const counter of ['nodeperf_eventloop_stalls_total', 'nodeperf_eventloop_stall_seconds_total']) {
    for (const w of perWorker) {
      const own = valuesOf(w.metrics, counter).find((v) => v.labels.thread === 'main').value
      const merged = agg[counter].find((s) => s.labels.thread === 'main' && s.labels.worker === String(w.id)).value
      assert.equal(merged, own, `${counter} worker ${w.id}`)
    }
  }

  // The compat gauges have no worker label, as prom-client's own: one
  // series, merged by prom-client's aggregator for that name.
  const merge = { min: Math.min, max: Math.max, average: (a, b) => (a + b) / 2 }
  for (const name of compatMetricNames) {
    const own = perWorker.map((w) => valuesOf(w.metrics, name))
    for (const values of own) assert.equal(values.length, 1, name)
    assert.equal(own[0][0].labels.worker, undefined, name)
    const aggregator = perWorker[0].metrics.find((m) => m.name === name).aggregator
    assert.equal(agg[name].length, 1, name)
    const [a, b] = own.map((values) => values[0].value)
    // (the exposition prints at most 17 significant digits, as JSON does)
    assert.equal(agg[name][0].value, Number(String(merge[aggregator](a, b))), `${name} (${aggregator}) of ${a} and ${b}`)
  }
})

test("compat gauges use prom-client's own aggregator for each name", () => {
  const theirs = new client.Registry()
  client.collectDefaultMetrics({ register: theirs })
  const ours = new client.Registry()
  client.collectDefaultMetrics({ register: ours })
  collectMetrics({ register: ours, compat: true })
  for (const name of compatMetricNames) {
    const expected = theirs.getSingleMetric(name).aggregator
    assert.ok(expected, name)
    assert.equal(ours.getSingleMetric(name).aggregator, expected, name)
    assert.match(ours.getSingleMetric(name).help, /@nodeperf\/native/)
  }
})

test('options.worker: a label of its own choosing, false for none, and no fight with labels.worker', async () => {
  const lagLabels = async (register) => parse(await register.metrics())[`${LAG}_count`].find((s) => s.labels.thread === 'main').labels

  // Not a cluster worker: no worker label by default.
  const plain = new client.Registry()
  collectMetrics({ register: plain })
  assert.equal((await lagLabels(plain)).worker, undefined)

  const pid = new client.Registry()
  collectMetrics({ register: pid, worker: process.pid, labels: { service: 'api' } })
  assert.deepEqual(await lagLabels(pid), { service: 'api', worker: String(process.pid), thread: 'main' })

  const none = new client.Registry()
  collectMetrics({ register: none, worker: false, labels: { worker: 'mine' } })
  assert.equal((await lagLabels(none)).worker, 'mine')

  // compat keeps prom-client's label set: the caller's labels only.
  const compat = new client.Registry()
  collectMetrics({ register: compat, worker: 'w1', labels: { service: 'api' }, compat: true })
  assert.deepEqual(parse(await compat.metrics()).nodejs_eventloop_lag_p99_seconds[0].labels, { service: 'api' })

  const bad = new client.Registry()
  assert.throws(() => collectMetrics({ register: bad, worker: 3, labels: { worker: 'x' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /'worker' label/ })
  assert.throws(() => collectMetrics({ register: bad, worker: true }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.worker/ })
  assert.throws(() => collectMetrics({ register: bad, worker: '' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.worker/ })
  assert.throws(() => collectMetrics({ register: bad, worker: NaN }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.worker/ })
  assert.equal(bad.getMetricsAsArray().length, 0, 'nothing registered by a call that threw')
})
