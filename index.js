'use strict'
// The hand-written face of @nodeperf/native. The loader
// (lib/binding.js) finds the native addon for this platform; this file attaches
// it to the calling thread's event loop and gives the public API its
// JS-friendly shapes and argument checks.

const { isMainThread, threadId } = require('node:worker_threads')
const { availableParallelism } = require('node:os')
const { inspect } = require('node:util')
const binding = require('./lib/binding.js')
const { parseJson, parseJsonSync, validateJson } = require('./lib/json.js')

// One native state per thread (main or worker): hooks on this thread's loop,
// torn down with the thread. The lag monitor starts here, at load.
binding.attach(threadId, isMainThread)

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
      if (typeof thresholdMs !== 'number') throw invalidArgType('thresholdMs', 'of type number', thresholdMs)
      if (!(thresholdMs > 0 && thresholdMs <= 3_600_000)) throw outOfRange('thresholdMs', '> 0 and <= 3600000', thresholdMs)
      if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback)
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

// ---------------------------------------------------------------------------
// Errors: built by the native error model (src/error.rs), so codes, classes
// and wording are the same whether a check is made here or in Rust.

const { invalidArgType, invalidArgValue, outOfRange, abortError, nodeperfError } = require('./lib/errors.js')

// ---------------------------------------------------------------------------
// Task decoding. Names become small integer codes; the native side checks
// them again (and every pointer it takes) on its own.

/** @param {unknown} a */
function algorithmCode(a) {
  switch (a) {
    case 'sha256': return 0
    case 'sha1': return 1
    case 'sha512': return 2
    case 'md5': return 3
    case 'blake3': return 4
    case 'xxh3': return 5
    case 'crc32': return 6
  }
  if (typeof a !== 'string') throw invalidArgType('algorithm', 'of type string', a)
  throw invalidArgValue('algorithm', `must be one of 'sha256', 'sha1', 'sha512', 'md5', 'blake3', 'xxh3', 'crc32'. Received ${inspect(a)}`)
}

/** @param {unknown} e */
function encodingCode(e) {
  switch (e) {
    case undefined:
    case 'hex': return 0
    case 'base64': return 1
    case 'base64url': return 2
    case 'buffer': return 3
  }
  if (typeof e !== 'string') throw invalidArgType('encoding', 'of type string', e)
  throw invalidArgValue('encoding', `must be one of 'hex', 'base64', 'base64url', 'buffer'. Received ${inspect(e)}`)
}

const DATA_TYPES =
  'of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer, or SharedArrayBuffer'
// Inputs up to this size are copied natively; larger ones are read in place.
const COPY_MAX = 1024

// The data kind codes of src/shared/view.rs, and the value to pass for them.
// A bare SharedArrayBuffer goes as a Uint8Array over it (Node-API cannot
// read a bare one on Node 20); a resizable non-shared buffer is copied
// (shrinking it could unmap memory a task is reading).
let dataValue
const KIND_VIEW = 1
function dataKind(data, name) {
  dataValue = data
  if (typeof data === 'string') return 0
  if (ArrayBuffer.isView(data)) {
    let n
    try {
      n = data.byteLength
    } catch {
      throw outOfRange(`${name}.byteLength`, 'a view that lies inside its buffer', 'a view outside its (shrunk) buffer')
    }
    if (n > COPY_MAX && data.buffer.resizable === true) {
      dataValue = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + n))
    }
    return KIND_VIEW
  }
  if (data instanceof ArrayBuffer) {
    if (data.resizable === true) dataValue = data.slice(0)
    return 2
  }
  if (data instanceof SharedArrayBuffer) {
    dataValue = new Uint8Array(data)
    return KIND_VIEW
  }
  throw invalidArgType(name, DATA_TYPES, data)
}

function checkSignal(options) {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  const signal = options.signal
  if (signal === undefined) return undefined
  if (signal === null || typeof signal !== 'object' || !('aborted' in signal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
  }
  return signal
}

const HASH_FIELDS = "op, algorithm, data, encoding, chunkSize and out"

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

function attachSettler() {
  if (submitRaw === null) {
    binding.__setSettler(settle, tags, stageBytes, stageCodes)
    submitRaw = binding.__rawSubmit()
  }
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
// TypedArray intrinsics, so that neither a subclass nor a patched global
// can make the copy differ from the bytes: the kind, and the length.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const uncurry = (get) => Function.prototype.call.bind(get)
const typedArrayTag = uncurry(Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get)
const byteLengthOf = uncurry(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'byteLength').get)

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
  const onAbort = () => {
    if (resolvers[id] !== resolve) return // settled (the id may be reused)
    resolvers[id] = undefined
    resolve(Promise.reject(abortError(signal)))
    native.abort(id)
  }
  signal.addEventListener('abort', onAbort, { once: true })
  const done = () => signal.removeEventListener('abort', onAbort)
  promise.then(done, done)
  return promise
}

// ---------------------------------------------------------------------------
// Pools.

const DEFAULT_MAX_QUEUE = 131072
const MAX_THREADS = 256
const defaultThreads = () => Math.max(1, availableParallelism() - 1)

/**
 * A pool of native threads that run CPU-bound tasks and settle Promises on
 * the thread that submitted them. Get one as `pool` (the process-wide
 * default) or from `createPool()`.
 */
class Pool {
  #native = null
  #index = 0
  #make

  /** @internal */
  constructor(make) {
    this.#make = make
  }

  /** The native handle, once this thread's staged tasks reached their pools. */
  #sync() {
    flushStage()
    return this.#n()
  }

  #n() {
    if (this.#native === null) {
      attachSettler()
      this.#native = this.#make()
      this.#index = this.#native.index
    }
    return this.#native
  }

  /**
   * Runs a task; resolves with its result.
   * @param {object} task `{ op: 'hash', algorithm, data, encoding }` or
   *   `{ op: 'hash', algorithm, data, chunkSize, out }`
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<any>}
   */
  run(task, options) {
    try {
      if (typeof task !== 'object' || task === null) throw invalidArgType('task', 'of type object', task)
      const signal = options === undefined ? undefined : checkSignal(options)
      switch (task.op) {
        case 'hash':
          break
        case 'json.parse':
        case 'json.validate':
          for (const key in task) {
            if (key !== 'op' && key !== 'data') {
              throw invalidArgValue('task', `has an unknown field ${inspect(key)}; a ${task.op} task takes op and data`)
            }
          }
          const native = this.#jsonPool()
          return task.op === 'json.parse' ? parseJson(task.data, options, native) : validateJson(task.data, options, native)
        default:
          if (typeof task.op !== 'string') throw invalidArgType('task.op', 'of type string', task.op)
          throw invalidArgValue('task.op', `must be one of 'hash', 'json.parse', 'json.validate'. Received ${inspect(task.op)}`)
      }
      for (const key in task) {
        switch (key) {
          case 'op': case 'algorithm': case 'data': case 'encoding': case 'chunkSize': case 'out':
            continue
        }
        throw invalidArgValue('task', `has an unknown field ${inspect(key)}; a hash task takes ${HASH_FIELDS}`)
      }
      if (task.chunkSize !== undefined || task.out !== undefined) {
        return this.#chunks(task, signal)
      }
      return this.#hash(task.algorithm, task.data, task.encoding, signal)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * `run({ op: 'json.parse', data })`: exactly what `JSON.parse` gives, with
   * the main thread building the value in short slices (lib/json.js).
   * @param {string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer} data
   * @param {{ signal?: AbortSignal, sliceSize?: number }} [options]
   * @returns {Promise<unknown>}
   */
  parseJson(data, options) {
    let native
    try {
      native = this.#jsonPool()
    } catch (err) {
      return Promise.reject(err)
    }
    return parseJson(data, options, native)
  }

  /** JSON jobs run on this pool's threads: its native handle, started. */
  #jsonPool() {
    flushStage()
    if (this.#closed()) throw nodeperfError('ERR_NODEPERF_POOL_CLOSED')
    return this.#n()
  }

  #closed() {
    return this.#native !== null && this.#native.closed === true
  }

  /**
   * `run({ op: 'hash', algorithm, data, encoding })`.
   * @returns {Promise<string | Buffer>}
   */
  hash(algorithm, data, encoding, options) {
    try {
      return this.#hash(algorithm, data, encoding, options === undefined ? undefined : checkSignal(options))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #hash(algorithm, data, encoding, signal) {
    const alg = algorithmCode(algorithm)
    const enc = encodingCode(encoding)
    // The stage first: for a Uint8Array, the intrinsics are all the checking
    // it needs (a detached or out-of-bounds view has length 0 and goes the
    // usual way, which says why).
    if (signal === undefined && typedArrayTag(data) === 'Uint8Array') {
      const len = byteLengthOf(data)
      if (len !== 0 && len <= STAGE_SLOT) {
        if (this.#native === null) this.#n()
        const code = (this.#index << 8) | (KIND_VIEW << 6) | (alg << 3) | (enc << 1)
        const promise = stageTask(this.#index, code, data, len)
        if (promise !== undefined) return promise
      }
    }
    const kind = dataKind(data, 'task.data')
    const value = dataValue
    dataValue = undefined
    const n = this.#native ?? this.#n()
    // One packed number (see raw_submit in src/pool/api.rs): one argument
    // conversion instead of five.
    const code = (this.#index << 8) | (kind << 6) | (alg << 3) | (enc << 1)
    flushStage()
    if (signal === undefined) return promiseFor(submitted(submitRaw(code, value)))
    if (signal.aborted) throw abortError(signal)
    return watch(n, submitted(submitRaw(code | 1, value)), signal)
  }

  #chunks(task, signal) {
    const alg = algorithmCode(task.algorithm)
    if (task.encoding !== undefined) {
      throw invalidArgValue('task.encoding', 'is not used with chunkSize/out: digests are written as bytes into out')
    }
    const { chunkSize, out } = task
    if (typeof chunkSize !== 'number') throw invalidArgType('task.chunkSize', 'of type number', chunkSize)
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 2 ** 32) {
      throw outOfRange('task.chunkSize', 'an integer >= 1 and <= 4294967296 (4 GiB)', chunkSize)
    }
    if (!ArrayBuffer.isView(out)) {
      throw invalidArgType('task.out', 'a TypedArray, Buffer or DataView over a SharedArrayBuffer', out)
    }
    try {
      void out.byteLength
    } catch {
      throw outOfRange('task.out.byteLength', 'a view that lies inside its buffer', 'a view outside its buffer')
    }
    const kind = dataKind(task.data, 'task.data')
    const value = dataValue
    dataValue = undefined
    const n = this.#sync()
    if (signal === undefined) return promiseFor(n.submitChunks(kind, value, alg, chunkSize, out, false))
    if (signal.aborted) throw abortError(signal)
    return watch(n, n.submitChunks(kind, value, alg, chunkSize, out, true), signal)
  }

  /**
   * For `@nodeperf/native/prom` (`collectMetrics({ pools })`): this pool's
   * counters and task-time histograms, packed as the default pool's are.
   * @internal
   */
  [Symbol.for('@nodeperf/native.poolMetrics')](bounds) {
    return this.#sync().metrics(bounds)
  }

  /**
   * `{ threads, queued, active, completed, failed, rejected, waitTime,
   * runTime }`; the times as `{ p50, p99, max, mean }` in milliseconds.
   */
  stats() {
    return this.#sync().stats()
  }

  /** Number of native threads. */
  get threads() {
    return this.#n().threads
  }

  /** Tasks accepted and waiting for a thread. */
  get queueSize() {
    return this.#sync().queueSize
  }

  /** Most tasks that may wait; `run` rejects with ERR_NODEPERF_QUEUE_FULL past it. */
  get maxQueue() {
    return this.#n().maxQueue
  }

  /**
   * Stops accepting tasks; resolves once every task already accepted has
   * settled. Idempotent. On the shared default `pool` this closes the
   * calling thread's use of it; other threads keep theirs.
   * @returns {Promise<void>}
   */
  close() {
    return this.#sync().close()
  }

  /** @internal For the specs: a task that sleeps `ms` (checking cancel) or panics. */
  [Symbol.for('nodeperf.testTask')](kind, ms = 0, options) {
    try {
      const signal = options === undefined ? undefined : checkSignal(options)
      if (signal !== undefined && signal.aborted) throw abortError(signal)
      const n = this.#sync()
      const id = n.__submitTest(kind === 'panic', ms, signal !== undefined)
      return signal === undefined ? promiseFor(id) : watch(n, id, signal)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

function integerOption(options, name, min, max, fallback, allowInfinity) {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw invalidArgType(`options.${name}`, 'of type number', v)
  if (allowInfinity && v === Infinity) return v
  if (!Number.isInteger(v) || v < min || v > max) {
    throw outOfRange(`options.${name}`, `an integer >= ${min} and <= ${max}${allowInfinity ? ', or Infinity' : ''}`, v)
  }
  return v
}

/**
 * Creates a pool of its own (the default `pool` is shared by every thread).
 * @param {{ threads?: number, maxQueue?: number }} [options]
 * @returns {Pool}
 */
function createPool(options = {}) {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  for (const key in options) {
    if (key !== 'threads' && key !== 'maxQueue') {
      throw invalidArgValue('options', `has an unknown field ${inspect(key)}; createPool takes threads and maxQueue`)
    }
  }
  const threads = integerOption(options, 'threads', 1, MAX_THREADS, defaultThreads(), false)
  const maxQueue = integerOption(options, 'maxQueue', 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_QUEUE, true)
  const native = binding.createPool(threads, maxQueue)
  return new Pool(() => native)
}

/** The process-wide default pool (this thread's handle on it). */
const pool = new Pool(() => binding.defaultPool(defaultThreads()))

/**
 * Hashes on the calling thread (same algorithms, data and encodings as
 * `pool.hash`).
 * @returns {string | Buffer}
 */
function hashSync(algorithm, data, encoding) {
  const alg = algorithmCode(algorithm)
  const enc = encodingCode(encoding)
  const kind = dataKind(data, 'data')
  const value = dataValue
  dataValue = undefined
  return binding.hashSync(kind, value, alg, enc)
}

// ---------------------------------------------------------------------------
// Shared memory helpers.

const shared = {
  /**
   * A Uint8Array over a new SharedArrayBuffer of `bytes` bytes.
   * @param {number} bytes
   * @returns {Uint8Array}
   */
  alloc(bytes) {
    if (typeof bytes !== 'number') throw invalidArgType('bytes', 'of type number', bytes)
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > Number.MAX_SAFE_INTEGER) {
      throw outOfRange('bytes', 'an integer >= 0', bytes)
    }
    return new Uint8Array(new SharedArrayBuffer(bytes))
  },
  /**
   * Whether `value` is a SharedArrayBuffer or a view over one.
   * @param {unknown} value
   * @returns {boolean}
   */
  isShared(value) {
    if (value instanceof SharedArrayBuffer) return true
    return ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer
  },
}

module.exports = {
  lag,
  monitors,
  loopInfo,
  pool,
  createPool,
  hashSync,
  shared,
  Pool,
  parseJsonSync,
}

// Built on the above; loaded after module.exports is set (they require it).
const { overloaded, underPressure, yieldEvery } = require('./lib/pressure.js')
const { startSidecar } = require('./lib/sidecar.js')
Object.assign(module.exports, { overloaded, underPressure, yieldEvery, startSidecar })
