// bench/shared: issue 5's bars 1 and 2, in one process run.
//   node bench/shared.mjs [runs=3] [GiB=1]
import crypto from 'node:crypto'
import { createPool, hashSync, shared } from '../index.mjs'
import { median, machine, fmt, twoThreadCapacity, idleStall, busyNeighbourStall } from './common.mjs'

const runs = Number(process.argv[2] ?? 3)
const size = Math.round(Number(process.argv[3] ?? 1) * 2 ** 30)
const rows = []
const record = (bar, what, values, unit, target) => {
  const m = median(values)
  rows.push({ bar, what, median: m, unit, target })
  console.log(`${bar} ${what}: median ${fmt(m, 3)} ${unit} (runs ${values.map((v) => fmt(v, 3)).join(', ')})${target ? `  [bar: ${target}]` : ''}`)
}
console.log(`# bench/shared — ${machine()}; ${(size / 2 ** 30).toFixed(2)} GiB SharedArrayBuffer; ${runs} runs each`)

const data = shared.alloc(size)
const seed = crypto.randomBytes(1 << 20)
for (let off = 0; off < size; off += seed.length) data.set(seed.subarray(0, Math.min(seed.length, size - off)), off)

/** Runs fn while a setImmediate chain records the longest loop gap and the peak RSS. */
async function watchLoop(fn) {
  let max = 0
  let peak = 0
  let on = true
  let n = 0
  await new Promise((r) => setTimeout(r, 5))
  const rss0 = process.memoryUsage.rss()
  let last = performance.now()
  const tick = () => {
    const now = performance.now()
    if (now - last > max) max = now - last
    if (++n % 256 === 0) peak = Math.max(peak, process.memoryUsage.rss())
    last = performance.now()
    if (on) setImmediate(tick)
  }
  setImmediate(tick)
  const t0 = performance.now()
  const result = await fn()
  const ms = performance.now() - t0
  on = false
  peak = Math.max(peak, process.memoryUsage.rss())
  return { result, ms, stallMs: max, rssGrowthMiB: (peak - rss0) / 2 ** 20 }
}

{
  const one = createPool({ threads: 1 })
  const want = crypto.createHash('sha256').update(data).digest('hex')
  const stalls = []
  const idle = []
  const neighbour = []
  const growth = []
  const speed = []
  for (let r = 0; r < runs; r++) {
    const { result, ms, stallMs, rssGrowthMiB } = await watchLoop(() => one.hash('sha256', data))
    if (result !== want) throw new Error('sha256 of the whole buffer differs from node:crypto')
    stalls.push(stallMs)
    growth.push(rssGrowthMiB)
    speed.push(size / 2 ** 20 / ms * 1000)
    idle.push(await idleStall(ms))
    neighbour.push(await busyNeighbourStall(ms))
  }
  record('1', 'SHA-256 of the whole SharedArrayBuffer view: MiB/s', speed, 'MiB/s')
  record('1', 'main thread longest stall during it', stalls, 'ms', '<= 0.2')
  record('1', 'control: longest stall over the same time with nothing running', idle, 'ms')
  record('1', 'control: longest stall over the same time while another process busies a core', neighbour, 'ms')
  record('1', 'RSS growth during it', growth, 'MiB', '< 16')
  await one.close()
}

record('2', 'control: two threads ÷ one on independent whole-buffer SHA-256 (machine capacity now)', [await twoThreadCapacity(createPool, data.subarray(0, 256 << 20))], '×')

for (const alg of ['blake3', 'sha256']) {
  const chunk = 64 * 1024
  const n = Math.ceil(size / chunk)
  const p1 = createPool({ threads: 1 })
  const p2 = createPool({ threads: 2 })
  const out1 = shared.alloc(n * 32)
  const out2 = shared.alloc(n * 32)
  const ratio = []
  const s1 = []
  const s2 = []
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now()
    if ((await p1.run({ op: 'hash', algorithm: alg, data, chunkSize: chunk, out: out1 })) !== n) throw new Error('count')
    const ms1 = performance.now() - t0
    t0 = performance.now()
    if ((await p2.run({ op: 'hash', algorithm: alg, data, chunkSize: chunk, out: out2 })) !== n) throw new Error('count')
    const ms2 = performance.now() - t0
    s1.push(size / 2 ** 20 / ms1 * 1000)
    s2.push(size / 2 ** 20 / ms2 * 1000)
    ratio.push(ms1 / ms2)
  }
  // Every chunk digest against node:crypto (sha256) or hashSync (blake3).
  let bad = 0
  for (let i = 0; i < n; i++) {
    const piece = data.subarray(i * chunk, Math.min(size, (i + 1) * chunk))
    const want = alg === 'sha256' ? crypto.createHash('sha256').update(piece).digest() : hashSync('blake3', piece, 'buffer')
    if (!want.equals(out2.subarray(i * 32, (i + 1) * 32)) || !want.equals(out1.subarray(i * 32, (i + 1) * 32))) bad++
  }
  if (bad) throw new Error(`${bad} of ${n} ${alg} chunk digests differ`)
  console.log(`2 ${alg}: all ${n} chunk digests identical to ${alg === 'sha256' ? 'node:crypto' : 'hashSync'}`)
  record('2', `${alg} chunkSize 64 KiB: one pool thread MiB/s`, s1, 'MiB/s')
  record('2', `${alg} chunkSize 64 KiB: two pool threads MiB/s`, s2, 'MiB/s')
  record('2', `${alg} chunkSize 64 KiB: two threads ÷ one`, ratio, '×', '>= 1.8')
  await Promise.all([p1.close(), p2.close()])
}

console.log('\n| bar | measurement | median | unit | bar |\n| --- | --- | --- | --- | --- |')
for (const r of rows) console.log(`| ${r.bar} | ${r.what} | ${fmt(r.median, 3)} | ${r.unit} | ${r.target ?? ''} |`)
process.exit(0)
