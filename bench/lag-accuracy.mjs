// Accuracy against ground truth. A child process (probe_sender.py) sends
// CLOCK_MONOTONIC timestamps at Poisson-random instants over TCP; the data
// callback records how long each one really waited (truth). Meanwhile the
// loop is blocked in various places, and we compare truth with our monitor,
// perf_hooks.monitorEventLoopDelay at 10 ms and 1 ms, and
// @datadog/native-metrics (median/p95 only), all measured in the same run.
//
// usage: node bench/lag-accuracy.mjs [--quick] [--rate 2000] [--seconds 4] [--only REGEX]
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import net from 'node:net'
import os from 'node:os'

const require = createRequire(import.meta.url)
const { lag } = require('@nodeperf/native')
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const QUICK = args.includes('--quick')
const RATE = opt('rate', 2000)
const SECONDS = opt('seconds', QUICK ? 2 : 4)
const sender = fileURLToPath(new URL('./probe_sender.py', import.meta.url))

let dd = null
try {
  dd = require('@datadog/native-metrics')
  dd.start()
} catch {
  dd = null
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

// ---- ground truth ----------------------------------------------------------
let truth = null
let onConnect = null
const probeServer = net.createServer((socket) => {
  socket.setNoDelay(true)
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    const now = process.hrtime.bigint()
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
    let off = 0
    for (; off + 8 <= pending.length; off += 8) {
      const sent = pending.readBigUInt64LE(off)
      if (truth) truth.push(Number(now - sent) / 1e6)
    }
    pending = pending.subarray(off)
  })
  if (onConnect) onConnect()
})
probeServer.listen(0, '127.0.0.1')
await once(probeServer, 'listening')
const probePort = probeServer.address().port

// ---- loads -------------------------------------------------------------------
// Each blocks B ms at a steady rate (40 % of the time), placed in one kind of
// callback; returns a function that stops it.
function everyGap(B, place) {
  let stopped = false
  const gap = Math.max(1, 1.5 * B)
  const next = () => {
    if (!stopped) setTimeout(() => place(run), gap)
  }
  const run = () => {
    busyWait(B)
    next()
  }
  next()
  return () => {
    stopped = true
  }
}
const loads = {
  timer: (B) => everyGap(B, (run) => run()),
  immediate: (B) => everyGap(B, (run) => setImmediate(run)),
  microtask: (B) => everyGap(B, (run) => Promise.resolve().then(() => Promise.resolve()).then(run)),
  socket: (B) => {
    // A socket pair inside this process: the block runs in the server
    // socket's 'data' callback, then the client writes again after the gap.
    let stopped = false
    let client = null
    const server = net.createServer((s) => {
      s.on('data', () => {
        busyWait(B)
        if (!stopped) setTimeout(() => !stopped && client.write('x'), Math.max(1, 1.5 * B))
      })
    })
    server.listen(0, '127.0.0.1', () => {
      client = net.connect(server.address().port, '127.0.0.1', () => client.write('x'))
      client.setNoDelay(true)
    })
    return () => {
      stopped = true
      if (client) client.destroy()
      server.close()
    }
  },
}

// ---- measuring ---------------------------------------------------------------
const eld10 = monitorEventLoopDelay({ resolution: 10 })
const eld1 = monitorEventLoopDelay({ resolution: 1 })
eld10.enable()
eld1.enable()

function pct(sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}
const eldStats = (h) => ({
  p50: h.percentile(50) / 1e6,
  p90: h.percentile(90) / 1e6,
  p99: h.percentile(99) / 1e6,
  max: h.max / 1e6,
})

async function measure(name, start) {
  const connected = new Promise((resolve) => {
    onConnect = resolve
  })
  const child = spawn('python3', [sender, String(probePort), String(RATE), String(SECONDS), '42'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await connected
  onConnect = null
  truth = []
  lag.reset()
  eld10.reset()
  eld1.reset()
  if (dd) dd.stats()
  const stop = start()
  await once(child, 'exit')
  stop()
  await sleep(20)
  const samples = truth
  truth = null
  const ours = lag.snapshot()
  const e10 = eldStats(eld10)
  const e1 = eldStats(eld1)
  const d = dd ? dd.stats().eventLoop : null
  samples.sort((a, b) => a - b)
  const t = {
    p50: pct(samples, 50),
    p90: pct(samples, 90),
    p99: pct(samples, 99),
    max: samples[samples.length - 1],
  }
  const o = { p50: ours.p50, p90: ours.p90, p99: ours.p99, max: ours.max }
  const ok = (k) => (k === 'max' ? Math.abs(o[k] - t[k]) <= 0.1 * t[k] : Math.abs(o[k] - t[k]) <= Math.max(0.1 * t[k], 0.1))
  const met = ['p50', 'p90', 'p99', 'max'].every(ok)
  return {
    name,
    n: samples.length,
    truth: t,
    ours: o,
    eld10: e10,
    eld1: e1,
    datadog: d ? { p50: d.median / 1e6, p95: d.p95 / 1e6, max: d.max / 1e6 } : null,
    met,
    misses: ['p50', 'p90', 'p99', 'max'].filter((k) => !ok(k)),
  }
}

const f = (x) => (x === undefined || Number.isNaN(x) ? '   -   ' : x < 10 ? x.toFixed(3) : x.toFixed(1)).padStart(7)
const row = (s) => (s ? `${f(s.p50)} ${f(s.p90)} ${f(s.p99)} ${f(s.max)}` : '')

const workloads = [['idle', () => () => {}]]
const sizes = QUICK ? [1, 20] : [0.2, 1, 5, 20, 200]
for (const B of sizes) {
  for (const where of ['timer', 'immediate', 'socket', 'microtask']) {
    workloads.push([`${where} ${B} ms`, () => loads[where](B)])
  }
}
workloads.push([
  'one 2 s stall',
  () => {
    const t = setTimeout(() => busyWait(2000), Math.max(200, (SECONDS * 1000 - 2000) / 2))
    return () => clearTimeout(t)
  },
])

const onlyIdx = args.indexOf('--only')
if (onlyIdx >= 0) {
  const re = new RegExp(args[onlyIdx + 1])
  for (let i = workloads.length - 1; i >= 0; i--) if (!re.test(workloads[i][0])) workloads.splice(i, 1)
}

console.log(`lag accuracy: Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0].model}`)
console.log(`probes: Poisson, ${RATE}/s, ${SECONDS} s per workload; values in ms (p50 p90 p99 max)`)
console.log(`datadog: ${dd ? 'median, p95, max' : 'not installed'}`)
console.log(
  `${'workload'.padEnd(18)} ${'n'.padStart(6)} | ${'truth'.padEnd(31)} | ${'ours'.padEnd(31)} | ${'ELD 10 ms'.padEnd(31)} | ${'ELD 1 ms'.padEnd(31)} | datadog p50 p95 max     | bar`,
)
const results = []
for (const [name, start] of workloads) {
  const r = await measure(name, start)
  results.push(r)
  const ddCols = r.datadog ? `${f(r.datadog.p50)} ${f(r.datadog.p95)} ${f(r.datadog.max)}` : ''
  console.log(
    `${name.padEnd(18)} ${String(r.n).padStart(6)} | ${row(r.truth)} | ${row(r.ours)} | ${row(r.eld10)} | ${row(r.eld1)} | ${ddCols.padEnd(23)} | ${r.met ? 'met' : 'MISSED ' + r.misses.join(',')}`,
  )
}
const metCount = results.filter((r) => r.met).length
console.log(`\nbar (ours within max(10%, 0.1 ms) of truth at p50/p90/p99, 10% at max): met in ${metCount} of ${results.length} workloads`)
probeServer.close()
eld10.disable()
eld1.disable()
if (dd) dd.stop()
