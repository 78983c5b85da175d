// bench/pool-threads: how many pool threads pay on this machine. For
// 1 .. availableParallelism() + 1 threads, tasks per second and the main
// thread's busy time per task for SHA-256 over 1 KiB, 64 KiB and 1 MiB
// inputs, 64 in flight, `offload: 'always'` (the pool itself is measured),
// interleaved in rounds (each round runs every cell once, rotated). The
// default pool size, max(1, availableParallelism() - 1), leaves the main
// thread a CPU of its own; this says what that choice costs or saves.
//   node bench/pool-threads.mjs [--rounds 3] [--ms 300]
import os from 'node:os'
import crypto from 'node:crypto'
import { createPool } from '../index.mjs'
import { busy, inFlight, machine, median, option } from './common.mjs'

const rounds = Number(option('rounds', 3))
const cellMs = Number(option('ms', 300))
const cpus = os.availableParallelism()
const counts = Array.from({ length: cpus + 1 }, (_, i) => i + 1)
const sizes = [1024, 64 * 1024, 1024 * 1024]
const label = (n) => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n >> 10} KiB`)
const data = new Map(sizes.map((s) => [s, crypto.randomBytes(s)]))
const pools = new Map(counts.map((t) => [t, createPool({ threads: t })]))
const ALWAYS = { offload: 'always' }

// Tasks per cell: calibrated once per size on one thread to take ~cellMs.
const perCell = new Map()
for (const s of sizes) {
  const p = pools.get(1)
  const t0 = performance.now()
  await inFlight(200, 64, () => p.hash('sha256', data.get(s), 'hex', ALWAYS))
  const msEach = (performance.now() - t0) / 200
  perCell.set(s, Math.max(64, Math.round(cellMs / msEach)))
}

console.log(`# bench/pool-threads — ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds; SHA-256, 64 in flight, offload 'always'`)
const cells = []
for (const s of sizes) for (const t of counts) cells.push([s, t])
const res = {}
for (let r = 0; r < rounds; r++) {
  const shift = Math.floor((r * cells.length) / rounds)
  for (let i = 0; i < cells.length; i++) {
    const [s, t] = cells[(i + shift) % cells.length]
    const n = perCell.get(s)
    const p = pools.get(t)
    const b = await busy(() => inFlight(n, 64, () => p.hash('sha256', data.get(s), 'hex', ALWAYS)))
    const cell = ((res[s] ??= {})[t] ??= { rate: [], busy: [] })
    cell.rate.push(n / (b.result / 1000))
    cell.busy.push((b.busyMs * 1000) / n)
  }
}
console.log('\n| input | threads | tasks/s | ÷ 1 thread | main-thread µs per task |')
console.log('| --- | ---: | ---: | ---: | ---: |')
for (const s of sizes) {
  const one = median(res[s][1].rate)
  for (const t of counts) {
    const rate = median(res[s][t].rate)
    console.log(`| ${label(s)} | ${t}${t === Math.max(1, cpus - 1) ? ' (default)' : ''} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / one).toFixed(2)} | ${median(res[s][t].busy).toFixed(2)} |`)
  }
}
await Promise.all([...pools.values()].map((p) => p.close()))
