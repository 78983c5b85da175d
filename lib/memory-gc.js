'use strict'
// memory (GC part): GC pause histograms by kind, exact heap numbers after
// each GC, the GC share of stalls, and the leak warning. All of it runs on
// the JS thread of the isolate it watches: each thread (main, every worker)
// that loads the package has its own state here.
//
// Two sources, each for what it does well (docs/memory.md has the numbers):
//
// - a v8.GCProfiler: every GC's kind, pause (`cost`) and the heap's exact
//   statistics before and after it, handed over only when the profiler is
//   stopped. It is rotated (stopped and started again at once) right after
//   each major GC (a FinalizationRegistry sentinel: an object only a major
//   GC collects; its cleanup runs a task after that GC), at every read
//   (gcStats, leakStatus, a scrape) and every ROTATE_MS. Reading v8.getHeapStatistics() after a
//   GC instead over-reads (what was allocated since is counted).
// - a PerformanceObserver('gc'), only while a stall listener (lag.onStall)
//   wants `gcMs`: each pause's start time, which the profiler lacks. It
//   costs the main thread more per GC than the profiler does (measured in
//   bench/memory-gc-overhead.mjs), so it is not kept without a listener.
//
// The leak rule (leakRule) is pure: heap-used-after-major-GC points in, a
// verdict out. docs/memory.md states the rule, its thresholds and what was
// measured to choose them.

const v8 = require('node:v8')
const { PerformanceObserver, performance } = require('node:perf_hooks')
// Node's own, not the globals that fake timers replace.
const { setInterval, clearInterval } = require('node:timers')
const { lag, setStallExtra } = require('./lag.js')
const { validateFunction, validateOptions, validateKeys, integerOption, numberOption } = require('./validate.js')
const { isRevokedProxy, revokedProxy, outOfRange } = require('./errors.js')

/** GC kinds (the `kind` label), and the profiler's `gcType` for each. */
const KINDS = Object.freeze(['scavenge', 'minor_mark_compact', 'mark_compact', 'incremental_marking', 'weak_callbacks'])
const KIND_OF_TYPE = {
  Scavenge: 'scavenge',
  MinorMarkCompact: 'minor_mark_compact',
  MarkSweepCompact: 'mark_compact',
  IncrementalMarking: 'incremental_marking',
  ProcessWeakCallbacks: 'weak_callbacks',
}
const MAJOR_FLAG = 4
const PROFILER_MAJOR = 'MarkSweepCompact'
const PROFILER_MINOR = new Set(['Scavenge', 'MinorMarkCompact'])

/** Default GC pause buckets (seconds): 50 µs to 2.5 s. */
const DEFAULT_GC_BUCKETS = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
])

/** How often the profiler is also rotated (bounds what it holds), ms. */
const ROTATE_MS = 5000
/** Pauses kept for matching against stalls (the newest). */
const PAUSES_KEPT = 512
/** Major-GC points kept (the rule's largest window). */
const POINTS_KEPT = 120

/** The rule's defaults (docs/memory.md says why these). */
const LEAK_DEFAULTS = Object.freeze({
  window: 30,
  minPoints: 10,
  minZ: 2.5,
  minHalfZ: 0.8,
  minHalfSlopeRatio: 0.33,
  maxJumpShare: 0.5,
  minRiseBytes: 256 * 1024,
  minRiseFraction: 0.02,
})
const LEAK_KEYS = Object.keys(LEAK_DEFAULTS)

// ---- state (this thread's) -------------------------------------------------

let observer = null
let profiler = null
let running = false
let timer = null
/** hrtime ms minus performance.now(): puts the pauses on the stalls' clock. */
let hrOffsetMs = 0

const pauses = new Map(KINDS.map((k) => [k, { counts: new Float64Array(DEFAULT_GC_BUCKETS.length + 1), sum: 0, count: 0 }]))
/** The newest pauses as [startHrMs, endHrMs], a ring. */
const recent = new Float64Array(PAUSES_KEPT * 2)
let recentNext = 0
let recentSize = 0

const heap = {
  majorGcs: 0,
  minorGcs: 0,
  usedAfterMajorGc: null,
  oldSpaceAfterMinorGc: null,
  heapSizeLimit: null,
  lastMajorAt: null,
}
/** Heap used after each major GC: [{ at, heapUsed }], oldest first. */
const points = []

/** For the benches: called with each new point. */
let pointHook = null

/** Leak listeners: { callback, options, suspected }. */
const leakListeners = new Set()
let status = leakRule(points, LEAK_DEFAULTS)

// ---- the two sources -------------------------------------------------------

// A major GC collects the sentinel (scavenges keep weak targets alive), and
// its cleanup task then rotates the profiler and plants the next one.
const sentinels = new FinalizationRegistry(afterMajorGc)
let planted = false

function plant() {
  if (planted || !running) return
  sentinels.register({}, undefined)
  planted = true
}

function afterMajorGc() {
  planted = false
  if (!running) return
  rotate()
  plant()
}

/** The observer's entries: pause intervals; a major GC rotates the profiler. */
function onEntries(list) {
  let major = false
  for (const e of list.getEntries()) if (interval(e)) major = true
  if (major) rotate()
}

/** Keeps one pause's [startHrMs, endHrMs]; true for a major GC. */
function interval(e) {
  const start = e.startTime + hrOffsetMs
  recent[recentNext * 2] = start
  recent[recentNext * 2 + 1] = start + e.duration
  recentNext = (recentNext + 1) % PAUSES_KEPT
  if (recentSize < PAUSES_KEPT) recentSize++
  return (e.detail?.kind ?? e.kind) === MAJOR_FLAG
}

/** One pause from the profiler, into its kind's histogram. */
function record(kind, seconds) {
  const p = pauses.get(kind)
  let i = 0
  while (i < DEFAULT_GC_BUCKETS.length && seconds > DEFAULT_GC_BUCKETS[i]) i++
  p.counts[i]++
  p.sum += seconds
  p.count++
}

/** Stops the profiler and starts it again at once; folds in what it saw. */
function rotate() {
  if (profiler === null) return
  const r = profiler.stop()
  profiler.start()
  if (!r || !Array.isArray(r.statistics)) return
  const now = Date.now()
  let added = false
  for (const s of r.statistics) {
    const kind = KIND_OF_TYPE[s.gcType]
    if (kind !== undefined && typeof s.cost === 'number') record(kind, s.cost / 1e6)
    const after = s.afterGC
    if (!after) continue
    heap.heapSizeLimit = after.heapStatistics.heapSizeLimit
    if (s.gcType === PROFILER_MAJOR) {
      heap.majorGcs++
      heap.usedAfterMajorGc = after.heapStatistics.usedHeapSize
      heap.lastMajorAt = now
      const point = { at: now, heapUsed: after.heapStatistics.usedHeapSize }
      points.push(point)
      if (points.length > POINTS_KEPT) points.shift()
      added = true
      if (pointHook !== null) pointHook(point)
    } else if (PROFILER_MINOR.has(s.gcType)) {
      heap.minorGcs++
      const old = after.heapSpaceStatistics.find((x) => x.spaceName === 'old_space')
      if (old) heap.oldSpaceAfterMinorGc = old.spaceUsedSize
    }
  }
  if (added) leakCheck()
}

/**
 * Starts GC metrics on this thread (a rotated v8.GCProfiler; a
 * PerformanceObserver too while stall listeners want `gcMs`). Calling it
 * while they run changes nothing. Returns whether it started them.
 */
function startGcStats() {
  if (running) return false
  running = true
  profiler = new v8.GCProfiler()
  profiler.start()
  timer = setInterval(rotate, ROTATE_MS)
  timer.unref()
  plant()
  setStallExtra(STALL_EXTRA)
  return true
}

/**
 * Stops GC metrics on this thread: stops the profiler (folding in what it
 * saw), disconnects the observer, clears the timer. The counts so far stay
 * (the histograms are cumulative). Returns whether they were running.
 */
function stopGcStats() {
  if (!running) return false
  rotate()
  profiler.stop()
  profiler = null
  watchPauses(false)
  setStallExtra(null)
  clearInterval(timer)
  timer = null
  running = false
  return true
}

/** The pause observer: on while GC metrics run and a stall listener wants `gcMs`. */
function watchPauses(on) {
  if (on && running && observer === null) {
    hrOffsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now()
    observer = new PerformanceObserver(onEntries)
    observer.observe({ entryTypes: ['gc'] })
  } else if (!on && observer !== null) {
    observer.disconnect()
    observer = null
  }
}

/** Folds in pause intervals the observer has buffered but not delivered yet. */
function flush() {
  if (observer === null) return
  let major = false
  for (const e of observer.takeRecords()) if (interval(e)) major = true
  if (major) rotate()
}

/**
 * ms of GC pause inside [startHrMs, endHrMs] (hrtime ms), from the pauses'
 * own intervals: what lib/lag.js adds to a stall as `gcMs`.
 */
function gcMsBetween(startHrMs, endHrMs) {
  flush()
  let ms = 0
  for (let k = 0; k < recentSize; k++) {
    const s = recent[k * 2]
    const e = recent[k * 2 + 1]
    const overlap = Math.min(e, endHrMs) - Math.max(s, startHrMs)
    if (overlap > 0) ms += overlap
  }
  return Math.round(ms * 1000) / 1000
}

const STALL_EXTRA = Object.freeze({
  gcMs: (durationMs, endedAtHrMs) => gcMsBetween(endedAtHrMs - durationMs, endedAtHrMs),
  watch: watchPauses,
})

// ---- reads ------------------------------------------------------------------

/**
 * This thread's GC statistics: pauses by kind (count, total seconds and
 * cumulative bucket counts over `buckets`), the exact heap numbers after the
 * last major and minor GC, and the headroom to the heap limit.
 */
function gcStats() {
  flush()
  rotate()
  const limit = heap.heapSizeLimit ?? v8.getHeapStatistics().heap_size_limit
  const byKind = {}
  for (const [kind, p] of pauses) {
    const cumulative = []
    let c = 0
    for (let i = 0; i < DEFAULT_GC_BUCKETS.length; i++) cumulative.push((c += p.counts[i]))
    byKind[kind] = { count: p.count, seconds: p.sum, buckets: cumulative }
  }
  return {
    running,
    thread: lag.thread,
    buckets: [...DEFAULT_GC_BUCKETS],
    pauses: byKind,
    majorGcs: heap.majorGcs,
    minorGcs: heap.minorGcs,
    heapUsedAfterMajorGc: heap.usedAfterMajorGc,
    oldSpaceUsedAfterMinorGc: heap.oldSpaceAfterMinorGc,
    heapSizeLimit: limit,
    headroomBytes: heap.usedAfterMajorGc === null ? null : limit - heap.usedAfterMajorGc,
    lastMajorGcAt: heap.lastMajorAt,
  }
}

// ---- the leak rule ------------------------------------------------------------

/** Standard normal CDF (Abramowitz–Stegun 7.1.26, error < 1.5e-7). */
function phi(z) {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2))
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2)
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2
}

/** Mann–Kendall Z of ys (continuity-corrected; 0 with fewer than 3). */
function mannKendallZ(ys) {
  const n = ys.length
  if (n < 3) return 0
  let s = 0
  for (let i = 0; i < n - 1; i++) for (let j = i + 1; j < n; j++) s += Math.sign(ys[j] - ys[i])
  const sd = Math.sqrt((n * (n - 1) * (2 * n + 5)) / 18)
  return s > 0 ? (s - 1) / sd : s < 0 ? (s + 1) / sd : 0
}

function median(xs) {
  const s = xs.sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Theil–Sen slope of ys over xs (the median of the pairwise slopes). */
function theilSen(xs, ys) {
  const slopes = []
  for (let i = 0; i < ys.length - 1; i++) {
    for (let j = i + 1; j < ys.length; j++) if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]))
  }
  return slopes.length === 0 ? 0 : median(slopes)
}

/** One window's statistics. */
function windowStats(w, o) {
  const ys = w.map((p) => p.heapUsed)
  const n = ys.length
  const idx = ys.map((_, i) => i)
  const h = n >> 1
  const z = mannKendallZ(ys)
  const z1 = mannKendallZ(ys.slice(0, h))
  const z2 = mannKendallZ(ys.slice(n - h))
  const perGc = theilSen(idx, ys)
  // Each half's own slope, against the whole window's (within a factor of
  // 1/minHalfSlopeRatio either way): a step or a fill that stopped makes one
  // half's slope far steeper than the other's, however the noise falls.
  const s1 = theilSen(idx.slice(0, h), ys.slice(0, h))
  const s2 = theilSen(idx.slice(n - h), ys.slice(n - h))
  const halvesAgree = Math.min(s1, s2) >= o.minHalfSlopeRatio * perGc && Math.max(s1, s2) <= perGc / o.minHalfSlopeRatio
  const perMs = theilSen(
    w.map((p) => p.at),
    ys,
  )
  const rise = perGc * (n - 1)
  // A one-time step puts most of the window's range into one jump between
  // neighbours; a trend spreads it over many.
  let maxJump = 0
  let lo = ys[0]
  let hi = ys[0]
  for (let i = 1; i < n; i++) {
    maxJump = Math.max(maxJump, ys[i] - ys[i - 1])
    lo = Math.min(lo, ys[i])
    hi = Math.max(hi, ys[i])
  }
  const spread = hi > lo ? maxJump / (hi - lo) <= o.maxJumpShare : false
  const needed = Math.max(o.minRiseBytes, o.minRiseFraction * median([...ys]))
  const suspected = z >= o.minZ && z1 >= o.minHalfZ && z2 >= o.minHalfZ && halvesAgree && spread && perGc > 0 && rise >= needed
  const confidence = Math.min(phi(z), phi(z1), phi(z2))
  return { n, z, z1, z2, perGc, perMs, rise, needed, suspected, confidence }
}

/**
 * The leak rule on heap-used-after-major-GC points (oldest first), pure.
 * Suffix windows of the newest minPoints, minPoints + 5, … up to `window`
 * points are tried; the rule holds when, in one of them, the Mann–Kendall
 * trend holds over the window (Z >= minZ) and separately in each half
 * (Z >= minHalfZ), each half's Theil–Sen slope is within a factor of
 * 1/minHalfSlopeRatio of the window's (a one-time step or a fill that
 * stopped makes one half far steeper), no rise between neighbouring points
 * is more than maxJumpShare of the window's range (a step is one jump), and
 * the Theil–Sen rise over the
 * window is at least minRiseBytes and minRiseFraction of its median heap.
 * The verdict describes the smallest window that holds, else the whole.
 *
 * @returns {{ suspected: boolean, slopeBytesPerMinute: number, slopeBytesPerMajorGc: number,
 *   confidence: number, z: number, zHalves: [number, number], risenBytes: number,
 *   windowPoints: number, points: { at: number, heapUsed: number }[] }}
 */
function leakRule(pts, options = LEAK_DEFAULTS) {
  const o = { ...LEAK_DEFAULTS, ...options }
  const all = pts.slice(-o.window)
  const verdict = (st, w, suspected) => ({
    suspected,
    slopeBytesPerMinute: st ? Math.round(st.perMs * 60_000) : 0,
    slopeBytesPerMajorGc: st ? Math.round(st.perGc) : 0,
    confidence: st ? Math.round(st.confidence * 1000) / 1000 : 0,
    z: st ? Math.round(st.z * 1000) / 1000 : 0,
    zHalves: st ? [Math.round(st.z1 * 1000) / 1000, Math.round(st.z2 * 1000) / 1000] : [0, 0],
    risenBytes: st ? Math.round(st.rise) : 0,
    windowPoints: w.length,
    points: w.map((p) => ({ at: p.at, heapUsed: p.heapUsed })),
  })
  if (all.length < o.minPoints) return verdict(null, all, false)
  // The smallest window that holds (its slope is the newest), with the
  // highest confidence of any window that holds; else the whole window.
  let found = null
  let foundW = null
  let confidence = 0
  let whole = null
  for (let n = o.minPoints; n <= all.length; n = n + 5 > all.length && n < all.length ? all.length : n + 5) {
    const w = all.slice(-n)
    const st = windowStats(w, o)
    if (st.suspected) {
      if (found === null) {
        found = st
        foundW = w
      }
      confidence = Math.max(confidence, st.confidence)
    }
    if (n === all.length) whole = st
  }
  if (found !== null) return verdict({ ...found, confidence }, foundW, true)
  return verdict(whole, all, false)
}

function checkLeakOptions(options, name = 'options') {
  validateOptions(options, name)
  if (options === undefined) return LEAK_DEFAULTS
  if (isRevokedProxy(options)) throw revokedProxy(name, options)
  validateKeys(options, name, LEAK_KEYS, `the fields are ${LEAK_KEYS.join(', ')}`)
  const window = integerOption(options.window, `${name}.window`, LEAK_DEFAULTS.window, 6, POINTS_KEPT)
  const minPoints = integerOption(options.minPoints, `${name}.minPoints`, Math.min(LEAK_DEFAULTS.minPoints, window), 6, POINTS_KEPT)
  if (minPoints > window) throw outOfRange(`${name}.minPoints`, `<= options.window (${window})`, minPoints)
  return {
    window,
    minPoints,
    minZ: numberOption(options.minZ, `${name}.minZ`, LEAK_DEFAULTS.minZ, 0, 10, '>= 0 and <= 10'),
    minHalfZ: numberOption(options.minHalfZ, `${name}.minHalfZ`, LEAK_DEFAULTS.minHalfZ, 0, 10, '>= 0 and <= 10'),
    minHalfSlopeRatio: numberOption(options.minHalfSlopeRatio, `${name}.minHalfSlopeRatio`, LEAK_DEFAULTS.minHalfSlopeRatio, 0, 1, '>= 0 and <= 1'),
    maxJumpShare: numberOption(options.maxJumpShare, `${name}.maxJumpShare`, LEAK_DEFAULTS.maxJumpShare, 0, 1, '>= 0 and <= 1'),
    minRiseBytes: numberOption(options.minRiseBytes, `${name}.minRiseBytes`, LEAK_DEFAULTS.minRiseBytes, 0, 2 ** 53, '>= 0'),
    minRiseFraction: numberOption(options.minRiseFraction, `${name}.minRiseFraction`, LEAK_DEFAULTS.minRiseFraction, 0, 10, '>= 0 and <= 10'),
  }
}

/** After each new point: the status, then each listener on its own options. */
function leakCheck() {
  status = leakRule(points, LEAK_DEFAULTS)
  for (const l of [...leakListeners]) {
    const v = l.options === LEAK_DEFAULTS ? status : leakRule(points, l.options)
    if (v.suspected && !l.suspected && leakListeners.has(l)) {
      l.suspected = true
      try {
        l.callback({ ...v, thread: lag.thread, heapSizeLimit: heap.heapSizeLimit })
      } catch (err) {
        process.nextTick(rethrow, err)
      }
    } else if (!v.suspected) {
      l.suspected = false
    }
  }
}

function rethrow(err) {
  throw err
}

/**
 * Calls `callback(info)` when the heap after major GCs is found to grow
 * steadily (the leak rule); again only after the rule has stopped holding
 * and holds anew. Starts GC metrics on this thread if they are off.
 * Returns a function that unsubscribes (GC metrics keep running).
 */
function onLeakSuspected(callback, options) {
  validateFunction(callback, 'callback')
  const o = checkLeakOptions(options)
  startGcStats()
  const listener = { callback, options: o, suspected: false }
  leakListeners.add(listener)
  return function unsubscribe() {
    leakListeners.delete(listener)
  }
}

/** The leak rule's verdict on this thread's points now (default options). */
function leakStatus() {
  flush()
  rotate()
  return { ...status, running, majorGcs: heap.majorGcs }
}

module.exports = {
  startGcStats,
  stopGcStats,
  gcStats,
  onLeakSuspected,
  leakStatus,
  // Not part of the API: the pure rule and internals, for the specs and benches.
  [Symbol.for('nodeperf.memoryGcHelper')]: () => ({
    setPointHook(fn) {
      pointHook = fn
    },
    leakRule, mannKendallZ, theilSen, gcMsBetween, rotate, points, LEAK_DEFAULTS, DEFAULT_GC_BUCKETS, KINDS }),
}
