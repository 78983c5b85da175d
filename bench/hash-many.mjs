// bench/hash-many: `pool.hashMany` (one task for N inputs) against hashing
// on the main thread in a loop (`crypto.hash`; @node-rs/xxhash for xxh3,
// which node:crypto lacks) and against `pool.hash` per item (64 in flight),
// interleaved in rounds in one process. Per case and contender: main-thread
// busy time per item (ELU active, and of it the thread's own CPU time where
// Linux tells) and throughput (items per second of wall time). Digests are
// checked against node:crypto (xxh3: @node-rs/xxhash) before timing.
//   node bench/hash-many.mjs [--rounds 5] [--cases sha256-1k,xxh3-16,sha256-64k]
import crypto from 'node:crypto'
import os from 'node:os'
import { createRequire } from 'node:module'
import { pool, createPool } from '../index.mjs'
import { busy, inFlight, machine, median, fmt, option } from './common.mjs'

const require = createRequire(import.meta.url)
const { xxh3 } = require('@node-rs/xxhash')

const rounds = Number(option('rounds', 5))
const CASES = {
  'sha256-1k': { algorithm: 'sha256', size: 1024, n: 10000 },
  'xxh3-16': { algorithm: 'xxh3', size: 16, n: 10000 },
  'sha256-64k': { algorithm: 'sha256', size: 65536, n: 500 },
}
const picked = option('cases', Object.keys(CASES).join(',')).split(',')

const inline = (algorithm) =>
  algorithm === 'xxh3'
    ? (b) => {
        const out = Buffer.allocUnsafe(8)
        out.writeBigUInt64BE(xxh3.xxh64(b))
        return out
      }
    : (b) => crypto.hash(algorithm, b, 'buffer')

const pool2 = createPool({ threads: 2 })
console.log(
  `# bench/hash-many — ${machine()}; default pool threads ${pool.threads}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds`,
)

for (const name of picked) {
  const { algorithm, size, n } = CASES[name]
  const inputs = Array.from({ length: n }, () => crypto.randomBytes(size))
  const one = inline(algorithm)
  const want = Buffer.concat(inputs.map(one))
  const check = (got, who) => {
    if (!Buffer.from(got.buffer ?? got, got.byteOffset, got.byteLength).equals(want)) throw new Error(`${who}: digests differ from the anchor`)
  }
  check(await pool.hashMany(algorithm, inputs), 'hashMany')
  check(await pool2.hashMany(algorithm, inputs), 'hashMany (2 threads)')
  const contenders = {
    [`inline loop (${algorithm === 'xxh3' ? '@node-rs/xxhash' : 'crypto.hash'})`]: async () => {
      const out = new Array(n)
      for (let i = 0; i < n; i++) out[i] = one(inputs[i])
      return out
    },
    'pool.hash per item, 64 in flight': () => inFlight(n, 64, (() => {
      let i = 0
      return () => pool.hash(algorithm, inputs[i++ % n], 'buffer')
    })()),
    'pool.hashMany (default pool)': () => pool.hashMany(algorithm, inputs),
    'pool.hashMany (createPool threads 2)': () => pool2.hashMany(algorithm, inputs),
  }
  const cols = {}
  for (let r = 0; r < rounds; r++) {
    for (const [who, run] of Object.entries(contenders)) {
      const t0 = performance.now()
      const b = await busy(run)
      const wall = performance.now() - t0
      const c = (cols[who] ??= { busy: [], cpu: [], rate: [] })
      c.busy.push((b.busyMs * 1000) / n)
      if (b.cpuMs !== null) c.cpu.push((b.cpuMs * 1000) / n)
      c.rate.push(n / (wall / 1000))
    }
  }
  console.log(`\n## ${name}: ${n} × ${size} B ${algorithm}`)
  const base = median(Object.values(cols)[0].rate)
  for (const [who, c] of Object.entries(cols)) {
    const rate = median(c.rate)
    console.log(
      `${who}: main-thread ${fmt(median(c.busy), 3)} µs/item busy, ${c.cpu.length ? fmt(median(c.cpu), 3) : '-'} µs/item CPU; ` +
        `${fmt(rate / 1000, 0)}k items/s (${fmt(rate / base, 2)}× inline) [busy runs ${c.busy.map((x) => fmt(x, 3)).join(', ')}]`,
    )
  }
}
await pool2.close()
process.exit(0)
