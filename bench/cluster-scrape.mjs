// Issue #21, bar 1: metrics survive a stuck worker.
//
// A cluster of W workers (default 4). Each worker runs collectMetrics on
// prom-client's global registry and answers AggregatorRegistry's requests,
// as docs/cluster.md's recipe does. Once every worker has published, one
// worker blocks its loop for BLOCK_MS (default 30 s). Every second during
// the block the primary scrapes twice, in alternating order:
//   - ours: a Registry with collectMetrics({ processes: true }), read from
//     the group's shared memory;
//   - prom-client's AggregatorRegistry.clusterMetrics(), which asks every
//     worker over IPC.
// It prints, per second, each scrape's time and outcome, how many workers'
// series ours has, and the stuck worker's stalledFor from processes(); then
// ours' p50/p99/max and what the AggregatorRegistry did.
//
//   node bench/cluster-scrape.mjs [--workers 4] [--block-ms 30000]
import cluster from 'node:cluster'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const client = require('prom-client')
const native = require('../index.js')
const { collectMetrics } = require('../lib/prom.js')

const { values: args } = parseArgs({
  options: { workers: { type: 'string', default: '4' }, 'block-ms': { type: 'string', default: '30000' } },
})
const W = Number(args.workers)
const BLOCK_MS = Number(args['block-ms'])

if (cluster.isWorker) {
  // eslint-disable-next-line no-new
  new client.AggregatorRegistry() // answers the primary's IPC requests
  collectMetrics() // global registry, worker="<id>"
  process.on('message', (m) => {
    if (m && m.block) {
      const end = Date.now() + m.block
      while (Date.now() < end);
    }
  })
  // Keep the loop alive, with some ordinary activity.
  setInterval(() => {}, 50)
} else {
  const workers = []
  for (let i = 0; i < W; i++) workers.push(cluster.fork())
  await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))))

  const ours = new client.Registry()
  collectMetrics({ register: ours, processes: true, gc: false })
  const aggregator = new client.AggregatorRegistry()

  // Wait until every worker has published.
  for (;;) {
    const ps = native.group.processes()
    if (ps.length >= W && ps.every((p) => p.loops.length > 0)) break
    await new Promise((r) => setTimeout(r, 100))
  }
  // One scrape of each before the block, as a running server has had.
  await ours.metrics()
  await aggregator.clusterMetrics()
  const stuck = workers[W - 1]
  const seriesWorkers = (text) => new Set([...text.matchAll(/nodeperf_eventloop_lag_seconds_count\{[^}]*worker="(\d+)"/g)].map((m) => m[1]))

  const oursTimes = []
  const aggr = { ok: 0, failed: 0, times: [], errors: new Map() }
  console.log(`workers ${W}, block ${BLOCK_MS} ms on worker ${stuck.id} (pid ${stuck.process.pid}); one scrape of each per second`)
  stuck.send({ block: BLOCK_MS })
  const t0 = performance.now()
  let second = 0
  const pendingAggr = []
  const rows = []
  while (performance.now() - t0 < BLOCK_MS - 1000) {
    second++
    const nextAt = t0 + second * 1000
    const a0 = performance.now()
    const aggrLine = { text: 'pending' }
    // prom-client's scrape, not awaited here: it may wait for the stuck worker.
    pendingAggr.push(
      aggregator.clusterMetrics().then(
        () => {
          const ms = performance.now() - a0
          aggr.ok++
          aggr.times.push(ms)
          aggrLine.text = `ok ${ms.toFixed(1)} ms`
        },
        (err) => {
          const ms = performance.now() - a0
          aggr.failed++
          const k = String(err && err.message)
          aggr.errors.set(k, (aggr.errors.get(k) || 0) + 1)
          aggrLine.text = `failed after ${ms.toFixed(0)} ms: ${k}`
        },
      ),
    )
    const s0 = performance.now()
    const text = await ours.metrics()
    const ms = performance.now() - s0
    oursTimes.push(ms)
    const p = native.group.processes().find((x) => x.pid === stuck.process.pid)
    const stalled = p ? p.loops.find((l) => l.thread === 'main').stalledFor : NaN
    const t = second
    rows.push(() => `${String(t).padStart(4)}  ${ms.toFixed(2).padStart(8)}  ${String(seriesWorkers(text).size).padStart(15)}  ${stalled.toFixed(0).padStart(20)}  ${aggrLine.text}`)
    await new Promise((r) => setTimeout(r, Math.max(0, nextAt - performance.now())))
  }
  // The AggregatorRegistry's outcome of each second is known once all settle.
  await Promise.allSettled(pendingAggr)
  console.log('t(s)  ours(ms)  workers-in-ours  stuck.stalledFor(ms)  aggregator (started at the same second)')
  for (const row of rows) console.log(row())
  const q = (xs, f) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.ceil(f * s.length) - 1)]
  }
  console.log(`\nours: ${oursTimes.length} scrapes, p50 ${q(oursTimes, 0.5).toFixed(2)} ms, p99 ${q(oursTimes, 0.99).toFixed(2)} ms, max ${Math.max(...oursTimes).toFixed(2)} ms (bar: p99 <= 20 ms)`)
  console.log(`AggregatorRegistry: ${aggr.ok} answered, ${aggr.failed} failed${aggr.times.length ? `, answered in p50 ${q(aggr.times, 0.5).toFixed(0)} ms` : ''}`)
  for (const [k, v] of aggr.errors) console.log(`  ${v} x ${k}`)
  for (const w of workers) w.process.kill('SIGKILL')
  process.exit(0)
}
