// What GC metrics cost (memory.startGcStats(): a PerformanceObserver('gc')
// and a v8.GCProfiler rotated at each major GC and every 5 s): a hello-world
// http server's throughput under autocannon with them on vs off, in
// interleaved rounds (each round: off, on and a second off in rotating
// order, each in a fresh child process). The off/off ratio is the A/A
// control: the machine's own noise floor in the same run.
//
// Second, what each GC costs the main thread, which the http ratio cannot
// resolve on a noisy machine: allocation churn that runs ~300 scavenges, with
// GC metrics off, on, and on with a stall listener (which adds the pause
// observer) in rotating rounds in one process, the main thread's own CPU
// time (/proc/thread-self/schedstat) per scavenge.
//
// usage: node bench/memory-gc-overhead.mjs [--pairs 5] [--seconds 5] [--connections 50] [--micro-rounds 10]
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { busy, machine, median, option } from './common.mjs'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')
const PAIRS = Number(option('pairs', 5))
const SECONDS = Number(option('seconds', 5))
const CONNECTIONS = Number(option('connections', 50))
const MICRO_ROUNDS = Number(option('micro-rounds', 10))

const serverCode = (on) => `
  const { memory, lag } = require('@nodeperf/native')
  if (${on}) memory.startGcStats()
  const server = require('node:http').createServer((req, res) => res.end('hello world'))
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
  process.on('SIGTERM', () => {
    const s = memory.gcStats()
    console.log(JSON.stringify({ scavenges: s.pauses.scavenge.count, majors: s.pauses.mark_compact.count }))
    process.exit(0)
  })`

async function round(on) {
  const p = spawn(process.execPath, ['-e', serverCode(on)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  while (!out.includes('\n')) await once(p.stdout, 'data')
  const port = Number(out.split('\n')[0])
  const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, duration: SECONDS })
  p.kill('SIGTERM')
  await once(p, 'exit')
  const gcs = JSON.parse(out.trim().split('\n').at(-1))
  return { rps: r.requests.average, gcs }
}

console.log(`GC metrics overhead: ${machine()} (2 shared, noisy cores)`)
console.log(`http hello world, autocannon ${CONNECTIONS} connections, ${SECONDS} s a round, ${PAIRS} rounds of off / on / off (order rotating)\n`)
const orders = [['off', 'on', 'off2'], ['on', 'off2', 'off'], ['off2', 'off', 'on']]
const rps = { off: [], on: [], off2: [] }
let seen = null
for (let i = 0; i < PAIRS; i++) {
  for (const mode of orders[i % orders.length]) {
    const r = await round(mode === 'on')
    rps[mode].push(r.rps)
    if (mode === 'on') seen = r.gcs
  }
  console.log(`round ${i + 1}: off ${rps.off[i].toFixed(0)}  on ${rps.on[i].toFixed(0)}  off (A/A) ${rps.off2[i].toFixed(0)} req/s`)
}
const ratios = rps.on.map((x, i) => x / rps.off[i])
const aa = rps.off2.map((x, i) => x / rps.off[i])
const ratio = median(ratios)
const noise = median(aa.map((x) => Math.abs(1 - x)))
console.log(`\n| | req/s (median) | per-round ratio to off (median) |`)
console.log(`|---|---|---|`)
console.log(`| GC metrics off | ${median(rps.off).toFixed(0)} | 1 |`)
console.log(`| GC metrics on | ${median(rps.on).toFixed(0)} | ${(ratio * 100).toFixed(1)}% (rounds: ${ratios.map((x) => (x * 100).toFixed(1)).join(', ')}) |`)
console.log(`| off again (A/A control) | ${median(rps.off2).toFixed(0)} | ${(median(aa) * 100).toFixed(1)}% (rounds: ${aa.map((x) => (x * 100).toFixed(1)).join(', ')}) |`)
console.log(`\nGCs in the last 'on' round: ${seen.scavenges} scavenges, ${seen.majors} major`)
console.log(`A/A noise floor (median |1 - off/off|): ${(noise * 100).toFixed(1)}%`)
console.log(`bar (on >= 98% of off): ${ratio >= 0.98 ? 'met' : 'MISSED'} (${(ratio * 100).toFixed(1)}%)${noise > 0.02 ? ' — the A/A control moves by more than 2% on this machine' : ''}`)

// ---- per GC: main-thread CPU time, in one process -------------------------------
const { memory, lag } = require('@nodeperf/native')
async function churn() {
  // Short-lived objects only (scavenges, no major GC); yields so the
  // observer's callbacks and profiler rotations run inside the measurement.
  let sink = null
  for (let batch = 0; batch < 300; batch++) {
    for (let i = 0; i < 20_000; i++) sink = { i, s: [i, i + 1] }
    await new Promise((resolve) => setImmediate(resolve))
  }
  return sink
}
await churn()
// 'watch': GC metrics on and a stall listener, which adds the pause observer.
const cpu = { off: [], on: [], watch: [] }
const MODES = ['off', 'on', 'watch']
let scavenges = 0
for (let r = 0; r < MICRO_ROUNDS; r++) {
  for (const mode of MODES.map((_, k) => MODES[(k + r) % 3])) {
    let off = null
    if (mode !== 'off') memory.startGcStats()
    if (mode === 'watch') off = lag.onStall(3_600_000, () => {})
    const before = memory.gcStats().pauses.scavenge.count
    const { cpuMs } = await busy(churn)
    if (mode !== 'off') {
      scavenges = memory.gcStats().pauses.scavenge.count - before
      if (off) off()
      memory.stopGcStats()
    }
    cpu[mode].push(cpuMs)
  }
}
const added = median(cpu.on) - median(cpu.off)
console.log(`\nper GC, main-thread CPU time: ${MICRO_ROUNDS} alternating rounds of churn (${scavenges} scavenges a round)`)
console.log(`| | CPU ms a round (median) |`)
console.log(`|---|---|`)
console.log(`| GC metrics off | ${median(cpu.off).toFixed(1)} |`)
console.log(`| GC metrics on | ${median(cpu.on).toFixed(1)} |`)
console.log(`| GC metrics on, and a stall listener (pause observer) | ${median(cpu.watch).toFixed(1)} |`)
const perGc = (ms) => `${ms.toFixed(2)} ms a round, ${((ms * 1000) / Math.max(1, scavenges)).toFixed(1)} µs per scavenge (${((ms / median(cpu.off)) * 100).toFixed(1)}% of the round)`
console.log(`added, on: ${perGc(added)}`)
console.log(`added, on with a stall listener: ${perGc(median(cpu.watch) - median(cpu.off))}`)
console.log(`(the off rounds' own spread: ${Math.min(...cpu.off).toFixed(1)}–${Math.max(...cpu.off).toFixed(1)} ms)`)
