// bench/pool-overhead: bar 1b in detail — the main thread's busy time per
// tiny task (ELU active ÷ tasks), ours against a pure-JS stand-in that
// settles promises in batches from setImmediate with no native work, in the
// same harness. The difference is our own share of the event loop's time.
// Where Linux tells, the busy time is also split into the main thread's own
// CPU time and its wait for a CPU (which ELU counts as busy).
//   node bench/pool-overhead.mjs [rounds=4]
import { pool } from '../index.mjs'
import { allAtOnce, inFlight, busy, machine, median, fmt } from './common.mjs'

const rounds = Number(process.argv[2] ?? 4)
const data = Buffer.from('0123456789abcdef')
let queue = []
let scheduled = false
const flush = () => {
  scheduled = false
  const q = queue
  queue = []
  for (const r of q) r('2d06800538d394c2')
}
const standIn = () =>
  new Promise((r) => {
    queue.push(r)
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  })
const ours = () => pool.hash('xxh3', data, 'hex', { offload: 'always' })
console.log(`# bench/pool-overhead — ${machine()}; pool threads ${pool.threads}; µs of main-thread busy time per task, 100k tasks`)
const cols = {}
const add = (name, r) => {
  for (const [k, v] of [['', r.busyMs], [' (its CPU time)', r.cpuMs], [' (waiting for a CPU)', r.runQueueMs]]) {
    if (v !== null) (cols[name + k] ??= []).push(v * 10)
  }
}
for (let i = 0; i < rounds; i++) {
  add('stand-in, all at once', await busy(() => allAtOnce(100000, standIn)))
  add('ours, all at once', await busy(() => allAtOnce(100000, ours)))
  add('stand-in, 64 in flight', await busy(() => inFlight(100000, 64, standIn)))
  add('ours, 64 in flight', await busy(() => inFlight(100000, 64, ours)))
}
for (const [k, v] of Object.entries(cols)) console.log(`${k}: median ${fmt(median(v) / 1000, 3)} µs (runs ${v.map((x) => fmt(x / 1000, 3)).join(', ')})`)
process.exit(0)
