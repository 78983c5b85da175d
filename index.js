'use strict'
// The hand-written face of @nodeperf/native. The generated loader
// (binding.js) finds the native addon for this platform; this file attaches
// it to the calling thread's event loop and gives the public API its
// JS-friendly shapes and argument checks.

const { isMainThread, threadId } = require('node:worker_threads')
const binding = require('./binding.js')

// One native state per thread (main or worker): hooks on this thread's loop,
// torn down with the thread. The lag monitor starts here, at load.
binding.attach(threadId, isMainThread)

/** Throws the package's own argument error (built natively, Node's wording). */
function invalidArgType(name, expected, value) {
  throw binding.argError('type', name, expected, value)
}
function outOfRange(name, range, value) {
  throw binding.argError('range', name, range, value)
}

// ---- lag -------------------------------------------------------------------

/** @type {Set<{ thresholdMs: number, callback: Function }>} */
const stallListeners = new Set()

// Called natively with [durationMs, startedAt] after each long busy period.
function dispatchStall([durationMs, startedAt]) {
  for (const listener of [...stallListeners]) {
    if (durationMs >= listener.thresholdMs && stallListeners.has(listener)) {
      listener.callback({ durationMs, startedAt })
    }
  }
}

function syncStallListeners() {
  if (stallListeners.size === 0) {
    binding.lagSetStallListener(null, 0)
    return
  }
  let min = Infinity
  for (const l of stallListeners) min = Math.min(min, l.thresholdMs)
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
      if (options !== undefined) binding.lagConfigure(options)
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
      binding.lagConfigure(options)
      return binding.lagConfig()
    },
  },
  onStall: {
    value: function onStall(thresholdMs, callback) {
      if (typeof thresholdMs !== 'number') invalidArgType('thresholdMs', 'of type number', thresholdMs)
      if (!(thresholdMs > 0 && thresholdMs <= 3_600_000)) outOfRange('thresholdMs', '> 0 and <= 3600000', thresholdMs)
      if (typeof callback !== 'function') invalidArgType('callback', 'of type function', callback)
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

// ---- misc ------------------------------------------------------------------

/**
 * What this thread's event loop is, seen from the addon.
 * @returns {{ libuv: string, napi: number, thread: string, iterations: number }}
 */
function loopInfo() {
  return binding.loopInfo()
}

module.exports = {
  lag,
  monitors,
  loopInfo,
}

// Built on the above; loaded after module.exports is set (they require it).
const { overloaded, underPressure, yieldEvery } = require('./lib/pressure.js')
const { startSidecar } = require('./lib/sidecar.js')
Object.assign(module.exports, { overloaded, underPressure, yieldEvery, startSidecar })
