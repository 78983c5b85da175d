// What stall culprits cost an app with no stall: the same child process with
// `lag.configure({ culprits: true })` (V8's CPU profiler sampling at 10 ms,
// rotated) against `{ culprits: false }`, and a control of the off arm
// against itself (this machine's noise floor), alternating in one run.
//  1. a hello-world http server under autocannon (50 connections, in this
//     process): req/s;
//  2. microbenchmarks in fresh child processes: an `await` loop, a `.then`
//     chain, a throw/catch loop (`new Error`): ns per operation, the median
//     of ~10 ms batches of a fixed size (each batch its own busy period, a
//     `setImmediate` between them, so no stall is captured while timing).
// Each round runs every arm once, the order rotating from round to round;
// the ratio is taken per round (on ÷ off, off2 ÷ off) and its median shown.
// Bar: on keeps >= 98 % of the server's throughput, microbenchmarks within 2 %.
//
// usage: node bench/culprits-overhead.mjs [--rounds 7] [--http-seconds 5] [--micro-ms 1500]
//        [--sections http,micro] [--arms on,off,off2]
//   (diagnostic arms: `on+block`, culprits on with SIGPROF blocked in
//   libuv's poll, see bench/block-sigprof.c; `v8prof`, no culprits but a bare
//   inspector CPU profile at 10 ms)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'
import { machine, median, option } from './common.mjs'
import { blockSigprofLib } from './culprits-soak.mjs'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')
const here = path.dirname(fileURLToPath(import.meta.url))
const indexPath = path.join(here, '..', 'index.js')
const opt = option
const ROUNDS = Number(opt('rounds', 7))
const HTTP_S = Number(opt('http-seconds', 5))
const MICRO_MS = Number(opt('micro-ms', 1500))
const SECTIONS = opt('sections', 'http,micro').split(',')
const ARMS = opt('arms', 'on,off,off2').split(',')
const BASE = 'off'
// ops per batch, ~10 ms each on the dev machine
const BATCH = { await: 200_000, then: 200_000, throw: 5_000 }
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ')
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—')
const pctOf = (x) => `${(x * 100).toFixed(1)} %`

function child(arm, code) {
  const env = { ...process.env }
  if (arm === 'on+block') env.LD_PRELOAD = blockSigprofLib()
  const p = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'], env })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  return { p, done: once(p, 'exit').then(([c]) => (c === 0 ? out : Promise.reject(new Error(`child (${arm}) exited ${c}: ${out}`)))) }
}
const culpritsOf = (arm) => arm === 'on' || arm === 'on+block'
// Arm `v8prof`: no culprits, a bare inspector CPU profile at 10 ms instead
// (what V8's profiler costs by itself, without our rotation or attribution).
const v8profCode = (arm) =>
  arm === 'v8prof'
    ? `{ const s = new (require('node:inspector').Session)(); s.connect(); s.post('Profiler.enable'); s.post('Profiler.setSamplingInterval', { interval: 10000 }); s.post('Profiler.start'); globalThis.__keep = s }`
    : ''
const order = (r) => ARMS.map((_, i) => ARMS[(i + r) % ARMS.length])

function report(label, unit, values, higherIsBetter, digits) {
  console.log(`  ${label}`)
  for (const arm of ARMS) {
    console.log(`    ${arm.padEnd(9)} ${values[arm].map((x) => f(x, digits)).join(', ')} ${unit} (median ${f(median(values[arm]), digits)})`)
  }
  const out = {}
  for (const arm of ARMS) {
    if (arm === BASE) continue
    const per = values[arm].map((x, i) => x / values[BASE][i])
    out[arm] = { per, median: median(per), ofMedians: median(values[arm]) / median(values[BASE]) }
    console.log(
      `    ${arm} ÷ ${BASE} per round: ${per.map((x) => x.toFixed(3)).join(', ')}; median ${out[arm].median.toFixed(3)} (ratio of medians ${out[arm].ofMedians.toFixed(3)})`,
    )
  }
  return out
}

// ---- 1. http ----------------------------------------------------------------------
const serverCode = (arm) => `
  const { lag, recentStalls } = require(${JSON.stringify(indexPath)})
  lag.configure({ culprits: ${culpritsOf(arm)} })
  ${v8profCode(arm)}
  const server = require('node:http').createServer((req, res) => res.end('hello world'))
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
  process.stdin.on('data', () => {
    const s = lag.snapshot()
    console.log(JSON.stringify({ stalls: s.stalls, max: s.max, p99: s.p99, utilization: s.utilization, ring: ${culpritsOf(arm)} ? recentStalls().length : 0 }))
    process.exit(0)
  })`

async function httpRun(arm) {
  const c = child(arm, serverCode(arm))
  const [portData] = await once(c.p.stdout, 'data')
  const port = Number(String(portData).trim())
  let out = ''
  c.p.stdout.on('data', (d) => (out += d))
  const url = `http://127.0.0.1:${port}`
  await autocannon({ url, connections: 50, duration: 1 }) // warm-up, not counted
  const result = await autocannon({ url, connections: 50, duration: HTTP_S })
  c.p.stdin.write('report\n')
  await c.done
  const info = JSON.parse(out.trim().split('\n').at(-1))
  return { rps: result.requests.average, errors: result.errors + result.non2xx, info }
}

// ---- 2. microbenchmarks ------------------------------------------------------------
const microCode = (arm, kind) => `
  const { lag } = require(${JSON.stringify(indexPath)})
  lag.configure({ culprits: ${culpritsOf(arm)} })
  ${v8profCode(arm)}
  let sink = 0
  const inc = (x) => x + 1
  const kinds = {
    async await(n) { for (let i = 0; i < n; i++) sink ^= await i },
    async then(n) {
      let p = Promise.resolve(0)
      for (let i = 0; i < n; i++) p = p.then(inc)
      sink ^= await p
    },
    async throw(n) {
      for (let i = 0; i < n; i++) {
        try { throw new Error('x' + (i & 7)) } catch (e) { sink ^= e.message.length }
      }
    },
  }
  const op = kinds[${JSON.stringify(kind)}]
  const tick = () => new Promise((r) => setImmediate(r))
  ;(async () => {
    // The same batch size in every arm (~10 ms here); ~300 ms warm-up.
    const n = ${JSON.stringify(BATCH)}[${JSON.stringify(kind)}]
    let end = performance.now() + 300
    while (performance.now() < end) { await op(n); await tick() }
    const per = []
    end = performance.now() + ${MICRO_MS}
    while (performance.now() < end) {
      const t = process.hrtime.bigint(); await op(n); per.push(Number(process.hrtime.bigint() - t) / n)
      await tick()
    }
    per.sort((a, b) => a - b)
    console.log(JSON.stringify({ ns: per[per.length >> 1], batches: per.length, n, stalls: lag.snapshot().stalls, max: lag.max(), sink }))
  })()`

async function main() {
  console.log(`culprits overhead: ${machine()}; load ${load()}; ${new Date().toISOString()}`)
  console.log(`arms: ${ARMS.join(', ')} (off2: the off arm again, the control); ${ROUNDS} rounds, order rotating`)
  const results = {}
  if (SECTIONS.includes('http')) {
    console.log(`\n1. http hello world, autocannon 50 connections in this process, 1 s warm-up + ${HTTP_S} s per run`)
    const rps = Object.fromEntries(ARMS.map((a) => [a, []]))
    const infos = Object.fromEntries(ARMS.map((a) => [a, []]))
    for (let r = 0; r < ROUNDS; r++) {
      for (const arm of order(r)) {
        const x = await httpRun(arm)
        rps[arm].push(x.rps)
        infos[arm].push(x.info)
        if (x.errors) console.log(`    (${arm}: ${x.errors} errors)`)
      }
      console.log(`    round ${r + 1}: ${order(r).map((a) => `${a} ${f(rps[a].at(-1), 0)}`).join(', ')} req/s; load ${load()}`)
    }
    results.http = report('req/s', 'req/s', rps, true, 0)
    for (const arm of ARMS) {
      const i = infos[arm]
      console.log(`    ${arm}: server's own lag: stalls >= 100 ms ${i.map((x) => x.stalls).join(', ')}; max ${i.map((x) => f(x.max)).join(', ')} ms; culprits captured (ring) ${i.map((x) => x.ring).join(', ')}`)
    }
    for (const arm of ARMS) {
      if (!culpritsOf(arm)) continue
      const m = results.http[arm].median
      console.log(`  bar (${arm} >= 98 % of off): ${m >= 0.98 ? 'met' : 'NOT MET'} (${pctOf(m)}; control off2 ÷ off ${results.http.off2 ? pctOf(results.http.off2.median) : '—'})`)
    }
  }
  if (SECTIONS.includes('micro')) {
    for (const kind of ['await', 'then', 'throw']) {
      console.log(`\n2. ${kind}: fresh child per run, batches of ${BATCH[kind]} ops for ${MICRO_MS} ms after 300 ms warm-up, ns per op (median batch)`)
      const ns = Object.fromEntries(ARMS.map((a) => [a, []]))
      for (let r = 0; r < ROUNDS; r++) {
        for (const arm of order(r)) {
          const out = JSON.parse(await child(arm, microCode(arm, kind)).done)
          ns[arm].push(out.ns)
          if (out.stalls) console.log(`    (${arm}: ${out.stalls} stalls >= 100 ms while timing, max ${f(out.max)} ms)`)
        }
      }
      results[kind] = report(`${kind}: ns/op`, 'ns/op', ns, false, 1)
      for (const arm of ARMS) {
        if (!culpritsOf(arm)) continue
        const m = results[kind][arm].median
        const c = results[kind].off2?.median
        console.log(`  bar (${arm} within 2 % of off): ${Math.abs(m - 1) <= 0.02 ? 'met' : 'NOT MET'} (${((m - 1) * 100).toFixed(1)} %; control off2 ÷ off ${c ? ((c - 1) * 100).toFixed(1) + ' %' : '—'})`)
      }
    }
  }
  console.log(`\ndone ${new Date().toISOString()}; load ${load()}`)
}

await main()
