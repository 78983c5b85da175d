'use strict'
// Stall culprits, the attribution: which user function a CPU profile's
// samples inside a stall name (lib/culprits.js rotates the profile and calls
// this). Pure functions of the profile. The rules: src/lag/CULPRITS.md.

const path = require('node:path')
const { pathToFileURL } = require('node:url')

// Frames kept per stack; stacks kept per stall.
const MAX_FRAMES = 16
const MAX_STACKS = 3

// This package's own files: a stall inside one of its functions (say
// parseJsonSync) belongs to the caller, as one inside Node's does.
const OWN = [__dirname + path.sep, path.join(__dirname, '..', 'index.')]
const OWN_URLS = OWN.map((p) => pathToFileURL(p).href)

function isUser(cf) {
  const { url } = cf
  if (url === '' || url.startsWith('node:')) return false
  for (let i = 0; i < OWN.length; i++) if (url.startsWith(OWN[i]) || url.startsWith(OWN_URLS[i])) return false
  return true
}
function isMeta(cf) {
  return cf.url === '' && cf.functionName.startsWith('(')
}
/** An inspector call frame as we show it (positions 1-based, as people count). */
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
  if (top === null && gc === 0) return result
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

module.exports = { MAX_FRAMES, isUser, frameOf, attribute, describe, label, round }
