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
// and its samples inside the stall name the culprit. Why this way and what
// was measured: src/lag/CULPRITS.md.

const inspector = require('node:inspector')
const { threadId } = require('node:worker_threads')
const binding = require('./native.js')
const { isRevokedProxy, revokedProxy } = require('./errors.js')
const { invalidArgType, invalidArgValue, outOfRange } = require('./errors.js')

const TITLE = `nodeperf-culprits-${process.pid}-${threadId}-`
const OWNER = Symbol.for('@nodeperf/native.culprits')
const DEFAULTS = Object.freeze({ intervalMs: 10, thresholdMs: 100, rotateMs: 30_000 })
const KEYS = Object.keys(DEFAULTS)
// Frames kept per stack; stacks kept per stall.
const MAX_FRAMES = 16
const MAX_STACKS = 3

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
  return true
}

function start() {
  globalThis[OWNER] = module
  session = new inspector.Session()
  session.connect()
  session.on('Profiler.consoleProfileFinished', onFinished)
  post('Profiler.enable')
  post('Profiler.setSamplingInterval', { interval: Math.round(settings.intervalMs * 1000) })
  begin()
  resetTimer()
}

function stop() {
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
  rotateTimer = setInterval(rotate, settings.rotateMs)
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
 * Culprit of the stall that ended at `endHrMs` (process.hrtime clock, ms)
 * after `durationMs`, or undefined when culprits are off or below their
 * threshold on this thread.
 */
function capture(durationMs, endHrMs) {
  if (settings === null || durationMs < settings.thresholdMs) return undefined
  const profile = rotate()
  if (profile === null) return attribute(null, 0, 0)
  const endUs = endHrMs * 1000
  return attribute(profile, endUs - durationMs * 1000, endUs)
}

function isUser(cf) {
  return cf.url !== '' && !cf.url.startsWith('node:')
}
function isMeta(cf) {
  return cf.url === '' && cf.functionName.startsWith('(')
}
function frameOf(cf) {
  return {
    functionName: cf.functionName === '' ? '(anonymous)' : cf.functionName,
    url: cf.url,
    line: cf.lineNumber + 1,
    column: cf.columnNumber + 1,
  }
}

/**
 * Names the culprit of the window [startUs, endUs] of `profile` (V8's
 * `Profiler.Profile`). Each sample stands for the time since the one before
 * it (a thread inside a long system call is sampled once, when it returns,
 * and that sample then weighs the whole call), clipped to the window. The
 * culprit is the user function (first frame from the top of the stack that
 * is not Node's own or V8's) with the most time; GC time has no stack, and
 * the stall is GC's when GC took more of it than that function.
 */
function attribute(profile, startUs, endUs) {
  const empty = { culprit: null, stacks: [], gcShare: 0, nativeShare: 0, samples: 0 }
  if (profile === null) return empty
  const nodes = new Map()
  for (const n of profile.nodes) nodes.set(n.id, { cf: n.callFrame, parent: 0, weight: 0, count: 0 })
  for (const n of profile.nodes) {
    if (n.children) for (const c of n.children) nodes.get(c).parent = n.id
  }
  const { samples, timeDeltas } = profile
  let t = profile.startTime
  let total = 0
  let count = 0
  for (let k = 0; k < samples.length; k++) {
    const prev = t
    t += timeDeltas[k]
    const w = Math.min(t, endUs) - Math.max(prev, startUs)
    if (w <= 0 || t < startUs) continue
    const node = nodes.get(samples[k])
    node.weight += w
    node.count++
    total += w
    count++
  }
  if (count === 0) return empty
  let gc = 0
  let native = 0
  const byUser = new Map()
  const leaves = []
  for (const [id, node] of nodes) {
    if (node.count === 0) continue
    const { cf } = node
    if (cf.functionName === '(garbage collector)') {
      gc += node.weight
      continue
    }
    if (cf.functionName === '(idle)' || cf.functionName === '(root)') continue
    if (!isUser(cf)) native += node.weight
    leaves.push(id)
    let user = null
    for (let x = id; x !== 0; x = nodes.get(x).parent) {
      if (isUser(nodes.get(x).cf)) {
        user = x
        break
      }
    }
    // No user frame: the leaf itself (a Node function, or `(program)`).
    const key = user === null ? leafKey(cf) : userKey(nodes.get(user).cf)
    const entry = byUser.get(key) ?? { weight: 0, count: 0, nativeWeight: 0, best: id, bestWeight: 0, frame: user ?? id }
    entry.weight += node.weight
    entry.count += node.count
    if (!isUser(cf)) entry.nativeWeight += node.weight
    if (node.weight > entry.bestWeight) {
      entry.best = id
      entry.bestWeight = node.weight
    }
    byUser.set(key, entry)
  }
  const stacks = leaves
    .sort((a, b) => nodes.get(b).weight - nodes.get(a).weight)
    .slice(0, MAX_STACKS)
    .map((id) => ({ frames: framesFrom(nodes, id), samples: nodes.get(id).count, ms: round(nodes.get(id).weight / 1000) }))
  let top = null
  for (const entry of byUser.values()) if (top === null || entry.weight > top.weight) top = entry
  const result = { culprit: null, stacks, gcShare: round(gc / total, 3), nativeShare: round(native / total, 3), samples: count }
  if (top === null || gc > top.weight) {
    result.culprit = {
      kind: 'gc',
      ...(top === null ? { functionName: '(garbage collector)', url: '', line: 0, column: 0 } : frameOf(nodes.get(top.frame).cf)),
      frames: top === null ? [] : framesFrom(nodes, top.best),
      samples: top === null ? 0 : top.count,
      share: round(gc / total, 3),
    }
    return result
  }
  result.culprit = {
    kind: top.nativeWeight * 2 > top.weight ? 'native' : 'js',
    ...frameOf(nodes.get(top.frame).cf),
    frames: framesFrom(nodes, top.best),
    samples: top.count,
    share: round(top.weight / total, 3),
  }
  return result
}

function userKey(cf) {
  return `${cf.functionName}\0${cf.url}\0${cf.lineNumber}\0${cf.columnNumber}`
}
function leafKey(cf) {
  return `\0${cf.functionName}\0${cf.url}`
}

function framesFrom(nodes, id) {
  const frames = []
  for (let x = id; x !== 0 && frames.length < MAX_FRAMES; x = nodes.get(x).parent) {
    const { cf } = nodes.get(x)
    if (!isMeta(cf)) frames.push(frameOf(cf))
  }
  return frames
}

function round(x, digits = 2) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Where a frame is, short: a path relative to the working directory. */
function place(frame) {
  let url = frame.url
  if (url.startsWith('file://')) {
    try {
      url = require('node:url').fileURLToPath(url)
    } catch {}
  }
  const cwd = process.cwd() + require('node:path').sep
  if (url.startsWith(cwd)) url = url.slice(cwd.length)
  return url === '' ? frame.functionName : `${url}:${frame.line}:${frame.column}`
}

/** The Prometheus label of a culprit: `function (file:line)`. */
function label(culprit) {
  if (culprit === null) return 'unknown'
  if (culprit.url === '') return culprit.functionName
  return `${culprit.functionName} (${place(culprit).replace(/:\d+$/, '')})`
}

/** `parseHuge (app/upload.js:42:17) ← handler (app/upload.js:9:3)`. */
function describe(culprit) {
  if (culprit.kind === 'gc' && culprit.frames.length === 0) return 'garbage collection'
  const where = (f) => (f.url === '' ? f.functionName : `${f.functionName} (${place(f)})`)
  const frames = culprit.frames
  const at = frames.findIndex((f) => f.functionName === culprit.functionName && f.url === culprit.url && f.line === culprit.line)
  const from = at < 0 ? 0 : at
  const parts = [where(frames[from] ?? culprit)]
  if (from > 0) parts[0] += ` via ${frames[from - 1].functionName}`
  if (frames[from + 1] !== undefined) parts.push(where(frames[from + 1]))
  const text = parts.join(' ← ')
  return culprit.kind === 'gc' ? `garbage collection (${Math.round(culprit.share * 100)}%), allocating in ${text}` : text
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

/** The ring: recent stalls of every thread, oldest first. */
function recentStalls() {
  const { entries } = binding.stallsRecent()
  return entries.map((e) => JSON.parse(e))
}

/** Stall counts per (thread, culprit label, kind), for the prom counter. */
function culpritCounts() {
  return binding.culpritCounts()
}

module.exports = { parseOptions, apply, capture, record, config, recentStalls, culpritCounts, attribute, describe, label }
