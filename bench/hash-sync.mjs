// bench/hash-sync: hashing on the calling thread, ours against the fastest
// single-purpose addons and Node's own, in one process:
//   xxh3    hashSync('xxh3', b, 'bigint') and hasher('xxh3', 'bigint') vs
//           @node-rs/xxhash xxh3.xxh64(b)                  (16 B … 16 MiB)
//   crc32   hashSync('crc32', b, 'number') and hasher(…)  vs @node-rs/crc32
//   sha256  hashSync('sha256', b) and hasher('sha256')     vs crypto.hash
//           (createHash where crypto.hash is missing)      (16 B … 256 MiB)
//   blake3  hashSync('blake3', b, 'buffer') and a 1-thread pool's
//           hash('blake3', b, 'buffer'), awaited one at a time, vs
//           @napi-rs/blake-hash blake3(b)                  (16 MiB, 256 MiB);
//           the pool also by its thread's run time (stats().runTime), i.e.
//           without the two thread wake-ups of each awaited call
// Every contender of a row is timed in each round, in an order that
// rotates per round (interleaved); one timing is `reps` calls, with `reps`
// calibrated so that it lasts about --ms milliseconds. Reported: median
// calls/s (MB/s for the large sizes) over the rounds, and the ratio
// ours ÷ anchor as the median of the per-round ratios (with their min).
//   node bench/hash-sync.mjs [--rounds 7] [--ms 40] [--only xxh3,crc32,sha256,blake3]
import crypto from 'node:crypto'
import os from 'node:os'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { hashSync, hasher, createPool } from '../index.mjs'
import { machine, median, option, fmt } from './common.mjs'

const require = createRequire(import.meta.url)
const { xxh3 } = require('@node-rs/xxhash')
const { crc32 } = require('@node-rs/crc32')
const { blake3 } = require('@napi-rs/blake-hash')

const rounds = Number(option('rounds', 7))
const targetMs = Number(option('ms', 40))
const only = new Set(option('only', 'xxh3,crc32,sha256,blake3').split(','))

const KiB = 1024
const MiB = 1024 * KiB
const sizeName = (n) => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`)
const nodeHash = typeof crypto.hash === 'function' ? (b) => crypto.hash('sha256', b) : (b) => crypto.createHash('sha256').update(b).digest('hex')
const anchorSha = typeof crypto.hash === 'function' ? 'crypto.hash' : 'createHash'

const pool1 = createPool({ threads: 1 })
let sink = 0
const keep = (v) => {
  sink ^= typeof v === 'string' ? v.length : typeof v === 'bigint' ? Number(v & 1n) : typeof v === 'number' ? v & 1 : v[0]
}

/** Total run time (ms) of the tasks `p` has finished, from its stats. */
const ranMs = (p) => {
  const s = p.stats()
  return s.runTime.mean * s.completed
}

/**
 * Seconds for `reps` calls of `f` (awaited one by one when `async`); with
 * `onPool`, the seconds that pool's thread spent running them instead
 * (from submission to settlement minus the wake-ups either way).
 */
async function time(f, reps, isAsync, onPool) {
  const r0 = onPool ? ranMs(onPool) : 0
  const t0 = performance.now()
  if (isAsync) for (let i = 0; i < reps; i++) keep(await f())
  else for (let i = 0; i < reps; i++) keep(f())
  if (onPool) return (ranMs(onPool) - r0) / 1000
  return (performance.now() - t0) / 1000
}

/** How many calls of `f` take about `targetMs` (at least 1). */
async function calibrate(f, isAsync, onPool) {
  let reps = 1
  for (;;) {
    const s = await time(f, reps, isAsync, onPool)
    if (s * 1000 >= targetMs / 4 || reps >= 1 << 24) return Math.max(1, Math.round((reps * targetMs) / (s * 1000)))
    reps *= 4
  }
}

/**
 * One table row: contenders `{ name, f, async?, anchor? }` over `data`;
 * returns per-contender median rate and per-round ratios to the anchor.
 */
async function row(label, size, contenders) {
  const reps = []
  for (const c of contenders) {
    await time(c.f, 3, c.async, c.onPool) // warm up
    reps.push(await calibrate(c.f, c.async, c.onPool))
  }
  const rates = contenders.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (k + r) % contenders.length
      const s = await time(contenders[i].f, reps[i], contenders[i].async, contenders[i].onPool)
      rates[i].push(reps[i] / s)
    }
  }
  const a = contenders.findIndex((c) => c.anchor)
  return contenders.map((c, i) => {
    const ratios = rates[i].map((x, r) => x / rates[a][r])
    return { label, size, name: c.name, anchor: !!c.anchor, rate: median(rates[i]), ratio: median(ratios), minRatio: Math.min(...ratios) }
  })
}

const results = []
const load0 = os.loadavg()
console.log(`# bench/hash-sync — ${machine()}; load ${load0.map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds of ~${targetMs} ms per contender`)

const bytes = (n) => crypto.randomBytes(Math.min(n, 64 * MiB)).subarray(0, n)
const buffers = new Map()
const dataOf = (n) => {
  if (!buffers.has(n)) {
    const b = Buffer.allocUnsafe(n)
    const src = bytes(Math.min(n, 64 * MiB))
    for (let o = 0; o < n; o += src.length) src.copy(b, o)
    buffers.set(n, b)
  }
  return buffers.get(n)
}

if (only.has('xxh3')) {
  const h = hasher('xxh3', 'bigint')
  for (const n of [16, KiB, 64 * KiB, 16 * MiB]) {
    const b = dataOf(n)
    if (hashSync('xxh3', b, 'bigint') !== xxh3.xxh64(b)) throw new Error('xxh3 differs from the anchor')
    results.push(...(await row('xxh3 → bigint', n, [
      { name: '@node-rs/xxhash xxh3.xxh64', f: () => xxh3.xxh64(b), anchor: true },
      { name: "hashSync('xxh3', b, 'bigint')", f: () => hashSync('xxh3', b, 'bigint') },
      { name: "hasher('xxh3', 'bigint')", f: () => h(b) },
    ])))
  }
}
if (only.has('crc32')) {
  const h = hasher('crc32', 'number')
  for (const n of [16, KiB, 64 * KiB, 16 * MiB]) {
    const b = dataOf(n)
    if (hashSync('crc32', b, 'number') !== crc32(b)) throw new Error('crc32 differs from the anchor')
    results.push(...(await row('crc32 → number', n, [
      { name: '@node-rs/crc32 crc32', f: () => crc32(b), anchor: true },
      { name: "hashSync('crc32', b, 'number')", f: () => hashSync('crc32', b, 'number') },
      { name: "hasher('crc32', 'number')", f: () => h(b) },
    ])))
  }
}
if (only.has('sha256')) {
  const h = hasher('sha256')
  for (const n of [16, KiB, 64 * KiB, MiB, 16 * MiB, 256 * MiB]) {
    const b = dataOf(n)
    if (hashSync('sha256', b) !== nodeHash(b)) throw new Error('sha256 differs from node:crypto')
    results.push(...(await row('sha256 → hex', n, [
      { name: anchorSha, f: () => nodeHash(b), anchor: true },
      { name: "hashSync('sha256', b)", f: () => hashSync('sha256', b) },
      { name: "hasher('sha256')", f: () => h(b) },
    ])))
  }
}
if (only.has('blake3')) {
  const h = hasher('blake3', 'buffer')
  for (const n of [16 * MiB, 256 * MiB]) {
    const b = dataOf(n)
    if (!hashSync('blake3', b, 'buffer').equals(blake3(b))) throw new Error('blake3 differs from the anchor')
    results.push(...(await row('blake3 → Buffer', n, [
      { name: '@napi-rs/blake-hash blake3', f: () => blake3(b), anchor: true },
      { name: "hashSync('blake3', b, 'buffer')", f: () => hashSync('blake3', b, 'buffer') },
      { name: "hasher('blake3', 'buffer')", f: () => h(b) },
      { name: 'createPool({ threads: 1 }).hash, awaited', f: () => pool1.hash('blake3', b, 'buffer'), async: true },
      { name: "the same, its thread's run time (stats)", f: () => pool1.hash('blake3', b, 'buffer'), async: true, onPool: pool1 },
    ])))
    buffers.delete(n)
  }
}
await pool1.close()

const load1 = os.loadavg()
console.log('')
console.log('| hash | size | contender | rate | ours ÷ anchor (median, min over rounds) |')
console.log('| --- | --- | --- | ---: | --- |')
for (const r of results) {
  const rate = r.size >= MiB ? `${fmt((r.rate * r.size) / 1e6, 0)} MB/s` : `${fmt(r.rate / 1e6, 2)} M calls/s`
  console.log(`| ${r.label} | ${sizeName(r.size)} | ${r.anchor ? `*${r.name}* (anchor)` : r.name} | ${rate} | ${r.anchor ? '1' : `${fmt(r.ratio)} (${fmt(r.minRatio)})`} |`)
}
console.log(`\n# load before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}; sink ${sink & 1}`)
process.exit(0)
