'use strict'
// Stall culprits: which code kept this thread's loop busy, named after each
// stall from a CPU profile that was already running while it happened.
//
// One in-process inspector session per thread keeps a V8 CPU profile
// running, rotated with `console.profile(title)` / `console.profileEnd`
// (the inspector console's own methods): a new profile starts before the
// old one ends, so V8's profiler never stops, and rotating costs ~0.3 ms
// instead of the 15–70 ms a stop and start of the profiler costs (it logs
// every compiled function again). When a stall ends, the profile is rotated
// and its samples inside the stall name the culprit
// (lib/culprits-attribute.js). Why this way and what was measured:
// src/lag/CULPRITS.md.

const fs = require('node:fs')
const path = require('node:path')
const inspector = require('node:inspector')
const { pathToFileURL } = require('node:url')
const { Worker, isMainThread, threadId } = require('node:worker_threads')
const binding = require('./native.js')
const { isRevokedProxy, revokedProxy } = require('./errors.js')
const { invalidArgType, invalidArgValue, outOfRange } = require('./errors.js')
const { MAX_FRAMES, isUser, attribute, describe, label, round } = require('./culprits-attribute.js')

const TITLE = `nodeperf-culprits-${process.pid}-${threadId}-`
const OWNER = Symbol.for('@nodeperf/native.culprits')
const CAPTURE = Symbol.for('@nodeperf/native.captureStack')
const HELPER = path.join(__dirname, 'culprits-helper.js')
const DEFAULTS = Object.freeze({ intervalMs: 10, thresholdMs: 100, rotateMs: 30_000, precise: false })
// How long the helper waits for the main thread's answer before it
// disconnects (a stall in a native call answers only once the call returns).
const PRECISE_WAIT_MS = 1000
// How long the main thread's exit waits for the helper to disconnect, so
// Node does not print "Waiting for the debugger to disconnect...".
const EXIT_WAIT_MS = 200
const KEYS = Object.keys(DEFAULTS)

/** Settings of this thread: null while off. */
let settings = null
/** The inspector session, its current profile's title, and the rotation timer. */
let session = null
let current = null
let seq = 0
let rotateTimer = null
/** The profile the last `profileEnd` handed over (set by the session event). */
let finished = null
/** Why culprits stepped aside on this thread, said once. */
let warned = false
/** Precise mode (main thread): the helper worker, its connected flag, the last capture. */
let helper = null
let connected = null
let pending = null
/** This thread's monitor, for `stalledFor()` inside a capture. */
let monitor = null

/**
 * `culprits` as given to `lag.configure` / `lag.start`: `true`, `false`,
 * `null` or `{ intervalMs, thresholdMs, rotateMs }`. Returns the settings to
 * use (null: off) without changing anything, or throws a coded error.
 */
function parseOptions(value) {
  if (value === false || value === null) return null
  if (value === true) return { ...DEFAULTS }
  if (typeof value !== 'object') {
    throw invalidArgType('options.culprits', 'of type boolean or object', value)
  }
  if (isRevokedProxy(value)) throw revokedProxy('options.culprits', value)
  for (const key of Object.keys(value)) {
    if (!KEYS.includes(key)) {
      throw invalidArgValue('options.culprits', `has an unknown field '${key}'; it takes ${KEYS.join(', ')}`)
    }
  }
  const out = { ...DEFAULTS }
  number(value, 'intervalMs', 1, 1000, out)
  number(value, 'thresholdMs', 1, 3_600_000, out)
  number(value, 'rotateMs', 1000, 3_600_000, out)
  if (value.precise !== undefined) {
    if (typeof value.precise !== 'boolean') throw invalidArgType('options.culprits.precise', 'of type boolean', value.precise)
    if (value.precise && !isMainThread) {
      throw invalidArgValue('options.culprits.precise', 'watches the main thread only (a worker thread still gets its culprits from its own profile)')
    }
    if (value.precise && !fs.existsSync(HELPER)) {
      throw invalidArgValue('options.culprits.precise', `needs ${HELPER}, which this (bundled) copy of @nodeperf/native does not have`)
    }
    out.precise = value.precise
  }
  return out
}

function number(from, key, min, max, out) {
  const v = from[key]
  if (v === undefined) return
  const name = `options.culprits.${key}`
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v)
  if (!(v >= min && v <= max)) throw outOfRange(name, `>= ${min} and <= ${max}`, v)
  out[key] = v
}

/** Why the profile cannot run on this thread now, or null if it can. */
function obstacle() {
  if (inspector.url() !== undefined) {
    return 'the inspector is open (--inspect or inspector.open()); profiles of ours would show up in the debugger'
  }
  const owner = globalThis[OWNER]
  if (owner !== undefined && owner !== module) {
    return 'another copy of @nodeperf/native already captures stall culprits on this thread'
  }
  return null
}

function warn(reason) {
  if (warned) return
  warned = true
  process.emitWarning(`@nodeperf/native: stall culprits are off on this thread: ${reason}.`, {
    code: 'NODEPERF_CULPRITS_OFF',
  })
}

/**
 * Applies parsed settings (from `parseOptions`): starts, restarts (a new
 * sampling interval needs a new profiler) or stops the profile. Returns
 * whether culprits are on afterwards.
 */
function apply(next) {
  if (next === null) {
    stop()
    return false
  }
  if (settings !== null && session !== null && next.intervalMs === settings.intervalMs) {
    settings = next
    resetTimer()
    syncPrecise()
    return true
  }
  stop()
  const why = obstacle()
  if (why !== null) {
    warn(why)
    return false
  }
  settings = next
  start()
  syncPrecise()
  return true
}

function start() {
  globalThis[OWNER] = module
  // Before the first sample: SIGPROF must not wake this loop's poll (libuv
  // would lose the idle time before each wakeup; src/lag/CULPRITS.md).
  binding.lagBlockProfilerSignal()
  session = new inspector.Session()
  session.connect()
  session.on('Profiler.consoleProfileFinished', onFinished)
  post('Profiler.enable')
  post('Profiler.setSamplingInterval', { interval: Math.round(settings.intervalMs * 1000) })
  begin()
  resetTimer()
}

function stop() {
  stopPrecise()
  if (rotateTimer !== null) clearInterval(rotateTimer)
  rotateTimer = null
  if (session !== null) {
    const s = session
    session = null
    if (current !== null) inspector.console.profileEnd(current)
    current = null
    finished = null
    s.disconnect()
  }
  if (globalThis[OWNER] === module) delete globalThis[OWNER]
  settings = null
}

function resetTimer() {
  if (rotateTimer !== null) clearInterval(rotateTimer)
  // Bounds the profile's memory while no stall comes: each rotation hands
  // over (and drops) at most rotateMs of samples.
  rotateTimer = setInterval(rotateIdle, settings.rotateMs)
  rotateTimer.unref()
}

/** Posts a command; a same-thread session answers synchronously. */
function post(method, params) {
  let failure = null
  session.post(method, params, (err) => {
    failure = err
  })
  if (failure) throw failure
}

function onFinished(message) {
  const { title, profile } = message.params
  if (typeof title === 'string' && title.startsWith(TITLE)) finished = profile
}

function begin() {
  current = TITLE + seq++
  inspector.console.profile(current)
}

/**
 * The periodic rotation, skipped while this loop is in a long busy period:
 * its timer may run inside a stall (after the stalling callback, in the
 * same turn), and the stall's samples must stay for the stall's culprit.
 */
function rotateIdle() {
  monitor ??= binding.lagMonitor()
  if (settings !== null && monitor.stalledFor() >= settings.thresholdMs / 2) return
  rotate()
}

/**
 * Starts the next profile, then ends the current one (in that order, so the
 * profiler keeps running) and returns what it recorded, or null if it was
 * gone (ended by someone else's `console.profileEnd()` with no title).
 */
function rotate() {
  if (session === null) return null
  const old = current
  begin()
  finished = null
  inspector.console.profileEnd(old)
  const profile = finished
  finished = null
  return profile
}

/**
 * How long after a stall of `durationMs` to name its culprit (two sampling
 * intervals, at least 20 ms), or undefined when culprits are off or the
 * stall is below their threshold.
 */
function captureDelayMs(durationMs) {
  if (settings === null || durationMs < settings.thresholdMs) return undefined
  return Math.max(20, 2 * settings.intervalMs)
}

/**
 * Culprit of the stall that ended at `endHrMs` (process.hrtime clock, ms)
 * after `durationMs`, or undefined when culprits are off or below their
 * threshold on this thread.
 */
function capture(durationMs, endHrMs) {
  if (settings === null || durationMs < settings.thresholdMs) return undefined
  const profile = rotate()
  const endUs = endHrMs * 1000
  const found = profile === null ? attribute(null, 0, 0) : attribute(profile, endUs - durationMs * 1000, endUs)
  if (settings.precise) {
    const precise = takePrecise(endHrMs - durationMs, endHrMs)
    if (precise !== undefined) found.precise = precise
  }
  return found
}

/**
 * Records a stall with its culprit (ring, counters, the log line when
 * `logStalls` asks for one) and returns it as `onStall` listeners get it.
 */
function record(thread, durationMs, startedAt, found, logThresholdMs) {
  const info = { durationMs, startedAt, thread, ...found }
  const c = found.culprit
  const line =
    logThresholdMs != null && durationMs >= logThresholdMs
      ? `event loop of ${thread} blocked for ${Math.round(durationMs)} ms in ${c === null ? 'code no sample named' : describe(c)}`
      : null
  binding.stallsRecord(JSON.stringify(info), thread, label(c), c === null ? 'unknown' : c.kind, durationMs / 1000, line)
  return info
}

/** Whether culprits are on for this thread, and with which settings. */
function config() {
  return settings === null ? false : { ...settings }
}

/**
 * The ring: recent stalls of every thread, oldest first, then (precise
 * mode) the stacks of stalls still in progress, marked `inProgress: true`.
 */
function recentStalls() {
  const { entries, inProgress } = binding.stallsRecent()
  return entries.concat(inProgress).map((e) => JSON.parse(e))
}

// ## Precise mode (main thread)
//
// The rotated profile names a stall once it is over. Precise mode also takes
// the stack *while* the loop is stuck: the native watchdog tells a helper
// worker (lib/culprits-helper.js), which asks this isolate, through an
// inspector session, to run captureStack at its next interrupt check.

function syncPrecise() {
  if (settings !== null && settings.precise) startPrecise()
  else stopPrecise()
  if (helper !== null) binding.lagSetCaptureThreshold(settings.thresholdMs)
}

function startPrecise() {
  if (helper !== null) return
  monitor ??= binding.lagMonitor()
  connected = new Int32Array(new SharedArrayBuffer(4))
  globalThis[CAPTURE] = captureStack
  const worker = new Worker(HELPER, {
    name: 'nodeperf-culprits',
    workerData: { connected: connected.buffer, waitMs: PRECISE_WAIT_MS },
    // The helper loads the very addon file this thread loaded: the
    // watchdog that calls it lives in that file's process-wide state.
    env: binding.__file ? { ...process.env, NODEPERF_NATIVE_PATH: binding.__file } : process.env,
  })
  worker.unref()
  worker.on('error', (e) => {
    process.emitWarning(`@nodeperf/native: stall culprits' precise captures stopped: ${e && e.message}`, { code: 'NODEPERF_CULPRITS_PRECISE' })
  })
  worker.once('exit', () => {
    if (helper !== worker) return
    // Killed or crashed: nothing was paused, so nothing needs resuming;
    // the rotated profile goes on naming culprits after each stall.
    helper = null
    binding.lagSetCaptureThreshold(0)
  })
  helper = worker
  process.on('exit', waitForHelper)
}

function stopPrecise() {
  if (helper === null) return
  binding.lagSetCaptureThreshold(0)
  const worker = helper
  helper = null
  // Not terminate(): it lets a capture in flight finish and disconnect, and
  // ends on its own (lib/culprits-helper.js).
  worker.postMessage('stop')
  process.off('exit', waitForHelper)
  delete globalThis[CAPTURE]
  pending = null
}

/** At exit: lets a capture in flight disconnect first (bounded). */
function waitForHelper() {
  if (connected !== null && Atomics.load(connected, 0) === 1) Atomics.wait(connected, 0, 1, EXIT_WAIT_MS)
}

function hrMs() {
  return Number(process.hrtime.bigint()) / 1e6
}

/**
 * Runs on this thread at an interrupt check of whatever JavaScript is
 * running while the loop is stuck: keeps that stack for the stall's info,
 * and publishes it at once for readers on other threads (the sidecar).
 */
function captureStack() {
  if (settings === null || !settings.precise) return
  const stalledMs = monitor.stalledFor()
  // Asked for a stall that is over: this is not its stack.
  if (stalledMs < settings.thresholdMs / 2) return
  const atHrMs = hrMs()
  const frames = stackHere()
  pending = { atHrMs, stalledMs, frames }
  const precise = preciseOf(frames, stalledMs)
  binding.stallsCapture(
    monitor.thread,
    JSON.stringify({ thread: monitor.thread, inProgress: true, startedAt: Date.now() - stalledMs, durationMs: stalledMs, precise }),
    // The label the stall will most likely be counted under, for the
    // process group (src/group/): a reader elsewhere sees it while stuck.
    label(precise),
  )
}

/** The JavaScript stack below captureStack (and the evaluated expression). */
function stackHere() {
  const holder = {}
  const prepare = Error.prepareStackTrace
  const limit = Error.stackTraceLimit
  let sites = []
  try {
    Error.stackTraceLimit = MAX_FRAMES + 4
    Error.prepareStackTrace = (_, callSites) => callSites
    Error.captureStackTrace(holder, captureStack)
    sites = holder.stack
  } catch {
    return []
  } finally {
    Error.prepareStackTrace = prepare
    Error.stackTraceLimit = limit
  }
  const frames = []
  for (const site of Array.isArray(sites) ? sites : []) {
    const file = site.getFileName()
    if (!file) continue
    frames.push({
      functionName: site.getFunctionName() || '(anonymous)',
      url: file.startsWith('/') ? pathToFileURL(file).href : file,
      line: site.getLineNumber() ?? 0,
      column: site.getColumnNumber() ?? 0,
    })
    if (frames.length === MAX_FRAMES) break
  }
  return frames
}

/** The capture taken during [startMs, endMs] (hrtime ms), if any; consumed. */
function takePrecise(startMs, endMs) {
  const p = pending
  if (p === null || p.atHrMs > endMs) return undefined
  pending = null
  if (p.atHrMs < startMs) return undefined
  return preciseOf(p.frames, round(p.atHrMs - startMs))
}

/** A precise capture: its first user frame, spread, and the whole stack. */
function preciseOf(frames, capturedAfterMs) {
  const user = frames.find((f) => isUser(f)) ?? frames[0] ?? { functionName: '(unknown)', url: '', line: 0, column: 0 }
  return { ...user, frames, capturedAfterMs }
}

/** Stall counts per (thread, culprit label, kind), for the prom counter. */
function culpritCounts() {
  return binding.culpritCounts()
}

module.exports = {
  // For the spec: the precise mode's helper worker (to kill it).
  [Symbol.for('nodeperf.culpritsHelper')]: () => helper,
  parseOptions, apply, captureDelayMs, capture, record, config, recentStalls, culpritCounts, attribute, describe, label,
}
