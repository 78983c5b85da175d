// bench/pool-soak: issue 4's bar 6 — 2 million tasks; every accepted task
// settles exactly once (counted), and RSS after warm-up grows < 20 MB.
//   node bench/pool-soak.mjs [tasks=2000000] [inflight=256]
import crypto from 'node:crypto'
import { pool } from '../index.mjs'
import { machine } from './common.mjs'

const total = Number(process.argv[2] ?? 2_000_000)
const inflight = Number(process.argv[3] ?? 256)
// Long enough for V8 to have grown its young generation to its steady size:
// its heapTotal grows by ~16 MB (the semispaces doubling) somewhere between
// 400k and 800k tasks, then stays; the RSS follows it (measured with
// process.memoryUsage() and /proc/self/smaps_rollup every 400k tasks).
const warmup = Math.min(800_000, total * 0.4)
console.log(`# bench/pool-soak — ${machine()}; ${total} tasks, ${inflight} in flight, mixed ops, 1 in 50 aborted`)

const payloads = [Buffer.from('tiny'), crypto.randomBytes(700), crypto.randomBytes(64 * 1024)]
const algs = ['xxh3', 'sha256', 'blake3', 'crc32', 'md5']
const settledIds = new Uint8Array(total) // 0 pending, 1 settled; a second settle is an error
let accepted = 0
let resolved = 0
let rejected = 0
let refused = 0
let doubles = 0
let rssAfterWarmup = 0
let heapAfterWarmup = 0
let rssMax = 0
const t0 = performance.now()

await new Promise((done) => {
  let sent = 0
  let finished = 0
  const settle = (id, ok) => {
    if (settledIds[id]) doubles++
    settledIds[id] = 1
    if (ok) resolved++
    else rejected++
    if (++finished === warmup) {
      global.gc?.()
      const m = process.memoryUsage()
      rssAfterWarmup = m.rss
      heapAfterWarmup = m.heapTotal
    }
    if (finished % 100_000 === 0) rssMax = Math.max(rssMax, process.memoryUsage.rss())
    if (finished === accepted && sent === total) return done()
    if (sent < total) submit()
  }
  const submit = () => {
    const id = sent++
    const ac = id % 50 === 0 ? new AbortController() : undefined
    const p = pool.run(
      { op: 'hash', algorithm: algs[id % algs.length], data: payloads[id % 3 === 2 && id % 7 ? 1 : id % 3], encoding: id % 2 ? 'hex' : 'base64' },
      ac && { signal: ac.signal },
    )
    accepted++
    if (ac) queueMicrotask(() => ac.abort())
    p.then(() => settle(id, true), (e) => {
      if (e.code === 'ERR_NODEPERF_QUEUE_FULL') {
        refused++
        accepted--
        settledIds[id] = 1
        if (sent < total) submit()
        return
      }
      settle(id, false)
    })
  }
  for (let i = 0; i < inflight; i++) submit()
})

const seconds = (performance.now() - t0) / 1000
global.gc?.()
const { rss: rssEnd, heapTotal: heapEnd } = process.memoryUsage()
const unsettled = settledIds.reduce((n, v) => n + (v ? 0 : 1), 0)
const stats = pool.stats()
const growthMB = (Math.max(rssEnd, rssMax) - rssAfterWarmup) / 1e6
console.log(JSON.stringify({ total, accepted, resolved, rejected, refused, doubles, unsettled, seconds: +seconds.toFixed(1), tasksPerSecond: Math.round(total / seconds), rssAfterWarmupMB: +(rssAfterWarmup / 1e6).toFixed(1), rssEndMB: +(rssEnd / 1e6).toFixed(1), growthMB: +growthMB.toFixed(1), v8HeapAfterWarmupMB: +(heapAfterWarmup / 1e6).toFixed(1), v8HeapEndMB: +(heapEnd / 1e6).toFixed(1), v8HeapUsedEndMB: +(process.memoryUsage().heapUsed / 1e6).toFixed(1), poolCompleted: stats.completed, poolFailed: stats.failed }))
const ok = resolved + rejected === accepted && doubles === 0 && unsettled === 0 && growthMB < 20
console.log(`| 6 | ${total} tasks | settled exactly once: ${resolved + rejected === accepted && doubles === 0 && unsettled === 0 ? 'yes' : 'NO'} (${resolved} resolved + ${rejected} rejected = ${accepted} accepted; ${doubles} double settles) | RSS growth after warm-up ${growthMB.toFixed(1)} MB | bar < 20 MB: ${growthMB < 20 ? 'met' : 'NOT met'} |`)
process.exit(ok ? 0 : 1)
