'use strict'
// Event-loop lag: this thread's monitor (`lag`), every loop's (`monitors`),
// stall listeners, and what exporters read. The measuring is native
// (src/lag/); this file adds the own-thread controls and stall dispatch.

const binding = require('./native.js')
const { isRevokedProxy, revokedProxy } = require('./errors.js')
const { validateFunction, validatePositive } = require('./validate.js')
const culprits = require('./culprits.js')
// Node's own, not a global fake timers may replace.
const { setTimeout, setImmediate } = require('node:timers')

// While GC metrics run on this thread (lib/memory-gc.js): `gcMs(durationMs,
// endedAtHrMs)` says how many ms of a stall were GC pauses, and `watch(on)`
// is told whether any stall listener wants that (the pauses' times are
// only watched then).
let stallExtra = null

/** Sets (or, with null, clears) what adds `gcMs` to stalls. */
function setStallExtra(extra) {
  stallExtra = extra
  if (extra !== null) extra.watch(stallListeners.size > 0)
}

/** @type {Set<{ thresholdMs: number, callback: Function }>} */
const stallListeners = new Set()

// Called natively with [durationMs, startedAt, endedAtHrMs] after each long
// busy period. With culprits on, the culprit is named first (the profile is
// rotated here, on the loop that just stalled) and recorded for the ring,
// the counters and the log, even with no listener. Every listener runs: one that throws does not stop the others, and its
// error is rethrown on the next tick, once per throw, as an
// 'uncaughtException' (what Node's EventTarget and diagnostics_channel do
// with a throwing listener; an EventEmitter's emit() would throw at the
// first and skip the rest).
function dispatchStall([durationMs, startedAt, endedAtHrMs]) {
  const wait = culprits.captureDelayMs(durationMs)
  if (wait === undefined) {
    if (stallExtra === null) {
      deliver(durationMs, { durationMs, startedAt })
      return
    }
    // A GC's pause reaches its observer a loop turn after the GC (a native
    // immediate queues it): the stall is delivered after that turn.
    setImmediate(() => deliver(durationMs, withGc({ durationMs, startedAt }, durationMs, endedAtHrMs)))
    return
  }
  // The profiler's last samples of the stall reach the profile a little
  // after it ends (a thread stuck in one long system call is sampled once,
  // as the call returns): rotate a couple of sampling intervals later.
  setTimeout(() => {
    const found = culprits.capture(durationMs, endedAtHrMs)
    if (found === undefined) {
      deliver(durationMs, withGc({ durationMs, startedAt }, durationMs, endedAtHrMs))
      return
    }
    const { logStallsThresholdMs } = binding.lagConfig()
    const info = culprits.record(lag.thread, durationMs, startedAt, found, logStallsThresholdMs)
    deliver(durationMs, withGc(info, durationMs, endedAtHrMs))
  }, wait)
}

/** `info` with `gcMs` (ms of GC pause inside the stall) while GC metrics run. */
function withGc(info, durationMs, endedAtHrMs) {
  if (stallExtra !== null) info.gcMs = stallExtra.gcMs(durationMs, endedAtHrMs)
  return info
}

function deliver(durationMs, info) {
  for (const listener of [...stallListeners]) {
    if (durationMs >= listener.thresholdMs && stallListeners.has(listener)) {
      try {
        listener.callback({ ...info })
      } catch (err) {
        process.nextTick(rethrow, err)
      }
    }
  }
}

function rethrow(err) {
  throw err
}

/**
 * `options` as the native configure reads it: each field read once, into a
 * plain object, so a revoked Proxy gets a coded error here instead of an
 * engine TypeError there. Anything but an object goes as it is, for the
 * native side to say why it is wrong.
 */
function configureOptions(options) {
  if (options === null || typeof options !== 'object') return { native: options, culprits: undefined }
  if (isRevokedProxy(options)) throw revokedProxy('options', options)
  const stallThresholdMs = options.stallThresholdMs
  let logStalls = options.logStalls
  if (logStalls !== null && typeof logStalls === 'object') {
    if (isRevokedProxy(logStalls)) throw revokedProxy('options.logStalls', logStalls)
    logStalls = { thresholdMs: logStalls.thresholdMs }
  }
  const given = options.culprits
  return { native: { stallThresholdMs, logStalls }, culprits: given === undefined ? undefined : culprits.parseOptions(given) }
}

/** Validates all of `options`, then applies them: nothing changes on a bad one. */
function configureAll(options) {
  const { native, culprits: next } = configureOptions(options)
  binding.lagConfigure(native)
  if (next !== undefined) {
    culprits.apply(next)
    syncStallListeners()
  }
}

function syncStallListeners() {
  if (stallExtra !== null) stallExtra.watch(stallListeners.size > 0)
  let min = culprits.config() === false ? Infinity : culprits.config().thresholdMs
  for (const l of stallListeners) min = Math.min(min, l.thresholdMs)
  if (min === Infinity) {
    binding.lagSetStallListener(null, 0)
    return
  }
  binding.lagSetStallListener(dispatchStall, min)
}

/**
 * The monitor of this thread's loop, with the controls that only its own
 * thread may use. The read methods come from the native `LoopMonitor`.
 */
const lag = binding.lagMonitor()

Object.defineProperties(lag, {
  start: {
    value: function start(options) {
      if (options !== undefined) configureAll(options)
      binding.lagStart()
    },
  },
  stop: {
    value: function stop() {
      binding.lagStop()
    },
  },
  configure: {
    value: function configure(options) {
      configureAll(options)
      return { ...binding.lagConfig(), culprits: culprits.config() }
    },
  },
  onStall: {
    value: function onStall(thresholdMs, callback) {
      validatePositive(thresholdMs, 'thresholdMs', 3_600_000)
      validateFunction(callback, 'callback')
      const listener = { thresholdMs, callback }
      stallListeners.add(listener)
      syncStallListeners()
      return function unsubscribe() {
        if (stallListeners.delete(listener)) syncStallListeners()
      }
    },
  },
})

/**
 * Every live loop monitor in the process: the main thread's and each worker
 * thread's that loaded this module.
 */
function monitors() {
  return binding.monitors()
}

/**
 * What this thread's event loop is, seen from the addon.
 * @returns {{ libuv: string, napi: number, thread: string, iterations: number }}
 */
function loopInfo() {
  return binding.loopInfo()
}

const exportWindows = new Set()
/**
 * Makes every monitor keep what exporters read over a sliding window of
 * `windowMs` (several windows may coexist; asking twice costs nothing).
 */
function enableExport(windowMs) {
  if (exportWindows.has(windowMs)) return
  binding.enableExport(windowMs)
  exportWindows.add(windowMs)
}

// The fields a monitor's export read packs after its histogram counts, by
// name, in order: the layout is stated once, in Rust (EXPORT_FIELDS in
// src/lag/js.rs); the packed array is what crosses the boundary (a native
// object with named fields cost ~4% of a scrape).
const EXPORT_FIELDS = binding.exportFields()

/**
 * What exporters read of `monitor` (after `enableExport(windowMs)`):
 * `{ buckets, sum, stallsTotal, stallSecondsTotal, windowP50, windowP90,
 * windowP99, windowP999, windowMax, windowMin, windowMean, windowStddev,
 * windowUtilization }` (times in s; `buckets` the cumulative counts per
 * bound, then the +Inf count), or null while it keeps none.
 */
function readExport(monitor, bounds, windowMs) {
  const a = binding.lagExportRead(monitor, bounds, windowMs)
  if (a === null) return null
  return unpackExport(a, bounds.length)
}

/**
 * A packed export read (`lagExportRead`'s Float64Array, or the group
 * reader's copy of one) as `readExport` returns it, for `nBounds` bounds.
 */
function unpackExport(a, nBounds) {
  const n = nBounds + 1
  const r = { buckets: a.subarray(0, n) }
  for (let k = 0; k < EXPORT_FIELDS.length; k++) r[EXPORT_FIELDS[k]] = a[n + k]
  return r
}

const NO_BOUNDS = []
/**
 * A monitor's window over `windowMs` (enabled on first use), in ms:
 * `{ p99Ms, maxMs, utilization }`, or null while it has none.
 */
function windowRead(monitor, windowMs) {
  enableExport(windowMs)
  const r = readExport(monitor, NO_BOUNDS, windowMs)
  if (r === null) return null
  return { p99Ms: r.windowP99 * 1e3, maxMs: r.windowMax * 1e3, utilization: r.windowUtilization }
}

/** Recent stalls of every thread, with their culprits, oldest first. */
function recentStalls() {
  return culprits.recentStalls()
}

module.exports = { lag, monitors, loopInfo, enableExport, readExport, unpackExport, windowRead, recentStalls, setStallExtra }
