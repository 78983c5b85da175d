// bench/pool: issue 4's bars, ours against the anchors in one process run.
//   node bench/pool.mjs [runs=5] [sections=dispatch,sha1k,sha16m,blake3,neighbours]
// Prints one line per measurement and a summary table of medians and ratios.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { pool, createPool, hashSync } from '../index.mjs'
import { median, machine, longestStall, inFlight, allAtOnce, busy, fmt, twoThreadCapacity, idleStall, busyNeighbourStall } from './common.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const runs = Number(process.argv[2] ?? 5)
const sections = (process.argv[3] ?? 'dispatch,sha1k,sha16m,blake3,neighbours').split(',')
const threads = pool.threads
const rows = []
const record = (bar, what, values, unit, target) => {
  const m = median(values)
  rows.push({ bar, what, median: m, unit, runs: values.map((v) => +fmt(v, 3)), target })
  console.log(`${bar} ${what}: median ${fmt(m, 3)} ${unit} (runs ${values.map((v) => fmt(v, 3)).join(', ')})${target ? `  [bar: ${target}]` : ''}`)
  return m
}

console.log(`# bench/pool — ${machine()}; pool threads ${threads}; ${runs} runs each`)

for (const t of sections.includes('dispatch') ? [...new Set([threads, 2])] : []) {
  const N = 100_000
  const data = Buffer.from('0123456789abcdef')
  const piscina = new Piscina({ filename: path.join(here, 'piscina-worker.cjs'), minThreads: t, maxThreads: t })
  const mine = t === threads ? pool : createPool({ threads: t })
  const ours = () => mine.hash('xxh3', data, 'hex', { offload: 'always' })
  const theirs = () => piscina.run({ data })
  await inFlight(20_000, 64, ours) // warm-up
  await inFlight(20_000, 64, theirs)
  for (const [mode, runner] of [
    ['64 in flight', (make) => inFlight(N, 64, make)],
    ['all at once', (make) => allAtOnce(N, make)],
  ]) {
    const ratio = []
    const oursRate = []
    const theirRate = []
    const usPerTask = []
    const cpuPerTask = []
    const waitPerTask = []
    for (let r = 0; r < runs; r++) {
      const { result: msOurs, busyMs, cpuMs, runQueueMs } = await busy(() => runner(ours))
      if (cpuMs !== null) {
        cpuPerTask.push(cpuMs * 1000 / N)
        waitPerTask.push(runQueueMs * 1000 / N)
      }
      const msTheirs = await runner(theirs)
      oursRate.push(N / msOurs * 1000)
      theirRate.push(N / msTheirs * 1000)
      ratio.push(msTheirs / msOurs)
      usPerTask.push(busyMs * 1000 / N)
    }
    record('1', `${t} thread(s), xxh3 16 B × 100k, ${mode}: ours tasks/s`, oursRate, 'tasks/s')
    record('1', `${t} thread(s), xxh3 16 B × 100k, ${mode}: piscina tasks/s`, theirRate, 'tasks/s')
    record('1', `${t} thread(s), xxh3 16 B × 100k, ${mode}: ours ÷ piscina`, ratio, '×', '>= 10')
    record('1b', `${t} thread(s), xxh3 16 B × 100k, ${mode}: main-thread busy per task`, usPerTask, 'µs', '<= 1')
    if (cpuPerTask.length > 0) {
      // Where the OS tells: the main thread's own CPU time, and its wait
      // for a CPU, which ELU counts as busy (the pool's threads and V8's
      // GC helpers share this machine's cores with it).
      record('1b', `${t} thread(s), ${mode}: of it, the main thread's CPU time`, cpuPerTask, 'µs')
      record('1b', `${t} thread(s), ${mode}: the main thread's wait for a CPU`, waitPerTask, 'µs')
    }
  }
  await piscina.destroy()
  if (mine !== pool) await mine.close()
}

if (sections.includes('sha1k')) {
  const N = 100_000
  const data = crypto.randomBytes(1024)
  const ours = () => pool.hash('sha256', data, 'hex', { offload: 'always' })
  const subtle = () => crypto.subtle.digest('SHA-256', data)
  await inFlight(20_000, 64, ours)
  await inFlight(20_000, 64, subtle)
  const ratio = []
  const a = []
  const b = []
  for (let r = 0; r < runs; r++) {
    const msOurs = await inFlight(N, 64, ours)
    const msSubtle = await inFlight(N, 64, subtle)
    a.push((N / msOurs) * 1000)
    b.push((N / msSubtle) * 1000)
    ratio.push(msSubtle / msOurs)
  }
  record('2', 'SHA-256 1 KiB × 100k, 64 in flight: ours ops/s', a, 'ops/s')
  record('2', 'SHA-256 1 KiB × 100k, 64 in flight: crypto.subtle.digest ops/s', b, 'ops/s')
  record('2', 'SHA-256 1 KiB: ours ÷ crypto.subtle.digest', ratio, '×', '>= 4')
}

if (sections.includes('sha16m')) {
  const data = crypto.randomBytes(16 << 20)
  const one = createPool({ threads: 1 })
  const ratio = []
  const stalls = []
  const ours = []
  const create = []
  const idle = []
  const neighbour = []
  await one.hash('sha256', data)
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    crypto.createHash('sha256').update(data).digest('hex')
    const msCreate = performance.now() - t0
    // Throughput with the main thread idle (awaiting), as a service would
    // be; the stall is measured in a second run, because the monitor's
    // setImmediate spin takes a core (or its SMT sibling) from the pool.
    const t1 = performance.now()
    await one.hash('sha256', data)
    const msOurs = performance.now() - t1
    const { stallMs } = await longestStall(() => one.hash('sha256', data))
    create.push(16 / 1.048576 / msCreate * 1000)
    ours.push(16 / 1.048576 / msOurs * 1000)
    ratio.push(msCreate / msOurs)
    stalls.push(stallMs)
    idle.push(await idleStall(msOurs))
    neighbour.push(await busyNeighbourStall(msOurs))
  }
  record('3', 'SHA-256 16 MiB: crypto.createHash (main thread) MB/s', create, 'MB/s')
  record('3', 'SHA-256 16 MiB: ours, one pool thread MB/s', ours, 'MB/s')
  record('3', 'SHA-256 16 MiB: ours per pool thread ÷ createHash', ratio, '×', '>= 0.95')
  record('3', 'SHA-256 16 MiB: main thread longest stall during ours', stalls, 'ms', '<= 0.2')
  record('3', 'control: longest stall over the same time with nothing running', idle, 'ms')
  record('3', 'control: longest stall over the same time while another process busies a core', neighbour, 'ms')
  await one.close()
}

if (sections.includes('blake3')) {
  const data = crypto.randomBytes(256 << 20)
  const p1 = createPool({ threads: 1 })
  const p2 = createPool({ threads: 2 })
  const want = hashSync('blake3', data)
  const ratio = []
  const one = []
  const two = []
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now()
    if ((await p1.hash('blake3', data)) !== want) throw new Error('blake3 mismatch')
    const ms1 = performance.now() - t0
    t0 = performance.now()
    if ((await p2.hash('blake3', data)) !== want) throw new Error('blake3 mismatch')
    const ms2 = performance.now() - t0
    one.push(256 / 1.048576 / ms1 * 1000)
    two.push(256 / 1.048576 / ms2 * 1000)
    ratio.push(ms1 / ms2)
  }
  record('4', 'BLAKE3 256 MiB: single-threaded MB/s', one, 'MB/s')
  record('4', 'BLAKE3 256 MiB: pool of 2 threads MB/s', two, 'MB/s')
  record('4', 'BLAKE3 256 MiB: 2 threads ÷ 1', ratio, '×', '>= 1.8')
  record('4', 'control: two threads ÷ one on independent SHA-256 tasks (machine capacity now)', [await twoThreadCapacity(createPool, data.subarray(0, 64 << 20))], '×')
  await Promise.all([p1.close(), p2.close()])
}

if (sections.includes('neighbours')) {
  const file = path.join(os.tmpdir(), `nodeperf-bench-${process.pid}.bin`)
  fs.writeFileSync(file, crypto.randomBytes(256 * 1024))
  const readLatency = async (n) => {
    const xs = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await fs.promises.readFile(file)
      xs.push(performance.now() - t0)
    }
    return median(xs)
  }
  const saturate = (make, width) => {
    let on = true
    const loop = () => (on ? make().then(loop) : undefined)
    const all = Array.from({ length: width }, loop)
    return async () => {
      on = false
      await Promise.all(all)
    }
  }
  const chunk = crypto.randomBytes(1 << 20)
  const base = []
  const withOurs = []
  const withSubtle = []
  await readLatency(50)
  for (let r = 0; r < runs; r++) {
    base.push(await readLatency(200))
    let stop = saturate(() => pool.hash('sha256', chunk), threads * 4)
    withOurs.push(await readLatency(200))
    await stop()
    stop = saturate(() => crypto.subtle.digest('SHA-256', chunk), 64)
    withSubtle.push(await readLatency(200))
    await stop()
  }
  fs.unlinkSync(file)
  const b = record('5', 'fs.readFile 256 KiB latency, idle', base, 'ms')
  const o = record('5', 'fs.readFile latency, our pool saturated with SHA-256', withOurs, 'ms')
  const s = record('5', 'fs.readFile latency, crypto.subtle.digest saturating libuv', withSubtle, 'ms')
  record('5', 'readFile latency with our pool busy ÷ idle', withOurs.map((x, i) => x / base[i]), '×', '<= 1.2')
  record('5', 'readFile latency with subtle.digest busy ÷ idle', withSubtle.map((x, i) => x / base[i]), '×')
  void b, o, s
}

console.log('\n| bar | measurement | median | unit | bar |\n| --- | --- | --- | --- | --- |')
for (const r of rows) console.log(`| ${r.bar} | ${r.what} | ${fmt(r.median, 3)} | ${r.unit} | ${r.target ?? ''} |`)
process.exit(0)
