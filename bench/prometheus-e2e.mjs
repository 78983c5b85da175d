// A real Prometheus server (Debian package `prometheus`) scrapes
// examples/prom/server.js every second while the server's loop is blocked
// 20 ms every 100 ms; then histogram_quantile(0.99, ...) over our histogram
// is read back through Prometheus' HTTP API and printed beside the server's
// own window p99.
//
// usage: node bench/prometheus-e2e.mjs [--seconds 12]
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import net from 'node:net'

const i = process.argv.indexOf('--seconds')
const SECONDS = i >= 0 ? Number(process.argv[i + 1]) : 12
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const appPort = await freePort()
const promPort = await freePort()
const dir = mkdtempSync(join(tmpdir(), 'nodeperf-prom-'))
writeFileSync(
  join(dir, 'prometheus.yml'),
  `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:${appPort}']\n`,
)

const server = spawn(process.execPath, [fileURLToPath(new URL('../examples/prom/server.js', import.meta.url)), String(appPort)], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
await once(server.stdout, 'data')
const prom = spawn(
  'prometheus',
  [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
  { stdio: ['ignore', 'ignore', 'pipe'] },
)
let promLog = ''
prom.stderr.on('data', (d) => (promLog += d))

async function query(q) {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = await res.json()
  if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`)
  return body.data.result
}

try {
  // Load: the server's loop blocks 20 ms every 100 ms.
  const end = Date.now() + SECONDS * 1000
  while (Date.now() < end) {
    await fetch(`http://127.0.0.1:${appPort}/block?ms=20`).then((r) => r.text())
    await sleep(80)
  }
  const p99 = await query(`histogram_quantile(0.99, sum by (le) (rate(nodeperf_eventloop_lag_seconds_bucket{thread="main"}[10s])))`)
  const p50 = await query(`histogram_quantile(0.5, sum by (le) (rate(nodeperf_eventloop_lag_seconds_bucket{thread="main"}[10s])))`)
  const windowP99 = await query(`nodeperf_eventloop_lag_quantile_seconds{thread="main",quantile="0.99"}`)
  const threads = await query(`count by (thread) (nodeperf_eventloop_lag_seconds_count)`)
  const util = await query(`nodeperf_eventloop_utilization_ratio{thread="main"}`)
  const v = (r) => (r.length ? Number(r[0].value[1]) : NaN)
  console.log(`Prometheus scraped examples/prom every 1 s for ${SECONDS} s; the server blocked 20 ms every ~100 ms`)
  console.log(`  threads seen: ${threads.map((t) => t.metric.thread).join(', ')}`)
  console.log(`  histogram_quantile(0.99, rate(..._bucket[10s])) = ${(v(p99) * 1000).toFixed(2)} ms`)
  console.log(`  histogram_quantile(0.5,  rate(..._bucket[10s])) = ${(v(p50) * 1000).toFixed(3)} ms`)
  console.log(`  server's own window p99 (quantile series)      = ${(v(windowP99) * 1000).toFixed(2)} ms`)
  console.log(`  utilization ratio                              = ${v(util).toFixed(3)}`)
  const sensible = v(p99) > 0.015 && v(p99) <= 0.025
  console.log(`  sensible (p99 between 15 and 25 ms for 20 ms blocks): ${sensible ? 'yes' : 'NO'}`)
  if (!sensible) process.exitCode = 1
} catch (e) {
  console.error(e, promLog.slice(-2000))
  process.exitCode = 1
} finally {
  prom.kill()
  server.kill()
  await Promise.all([once(prom, 'exit'), once(server, 'exit')])
  rmSync(dir, { recursive: true, force: true })
}
