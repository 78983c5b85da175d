// The leak rule (memory.onLeakSuspected) against node-memwatch's (a 'leak'
// after 5 consecutive major GCs of growth), on the same exact
// heap-after-major-GC points, in workloads that run in child processes with
// no forced gc(): stable, a bounded cache that fills then evicts, a heap that
// grows once early (a step) and a 1 MB/min leak starting after a stable
// phase (bench/memory-leak-workload.cjs).
//
// Per workload and run: major GCs, firings of each rule where there is no
// leak (false positives), major GCs from the leak's start until each rule
// flags it, whether the live onLeakSuspected agreed with the offline rule,
// and how far a PerformanceObserver reading v8.getHeapStatistics() in its
// callback over-reads the exact numbers (v8.GCProfiler).
//
// usage: node bench/memory-leak-rule.mjs [--runs 3] [--gcs 35] [--leak-after 20] [--parallel 2]
//   NODEPERF_BENCH_SAVE=file.json also writes every run's points there;
//   NODEPERF_BENCH_ONLY=step,leak runs only those workloads.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import { machine, option } from './common.mjs'

const require = createRequire(import.meta.url)
const { memory } = require('@nodeperf/native')
const { leakRule, LEAK_DEFAULTS } = memory[Symbol.for('nodeperf.memoryGcHelper')]()

const RUNS = Number(option('runs', 3))
const GCS = Number(option('gcs', 35))
const LEAK_AFTER = Number(option('leak-after', 20))
const PARALLEL = Number(option('parallel', 2))
const WORKLOAD = fileURLToPath(new URL('./memory-leak-workload.cjs', import.meta.url))
const FLAGS = ['--max-semi-space-size=1']

async function runWorkload(kind) {
  const p = spawn(process.execPath, [...FLAGS, WORKLOAD, kind, String(GCS), String(LEAK_AFTER)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  await once(p, 'exit')
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  return { kind, points: lines.filter((l) => l.i !== undefined), fired: lines.filter((l) => l.fired !== undefined).map((l) => l.fired) }
}

/** Indices (1-based major GC) where each rule starts to hold. */
function ours(points) {
  const at = []
  let on = false
  for (let i = 1; i <= points.length; i++) {
    const v = leakRule(points.slice(0, i), LEAK_DEFAULTS).suspected
    if (v && !on) at.push(i)
    on = v
  }
  return at
}
/** node-memwatch: 'leak' after 5 consecutive major GCs each above the last (then counting anew). */
function memwatch(points) {
  const at = []
  let growing = 0
  for (let i = 1; i < points.length; i++) {
    growing = points[i].heapUsed > points[i - 1].heapUsed ? growing + 1 : 0
    if (growing >= 5) {
      at.push(i + 1)
      growing = 0
    }
  }
  return at
}

function summarise(r) {
  const leakFrom = r.kind === 'leak' ? LEAK_AFTER : Infinity
  const o = ours(r.points)
  const m = memwatch(r.points)
  const fp = (xs) => xs.filter((i) => i <= leakFrom).length
  const after = (xs) => {
    const i = xs.find((x) => x > leakFrom)
    return i === undefined ? 'missed' : i - leakFrom
  }
  const over = r.points.filter((p) => p.observerRead !== null).map((p) => p.observerRead / p.heapUsed)
  const interval = r.points.length > 1 ? (r.points.at(-1).at - r.points[0].at) / (r.points.length - 1) / 1000 : NaN
  return {
    kind: r.kind,
    gcs: r.points.length,
    interval,
    oursFp: fp(o),
    memwatchFp: fp(m),
    oursAfter: r.kind === 'leak' ? after(o) : '-',
    memwatchAfter: r.kind === 'leak' ? after(m) : '-',
    live: r.kind === 'leak' ? (r.fired.find((i) => i > leakFrom) ?? 'missed') : r.fired.length,
    liveAgrees: JSON.stringify(r.fired) === JSON.stringify(o),
    overRead: over.length ? Math.max(...over) : NaN,
  }
}

console.log(`leak rule: ${machine()} (2 shared, noisy cores)`)
console.log(`workloads: ${FLAGS.join(' ')}, ${GCS} major GCs each, leak of 1 MB/min from major GC ${LEAK_AFTER}; ${RUNS} runs, ${PARALLEL} workloads at a time`)
console.log(`rule: ${JSON.stringify(LEAK_DEFAULTS)}\n`)
const kinds = process.env.NODEPERF_BENCH_ONLY ? process.env.NODEPERF_BENCH_ONLY.split(',') : ['stable', 'cache', 'step', 'leak']
const rows = []
const saved = []
for (let run = 1; run <= RUNS; run++) {
  for (let i = 0; i < kinds.length; i += PARALLEL) {
    const batch = await Promise.all(kinds.slice(i, i + PARALLEL).map(runWorkload))
    for (const r of batch) {
      saved.push({ run, kind: r.kind, points: r.points, fired: r.fired })
      const s = { run, ...summarise(r) }
      rows.push(s)
      console.log(
        `run ${run} ${s.kind.padEnd(7)} major GCs ${String(s.gcs).padStart(3)} (every ${s.interval.toFixed(2)} s)` +
          `  false positives: ours ${s.oursFp}, memwatch ${s.memwatchFp}` +
          `  GCs after leak start until flagged: ours ${s.oursAfter}, memwatch ${s.memwatchAfter}` +
          `  live onLeakSuspected ${s.liveAgrees ? 'agrees' : `DIFFERS (${s.live})`}  observer over-read max ${s.overRead.toFixed(3)}x`,
      )
    }
  }
}
if (process.env.NODEPERF_BENCH_SAVE) fs.writeFileSync(process.env.NODEPERF_BENCH_SAVE, JSON.stringify(saved))
const nonLeak = rows.filter((r) => r.kind !== 'leak')
const leaks = rows.filter((r) => r.kind === 'leak')
const fpOurs = rows.reduce((n, r) => n + r.oursFp, 0)
const fpMw = rows.reduce((n, r) => n + r.memwatchFp, 0)
const enoughGcs = nonLeak.every((r) => r.gcs >= 30)
const caught = leaks.every((r) => typeof r.oursAfter === 'number' && r.oursAfter <= 10)
console.log(`\n| workload | runs | major GCs (each) | false positives: ours | memwatch | GCs after leak start until flagged: ours | memwatch |`)
console.log(`|---|---|---|---|---|---|---|`)
for (const k of kinds) {
  const rs = rows.filter((r) => r.kind === k)
  console.log(
    `| ${k} | ${rs.length} | ${rs.map((r) => r.gcs).join(', ')} | ${rs.map((r) => r.oursFp).join(', ')} | ${rs.map((r) => r.memwatchFp).join(', ')} | ${rs.map((r) => r.oursAfter).join(', ')} | ${rs.map((r) => r.memwatchAfter).join(', ')} |`,
  )
}
console.log(`\nfalse positives in all: ours ${fpOurs}, memwatch ${fpMw}`)
console.log(`bar (0 false positives over >= 30 major GCs on each non-leak workload): ${fpOurs === 0 && enoughGcs ? 'met' : 'MISSED'}`)
console.log(`bar (leak flagged within 10 major GCs of its start): ${caught ? 'met' : 'MISSED'}`)
