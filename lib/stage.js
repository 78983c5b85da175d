'use strict'
// How pool tasks become Promises on this thread, and the stage that hands
// tiny tasks over in batches. The native side (src/pool/js.rs) settles
// finished tasks in batches by calling `settle`; `lib/pool.js` submits.

const binding = require('./native.js')
const { abortError } = require('./errors.js')
const { onAbort } = require('./abort.js')

// ---------------------------------------------------------------------------
// Settling. Promises are made here; the native side hands back finished
// tasks in batches: one call of `settle(n, ...values)` per wakeup (at most
// 1024 values a call), with `id << 1 | isError` tags in an Int32Array.

// Only the resolve function is kept per task (fewer live objects for the
// GC when many tasks are pending); a rejection resolves the Promise with a
// rejected one, which rejects it with the same reason.
const resolvers = []
const tags = new Int32Array(1024)
let submitRaw = null

function settle(n) {
  for (let i = 0; i < n; i++) {
    const tag = tags[i]
    const id = tag >> 1
    const resolve = resolvers[id]
    resolvers[id] = undefined
    // Always set, unless the private binding was driven by hand (a task
    // nobody holds a Promise for): its result is dropped, not thrown.
    if (resolve !== undefined) resolve((tag & 1) === 0 ? arguments[i + 1] : Promise.reject(arguments[i + 1]))
  }
}

/** Hands the native side this thread's settler and stage (once); returns the raw submit function. */
function attachSettler() {
  if (submitRaw === null) {
    binding.__setSettler(settle, tags, stageBytes, stageCodes)
    submitRaw = binding.__rawSubmit()
  }
  return submitRaw
}

// ---------------------------------------------------------------------------
// The stage. A task whose input is a Uint8Array (or Buffer) of 1 to 64
// bytes, with no signal, costs no Node-API call of its own: its bytes are
// copied into a slot of `stageBytes` and its packed code and length into
// `stageCodes`, and one `__stageFlush(n)` hands all of them over, writing
// each one's id over its code (src/pool/js.rs, STAGE_SLOTS). The stage is
// flushed by a microtask queued with its first task (so before this thread
// returns to its loop), when full, when its room under `maxQueue` is used
// up, and before anything else reaches a pool from this thread (another
// task, a JSON job, `stats()`, `queueSize`, `close()`), so tasks reach the
// pool in the order they were submitted.
const STAGE_SLOTS = 64
const STAGE_SLOT = 64
const stageBytes = new Uint8Array(STAGE_SLOTS * STAGE_SLOT)
const stageCodes = new Int32Array(2 * STAGE_SLOTS)
// A new array per stage: young, so storing a new resolver into it costs no
// remembered-set entry (a long-lived array's write barrier does).
let stagedResolvers = []
let staged = 0
// Tasks the stage may take before asking for room again, and for which pool.
let stageRoom = 0
let stagePool = -1
let stageFlushQueued = false
function stageMicrotask() {
  stageFlushQueued = false
  flushStage()
  binding.__flushSubmitted()
}

/** Hands every staged task to its pool (see above). */
function flushStage() {
  const n = staged
  if (n === 0) return
  const stagedNow = stagedResolvers
  stagedResolvers = []
  staged = 0
  stageRoom = 0
  let refused
  try {
    refused = binding.__stageFlush(n)
  } catch (err) {
    // The stage could not be read at all: none of them was accepted.
    for (let k = 0; k < n; k++) {
      stagedNow[k](Promise.reject(err))
    }
    return
  }
  let r = 0
  for (let k = 0; k < n; k++) {
    const id = stageCodes[2 * k]
    const resolve = stagedNow[k]
    if (id >= 0) resolvers[id] = resolve
    else resolve(Promise.reject(refused[r++]))
  }
}

/**
 * Stages a task for pool `index` (`code` as for submitRaw) if it can take
 * one; returns its Promise, or undefined when the caller must submit it
 * the usual way (no room: that way says why).
 */
function stageTask(index, code, view, len) {
  if (staged === stageRoom || index !== stagePool) {
    flushStage()
    stagePool = index
    stageRoom = binding.__stageRoom(index)
    if (stageRoom <= 0) {
      stageRoom = 0
      return undefined
    }
  }
  const k = staged
  stageBytes.set(view, k * STAGE_SLOT)
  stageCodes[2 * k] = code
  stageCodes[2 * k + 1] = len
  const promise = new Promise(capture)
  stagedResolvers.push(newResolve)
  staged = k + 1
  if (!stageFlushQueued) {
    stageFlushQueued = true
    promiseThen.call(resolvedPromise, stageMicrotask)
  }
  return promise
}

// The flush is queued through a promise reaction taken at load, not the
// global queueMicrotask: test frameworks' fake timers replace that one, and
// held tasks must never wait for a fake clock.
const promiseThen = Promise.prototype.then
const resolvedPromise = Promise.resolve()

/**
 * `submitRaw` returns `~id` (negative) when the native side holds small
 * tasks until a flush: queue it as a microtask, so they reach the pool
 * before this thread returns to its loop (see src/pool/js.rs).
 */
function submitted(r) {
  if (r >= 0) return r
  promiseThen.call(resolvedPromise, binding.__flushSubmitted)
  return ~r
}

let newResolve
function capture(resolve) {
  newResolve = resolve
}

/** The Promise of task `id`, settled by `settle` (or by its signal). */
function promiseFor(id) {
  const promise = new Promise(capture)
  resolvers[id] = newResolve
  return promise
}

/** Ties task `id` to its AbortSignal until it settles. */
function watch(native, id, signal) {
  const promise = promiseFor(id)
  const resolve = resolvers[id]
  // One listener per signal, shared by every task watching it (lib/abort.js).
  const forget = onAbort(signal, () => {
    if (resolvers[id] !== resolve) return // settled (the id may be reused)
    resolvers[id] = undefined
    resolve(Promise.reject(abortError(signal)))
    native.abort(id)
  })
  promise.then(forget, forget)
  return promise
}

module.exports = {
  STAGE_SLOT,
  attachSettler,
  flushStage,
  promiseFor,
  stageTask,
  submitted,
  watch,
}
