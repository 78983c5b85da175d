import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import client from 'prom-client'
import { lag } from '@nodeperf/native'
import { collectMetrics, metricNames, compatMetricNames } from '@nodeperf/native/prom'
import { parse } from './exposition.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

const bucketsOf = (parsed, thread, name = 'nodeperf_eventloop_lag_seconds') =>
  parsed[`${name}_bucket`].filter((s) => s.labels.thread === thread).map((s) => [s.labels.le, s.value])

test('exposition: cumulative monotone buckets, +Inf = _count, _sum consistent, a 50 ms block lands below le=0.05', async () => {
  const register = new client.Registry()
  const names = collectMetrics({ register, labels: { service: 'api' } })
  assert.deepEqual(names, metricNames)
  // Every busy period over 25 ms from here on, as the monitor itself saw it:
  // only those put observations above 25 ms. On a loaded machine there are
  // more than the 50 ms block (a preempted scrape, a GC), so the upper
  // bounds below come from these, not from the clock.
  const long = []
  const off = lag.onStall(25, (s) => long.push(s.durationMs))
  await sleep(30)
  const before = parse(await register.metrics())
  await sleep(30)
  busyWait(50)
  await sleep(30)
  const text = await register.metrics()
  const after = parse(text)
  // The busy period of that scrape ends, and its stall (if any) arrives:
  // one counted too many only loosens the bounds.
  await sleep(30)
  off()
  /** µs that the stalls spent between `lo` and `hi` ms into themselves. */
  const stalledBetween = (lo, hi) => long.reduce((n, d) => n + Math.max(0, Math.min(d, hi) - lo), 0) * 1000
  const b = bucketsOf(after, 'main')
  assert.equal(b.at(-1)[0], '+Inf')
  for (let i = 1; i < b.length; i++) assert.ok(b[i][1] >= b[i - 1][1], `bucket ${b[i][0]} < ${b[i - 1][0]}`)
  const count = after.nodeperf_eventloop_lag_seconds_count.find((s) => s.labels.thread === 'main').value
  const sum = after.nodeperf_eventloop_lag_seconds_sum.find((s) => s.labels.thread === 'main').value
  assert.equal(b.at(-1)[1], count)
  // The mean lag (sum / count) lies within the observed range.
  assert.ok(sum / count > 0 && sum / count <= lag.max() / 1000 + 1e-6, `mean ${sum / count}, max ${lag.max() / 1000}`)
  for (const s of after.nodeperf_eventloop_lag_seconds_bucket) assert.equal(s.labels.service, 'api')
  // The 50 ms block is spread over 0..50 ms with one observation per µs:
  // ~25 000 between 25 and 50 ms, and above 50 ms only what busy periods
  // longer than 50 ms (the block's, stretched by the timer callback around
  // it or by preemption, or another) spent there. Bounds: 1% for the
  // histogram's precision, plus 2 ms (the stall's
  // duration is measured a few hundred µs inside the histogram's period).
  const delta = (le) => b.find(([l]) => l === le)[1] - bucketsOf(before, 'main').find(([l]) => l === le)[1]
  const in25to50 = delta('0.05') - delta('0.025')
  const in50to100 = delta('0.1') - delta('0.05')
  const stalls = `busy periods over 25 ms: ${JSON.stringify(long)}`
  assert.ok(in25to50 > 22_000, `(0.025, 0.05]: ${in25to50}`)
  assert.ok(in25to50 <= stalledBetween(25, 50) * 1.01 + 2000, `(0.025, 0.05]: ${in25to50}; ${stalls}`)
  assert.ok(in50to100 <= stalledBetween(50, 100) * 1.01 + 2000, `(0.05, 0.1]: ${in50to100}; ${stalls}`)
  const max = after.nodeperf_eventloop_lag_max_seconds.find((s) => s.labels.thread === 'main').value
  // (1e-6: the exposition prints the gauge rounded)
  assert.ok(max >= 0.049 && max <= lag.max() / 1000 + 1e-6, `max gauge ${max}, monitor max ${lag.max() / 1000}`)
  const q = after.nodeperf_eventloop_lag_quantile_seconds.filter((s) => s.labels.thread === 'main')
  assert.deepEqual(q.map((s) => s.labels.quantile), ['0.5', '0.9', '0.99', '0.999'])
  assert.ok(after.nodeperf_heap_utilization_ratio[0].value > 0 && after.nodeperf_heap_utilization_ratio[0].value < 1)
})

test('two registries scraping alternately see the same cumulative histogram', async () => {
  const a = new client.Registry()
  const b = new client.Registry()
  collectMetrics({ register: a })
  collectMetrics({ register: b })
  busyWait(20)
  await sleep(20)
  const counts = []
  for (let i = 0; i < 4; i++) {
    const reg = i % 2 ? b : a
    const p = parse(await reg.metrics())
    counts.push(p.nodeperf_eventloop_lag_seconds_count.find((s) => s.labels.thread === 'main').value)
    await sleep(10)
  }
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], `count went down: ${counts}`)
  // Frozen, both read exactly the same values.
  lag.stop()
  try {
    const [ta, tb] = [await a.metrics(), await b.metrics()]
    const pa = parse(ta)
    const pb = parse(tb)
    assert.deepEqual(bucketsOf(pa, 'main'), bucketsOf(pb, 'main'))
    assert.deepEqual(pa.nodeperf_eventloop_lag_quantile_seconds, pb.nodeperf_eventloop_lag_quantile_seconds)
  } finally {
    lag.start()
  }
})

test("threads: 'all' has a series per worker loop, 'self' only this thread's", async () => {
  const all = new client.Registry()
  const self = new client.Registry()
  collectMetrics({ register: all })
  collectMetrics({ register: self, threads: 'self' })
  const worker = new Worker(`require('@nodeperf/native'); require('node:worker_threads').parentPort.postMessage('up'); setTimeout(() => {}, 5000)`, { eval: true })
  await once(worker, 'message')
  const label = `worker-${worker.threadId}`
  await sleep(20)
  const threadsIn = (p) => [...new Set(p.nodeperf_eventloop_lag_seconds_count.map((s) => s.labels.thread))]
  const during = threadsIn(parse(await all.metrics()))
  assert.ok(during.includes('main') && during.includes(label), `threads: ${during}`)
  assert.deepEqual(threadsIn(parse(await self.metrics())), ['main'])
  await worker.terminate()
  // The monitor leaves in the worker's env teardown, which can finish just
  // after 'exit' reaches this thread.
  let left = false
  for (let i = 0; i < 100 && !left; i++) {
    left = !threadsIn(parse(await all.metrics())).includes(label)
    if (!left) await sleep(10)
  }
  assert.ok(left, 'the ended worker left')
})

test('collectMetrics again on one registry: the same options change nothing, other options throw', () => {
  const register = new client.Registry()
  const first = collectMetrics({ register, prefix: 'app_', labels: { service: 'api' } })
  assert.ok(first.every((n) => n.startsWith('app_nodeperf_')))
  const count = register.getMetricsAsArray().length
  assert.deepEqual(collectMetrics({ register, prefix: 'app_', labels: { service: 'api' } }), first)
  assert.equal(register.getMetricsAsArray().length, count)
  for (const other of [{ prefix: 'other_' }, { prefix: 'app_' }, { prefix: 'app_', labels: { service: 'web' } }, { prefix: 'app_', labels: { service: 'api' }, windowMs: 5000 }]) {
    assert.throws(() => collectMetrics({ register, ...other }), { code: 'ERR_INVALID_ARG_VALUE', message: /first collectMetrics call on this registry/ }, JSON.stringify(other))
  }
  assert.equal(register.getMetricsAsArray().length, count, 'no second set')
  // Once the registry dropped them (clear()), a new call registers afresh.
  register.clear()
  assert.deepEqual(collectMetrics({ register, prefix: 'other_' }).length, first.length)
  // A name someone else registered: an error before anything is registered.
  const taken = new client.Registry()
  new client.Gauge({ name: 'nodeperf_pool_threads', help: 'not ours', registers: [taken] })
  assert.throws(() => collectMetrics({ register: taken }), { code: 'ERR_INVALID_ARG_VALUE', message: /nodeperf_pool_threads/ })
  assert.equal(taken.getMetricsAsArray().length, 1)
})

test("compat with collectDefaultMetrics' prefix: compat.prefix (default: prefix), and an error when they differ", async () => {
  const register = new client.Registry()
  client.collectDefaultMetrics({ register, prefix: 'app_' })
  assert.throws(() => collectMetrics({ register, compat: true }), { code: 'ERR_INVALID_ARG_VALUE', message: /compat: \{ prefix: 'app_' \}/ })
  const names = collectMetrics({ register, compat: { prefix: 'app_' } })
  assert.deepEqual(names, [...metricNames, ...compatMetricNames.map((n) => `app_${n}`)])
  const text = await register.metrics()
  assert.match(text, /# HELP app_nodejs_eventloop_lag_p99_seconds .*@nodeperf\/native/)
  assert.doesNotMatch(text, /^nodejs_eventloop_lag_p99_seconds/m)
  assert.match(text, /^nodeperf_eventloop_lag_seconds_count/m)

  // Our prefix applies to the compat names unless compat.prefix says otherwise.
  const both = new client.Registry()
  client.collectDefaultMetrics({ register: both, prefix: 'svc_' })
  assert.ok(collectMetrics({ register: both, prefix: 'svc_', compat: true }).includes('svc_nodejs_eventloop_lag_p99_seconds'))
  assert.match(await both.metrics(), /# HELP svc_nodejs_eventloop_lag_p99_seconds .*@nodeperf\/native/)

  const bad = new client.Registry()
  assert.throws(() => collectMetrics({ register: bad, compat: { prefix: '9' } }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.compat\.prefix/ })
  assert.throws(() => collectMetrics({ register: bad, compat: { prefx: 'a_' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /prefx/ })
  assert.throws(() => collectMetrics({ register: bad, compat: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.compat/ })
})

test('compat: fills prom-client names next to collectDefaultMetrics without a clash', async () => {
  const register = new client.Registry()
  client.collectDefaultMetrics({ register })
  const names = collectMetrics({ register, compat: true })
  assert.deepEqual(names, [...metricNames, ...compatMetricNames])
  busyWait(30)
  await sleep(20)
  const text = await register.metrics()
  assert.match(text, /# HELP nodejs_eventloop_lag_p99_seconds .*@nodeperf\/native/)
  const p = parse(text)
  assert.equal(p.nodejs_eventloop_lag_p99_seconds.length, 1)
  assert.ok(p.nodejs_eventloop_lag_max_seconds[0].value >= 0.029)
  assert.ok(p.process_cpu_user_seconds_total, 'prom-client default metrics still there')
})

test('bad options get Node-convention errors', () => {
  const register = new client.Registry()
  assert.throws(() => collectMetrics({ register, threads: 'some' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.threads/ })
  assert.throws(() => collectMetrics({ register, buckets: [0.1, 0.05] }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /buckets\[1\]/ })
  assert.throws(() => collectMetrics({ register, buckets: [] }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => collectMetrics({ register, prefix: '9x' }), { code: 'ERR_INVALID_ARG_TYPE', message: /prefix/ })
  assert.throws(() => collectMetrics({ register, labels: { thread: 'x' } }), { code: 'ERR_INVALID_ARG_TYPE', message: /labels/ })
  assert.throws(() => collectMetrics({ register, windowMs: 10 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => collectMetrics({ register: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /Registry/ })
  assert.throws(() => collectMetrics(5), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('without prom-client installed: a clear error that says how to install it', () => {
  const hide = fileURLToPath(new URL('./fixtures/hide-prom-client.cjs', import.meta.url))
  const child = spawnSync(
    process.execPath,
    ['--require', hide, '-e', `try { require('@nodeperf/native/prom').collectMetrics() } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`],
    { encoding: 'utf8' },
  )
  assert.equal(child.status, 0, child.stderr)
  const e = JSON.parse(child.stdout)
  assert.equal(e.code, 'ERR_NODEPERF_PEER_MISSING')
  assert.match(e.message, /npm install prom-client/)
})

test('promtool check metrics accepts the exposition', { skip: !hasPromtool() && 'promtool not installed (CI installs it)' }, async () => {
  const register = new client.Registry()
  collectMetrics({ register, labels: { service: 'api' } })
  busyWait(10)
  await sleep(10)
  const check = spawnSync('promtool', ['check', 'metrics'], { input: await register.metrics(), encoding: 'utf8' })
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`)
  assert.equal(`${check.stdout}${check.stderr}`.trim(), '')
})

function hasPromtool() {
  return spawnSync('promtool', ['--version']).status === 0
}

test('pool metrics: threads, queue, tasks by op and outcome, wait/run histograms', async () => {
  const { pool } = await import('@nodeperf/native')
  const register = new client.Registry()
  collectMetrics({ register })
  // Small inputs would run inline (offload 'auto'): these count pool tasks.
  const ALWAYS = { offload: 'always' }
  await pool.hash('sha256', 'warm-up', 'hex', ALWAYS)
  const value = (p, name, labels = {}) =>
    (p[name] || []).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0
  const before = parse(await register.metrics())
  await Promise.all(Array.from({ length: 50 }, (_, i) => pool.hash('sha256', `task ${i}`, 'hex', ALWAYS)))
  // One task aborted while it waits behind a long one: counted as aborted.
  const big = new Uint8Array(64 << 20)
  const long = Promise.all(Array.from({ length: pool.threads }, () => pool.hash('sha256', big)))
  const ac = new AbortController()
  const queued = pool.hash('sha256', 'never runs', 'hex', { signal: ac.signal, ...ALWAYS })
  ac.abort()
  await assert.rejects(queued, { name: 'AbortError' })
  await long
  const after = parse(await register.metrics())
  assert.ok(value(after, 'nodeperf_pool_threads') >= 1)
  const ok = (p) => value(p, 'nodeperf_pool_tasks_total', { op: 'hash', outcome: 'ok' })
  assert.equal(ok(after) - ok(before), 50 + pool.threads)
  const aborted = (p) => value(p, 'nodeperf_pool_tasks_total', { op: 'hash', outcome: 'aborted' })
  assert.equal(aborted(after) - aborted(before), 1)
  for (const h of ['nodeperf_pool_task_wait_seconds', 'nodeperf_pool_task_run_seconds']) {
    const count = (p) => value(p, `${h}_count`, { op: 'hash' })
    assert.equal(count(after) - count(before), 50 + pool.threads, h)
    const b = after[`${h}_bucket`].filter((s) => s.labels.op === 'hash')
    for (let i = 1; i < b.length; i++) assert.ok(b[i].value >= b[i - 1].value)
    assert.equal(b.at(-1).value, count(after))
  }
  // The 64 MiB hashes ran for milliseconds: the run histogram shows it.
  const runSum = value(after, 'nodeperf_pool_task_run_seconds_sum', { op: 'hash' }) - value(before, 'nodeperf_pool_task_run_seconds_sum', { op: 'hash' })
  assert.ok(runSum > 0.01, `run time sum ${runSum}`)
})

test('options.pools: createPool() pools are exported with a pool label, apart from the default pool', async () => {
  const { createPool, pool } = await import('@nodeperf/native')
  const register = new client.Registry()
  const images = createPool({ threads: 2, maxQueue: 10 })
  collectMetrics({ register, pools: { images } })
  const series = (p, name, labels) => (p[name] || []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  const one = (p, name, labels) => {
    const found = series(p, name, labels)
    assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${JSON.stringify(found)}`)
    return found[0].value
  }
  const before = parse(await register.metrics())
  const defaultOk = (p) => one(p, 'nodeperf_pool_tasks_total', { pool: undefined, op: 'hash', outcome: 'ok' })
  const imagesOk = (p) => one(p, 'nodeperf_pool_tasks_total', { pool: 'images', op: 'hash', outcome: 'ok' })
  await Promise.all(Array.from({ length: 7 }, (_, i) => images.hash('md5', `img ${i}`, 'hex', { offload: 'always' })))
  await pool.hash('md5', 'default', 'hex', { offload: 'always' })
  // A full queue: rejected on this pool only.
  const big = new Uint8Array(32 << 20)
  const burst = Array.from({ length: 20 }, () => images.hash('sha256', big).catch((e) => e.code))
  const codes = await Promise.all(burst)
  const rejected = codes.filter((c) => c === 'ERR_NODEPERF_QUEUE_FULL').length
  assert.ok(rejected > 0, 'the burst overflowed maxQueue')
  const after = parse(await register.metrics())
  assert.equal(one(after, 'nodeperf_pool_threads', { pool: 'images' }), 2)
  assert.equal(imagesOk(after) - (series(before, 'nodeperf_pool_tasks_total', { pool: 'images', op: 'hash', outcome: 'ok' })[0]?.value ?? 0), 7 + 20 - rejected)
  assert.equal(defaultOk(after) - defaultOk(before), 1)
  assert.equal(one(after, 'nodeperf_pool_tasks_total', { pool: 'images', op: 'hash', outcome: 'rejected' }), rejected)
  assert.equal(one(after, 'nodeperf_pool_task_run_seconds_count', { pool: 'images', op: 'hash' }), 7 + 20 - rejected)
  await images.close()

  const bad = new client.Registry()
  assert.throws(() => collectMetrics({ register: bad, pools: [images] }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.pools/ })
  assert.throws(() => collectMetrics({ register: bad, pools: { x: {} } }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.pools\.x/ })
  assert.throws(() => collectMetrics({ register: bad, pools: { main: pool } }), { code: 'ERR_INVALID_ARG_VALUE', message: /default pool/ })
  assert.throws(() => collectMetrics({ register: bad, pools: { '': images } }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => collectMetrics({ register: bad, pools: { images }, labels: { pool: 'x' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /'pool' label/ })
})

test('promtool accepts the exposition with createPool() pools', { skip: !hasPromtool() && 'promtool not installed (CI installs it)' }, async () => {
  const { createPool } = await import('@nodeperf/native')
  const register = new client.Registry()
  const a = createPool({ threads: 1 })
  collectMetrics({ register, pools: { a } })
  await a.hash('sha1', 'x')
  const check = spawnSync('promtool', ['check', 'metrics'], { input: await register.metrics(), encoding: 'utf8' })
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`)
  await a.close()
})
