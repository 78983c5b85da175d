// npm run demo: starts demo/server.mjs, then for each scenario drives work
// requests at it (autocannon) while a steady "ping" client measures what a
// small request feels. Prints a table and writes demo-report.html (the same
// table plus a chart of lag over time per scenario, inline SVG). Every number
// is measured in this run.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import autocannon from 'autocannon'

const SECONDS = Number(process.env.DEMO_SECONDS || 6)
const PING_EVERY_MS = 20
const here = (p) => fileURLToPath(new URL(p, import.meta.url))

const server = fork(here('./server.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
const [{ port, sidecar, docMB }] = await once(server, 'message')
const base = `http://127.0.0.1:${port}`
const get = async (path, url = base) => (await fetch(url + path)).text()

const scenarios = [
  { name: `JSON.parse of ${docMB.toFixed(0)} MB on the main thread`, path: '/json/main', connections: 1 },
  { name: `pool.parseJson of ${docMB.toFixed(0)} MB`, path: '/json/pool', connections: 2 },
  { name: 'SHA-256 of 16 MiB, crypto.createHash', path: '/hash/main', connections: 2 },
  { name: 'SHA-256 of 16 MiB, pool.hash', path: '/hash/pool', connections: 2 },
  { name: 'a 2 s synchronous stall', path: '/stall', connections: 1, once: true },
]

function pct(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function runScenario(s) {
  await get('/reset')
  const t0 = performance.now()
  const pings = [] // [t ms since start, latency ms]
  const health = [] // [t, status, stalledMs]
  let running = true
  // The steady ping client: one small request every PING_EVERY_MS, each
  // timed from when it was due (a late answer counts in full).
  const pinger = (async () => {
    let due = performance.now()
    while (running) {
      const start = performance.now()
      await get('/ping')
      pings.push([start - t0, performance.now() - Math.min(due, start)])
      due += PING_EVERY_MS
      const wait = due - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      else due = performance.now()
    }
  })()
  // The sidecar's /health/live, every 100 ms (it answers from its own thread).
  const checker = (async () => {
    while (running) {
      const start = performance.now()
      try {
        const r = await fetch(`http://127.0.0.1:${sidecar}/health/live`)
        const body = await r.json()
        health.push([start - t0, r.status, body.stalledMs ?? 0, performance.now() - start])
      } catch {}
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  let rps = NaN
  if (s.once) {
    await new Promise((r) => setTimeout(r, 500))
    await get(s.path)
    await new Promise((r) => setTimeout(r, 1000))
    rps = NaN
  } else {
    const result = await autocannon({ url: base + s.path, connections: s.connections, duration: SECONDS, pipelining: 1 })
    rps = result.requests.average
  }
  running = false
  await Promise.all([pinger, checker])
  const report = JSON.parse(await get('/report'))
  const lat = pings.map((p) => p[1]).sort((a, b) => a - b)
  return { ...s, rps, pings, health, report, pingP50: pct(lat, 50), pingP99: pct(lat, 99), pingN: lat.length }
}

console.log(`@nodeperf/native demo: Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0].model}, ${SECONDS} s per scenario`)
const results = []
for (const s of scenarios) {
  process.stdout.write(`  running: ${s.name} …\n`)
  results.push(await runScenario(s))
}
server.kill()

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-')
const header = ['scenario', 'work req/s', 'ping p50 ms', 'ping p99 ms', 'lag.p99() ms', 'monitorEventLoopDelay p99 ms']
const rows = results.map((r) => [r.name, f(r.rps), f(r.pingP50, 2), f(r.pingP99, 1), f(r.report.lagP99, 2), f(r.report.eldP99, 2)])
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')
console.log('\n' + line(header))
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
for (const r of rows) console.log(line(r))

const stall = results.at(-1)
const firstStalled = stall.health.find((h) => h[1] === 503)
const stallEvents = stall.report.stalls
console.log(
  `\nDuring the 2 s stall the sidecar's /health/live answered 503 ${stall.health.filter((h) => h[1] === 503).length} times` +
    (firstStalled ? ` (first at ${f(firstStalled[2], 0)} ms into the stall, answered in ${f(firstStalled[3], 1)} ms)` : ' (never: check the sidecar)') +
    `; lag.onStall reported ${stallEvents.map((e) => `${f(e.durationMs, 0)} ms`).join(', ') || 'nothing'}.`,
)
const json = results.slice(0, 2)
const hash = results.slice(2, 4)
console.log(
  `Ping p99: JSON ${f(json[0].pingP99)} ms on the main thread vs ${f(json[1].pingP99)} ms with the pool (${f(json[0].pingP99 / json[1].pingP99, 0)}x); ` +
    `SHA-256 ${f(hash[0].pingP99)} ms vs ${f(hash[1].pingP99)} ms (${f(hash[0].pingP99 / hash[1].pingP99, 0)}x).`,
)

// ---- demo-report.html -------------------------------------------------------
function chart(r, width = 560, height = 160) {
  const maxT = Math.max(...r.pings.map((p) => p[0]), 1)
  const ys = r.pings.map((p) => Math.max(p[1], 0.1))
  const top = Math.max(10, ...ys)
  const ly = (v) => height - 20 - ((Math.log10(v) + 1) / (Math.log10(top) + 1)) * (height - 30)
  const lx = (t) => 40 + (t / maxT) * (width - 50)
  const pts = r.pings.map((p, i) => `${lx(p[0]).toFixed(1)},${ly(ys[i]).toFixed(1)}`).join(' ')
  const ticks = [0.1, 1, 10, 100, 1000, 10000].filter((v) => v <= top * 1.01)
  const stalled = r.health.filter((h) => h[1] === 503)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="10">
  <rect x="40" y="10" width="${width - 50}" height="${height - 30}" fill="#fafafa" stroke="#ddd"/>
  ${ticks.map((v) => `<line x1="40" x2="${width - 10}" y1="${ly(v)}" y2="${ly(v)}" stroke="#eee"/><text x="36" y="${ly(v) + 3}" text-anchor="end">${v} ms</text>`).join('')}
  ${stalled.map((h) => `<rect x="${lx(h[0]) - 2}" y="10" width="4" height="${height - 30}" fill="#f5b7b1"/>`).join('')}
  <polyline fill="none" stroke="#c0392b" stroke-width="1.2" points="${pts}"/>
  <text x="${width - 10}" y="${height - 5}" text-anchor="end">${(maxT / 1000).toFixed(1)} s</text>
</svg>`
}
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
const html = `<!doctype html><meta charset="utf-8"><title>@nodeperf/native demo</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}h3{margin-bottom:.2em}</style>
<h1>@nodeperf/native demo</h1>
<p>Node ${process.version}, ${os.cpus().length} × ${esc(os.cpus()[0].model)}, ${SECONDS} s per scenario, measured ${new Date().toISOString()}.
A steady client sends a small <code>/ping</code> request every ${PING_EVERY_MS} ms and times it from when it was due.</p>
<table><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>
${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n')}</table>
<h2>Ping latency over time (log scale; red bands: sidecar /health/live answered 503)</h2>
${results.map((r) => `<h3>${esc(r.name)}</h3>${chart(r)}`).join('\n')}
`
writeFileSync('demo-report.html', html)
mkdirSync('docs', { recursive: true })
writeFileSync(
  'docs/demo-chart.svg',
  `<svg xmlns="http://www.w3.org/2000/svg" width="1140" height="${Math.ceil(results.length / 2) * 190}" font-family="sans-serif" font-size="12">` +
    results
      .map((r, i) => `<g transform="translate(${(i % 2) * 570},${Math.floor(i / 2) * 190})"><text x="40" y="12">${esc(r.name)}: ping p99 ${f(r.pingP99)} ms</text><g transform="translate(0,16)">${chart(r, 560, 170)}</g></g>`)
      .join('') +
    '</svg>\n',
)
console.log('\nwrote demo-report.html and docs/demo-chart.svg')
