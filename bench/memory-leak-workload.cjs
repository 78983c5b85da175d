'use strict'
// One workload of bench/memory-leak-rule.mjs, in its own process. Major GCs
// come from allocation churn alone (no forced gc()): a ring of small objects
// that live long enough to be promoted, then die in old space.
//
//   node [V8 flags] bench/memory-leak-workload.cjs <stable|cache|step|leak> <majorGcs> [leakAfter] [leakBytesPerMinute]
//
// stable: the churn only; cache: plus an LRU of 8000 ~1 KB entries filled one
// lookup a tick from a key space 4x larger (fills over ~10 s, then evicts);
// step: plus 16 MB kept for good at major GC STEP_AT (8); leak: plus
// leakBytesPerMinute (1 MB) of ~1 KB arrays kept from major GC leakAfter (20).
//
// Prints one JSON line per major GC: { i, at, heapUsed, observerRead } and
// { fired: i } when memory.onLeakSuspected fires; exits after <majorGcs>.
const v8 = require('node:v8')
const { PerformanceObserver } = require('node:perf_hooks')
const { memory } = require('@nodeperf/native')

const [kind, total, leakAfterArg, rateArg] = process.argv.slice(2)
const TOTAL = Number(total)
const LEAK_AFTER = Number(leakAfterArg ?? 20)
const LEAK_PER_MIN = Number(rateArg ?? 1024 * 1024)
const helper = memory[Symbol.for('nodeperf.memoryGcHelper')]()

// What a PerformanceObserver reading v8.getHeapStatistics() in its callback
// would report for the same major GCs (the alternative to the profiler).
const observerReads = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e.detail?.kind ?? e.kind) === 4) observerReads.push(v8.getHeapStatistics().used_heap_size)
}).observe({ entryTypes: ['gc'] })

let n = 0
let leakStart = null
helper.setPointHook((p) => {
  n++
  if (kind === 'leak' && n === LEAK_AFTER) leakStart = Date.now()
  process.stdout.write(JSON.stringify({ i: n, at: p.at, heapUsed: p.heapUsed, observerRead: observerReads[n - 1] ?? null, leaking: leakStart !== null }) + '\n')
  if (n >= TOTAL) setImmediate(() => process.exit(0))
})
memory.onLeakSuspected(() => process.stdout.write(JSON.stringify({ fired: n }) + '\n'))

// The churn: RING slots, each overwritten about every RING / PER_TICK ticks
// (a tick every PAUSE_MS): with the defaults, a major GC about every 2 s.
const RING = Number(process.env.RING ?? 40_000)
const PER_TICK = Number(process.env.PER_TICK ?? 100)
const PAUSE_MS = Number(process.env.PAUSE_MS ?? 1)
const ring = new Array(RING).fill(null)
let slot = 0
// The bounded cache: an LRU (Map order) of CACHE_MAX entries of ~1 KB,
// keys drawn from a space 4x larger, so it fills, then evicts.
const CACHE_MAX = 8_000
const CACHE_PER_TICK = Number(process.env.CACHE_PER_TICK ?? 1)
const cache = new Map()
const leaked = []
let leakedBytes = 0
let stepDone = false
const STEP_AT = Number(process.env.STEP_AT ?? 8)

function tick() {
  for (let k = 0; k < PER_TICK; k++) {
    ring[slot] = { id: slot, name: `item-${slot}`, values: [slot, slot + 1, slot + 2] }
    slot = (slot + 1) % RING
  }
  if (kind === 'cache') {
    for (let k = 0; k < CACHE_PER_TICK; k++) {
      const key = `k${Math.floor(Math.random() * CACHE_MAX * 4)}`
      if (cache.has(key)) {
        const v = cache.get(key)
        cache.delete(key)
        cache.set(key, v)
      } else {
        cache.set(key, 'v'.repeat(1000) + key)
        if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value)
      }
    }
  }
  if (kind === 'step' && !stepDone && n >= STEP_AT) {
    // Grows once, early: 16 MB kept for good.
    for (let k = 0; k < 16_000; k++) leaked.push(new Array(126).fill(k))
    stepDone = true
  }
  if (leakStart !== null) {
    const due = ((Date.now() - leakStart) / 60_000) * LEAK_PER_MIN
    // ~1 KB each: an array of 126 small integers (8 bytes a slot) and its header.
    while (leakedBytes < due) {
      leaked.push(new Array(126).fill(leakedBytes))
      leakedBytes += 1024
    }
  }
  setTimeout(tick, PAUSE_MS)
}
setTimeout(tick, PAUSE_MS)
