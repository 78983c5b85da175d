// bench/hash-crossover: where handing a hash to the pool starts to pay.
// For each algorithm and input size, the main thread's busy time per task
// (event-loop active time: on a CPU or waiting for one) for:
//   - inline:  `crypto.hash` (sha256, sha1, sha512, md5) or our `hashSync`
//              (blake3, xxh3, crc32: Node has no one-shot for them), in a loop
//   - never:   `pool.hash(..., { offload: 'never' })`: ours, inline, awaited
//   - always:  `pool.hash(..., { offload: 'always' })`, 64 in flight
//   - auto:    `pool.hash(...)` (the default), 64 in flight
// interleaved in rounds (each round runs every cell once, in a rotated
// order), medians printed. `auto ÷ inline` is the bar: ≤ 1.0 everywhere,
// ≤ 0.2 from 64 KiB. The crossover row gives, per algorithm, the smallest
// size from which `always` costs the main thread less than `never` at that
// size and every larger one: the thresholds in lib/pool.js.
//
//   node bench/hash-crossover.mjs [--rounds 3] [--algorithms a,b]
//        [--sizes 16,1024,...] [--threads N] [--budget-mib 32]
import crypto from 'node:crypto'
import { pool as defaultPool, createPool, hashSync } from '../index.mjs'
import { busy, inFlight, machine, median, option } from './common.mjs'
import os from 'node:os'

const rounds = Number(option('rounds', 3))
const algorithms = option('algorithms', 'sha256,sha1,sha512,md5,blake3,xxh3,crc32').split(',')
const KiB = 1024
const MiB = 1024 * KiB
const sizes = option('sizes', [16, 64, 256, KiB, 2 * KiB, 4 * KiB, 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 256 * KiB, MiB, 16 * MiB, 256 * MiB].join(','))
  .split(',')
  .map(Number)
const budget = Number(option('budget-mib', 32)) * MiB
const threadsOpt = option('threads', undefined)
const pool = threadsOpt === undefined ? defaultPool : createPool({ threads: Number(threadsOpt) })
const NODE_ALGS = new Set(['sha256', 'sha1', 'sha512', 'md5'])
const INFLIGHT = 64

const label = (n) => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`)
const inputs = new Map()
const input = (size) => {
  if (!inputs.has(size)) {
    const b = Buffer.allocUnsafe(size)
    for (let i = 0; i < size; i += 4096) crypto.randomFillSync(b, i, Math.min(4096, size - i))
    inputs.set(size, b)
  }
  return inputs.get(size)
}
const count = (size) => Math.max(2, Math.min(20000, Math.floor(budget / size)))

const inlineAnchor = (alg) => (NODE_ALGS.has(alg) && typeof crypto.hash === 'function' ? (d) => crypto.hash(alg, d, 'hex') : (d) => hashSync(alg, d, 'hex'))
const anchorName = (alg) => (NODE_ALGS.has(alg) && typeof crypto.hash === 'function' ? 'crypto.hash' : 'hashSync')

async function cell(variant, alg, size) {
  const data = input(size)
  const n = count(size)
  let r
  if (variant === 'inline') {
    const f = inlineAnchor(alg)
    r = await busy(async () => {
      for (let i = 0; i < n; i++) f(data)
    })
  } else {
    const opts = variant === 'auto' ? undefined : { offload: variant }
    r = await busy(() => inFlight(n, INFLIGHT, () => pool.hash(alg, data, 'hex', opts)))
  }
  // ELU active time: exact (hrtime); the thread's schedstat CPU time is
  // only brought up to date at scheduler ticks, too coarse for short cells.
  return (r.busyMs * 1000) / n
}

// Correctness first: every variant gives the same digest as the anchor.
for (const alg of algorithms) {
  for (const size of [16, 4 * KiB, 64 * KiB]) {
    const want = inlineAnchor(alg)(input(size))
    for (const v of ['never', 'always']) {
      const got = await pool.hash(alg, input(size), 'hex', { offload: v })
      if (got !== want) throw new Error(`${alg} ${label(size)} ${v}: ${got} != ${want}`)
    }
  }
}

console.log(`# bench/hash-crossover — ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; pool threads ${pool.threads}; ${rounds} rounds; µs of main-thread busy time (ELU active) per task (medians); pool variants ${INFLIGHT} in flight`)
const variants = ['inline', 'never', 'always', 'auto']
const results = {}
const cells = []
for (const alg of algorithms) for (const size of sizes) for (const v of variants) cells.push([v, alg, size])
for (let r = 0; r < rounds; r++) {
  const shift = Math.floor((r * cells.length) / rounds)
  for (let i = 0; i < cells.length; i++) {
    const [v, alg, size] = cells[(i + shift) % cells.length]
    ;((results[alg] ??= {})[size] ??= {})[v] ??= []
    results[alg][size][v].push(await cell(v, alg, size))
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`)
}

const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
let allMet = true
for (const alg of algorithms) {
  console.log(`\n## ${alg} (inline anchor: ${anchorName(alg)})\n`)
  console.log('| size | inline | never | always | auto | auto ÷ inline | bar | met? |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |')
  let crossover = null
  for (const size of sizes) {
    const m = Object.fromEntries(variants.map((v) => [v, median(results[alg][size][v])]))
    const ratio = m.auto / m.inline
    const bar = size >= 64 * KiB ? 0.2 : 1.0
    const met = ratio <= bar
    if (!met) allMet = false
    console.log(`| ${label(size)} | ${f(m.inline)} | ${f(m.never)} | ${f(m.always)} | ${f(m.auto)} | ${ratio.toFixed(2)} | ≤ ${bar} | ${met ? 'met' : '**not met**'} |`)
  }
  for (let i = sizes.length - 1; i >= 0; i--) {
    const m = results[alg][sizes[i]]
    if (median(m.always) < median(m.never)) crossover = sizes[i]
    else break
  }
  console.log(`\npool cheaper than inline for the main thread from: ${crossover === null ? 'no size in the sweep' : label(crossover)}`)
}
console.log(`\nall bars met: ${allMet ? 'yes' : 'no'}`)
if (pool !== defaultPool) await pool.close()
