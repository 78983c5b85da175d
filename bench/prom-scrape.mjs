// Scrape cost: main-thread time to render our metric families for 1 main +
// 8 worker loops, against prom-client's own collectDefaultMetrics on the
// same process (each alone in a registry), in the same run.
//
// usage: node bench/prom-scrape.mjs [--scrapes 200]
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import os from 'node:os'
import client from 'prom-client'

const require = createRequire(import.meta.url)
const { collectMetrics } = require('@nodeperf/native/prom')
const i = process.argv.indexOf('--scrapes')
const SCRAPES = i >= 0 ? Number(process.argv[i + 1]) : 200

const workers = []
for (let w = 0; w < 8; w++) {
  const worker = new Worker(
    `require('@nodeperf/native'); require('node:worker_threads').parentPort.postMessage('up')
     setInterval(() => {}, 1000)`,
    { eval: true },
  )
  workers.push(worker)
  await once(worker, 'message')
}
const ours = new client.Registry()
collectMetrics({ register: ours })
const defaults = new client.Registry()
client.collectDefaultMetrics({ register: defaults })
await new Promise((resolve) => setTimeout(resolve, 500))

async function cost(register) {
  const times = []
  let text = ''
  for (let s = 0; s < SCRAPES; s++) {
    const t0 = process.hrtime.bigint()
    text = await register.metrics()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    await new Promise((resolve) => setImmediate(resolve))
  }
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)], lines: text.split('\n').length }
}
await cost(ours) // warm-up
const o = await cost(ours)
const d = await cost(defaults)
console.log(`prom scrape cost: Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0].model}, ${SCRAPES} scrapes`)
console.log(`  ours, 1 main + 8 worker loops (${o.lines} lines): p50 ${o.p50.toFixed(3)} ms, p99 ${o.p99.toFixed(3)} ms`)
console.log(`  prom-client collectDefaultMetrics (${d.lines} lines): p50 ${d.p50.toFixed(3)} ms, p99 ${d.p99.toFixed(3)} ms`)
console.log(`  ratio ours/defaults at p50: ${(o.p50 / d.p50).toFixed(2)}`)
console.log(`  bar (< 1 ms main-thread time per scrape): ${o.p50 < 1 ? 'met' : 'MISSED'} at p50, ${o.p99 < 1 ? 'met' : 'MISSED'} at p99`)
for (const w of workers) await w.terminate()
