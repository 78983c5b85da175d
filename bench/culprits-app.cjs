'use strict'
// The app that bench/culprits-soak.mjs and bench/culprits-latency.mjs run in
// a child process, once with stall culprits on and once off (everything else
// the same): `functions` distinct functions loaded and compiled, light
// background work every `bgEveryMs`, and a deliberate stall of `stallMs` in
// `deliberateStall()` every `stallEveryMs`. Prints one JSON line at the end.
//
//   node bench/culprits-app.cjs '{"culprits":true,"seconds":600,...}'
//
// What it records (all in preallocated storage, so the recording does not
// grow the RSS it measures):
// - every busy period of >= 1 ms our monitor reports (`lag.onStall(1, ...)`,
//   registered in both arms), classified: the deliberate stall; `dispatch`,
//   the busy period right after a stall that contains its onStall callback
//   (where the profile is rotated and the stall attributed); `rotation`, the
//   one containing a periodic rotation; `enable`; `startup` (before it);
//   `dispatch-of-other`, the one holding our listener's call for the
//   previous busy period (the harness's own cost); everything else `other`.
//   Each with the GC time inside it (a `gc` PerformanceObserver) and the
//   thread's time waiting for a CPU since the previous listener call
//   (/proc/thread-self/schedstat; the scheduler updates it coarsely);
// - the wall time of each profile rotation, from a wrapper around
//   `inspector.console.profile` / `profileEnd` (the two calls a rotation is);
// - per stall: stall end (startedAt + durationMs) to the onStall callback;
// - RSS, heapUsed and external every `rssEveryMs`;
// - with `ringWatch`, when a worker thread first sees each stall in the ring.
// CULPRITS_APP_DEBUG=1 prints every busy period >= 1 ms to stderr.
const vm = require('node:vm')
const inspector = require('node:inspector')
const { performance } = require('node:perf_hooks')
const fs = require('node:fs')
const { PerformanceObserver } = require('node:perf_hooks')
const { lag, recentStalls } = require('../index.js')

const cfg = {
  culprits: true,
  seconds: 600,
  functions: 5000,
  stallEveryMs: 10_000,
  stallMs: 150,
  bgEveryMs: 5,
  bgCalls: 40,
  rssEveryMs: 10_000,
  logStalls: false,
  ringWatch: false,
  ...JSON.parse(process.argv[2] ?? '{}'),
}
const epochNow = () => performance.timeOrigin + performance.now()
const t0 = performance.now()

// ---- 5,000 distinct functions, each compiled (called a few times) ----------------
const fns = new Array(cfg.functions)
const tLoad0 = performance.now()
for (let i = 0; i < cfg.functions; i++) {
  const src = `(function gen_${i}(n) {
    let s = ${i}
    for (let k = 0; k < n; k++) s = (s * 31 + k + ${i % 97}) | 0
    return s
  })`
  fns[i] = vm.runInThisContext(src, { filename: `/app/gen/mod_${i}.js` })
  for (let c = 0; c < 3; c++) fns[i](10 + c)
}
const loadMs = performance.now() - tLoad0

// ---- rotation timings: a wrapper around the two calls a rotation is ------------
const MAXROT = 4096
const rotStart = new Float64Array(MAXROT) // epoch ms at profile()
const rotMs = new Float64Array(MAXROT) // profile() start to profileEnd() end
let rotN = 0
let pendingProfileAt = -1
const ic = inspector.console
const origProfile = ic.profile
const origProfileEnd = ic.profileEnd
ic.profile = function profile(...args) {
  pendingProfileAt = epochNow()
  return origProfile.apply(this, args)
}
ic.profileEnd = function profileEnd(...args) {
  const r = origProfileEnd.apply(this, args)
  if (pendingProfileAt >= 0 && rotN < MAXROT) {
    rotStart[rotN] = pendingProfileAt
    rotMs[rotN++] = epochNow() - pendingProfileAt
  }
  pendingProfileAt = -1
  return r
}

// ---- busy periods >= 1 ms, classified -----------------------------------------
const MAXSTALLS = 4096
const stallA = new Float64Array(MAXSTALLS) // deliberate stall start, end (epoch ms)
const stallB = new Float64Array(MAXSTALLS)
const stallCb = new Float64Array(MAXSTALLS) // its onStall callback (epoch ms)
const stallLatency = new Float64Array(MAXSTALLS) // stall end -> callback
const stallEndMon = new Float64Array(MAXSTALLS) // stall end as the monitor says: startedAt + durationMs
const stallDur = new Float64Array(MAXSTALLS) // the monitor's durationMs
const stallDispatch = new Float64Array(MAXSTALLS).fill(-1) // busy period containing the callback
const stallDGc = new Float64Array(MAXSTALLS) // GC inside it (ms)
const stallDWait = new Float64Array(MAXSTALLS) // from the stall's callback to its own: waiting for a CPU (ms)
const stallDCpu = new Float64Array(MAXSTALLS) // and on a CPU (ms)
const stallNamed = new Uint8Array(MAXSTALLS) // culprit named deliberateStall
const stallSamples = new Uint16Array(MAXSTALLS)
let stallN = 0 // deliberate stalls started
let stallSeen = 0 // of them, reported by the monitor
// Busy periods by class: a histogram in 0.1 ms bins to 2 s, plus the largest.
const BINS = 20_000
const classes = ['other', 'rotation', 'enable', 'dispatch-of-other', 'startup']
const hist = Object.fromEntries(classes.map((c) => [c, new Uint32Array(BINS + 1)]))
const maxOf = Object.fromEntries(classes.map((c) => [c, 0]))
const MAXTOP = 64
const TOPW = 5
const top = new Float64Array(MAXTOP * TOPW) // [startedAt, durationMs, gcMs, runqueue wait ms, on-CPU ms] of the largest `other`
let topN = 0
let enableAt = [0, 0]
let lastCb = 0 // callback time of the previous listener call (for dispatch-of-other)
const otherCulprits = new Map() // stalls >= thresholdMs outside the deliberate ones: culprit -> count

function addTop(...row) {
  let at = topN
  if (topN < MAXTOP) topN++
  else {
    at = 0
    for (let i = 1; i < MAXTOP; i++) if (top[i * TOPW + 1] < top[at * TOPW + 1]) at = i
    if (top[at * TOPW + 1] >= row[1]) return
  }
  for (let j = 0; j < TOPW; j++) top[at * TOPW + j] = row[j]
}

// GC pauses (epoch ms start, end), the last 256, to tell a busy period that
// was mostly GC.
const GCN = 256
const gcA = new Float64Array(GCN)
const gcB = new Float64Array(GCN)
let gcI = 0
let gcTotalMs = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const a = performance.timeOrigin + e.startTime
    gcA[gcI % GCN] = a
    gcB[gcI % GCN] = a + e.duration
    gcI++
    gcTotalMs += e.duration
  }
}).observe({ entryTypes: ['gc'] })
function gcWithin(s, e) {
  let ms = 0
  for (let i = 0; i < Math.min(gcI, GCN); i++) {
    const x = Math.min(gcB[i], e) - Math.max(gcA[i], s)
    if (x > 0) ms += x
  }
  return ms
}

// This thread's time on a CPU and waiting for one (ns), from the scheduler:
// a busy period the thread spent mostly runnable but not running is the
// machine's, not ours.
const schedBuf = Buffer.alloc(128)
let schedFd = -1
try {
  schedFd = fs.openSync('/proc/thread-self/schedstat', 'r')
} catch {}
const sched = new Float64Array(2)
function readSched() {
  if (schedFd < 0) return false
  const n = fs.readSync(schedFd, schedBuf, 0, 128, 0)
  const parts = schedBuf.toString('latin1', 0, n).split(' ')
  sched[0] = Number(parts[0])
  sched[1] = Number(parts[1])
  return true
}
let prevCpuNs = 0
let prevWaitNs = 0

function classify(s, e) {
  if (enableAt[1] === 0) return 'startup'
  // The deliberate stall: overlaps the last recorded stall interval.
  if (stallN > 0) {
    const k = stallN - 1
    if (s <= stallB[k] + 0.5 && e >= stallA[k] - 0.5 && stallSeen < stallN && e - s >= cfg.stallMs * 0.9) return 'stall'
    // The busy period right after it, holding its callback.
    if (stallSeen === stallN && stallDispatch[k] < 0 && stallCb[k] >= s - 0.05 && stallCb[k] <= e + 0.05) return 'dispatch'
  }
  if (enableAt[1] > 0 && enableAt[0] >= s - 0.05 && enableAt[1] <= e + 0.05) return 'enable'
  for (let i = rotN - 1; i >= 0 && rotStart[i] >= s - 100; i--) {
    if (rotStart[i] >= s - 0.05 && rotStart[i] <= e + 0.05) return 'rotation'
  }
  // The busy period holding the onStall callback of the previous one.
  if (lastCb >= s - 0.05 && lastCb <= e + 0.05) return 'dispatch-of-other'
  return 'other'
}

const rotationBusy = []
lag.onStall(1, (info) => {
  const cb = epochNow()
  const s = info.startedAt
  const e = info.startedAt + info.durationMs
  const cls = classify(s, e)
  // On a CPU and waiting for one since the previous callback (ms).
  let cpuMs = NaN
  let waitMs = NaN
  if (readSched()) {
    cpuMs = (sched[0] - prevCpuNs) / 1e6
    waitMs = (sched[1] - prevWaitNs) / 1e6
    prevCpuNs = sched[0]
    prevWaitNs = sched[1]
  }
  const gcMs = gcWithin(s, e)
  if (process.env.CULPRITS_APP_DEBUG) process.stderr.write(`${(s - performance.timeOrigin - t0).toFixed(2)}..${(e - performance.timeOrigin - t0).toFixed(2)} ${info.durationMs.toFixed(2)} ${cls} cb ${(cb - performance.timeOrigin - t0).toFixed(2)}\n`)
  if (cls === 'stall') {
    const k = stallN - 1
    stallCb[k] = cb
    stallLatency[k] = cb - e
    stallEndMon[k] = e
    stallDur[k] = info.durationMs
    stallNamed[k] = info.culprit?.functionName === 'deliberateStall' ? 1 : 0
    stallSamples[k] = info.samples ?? 0
    stallSeen = stallN
  } else if (cls === 'dispatch') {
    const k = stallN - 1
    stallDispatch[k] = info.durationMs
    stallDGc[k] = gcMs
    stallDWait[k] = waitMs
    stallDCpu[k] = cpuMs
  } else {
    const bin = Math.min(BINS, Math.floor(info.durationMs * 10))
    hist[cls][bin]++
    if (info.durationMs > maxOf[cls]) maxOf[cls] = info.durationMs
    if (cls === 'other') addTop(s, info.durationMs, gcMs, waitMs, cpuMs)
    if (cls === 'rotation' && rotationBusy.length < 1000) rotationBusy.push([info.durationMs, gcMs, waitMs, cpuMs])
    if (info.culprit !== undefined) {
      const name = info.culprit === null ? '(none)' : `${info.culprit.kind}:${info.culprit.functionName}`
      otherCulprits.set(name, (otherCulprits.get(name) ?? 0) + 1)
    }
  }
  lastCb = cb
})

// ---- the deliberate stall and the background work ------------------------------
function deliberateStall(ms) {
  const k = stallN
  const a = epochNow()
  const end = performance.now() + ms
  let x = 0
  // Time read once per 4096 iterations, so the samples land in this function.
  for (;;) {
    for (let i = 0; i < 4096; i++) x = (x * 31 + i) | 0
    if (performance.now() >= end) break
  }
  if (k < MAXSTALLS) {
    stallA[k] = a
    stallB[k] = epochNow()
    stallN++
  }
  return x
}

let bgIndex = 0
let sink = 0
function backgroundWork() {
  for (let c = 0; c < cfg.bgCalls; c++) {
    sink ^= fns[bgIndex](30)
    bgIndex = (bgIndex + 7919) % fns.length
  }
  sink ^= JSON.stringify({ a: bgIndex, b: [1, 2, 3] }).length
}

// ---- RSS ------------------------------------------------------------------------
const MAXRSS = 4096
const rss = new Float64Array(MAXRSS * 4) // [tSec, rss, heapUsed, external]
let rssN = 0
function sampleRss() {
  if (rssN >= MAXRSS) return
  const m = process.memoryUsage()
  rss[rssN * 4] = (performance.now() - t0) / 1000
  rss[rssN * 4 + 1] = m.rss
  rss[rssN * 4 + 2] = m.heapUsed
  rss[rssN * 4 + 3] = m.external
  rssN++
}

// ---- the ring, watched from another thread -----------------------------------------
// A worker polls the process-wide ring every millisecond and notes when each
// new entry first shows up, against its stall's end (startedAt + durationMs).
let ringWatcher = null
if (cfg.ringWatch) {
  const { Worker } = require('node:worker_threads')
  ringWatcher = new Worker(
    `
    const { parentPort } = require('node:worker_threads')
    const binding = require(${JSON.stringify(require.resolve('../lib/native.js'))})
    const seen = []
    let recorded = binding.stallsRecent().recorded
    const timer = setInterval(() => {
      const r = binding.stallsRecent()
      if (r.recorded === recorded) return
      const now = performance.timeOrigin + performance.now()
      const fresh = r.entries.slice(-(r.recorded - recorded))
      recorded = r.recorded
      for (const e of fresh) {
        const info = JSON.parse(e)
        seen.push([info.startedAt + info.durationMs, now - (info.startedAt + info.durationMs), info.culprit ? info.culprit.functionName : null])
      }
    }, 1)
    parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(seen) })
    `,
    { eval: true },
  )
}

// ---- run -------------------------------------------------------------------------
let enableMs = 0
let cpu0
setTimeout(() => {
  const opts = { culprits: cfg.culprits }
  if (cfg.logStalls) opts.logStalls = { thresholdMs: 100 }
  const a = epochNow()
  lag.configure(opts)
  const b = epochNow()
  enableAt = [a, b]
  enableMs = b - a
  cpu0 = process.cpuUsage()
  lag.reset()
  sampleRss()
  const bg = setInterval(backgroundWork, cfg.bgEveryMs)
  const st = setInterval(deliberateStall, cfg.stallEveryMs, cfg.stallMs)
  const rs = setInterval(sampleRss, cfg.rssEveryMs)
  setTimeout(async () => {
    clearInterval(bg)
    clearInterval(st)
    clearInterval(rs)
    sampleRss()
    let ring = null
    if (ringWatcher !== null) {
      ringWatcher.postMessage('report')
      ;[ring] = await require('node:events').once(ringWatcher, 'message')
      await ringWatcher.terminate()
    }
    const cpu = process.cpuUsage(cpu0)
    const snap = lag.snapshot()
    const classHist = {}
    for (const c of classes) {
      const h = hist[c]
      const nz = []
      for (let i = 0; i <= BINS; i++) if (h[i]) nz.push([i / 10, h[i]])
      classHist[c] = { bins: nz, max: maxOf[c] }
    }
    const n = stallN
    const out = {
      cfg,
      loadMs,
      enableMs,
      busyPeriods: snap.count,
      lagMax: snap.max,
      lagP99: snap.p99,
      utilization: snap.utilization,
      monitorStalls: snap.stalls,
      cpuMs: (cpu.user + cpu.system) / 1000,
      stalls: {
        n,
        seen: stallSeen,
        latency: Array.from(stallLatency.subarray(0, n)),
        duration: Array.from(stallDur.subarray(0, n)),
        dispatch: Array.from(stallDispatch.subarray(0, n)),
        dispatchGc: Array.from(stallDGc.subarray(0, n)),
        dispatchWait: Array.from(stallDWait.subarray(0, n)),
        dispatchCpu: Array.from(stallDCpu.subarray(0, n)),
        named: Array.from(stallNamed.subarray(0, n)),
        samples: Array.from(stallSamples.subarray(0, n)),
        ends: Array.from(stallB.subarray(0, n)),
        endsMonitor: Array.from(stallEndMon.subarray(0, n)),
      },
      rotations: { start: Array.from(rotStart.subarray(0, rotN)), ms: Array.from(rotMs.subarray(0, rotN)) },
      rotationBusy,
      classHist,
      top: Array.from({ length: topN }, (_, i) => Array.from(top.subarray(i * TOPW, i * TOPW + TOPW))).sort((x, y) => y[1] - x[1]),
      gcTotalMs,
      otherCulprits: Object.fromEntries(otherCulprits),
      ring: cfg.culprits ? recentStalls().length : 0,
      ringSeen: ring,
      rss: Array.from({ length: rssN }, (_, i) => [rss[i * 4], rss[i * 4 + 1], rss[i * 4 + 2], rss[i * 4 + 3]]),
      t0Epoch: performance.timeOrigin + t0,
    }
    process.stdout.write(JSON.stringify(out) + '\n')
    lag.configure({ culprits: false })
    process.exit(0)
  }, cfg.seconds * 1000)
}, 1000)
