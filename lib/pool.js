'use strict'
// The native thread pool: `pool` (the process-wide default), `createPool`,
// `hashSync`. Tasks are checked and packed here, then handed over through
// lib/stage.js; the pool itself is native (src/pool/).

const { availableParallelism } = require('node:os')
const binding = require('./native.js')
const { isArrayBuffer, isSharedArrayBuffer } = require('node:util').types
const { abortError, illegalConstructor, invalidArgType, invalidArgValue, outOfRangeAs, nodeperfError } = require('./errors.js')
const { DATA_TYPES, signalOption, offloadOption, validateObject, validateOptions, validateKeys, integerOption, oneOf } = require('./validate.js')
const { STAGE_SLOT, attachSettler, flushStage, promiseFor, stageTask, submitted, watch } = require('./stage.js')
const json = require('./json.js')
const many = require('./many.js')
const { checkEmptyInput, inputSize, intrinsics, viewByteLength } = require('./input.js')

// Names in code order, from Rust (src/pool/tables.rs).
const { ops: OPS, algorithms: ALGORITHMS, encodings: ENCODINGS, digestLengths: DIGEST_LENGTHS } = binding.poolTables()

const algorithmCode = (a, name) => oneOf(a, name, ALGORITHMS)

// `offload: 'auto'` hashes an input of fewer than this many bytes on the
// calling thread, and larger ones on the pool: below it, hashing inline costs
// the thread less than handing the task over and settling it does. Measured
// per algorithm by bench/hash-crossover.mjs (table in src/pool/README.md).
const INLINE_BELOW = {
  sha256: 8192,
  sha1: 4096,
  sha512: 4096,
  md5: 4096,
  blake3: 32768,
  xxh3: 262144,
  crc32: 262144,
}
const inlineBelow = ALGORITHMS.map((a) => {
  if (INLINE_BELOW[a] === undefined) throw new Error(`no offload threshold for ${a}`)
  return INLINE_BELOW[a]
})
// 'number' and 'bigint' give the digest as an unsigned integer, so only
// where it fits exactly: a number holds 4 bytes (crc32), a BigInt here 8
// (crc32, xxh3). Rust checks the same (`Encoding::fits`).
const NUMBER = ENCODINGS.indexOf('number')
const BIGINT = ENCODINGS.indexOf('bigint')
const FITS_IN = { [NUMBER]: 4, [BIGINT]: 8 }
function encodingCode(e, name, alg) {
  if (e === undefined) return 0
  const enc = oneOf(e, name, ENCODINGS)
  if (enc === NUMBER || enc === BIGINT) {
    if (DIGEST_LENGTHS[alg] > FITS_IN[enc]) {
      const fit = ALGORITHMS.filter((_, a) => DIGEST_LENGTHS[a] <= FITS_IN[enc]).join(' and ')
      throw invalidArgValue(name, e, `must not be '${e}' for ${ALGORITHMS[alg]}: its ${DIGEST_LENGTHS[alg]}-byte digest does not fit ('${e}' is for ${fit})`)
    }
  }
  return enc
}

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
    const n = viewByteLength(data, name)
    if (n > COPY_MAX && data.buffer.resizable === true) {
      dataValue = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + n))
    }
    return KIND_VIEW
  }
  // Brand checks, not instanceof: they read no prototype (a revoked Proxy
  // throws on that) and take buffers from other realms.
  if (isArrayBuffer(data)) {
    if (data.byteLength === 0) checkEmptyInput(data, name)
    if (data.resizable === true) dataValue = data.slice(0)
    return 2
  }
  if (isSharedArrayBuffer(data)) {
    dataValue = new Uint8Array(data)
    return KIND_VIEW
  }
  throw invalidArgType(name, DATA_TYPES, data)
}

const HASH_FIELDS = ['op', 'algorithm', 'data', 'encoding', 'chunkSize', 'out']
const JSON_FIELDS = ['op', 'data']
const MANY_FIELDS = ['op', 'algorithm', 'inputs', 'encoding', 'out']

// Intrinsics (lib/input.js), so that neither a subclass nor a patched global
// can make the stage's copy differ from the bytes: the kind, and the length.
const { typedArrayTag, typedArrayByteLength: byteLengthOf } = intrinsics

// A hash task's code, for submitRaw and the stage (`unpack` in
// src/pool/fast.rs): pool index, data kind (2 bits), algorithm (3 bits),
// encoding (3 bits), and bit 0 for "cancellable", set by the caller.
const packCode = (index, kind, alg, enc) => (index << 9) | (kind << 7) | (alg << 4) | (enc << 1)

let submitRaw = null
/** For lib/prom.js (set in Pool's static block). */
let poolMetrics
/** For lib/heap.js (set in Pool's static block). */
let heapSubmit

const DEFAULT_MAX_QUEUE = 131072
const MAX_THREADS = 256
const defaultThreads = () => Math.max(1, availableParallelism() - 1)
// Only this module constructs pools: `new Pool()` elsewhere is an illegal
// constructor, as Node's `new AbortSignal()` is.
const kConstruct = Symbol('Pool')

/**
 * A pool of native threads that run CPU-bound tasks and settle Promises on
 * the thread that submitted them. Get one as `pool` (the process-wide
 * default) or from `createPool()`.
 */
class Pool {
  #native = null
  #index = 0
  #make
  /** Tasks this thread's handle ran inline (`offload`), for `stats()`. */
  #inline = 0
  /** JSON parses in flight on this pool: `close()` waits for them too. */
  #json = new Set()

  /** @internal */
  constructor(make, token) {
    if (token !== kConstruct) throw illegalConstructor()
    this.#make = make
  }

  /** The native handle, once this thread's staged tasks reached their pools. */
  #sync() {
    flushStage()
    return this.#n()
  }

  #n() {
    if (this.#native === null) {
      submitRaw = attachSettler()
      this.#native = this.#make()
      this.#index = this.#native.index
    }
    return this.#native
  }

  /**
   * Runs a task; resolves with its result.
   * @param {object} task `{ op: 'hash', algorithm, data, encoding }`,
   *   `{ op: 'hash', algorithm, data, chunkSize, out }`,
   *   `{ op: 'json.parse', data }` or `{ op: 'json.validate', data }`
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<any>}
   */
  run(task, options) {
    try {
      validateObject(task, 'task')
      const signal = signalOption(options)
      switch (task.op) {
        case 'hash':
          validateKeys(task, 'task', HASH_FIELDS, `a hash task takes ${HASH_FIELDS.join(', ')}`)
          if (task.chunkSize !== undefined || task.out !== undefined) return this.#chunks(task, signal, offloadOption(options))
          return this.#hash(task.algorithm, task.data, task.encoding, signal, offloadOption(options), 'task.')
        case 'hash.many':
          validateKeys(task, 'task', MANY_FIELDS, `a hash.many task takes ${MANY_FIELDS.join(', ')}`)
          return this.#many(task.algorithm, task.inputs, task.encoding, task.out, signal, 'task.', 'task.')
        case 'json.parse':
        case 'json.validate':
          validateKeys(task, 'task', JSON_FIELDS, `a ${task.op} task takes ${JSON_FIELDS.join(', ')}`)
          return this.#jsonJob(task.data, options, task.op === 'json.validate', 'task.data')
        default:
          if (typeof task.op !== 'string') throw invalidArgType('task.op', 'of type string', task.op)
          throw invalidArgValue('task.op', task.op, `must be one of ${OPS.map((o) => `'${o}'`).join(', ')}`)
      }
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
    try {
      return this.#jsonJob(data, options, false, 'data')
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * A JSON job (lib/json.js decides where it runs): one sent to this pool's
   * threads is awaited by its `close()`; one parsed on the calling thread
   * has settled before `close()` could be called.
   */
  #jsonJob(data, options, validateOnly, dataName) {
    if (this.#closing) throw nodeperfError('ERR_NODEPERF_POOL_CLOSED')
    return json.start(this.#jsonHost, data, options, validateOnly, dataName)
  }

  #closing = false
  #jsonHost = {
    native: () => {
      const n = this.#sync()
      if (n.closed) throw nodeperfError('ERR_NODEPERF_POOL_CLOSED')
      return n
    },
    track: (job) => {
      const jobs = this.#json
      jobs.add(job)
      const done = () => jobs.delete(job)
      job.then(done, done)
    },
  }

  /**
   * `run({ op: 'hash', algorithm, data, encoding })`.
   * @returns {Promise<string | Buffer>}
   */
  hash(algorithm, data, encoding, options) {
    try {
      return this.#hash(algorithm, data, encoding, signalOption(options), offloadOption(options), '')
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #hash(algorithm, data, encoding, signal, offload, prefix) {
    const alg = algorithmCode(algorithm, `${prefix}algorithm`)
    const enc = encodingCode(encoding, `${prefix}encoding`, alg)
    if (offload !== 'always' && (offload === 'never' || inputSize(data) < inlineBelow[alg])) {
      if (signal !== undefined && signal.aborted) throw abortError(signal)
      if (this.#closing) throw nodeperfError('ERR_NODEPERF_POOL_CLOSED')
      // What the hasher hands back to hashChecked (anything but a string or a
      // non-empty TypedArray) is checked here first, so errors name
      // `task.data` where the caller wrote that.
      if (typeof data !== 'string' && (typedArrayTag(data) === undefined || byteLengthOf(data) === 0)) {
        dataKind(data, `${prefix}data`)
        dataValue = undefined
      }
      // The calling thread's hasher for this pair (see hasher() below).
      const code = (alg << 8) | enc
      const digest = (hashers[code] ??= binding.__hasher(code))(data)
      this.#inline++
      return Promise.resolve(digest)
    }
    // The stage first: for a Uint8Array, the intrinsics are all the checking
    // it needs (a detached or out-of-bounds view has length 0 and goes the
    // usual way, which says why).
    if (signal === undefined && typedArrayTag(data) === 'Uint8Array') {
      const len = byteLengthOf(data)
      if (len !== 0 && len <= STAGE_SLOT) {
        if (this.#native === null) this.#n()
        const code = packCode(this.#index, KIND_VIEW, alg, enc)
        const promise = stageTask(this.#index, code, data, len)
        if (promise !== undefined) return promise
      }
    }
    const kind = dataKind(data, `${prefix}data`)
    const value = dataValue
    dataValue = undefined
    const n = this.#native ?? this.#n()
    // One packed number: one argument conversion instead of five.
    const code = packCode(this.#index, kind, alg, enc)
    flushStage()
    if (signal === undefined) return promiseFor(submitted(submitRaw(code, value)))
    if (signal.aborted) throw abortError(signal)
    return watch(n, submitted(submitRaw(code | 1, value)), signal)
  }

  /**
   * `run({ op: 'hash.many', algorithm, inputs, encoding, out })`: one task
   * for the whole batch (lib/many.js).
   * @param {string} algorithm
   * @param {Array<string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer>} inputs
   * @param {{ encoding?: string, out?: ArrayBufferView, signal?: AbortSignal }} [options]
   * @returns {Promise<Buffer | string[] | ArrayBufferView>}
   */
  hashMany(algorithm, inputs, options) {
    try {
      const signal = signalOption(options)
      const o = options ?? {}
      validateKeys(o, 'options', ['encoding', 'out', 'signal'], 'hashMany takes encoding, out and signal')
      return this.#many(algorithm, inputs, o.encoding, o.out, signal, '', 'options.')
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #many(algorithm, inputs, encoding, out, signal, prefix, optionPrefix) {
    const alg = algorithmCode(algorithm, `${prefix}algorithm`)
    const dest = many.destination(encoding, out, optionPrefix)
    const batch = many.prepare(inputs, `${prefix}inputs`)
    const n = this.#sync()
    if (n.closed) throw nodeperfError('ERR_NODEPERF_POOL_CLOSED')
    if (signal !== undefined && signal.aborted) throw abortError(signal)
    if (batch.n === 0) return Promise.resolve(many.empty(dest, out))
    many.capture(batch)
    const id = n.submitMany(batch.owner, batch.n, alg, dest, out, signal !== undefined)
    const promise = signal === undefined ? promiseFor(id) : watch(n, id, signal)
    return promise.then((value) => many.finish(batch, value, dest, out))
  }

  #chunks(task, signal, offload) {
    if (offload === 'never') {
      throw invalidArgValue('options.offload', offload, "is not used with chunkSize/out: a chunked hash task runs on the pool (hash each chunk with hashSync to stay on this thread)")
    }
    const alg = algorithmCode(task.algorithm, 'task.algorithm')
    if (task.encoding !== undefined) {
      throw invalidArgValue('task.encoding', task.encoding, 'is not used with chunkSize/out: digests are written as bytes into out')
    }
    const { chunkSize, out } = task
    if (chunkSize === undefined) throw invalidArgType('task.chunkSize', 'of type number', chunkSize)
    integerOption(chunkSize, 'task.chunkSize', undefined, 1, 2 ** 32, false, 'an integer >= 1 and <= 4294967296 (4 GiB)')
    if (!ArrayBuffer.isView(out)) {
      throw invalidArgType('task.out', 'a TypedArray, Buffer or DataView over a SharedArrayBuffer', out)
    }
    try {
      void out.byteLength
    } catch {
      throw outOfRangeAs('task.out.byteLength', 'a view that lies inside its buffer', 'a view outside its buffer')
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
   * `{ threads, queued, active, completed, failed, rejected, waitTime,
   * runTime }`; the times as `{ p50, p99, max, mean }` in milliseconds.
   */
  stats() {
    const stats = this.#sync().stats()
    stats.inline = this.#inline
    return stats
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
   * Stops accepting tasks; resolves once every task already accepted
   * (JSON parses included) has settled. Idempotent. On the shared default
   * `pool` this closes the calling thread's use of it; other threads keep
   * theirs.
   * @returns {Promise<void>}
   */
  close() {
    this.#closing = true
    let closed
    try {
      closed = this.#sync().close()
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#json.size === 0) return closed
    const settled = [...this.#json].map((p) => p.then(noop, noop))
    return Promise.all([closed, ...settled]).then(noop)
  }

  static {
    // For lib/prom.js: a pool's metrics, packed (see `PoolCore::metrics`).
    poolMetrics = (p, bounds) => p.#sync().metrics(bounds)
    // For lib/heap.js: a heap analysis task on pool `p` (arguments checked
    // there); its Promise resolves with the report's JSON text.
    heapSubmit = (p, kind, path, other, by, top, paths, signal) => {
      const n = p.#sync()
      if (signal === undefined) return promiseFor(n.__submitHeap(kind, path, other, by, top, paths, false))
      if (signal.aborted) throw abortError(signal)
      return watch(n, n.__submitHeap(kind, path, other, by, top, paths, true), signal)
    }
    // For the specs, not the typings: a task that sleeps `ms` (checking
    // cancel) or panics, reached as `pool[Symbol.for('nodeperf.testTask')]`.
    Object.defineProperty(Pool.prototype, Symbol.for('nodeperf.testTask'), {
      value: function testTask(kind, ms = 0, options = undefined) {
        try {
          const signal = signalOption(options)
          if (signal !== undefined && signal.aborted) throw abortError(signal)
          const n = this.#sync()
          const id = n.__submitTest(kind === 'panic', ms, signal !== undefined)
          return signal === undefined ? promiseFor(id) : watch(n, id, signal)
        } catch (err) {
          return Promise.reject(err)
        }
      },
    })
  }
}

function noop() {}

/**
 * Creates a pool of its own (the default `pool` is shared by every thread).
 * @param {{ threads?: number, maxQueue?: number }} [options]
 * @returns {Pool}
 */
function createPool(options = {}) {
  validateOptions(options)
  validateKeys(options, 'options', ['threads', 'maxQueue'], 'createPool takes threads and maxQueue')
  const threads = integerOption(options.threads, 'options.threads', defaultThreads(), 1, MAX_THREADS)
  const maxQueue = integerOption(options.maxQueue, 'options.maxQueue', DEFAULT_MAX_QUEUE, 1, Number.MAX_SAFE_INTEGER, true)
  const native = binding.createPool(threads, maxQueue)
  return new Pool(() => native, kConstruct)
}

/** The process-wide default pool (this thread's handle on it). */
const pool = new Pool(() => binding.defaultPool(defaultThreads()), kConstruct)

// ---------------------------------------------------------------------------
// Hashing on the calling thread. `hasher(algorithm, encoding)` is a raw
// Node-API function with both codes fixed (src/pool/sync.rs): a call
// decodes no names and converts no arguments. It reads strings and
// non-empty TypedArrays, DataViews and ArrayBuffers itself, and hands
// anything else to `hashChecked` below (so the checks and errors are
// those of a pool task's data). `hashSync` keeps the hasher of its last
// (algorithm, encoding) pair, and one per pair it has seen.

const hasherCode = (algorithm, encoding, prefix) => {
  const alg = algorithmCode(algorithm, `${prefix}algorithm`)
  return (alg << 8) | encodingCode(encoding, `${prefix}encoding`, alg)
}

/** What a hasher does not read itself: checked, then hashed (`code` as in hasherCode). */
function hashChecked(code, data) {
  const kind = dataKind(data, 'data')
  const value = dataValue
  dataValue = undefined
  return binding.hashSync(kind, value, code >> 8, code & 0xff)
}
binding.__setHashChecked(hashChecked)

/**
 * A function that hashes its one argument on the calling thread, with
 * `algorithm` and `encoding` (default 'hex') fixed; both are checked here.
 * @returns {(data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer) => string | Buffer | number | bigint}
 */
function hasher(algorithm, encoding) {
  return binding.__hasher(hasherCode(algorithm, encoding, ''))
}

const hashers = []
let lastAlgorithm
let lastEncoding
let lastHasher = null

/**
 * Hashes on the calling thread (same algorithms, data and encodings as
 * `pool.hash`).
 * @returns {string | Buffer | number | bigint}
 */
function hashSync(algorithm, data, encoding) {
  if (algorithm !== lastAlgorithm || encoding !== lastEncoding || lastHasher === null) {
    const code = hasherCode(algorithm, encoding, '')
    lastHasher = hashers[code] ??= binding.__hasher(code)
    lastAlgorithm = algorithm
    lastEncoding = encoding
  }
  return lastHasher(data)
}

/** For lib/prom.js: the default pool's packed metrics, or null before it started. */
const defaultPoolMetrics = (bounds) => binding.defaultPoolMetrics(bounds)

module.exports = { Pool, pool, createPool, hashSync, hasher, poolMetrics, defaultPoolMetrics, OPS, heapSubmit: (...args) => heapSubmit(...args) }
