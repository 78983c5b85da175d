'use strict'
// The leak locator: which allocation sites keep gaining live bytes, found
// without a heap snapshot, from V8's sampling heap profiler.
//
// `memory.startLeakLocator()` opens an in-process inspector session on the
// calling thread and starts `HeapProfiler.startSampling`: V8 then records
// one allocation in about every `samplingIntervalBytes` bytes, with its
// stack, and forgets a sample when the GC frees its object. So the profile
// (`HeapProfiler.getSamplingProfile`) is an estimate of the live bytes per
// allocation stack, and a site whose live bytes keep growing read after
// read is where a leak allocates. The arithmetic is lib/memory-growth.js;
// what it costs and why: docs/memory.md, "Leak locator".
//
// The sampler is per isolate and one at a time: this thread's sampler is
// shared by at most one locator handle and the sidecar's
// `/debug/heap-growth` (which reads it from its worker over
// `connectToMainThread`, lib/sidecar-worker.js); each reader keeps its own
// previous read, so neither disturbs the other's growth.

const inspector = require('node:inspector')
const { nodeperfError } = require('./errors.js')
const { integerOption, validateKeys, validateOptions } = require('./validate.js')
const binding = require('./native.js')
const { Growth, DEFAULT_TOP } = require('./memory-growth.js')
const { sessionEnded } = require('./memory-snapshot.js')

const DEFAULT_INTERVAL_BYTES = 32 * 1024
const MIN_INTERVAL_BYTES = 1024
const MAX_INTERVAL_BYTES = 2 ** 30
const MAX_TOP = 10_000
const OPTIONS = ['samplingIntervalBytes', 'top']

const make = binding.__error
const locatorActive = (reason) => make('ERR_NODEPERF_LOCATOR_ACTIVE', reason, '', '')
const inspectorInUse = (reason) => make('ERR_NODEPERF_INSPECTOR_IN_USE', reason, '', '')
function inspectorError(err) {
  const e = make('ERR_NODEPERF_INSPECTOR', err && err.message ? err.message : String(err), '', '')
  e.cause = err
  return e
}

/** This thread's sampler: `{ session, intervalBytes, users }`, or null. */
let sampler = null
/** The locator handle running on this thread, or null. */
let running = null

/** Why the sampler cannot start on this thread now, or null. */
function obstacle() {
  if (inspector.url() !== undefined) {
    return "the inspector is open (--inspect or inspector.open()); a debugger's heap profiler and ours would be the same one"
  }
  return null
}

/** Posts a command on a same-thread session, which answers synchronously. */
function postSync(session, method, params) {
  let failure = null
  let result
  session.post(method, params, (err, res) => {
    failure = err
    result = res
  })
  if (failure) throw inspectorError(failure)
  return result
}

/**
 * Starts this thread's sampler for `user`, or joins the one running.
 * `intervalBytes` undefined: the running one's, else the default.
 */
function acquireSampler(user, intervalBytes) {
  if (sampler !== null) {
    if (intervalBytes !== undefined && intervalBytes !== sampler.intervalBytes) {
      throw locatorActive(
        `the sampler already runs at samplingIntervalBytes ${sampler.intervalBytes} (the sidecar's heapGrowth); pass that interval, or none`,
      )
    }
    sampler.users.add(user)
    return sampler
  }
  const why = obstacle()
  if (why !== null) throw inspectorInUse(why)
  const session = new inspector.Session()
  session.connect()
  try {
    // A profile to read means someone else's session runs the sampler (a
    // tool, another copy of this package): a start of ours would join it
    // silently (V8 keeps the first interval) and our stop would end theirs.
    let theirs = false
    session.post('HeapProfiler.getSamplingProfile', (err) => {
      theirs = !err
    })
    if (theirs) throw inspectorInUse("V8's sampling heap profiler is already running, started by another inspector session")
    const bytes = intervalBytes ?? DEFAULT_INTERVAL_BYTES
    // Live bytes: samples of objects the GC freed are dropped (both flags
    // false, V8's defaults, said out loud), so the profile is what is alive.
    postSync(session, 'HeapProfiler.startSampling', {
      samplingInterval: bytes,
      includeObjectsCollectedByMajorGC: false,
      includeObjectsCollectedByMinorGC: false,
    })
    sampler = { session, intervalBytes: bytes, users: new Set([user]) }
  } catch (e) {
    session.disconnect()
    sessionEnded()
    throw e
  }
  process.on('exit', stopAll)
  return sampler
}

/** `user` is done with the sampler; the last one out stops it. */
function releaseSampler(user) {
  if (sampler === null || !sampler.users.delete(user) || sampler.users.size > 0) return
  const { session } = sampler
  sampler = null
  process.off('exit', stopAll)
  // Not `HeapProfiler.stopSampling`, which builds and returns a whole
  // profile first: the session's end stops the sampler it started. The end
  // also clears V8's heap-snapshot object ids (lib/memory-snapshot.js).
  session.disconnect()
  sessionEnded()
}

/** At exit: no session of ours outlives the thread's JavaScript. */
function stopAll() {
  if (running !== null) running.stop()
  if (sampler !== null) {
    for (const u of [...sampler.users]) releaseSampler(u)
  }
}

/** This thread's sampling profile (`HeapProfiler.SamplingHeapProfile`). */
function profileNow() {
  return postSync(sampler.session, 'HeapProfiler.getSamplingProfile').profile
}

function parseOptions(options, name = 'options') {
  validateOptions(options, name)
  const o = options === undefined ? {} : options
  validateKeys(o, name, OPTIONS, `it takes ${OPTIONS.join(', ')}`)
  return {
    intervalBytes: integerOption(o.samplingIntervalBytes, `${name}.samplingIntervalBytes`, undefined, MIN_INTERVAL_BYTES, MAX_INTERVAL_BYTES),
    top: integerOption(o.top, `${name}.top`, DEFAULT_TOP, 1, MAX_TOP),
  }
}

/**
 * Starts the leak locator on the calling thread (main or worker): off
 * until called, one per thread at a time.
 *
 * @param {object} [options]
 * @param {number} [options.samplingIntervalBytes] mean bytes between
 *   samples, default 32768: smaller finds smaller leaks sooner and costs more
 * @param {number} [options.top] sites per read, default 20
 * @returns {{ read(): Promise<object>, stop(): void, readonly running: boolean, readonly samplingIntervalBytes: number }}
 */
function startLeakLocator(options) {
  const { intervalBytes, top } = parseOptions(options)
  if (running !== null) throw locatorActive('stop() the running one first (one per thread at a time)')
  const user = {}
  const { intervalBytes: bytes } = acquireSampler(user, intervalBytes)
  const growth = new Growth()
  let on = true
  const handle = Object.freeze({
    /**
     * The sites whose live bytes grew most since the previous read (the
     * first read: since the start), ranked.
     */
    read() {
      if (!on) return Promise.reject(nodeperfError('ERR_NODEPERF_LOCATOR_STOPPED'))
      try {
        const result = growth.read(profileNow(), top)
        return Promise.resolve({ ...result, samplingIntervalBytes: bytes })
      } catch (e) {
        return Promise.reject(e)
      }
    },
    /** Stops sampling (once no sidecar reads it); a second call does nothing. */
    stop() {
      if (!on) return
      on = false
      if (running === handle) running = null
      releaseSampler(user)
    },
    get running() {
      return on
    },
    samplingIntervalBytes: bytes,
  })
  running = handle
  return handle
}

/**
 * For the sidecar (lib/sidecar.js): keeps the main thread's sampler running
 * while it serves `/debug/heap-growth`. Returns `{ release, intervalBytes }`.
 */
function holdSamplerForSidecar(options, name) {
  const { intervalBytes } = options === true ? {} : parseOptions(options, name)
  const user = {}
  const held = acquireSampler(user, intervalBytes)
  return { release: () => releaseSampler(user), intervalBytes: held.intervalBytes }
}

/** The `top` the sidecar's reads return (its option, checked). */
function sidecarTop(options, name) {
  if (options === true) return DEFAULT_TOP
  return parseOptions(options, name).top
}

module.exports = { startLeakLocator }
// Not spread into `memory` (lib/memory.js copies enumerable keys only).
Object.defineProperties(module.exports, {
  holdSamplerForSidecar: { value: holdSamplerForSidecar },
  sidecarTop: { value: sidecarTop },
})
