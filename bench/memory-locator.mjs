// The leak locator (memory.startLeakLocator): does it find the leak, and
// what does it cost the app?
//  1. rank: a workload with one leaking allocation site among twelve that
//     allocate as much or more and keep nothing or a bounded cache
//     (__test__/fixtures/leak-workload.cjs), in fresh child processes; the
//     leak's rank after reads 1, 2 and 3 (`--steps` workload steps before
//     each). Bar: it ranks first within 3 reads in >= 9 of 10 runs.
//  2. http: a hello-world http server under autocannon (50 connections, in
//     this process) with the locator on (sampling, no reads) against off,
//     and the off arm against itself (the control: this machine's noise
//     floor), one child per run, the order rotating from round to round;
//     ratio per round, median. Bar: on keeps >= 97 % of off's req/s.
//  3. read: the main-thread time of one read() (median of 5) with heaps of
//     a few sizes built while sampling, and the process's CPU at rest with
//     the sampler on against off.
//  4. alloc: the sampler's cost on allocation-heavy JavaScript measured in
//     one process, windows of `--window-ms` with the sampler off and on
//     alternating (`--pairs` of them), so the other tenants' load falls on
//     both arms alike: ns per op (an op allocates what a small request
//     handler does: an object, a string, an array), ratio per pair, median;
//     and the same with off/off pairs (the control).
//
// usage: node bench/memory-locator.mjs [--sections rank,http,read,alloc] [--runs 10] [--steps 200]
//        [--rounds 5] [--http-seconds 5] [--heaps 25,100,200] [--interval 32768]
//        [--pairs 30] [--window-ms 100]
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'
import { machine, median, option } from './common.mjs'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')
const here = path.dirname(fileURLToPath(import.meta.url))
const indexPath = path.join(here, '..', 'index.js')
const workloadPath = path.join(here, '..', '__test__', 'fixtures', 'leak-workload.cjs')
const SECTIONS = option('sections', 'rank,http,read,alloc').split(',')
const PAIRS = Number(option('pairs', 30))
const WINDOW_MS = Number(option('window-ms', 100))
const RUNS = Number(option('runs', 10))
const STEPS = Number(option('steps', 200))
const ROUNDS = Number(option('rounds', 5))
const HTTP_S = Number(option('http-seconds', 5))
const HEAPS = option('heaps', '25,100,200').split(',').map(Number)
const INTERVAL = Number(option('interval', 32768))
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ')
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—')

function child(code, stdin = false) {
  const p = spawn(process.execPath, ['-e', code], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  return { p, done: once(p, 'exit').then(([c]) => (c === 0 ? out : Promise.reject(new Error(`child exited ${c}: ${out}`)))) }
}

// ---- 1. rank ----------------------------------------------------------------------
const rankCode = `
  const { memory } = require(${JSON.stringify(indexPath)})
  const workload = require(${JSON.stringify(workloadPath)})
  const locator = memory.startLeakLocator({ samplingIntervalBytes: ${INTERVAL} })
  const turn = () => new Promise((r) => setImmediate(r))
  ;(async () => {
    const reads = []
    for (let read = 1; read <= 3; read++) {
      for (let i = 0; i < ${STEPS}; i++) { workload.step(); if (i % 20 === 0) await turn() }
      const t0 = performance.now()
      const { sites, totalLiveBytes } = await locator.read()
      const ms = performance.now() - t0
      const i = sites.findIndex((s) => s.functionName === workload.LEAK)
      const top = sites[0] ? sites[0].functionName + ' +' + (sites[0].growthBytes / 1024).toFixed(0) + ' KiB' : '—'
      reads.push({ rank: i < 0 ? null : i + 1, top, ms, totalLiveBytes })
    }
    locator.stop()
    console.log(JSON.stringify(reads))
  })()`

async function rank() {
  console.log(`\n1. rank: ${RUNS} child processes; ${STEPS} workload steps before each read; samplingIntervalBytes ${INTERVAL}`)
  console.log('| run | rank after read 1 | read 2 | read 3 | top site at read 3 | read ms (1/2/3) |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  let found = 0
  for (let run = 1; run <= RUNS; run++) {
    const reads = JSON.parse(await child(rankCode).done)
    if (reads.some((r) => r.rank === 1)) found++
    console.log(`| ${run} | ${reads.map((r) => r.rank ?? '—').join(' | ')} | ${reads[2].top} | ${reads.map((r) => f(r.ms)).join(' / ')} |`)
  }
  console.log(`  bar (ranks first within 3 reads in >= 9 of 10 runs): ${found >= Math.ceil(RUNS * 0.9) ? 'met' : 'NOT MET'} (${found} of ${RUNS})`)
}

// ---- 2. http ----------------------------------------------------------------------
const ARMS = ['on', 'off', 'off2']
const serverCode = (arm) => `
  const { memory } = require(${JSON.stringify(indexPath)})
  const locator = ${arm === 'on'} ? memory.startLeakLocator({ samplingIntervalBytes: ${INTERVAL} }) : null
  let requests = 0
  const server = require('node:http').createServer((req, res) => { requests++; res.end('hello world') })
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
  const cpu0 = process.cpuUsage()
  process.stdin.on('data', async () => {
    const cpu = process.cpuUsage(cpu0)
    const sites = locator ? (await locator.read()).sites.length : 0
    console.log(JSON.stringify({ sites, requests, cpuUs: cpu.user + cpu.system }))
    process.exit(0)
  })`

async function httpRun(arm) {
  const c = child(serverCode(arm), true)
  const [portData] = await once(c.p.stdout, 'data')
  const url = `http://127.0.0.1:${Number(String(portData).trim())}`
  await autocannon({ url, connections: 50, duration: 1 }) // warm-up, not counted
  const result = await autocannon({ url, connections: 50, duration: HTTP_S })
  c.p.stdin.write('report\n')
  const info = JSON.parse((await c.done).trim().split('\n').at(-1))
  // CPU per request: less moved by the other tenants' load than req/s is.
  return { rps: result.requests.average, cpuUsPerReq: info.cpuUs / info.requests }
}

async function http() {
  console.log(`\n2. http hello world, autocannon 50 connections in this process, 1 s warm-up + ${HTTP_S} s per run; ${ROUNDS} rounds, order rotating`)
  const rps = Object.fromEntries(ARMS.map((a) => [a, []]))
  const cpu = Object.fromEntries(ARMS.map((a) => [a, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = ARMS.map((_, i) => ARMS[(i + r) % ARMS.length])
    for (const arm of order) {
      const x = await httpRun(arm)
      rps[arm].push(x.rps)
      cpu[arm].push(x.cpuUsPerReq)
    }
    console.log(`    round ${r + 1}: ${order.map((a) => `${a} ${f(rps[a].at(-1), 0)}`).join(', ')} req/s; load ${load()}`)
  }
  console.log('| round | on req/s | off req/s | off2 req/s | on ÷ off | off2 ÷ off (control) | CPU µs/req on | off | off2 |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (let r = 0; r < ROUNDS; r++) {
    console.log(
      `| ${r + 1} | ${f(rps.on[r], 0)} | ${f(rps.off[r], 0)} | ${f(rps.off2[r], 0)} | ${f(rps.on[r] / rps.off[r], 3)} | ${f(rps.off2[r] / rps.off[r], 3)} | ${f(cpu.on[r])} | ${f(cpu.off[r])} | ${f(cpu.off2[r])} |`,
    )
  }
  const on = median(rps.on.map((x, i) => x / rps.off[i]))
  const control = median(rps.off2.map((x, i) => x / rps.off[i]))
  console.log(
    `| median | ${f(median(rps.on), 0)} | ${f(median(rps.off), 0)} | ${f(median(rps.off2), 0)} | ${f(on, 3)} | ${f(control, 3)} | ${f(median(cpu.on))} | ${f(median(cpu.off))} | ${f(median(cpu.off2))} |`,
  )
  const cpuOn = median(cpu.on.map((x, i) => x / cpu.off[i]))
  const cpuControl = median(cpu.off2.map((x, i) => x / cpu.off[i]))
  console.log(`  CPU per request, on ÷ off per round, median: ${f(cpuOn, 3)} (control off2 ÷ off ${f(cpuControl, 3)})`)
  console.log(`  bar (on >= 97 % of off): ${on >= 0.97 ? 'met' : 'NOT MET'} (${f(on * 100)} %; control off2 ÷ off ${f(control * 100)} %, spread of the control ${f(Math.min(...rps.off2.map((x, i) => x / rps.off[i])) * 100)}–${f(Math.max(...rps.off2.map((x, i) => x / rps.off[i])) * 100)} %)`)
}

// ---- 3. read ----------------------------------------------------------------------
// A heap of about `mb` MiB built while the sampler runs: records kept from
// the workload's twelve sites plus a retained array from a thirteenth, so
// the profile has the sites an app has and the samples its heap has.
const readCode = (mb, arm) => `
  const v8 = require('node:v8')
  const { memory } = require(${JSON.stringify(indexPath)})
  const workload = require(${JSON.stringify(workloadPath)})
  const locator = ${arm === 'on'} ? memory.startLeakLocator({ samplingIntervalBytes: ${INTERVAL} }) : null
  const kept = []
  function bulk() { for (let i = 0; i < 1000; i++) kept.push({ id: i, name: 'bulk-' + i, tags: [i, i + 1] }) }
  while (v8.getHeapStatistics().used_heap_size < ${mb} * 2 ** 20) { workload.step(); bulk() }
  const heapMiB = v8.getHeapStatistics().used_heap_size / 2 ** 20
  const idle = (ticks) => new Promise((resolve) => { let n = 0; const t = setInterval(() => { if (++n === ticks) { clearInterval(t); resolve() } }, 10) })
  ;(async () => {
    // At rest, before any read (a read's forced GC leaves concurrent GC
    // work behind): 1 s to settle, then 3 s of an idle loop with a 10 ms
    // timer, CPU used.
    await idle(100)
    const cpu0 = process.cpuUsage()
    await idle(300)
    const cpu = process.cpuUsage(cpu0)
    const ms = []
    let sites = 0, live = 0
    if (locator) {
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now()
        const r = await locator.read()
        ms.push(performance.now() - t0)
        sites = r.sites.length; live = r.totalLiveBytes
      }
    }
    ms.sort((a, b) => a - b)
    console.log(JSON.stringify({ heapMiB, ms, sites, live, restCpuMs: (cpu.user + cpu.system) / 1000 }))
    if (locator) locator.stop()
  })()`

async function read() {
  console.log(`\n3. read(): main-thread time (5 reads, each since the previous), heap built while sampling at ${INTERVAL} bytes; before them, 3 s of an idle loop (10 ms timer): CPU, sampler on vs off`)
  console.log('| heap used MiB | read ms (min / median / max) | sampled live MiB | idle CPU ms in 3 s, on | off |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const mb of HEAPS) {
    const on = JSON.parse(await child(readCode(mb, 'on')).done)
    const off = JSON.parse(await child(readCode(mb, 'off')).done)
    console.log(`| ${f(on.heapMiB)} | ${f(on.ms[0])} / ${f(median(on.ms))} / ${f(on.ms.at(-1))} | ${f(on.live / 2 ** 20)} | ${f(on.restCpuMs)} | ${f(off.restCpuMs)} |`)
  }
}

// ---- 4. alloc ---------------------------------------------------------------------
const allocCode = `
  const { memory } = require(${JSON.stringify(indexPath)})
  let sink = 0
  function handle(i) {
    const req = { url: '/item/' + i, headers: { host: 'example', 'x-id': String(i) }, parts: [i, i + 1, i + 2] }
    const body = JSON.stringify({ ok: true, id: req.headers['x-id'] })
    sink += body.length + req.parts.length
  }
  function window(ms) {
    const end = performance.now() + ms
    let n = 0
    const t0 = process.hrtime.bigint()
    while (performance.now() < end) { for (let i = 0; i < 1000; i++) handle(i); n += 1000 }
    return Number(process.hrtime.bigint() - t0) / n
  }
  const tick = () => new Promise((r) => setImmediate(r))
  ;(async () => {
    window(300) // warm-up
    const out = { on: [], off: [], offA: [], offB: [] }
    for (let p = 0; p < ${PAIRS}; p++) {
      // The order alternates within pairs.
      const first = p % 2 === 0
      for (const arm of first ? ['off', 'on'] : ['on', 'off']) {
        const locator = arm === 'on' ? memory.startLeakLocator({ samplingIntervalBytes: ${INTERVAL} }) : null
        await tick()
        out[arm].push(window(${WINDOW_MS}))
        if (locator) locator.stop()
        await tick()
      }
      out.offA.push(window(${WINDOW_MS}))
      await tick()
      out.offB.push(window(${WINDOW_MS}))
      await tick()
    }
    console.log(JSON.stringify({ ...out, sink }))
  })()`

async function alloc() {
  console.log(`\n4. alloc: one process, ${PAIRS} pairs of ${WINDOW_MS} ms windows, sampler off/on alternating (then an off/off control pair), ns per op`)
  const out = JSON.parse(await child(allocCode).done)
  const ratio = median(out.on.map((x, i) => x / out.off[i]))
  const control = median(out.offB.map((x, i) => x / out.offA[i]))
  console.log('| | ns/op on | off | on ÷ off per pair, median | control off ÷ off, median |')
  console.log('| --- | --- | --- | --- | --- |')
  console.log(`| medians | ${f(median(out.on))} | ${f(median(out.off))} | ${f(ratio, 3)} | ${f(control, 3)} |`)
  console.log(`  cost of sampling at ${INTERVAL} bytes on allocation-heavy code: ${f((ratio - 1) * 100)} % (control ${f((control - 1) * 100)} %)`)
}

console.log(`memory locator: ${machine()}; load ${load()}; ${new Date().toISOString()}`)
if (SECTIONS.includes('rank')) await rank()
if (SECTIONS.includes('http')) await http()
if (SECTIONS.includes('read')) await read()
if (SECTIONS.includes('alloc')) await alloc()
console.log(`\ndone ${new Date().toISOString()}; load ${load()}`)
