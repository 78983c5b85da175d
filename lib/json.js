'use strict'
// pool.parseJson / json.validate / parseJsonSync: the main-thread half.
//
// A native thread validates the document exactly as JSON.parse does and
// streams a plan (src/json/plan.rs): which spans are whole values or runs
// of members that V8's own JSON.parse can build at once, and where the
// containers too large for one slice open and close. This file executes
// that plan in short, time-budgeted slices, yielding to the event loop
// between them, so the loop is never blocked for long. Every span handed to
// JSON.parse here was already validated, and JSON.parse builds each part,
// so numbers, strings and objects come out exactly as JSON.parse makes
// them. src/json/README.md explains the choice and the numbers.
//
// Over 500 lines on purpose: the plan executor (`Task`), its inputs and
// the one scheduler they share are a single state machine; split apart,
// each part would reach into the others' fields.

const { isAnyArrayBuffer } = require('node:util').types
const binding = require('./native.js')
const { AbortError, invalidArgType, nodeperfError, stringTooLong } = require('./errors.js')
const { DATA_TYPES, validateOptions, validateSignal, integerOption, offloadOption } = require('./validate.js')
const { onAbort } = require('./abort.js')
// Node's own, not the global: test frameworks' fake timers replace the
// global one, and a parse must not wait for a fake clock.
const { setImmediate } = require('node:timers')
const { checkEmptyInput, viewByteLength } = require('./input.js')

const jsonParse = JSON.parse
const { defineProperty, getOwnPropertyNames, keys: objectKeys } = Object
const arrayPush = Array.prototype.push
const clock = performance.now.bind(performance)
// The scheduler's clock; the specs swap it (testClock below) to make the
// time budget count calls instead of milliseconds.
let now = clock

// Op codes (src/json/plan.rs).
const VALUE = 1
const ARRAY_OPEN = 2
const OBJECT_OPEN = 3
const CLOSE = 4
const KEY = 5
const ITEMS = 6
const MEMBERS = 7
const STRING_OPEN = 8
const STRING_PIECE = 9
const STRING_CLOSE = 10
const STRING_CLOSE_KEY = 11
const NON_ASCII = 0x100
const DECODED = 0x200

// Job status (src/json/job.rs).
const RUNNING = 0
const DONE = 1

// Frame kinds.
const ARRAY = 0
const OBJECT = 1
const STRING = 2

const DEFAULT_SLICE = 64 * 1024
// `offload: 'auto'`: documents up to this long (UTF-16 units of a string,
// bytes of binary input) are parsed by JSON.parse on the calling thread,
// at once: below it, handing the parse to the pool does not shorten the
// main thread's longest stall (bench/json-crossover.mjs; the table is in
// src/json/README.md). An explicit `sliceSize` below it lowers it.
const OFFLOAD_AT = { string: 1024 * 1024, bytes: 1024 * 1024 }
// Main-thread time per turn of the event loop, shared by every parse in
// flight. One slice takes well under 1 ms, so a turn ends within ~3 ms.
const BUDGET_MS = 2
// UTF-16 units of a string copied to the native side per step (about
// 0.3 ms of main-thread time).
const FEED_CHUNK = 1 << 19

// Our messages follow the running Node's JSON.parse: Node 22+ (V8 12+) adds
// "(line L column C)" after positions, and Node 20 (V8 11) reports a later
// key without its ':' as an unexpected token.
function messageOf(text) {
  try {
    jsonParse(text)
  } catch (e) {
    return String(e && e.message)
  }
  return ''
}
binding.jsonSetDialect(
  /\(line \d+ column \d+\)\s*$/.test(messageOf('[1')),
  messageOf('{"a":1,"b"x').startsWith('Unexpected token'),
)


/**
 * The input as the native side reads it: a string, or a Uint8Array over the
 * caller's memory (no copy) plus a Buffer over the same memory for decoding.
 */
function normalize(data, name) {
  if (typeof data === 'string') return { text: data, view: null, buf: null }
  let view
  if (ArrayBuffer.isView(data)) {
    viewByteLength(data, name)
    view =
      data instanceof Uint8Array && !(data instanceof Buffer)
        ? data
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  } else if (isAnyArrayBuffer(data)) {
    if (data.byteLength === 0) checkEmptyInput(data, name)
    view = new Uint8Array(data)
  } else {
    throw invalidArgType(name, DATA_TYPES, data)
  }
  if (view.buffer.resizable === true) {
    // A resizable ArrayBuffer may shrink (and unmap pages) under the scan:
    // it is parsed from a copy, as pool tasks hash one (src/shared/README.md).
    view = new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength))
    return { text: null, view, buf: Buffer.from(view.buffer) }
  }
  const buf = data instanceof Buffer ? data : Buffer.from(view.buffer, view.byteOffset, view.byteLength)
  return { text: null, view, buf }
}

/** V8's own error for a string over its length limit (no code of its own). */
function isStringLengthError(error) {
  return error instanceof RangeError && error.code === undefined && /Invalid string length/.test(error.message)
}

function checkOptions(options) {
  validateOptions(options)
  if (options === undefined) return { signal: undefined, slice: DEFAULT_SLICE, sliced: false, offload: 'auto' }
  const signal = validateSignal(options.signal, 'options.signal')
  const slice = integerOption(options.sliceSize, 'options.sliceSize', DEFAULT_SLICE, 1, 0x7fffffff)
  const offload = offloadOption(options)
  return { signal, slice, sliced: options.sliceSize !== undefined, offload }
}

/** Whether a document of `length` goes to the pool (see OFFLOAD_AT). */
function offloads(input, length, opts) {
  if (opts.offload !== 'auto') return opts.offload === 'always'
  const at = OFFLOAD_AT[input.text !== null ? 'string' : 'bytes']
  return length > (opts.sliced ? Math.min(opts.slice, at) : at)
}

// Keys an ordinary assignment would not simply create as an own data
// property: everything Object.prototype has (an accessor such as
// __proto__, or a read-only property of a frozen prototype). Those go
// through defineProperty, as JSON.parse's CreateDataProperty does.
function prototypeKeys() {
  return new Set(getOwnPropertyNames(Object.prototype))
}

function hasIndexKey(set) {
  for (const k of set) if (/^(0|[1-9]\d*)$/.test(k)) return true
  return false
}

function defineData(target, key, value) {
  defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
}

// ---------------------------------------------------------------------------
// One scheduler for every parse in flight: a single time budget per turn of
// the event loop, shared round-robin, so eight parses do not stall the loop
// eight times as long as one.

const runnable = []
let tickScheduled = false

function schedule(task) {
  if (task.queued || task.finished) return
  task.queued = true
  runnable.push(task)
  if (!tickScheduled) {
    tickScheduled = true
    setImmediate(tick)
  }
}

function tick() {
  tickScheduled = false
  const deadline = now() + BUDGET_MS
  let n = runnable.length
  while (n-- > 0) {
    const task = runnable.shift()
    task.queued = false
    if (task.step(deadline)) {
      task.queued = true
      runnable.push(task)
    }
    if (now() >= deadline) break
  }
  if (runnable.length > 0 && !tickScheduled) {
    tickScheduled = true
    setImmediate(tick)
  }
}

class Frame {
  constructor(kind) {
    this.kind = kind
    this.value = kind === STRING ? '' : null
    this.key = undefined
  }
}

/**
 * One parse's promise and AbortSignal: settles once (`done` or `fail`),
 * then lets the subclass release what it holds (`release`).
 */
class Settling {
  constructor(validateOnly, signal, resolve, reject) {
    this.validateOnly = validateOnly
    this.signal = signal
    this.resolve = resolve
    this.reject = reject
    this.queued = false
    this.finished = false
    // One listener per signal, however many parses share it (lib/abort.js).
    this.forgetAbort = signal ? onAbort(signal, () => this.fail(new AbortError(undefined, { cause: signal.reason }))) : null
  }

  done(value) {
    if (this.finished) return
    this.finish()
    this.resolve(value)
  }

  fail(error) {
    if (this.finished) return
    this.finish()
    this.reject(error)
  }

  finish() {
    this.finished = true
    if (this.forgetAbort !== null) this.forgetAbort()
    this.release()
  }

  release() {}
}

class Task extends Settling {
  constructor(pool, input, slice, validateOnly, signal, resolve, reject) {
    super(validateOnly, signal, resolve, reject)
    this.text = input.text
    this.view = input.view
    this.buf = input.buf
    // A detached input (the zero-copy contract broken) reads as length 0.
    this.viewLength = input.view ? input.view.byteLength : 0
    this.job = null
    this.fed = 0
    this.allFed = false
    this.ops = null
    this.batchText = null
    this.i = 0
    this.stack = []
    this.root = undefined
    this.protoKeys = prototypeKeys()
    // An index setter anywhere on the prototypes (a polluted realm): then
    // every element is defined, never pushed.
    this.safeArrays = !hasIndexKey(this.protoKeys) && !hasIndexKey(getOwnPropertyNames(Array.prototype))
    const onReady = () => schedule(this)
    const validate = validateOnly === true
    try {
      this.job =
        this.text !== null
          ? binding.JsonJob.forString(pool, this.text.length, slice, validate, onReady)
          : binding.JsonJob.forBytes(pool, this.view, slice, validate, onReady)
    } catch (error) {
      this.finish() // no job: drop the abort listener; the caller rejects
      throw error
    }
  }

  release() {
    // Free the native side's copy of a string now, not at GC.
    if (this.job !== null) this.job.close()
    this.stack = null
    this.ops = null
    this.batchText = null
    this.text = null
    this.view = null
    this.buf = null
  }

  /** Works until `deadline`; returns true if it has more to do now. */
  step(deadline) {
    if (this.finished) return false
    if (this.view !== null && this.view.byteLength !== this.viewLength) {
      // The caller transferred or detached the bytes mid-parse: say so,
      // rather than build a value from whatever the memory holds now.
      this.fail(nodeperfError('ERR_NODEPERF_DETACHED'))
      return false
    }
    const job = this.job
    try {
      for (;;) {
        if (!this.allFed && this.feed(deadline)) return true
        const ops = this.ops
        if (ops === null || this.i >= ops.length) {
          const next = job.take()
          if (next === null) {
            const status = job.status
            if (status === RUNNING) {
              // take() registered us as waiting: onReady comes when ops
              // arrive, more of the string can be fed, or the job ends. But
              // memory may have become ready since feed() looked.
              if (!this.allFed && job.writable > 0) continue
              return false
            }
            if (status === DONE) this.done(this.validateOnly ? true : this.root)
            else this.fail(job.error())
            return false
          }
          this.ops = next.ops
          this.batchText = next.text === undefined ? null : next.text
          this.i = 0
          continue
        }
        this.exec(ops, this.i)
        this.i += 4
        if (now() >= deadline) return true
      }
    } catch (error) {
      // Only if the input changed under the parse (the zero-copy contract),
      // memory ran out, or a string value is longer than V8 allows (as
      // parseJsonSync's buffer.toString(), with Node's code): never leave
      // the promise pending.
      this.fail(isStringLengthError(error) ? stringTooLong() : error)
      return false
    }
  }

  /**
   * Copies as much of the string as the native side has memory ready for
   * (it pre-faults pages off this thread, see src/json/job.rs). Returns
   * true if the deadline passed.
   */
  feed(deadline) {
    const text = this.text
    if (text === null) {
      this.allFed = true
      return false
    }
    const length = text.length
    while (this.fed < length) {
      const room = Math.min(this.job.writable, FEED_CHUNK)
      if (room === 0) return false
      const end = this.fed + room
      this.job.feed(text.slice(this.fed, end))
      this.fed = end
      if (end < length && now() >= deadline) return true
    }
    this.allFed = true
    return false
  }

  /** The source text a..b of an op: sliced in place where possible. */
  src(a, b, flags) {
    if (this.text !== null) return this.text.slice(a, b)
    // Non-ASCII spans of binary input arrive decoded (off this thread).
    if ((flags & DECODED) !== 0) return this.batchText.slice(a, b)
    return (flags & NON_ASCII) !== 0 ? this.buf.utf8Slice(a, b) : this.buf.latin1Slice(a, b)
  }

  top() {
    return this.stack[this.stack.length - 1]
  }

  exec(ops, i) {
    const op = ops[i]
    switch (op & 0xff) {
      case VALUE:
        this.deliver(jsonParse(this.src(ops[i + 1], ops[i + 2], op)))
        break
      case ARRAY_OPEN:
        this.stack.push(new Frame(ARRAY))
        break
      case OBJECT_OPEN:
        this.stack.push(new Frame(OBJECT))
        break
      case CLOSE: {
        const f = this.stack.pop()
        this.deliver(f.value !== null ? f.value : f.kind === ARRAY ? [] : {})
        break
      }
      case KEY:
        this.top().key = jsonParse(this.src(ops[i + 1], ops[i + 2], op))
        break
      case ITEMS: {
        const items = jsonParse('[' + this.src(ops[i + 1], ops[i + 2], op) + ']')
        const f = this.top()
        if (f.value === null) f.value = items
        else this.appendAll(f.value, items)
        break
      }
      case MEMBERS: {
        const members = jsonParse('{' + this.src(ops[i + 1], ops[i + 2], op) + '}')
        const f = this.top()
        if (f.value === null) f.value = members
        else this.assignAll(f.value, members)
        break
      }
      case STRING_OPEN:
        this.stack.push(new Frame(STRING))
        break
      case STRING_PIECE: {
        const f = this.top()
        f.value += jsonParse('"' + this.src(ops[i + 1], ops[i + 2], op) + '"')
        break
      }
      case STRING_CLOSE:
        this.deliver(this.stack.pop().value)
        break
      case STRING_CLOSE_KEY: {
        const s = this.stack.pop().value
        this.top().key = s
        break
      }
      default:
        throw new Error(`@nodeperf/native: unknown JSON plan op ${op}`)
    }
  }

  deliver(value) {
    const n = this.stack.length
    if (n === 0) {
      this.root = value
      return
    }
    const f = this.stack[n - 1]
    if (f.kind === ARRAY) {
      if (f.value === null) f.value = [value]
      else if (this.safeArrays) f.value.push(value)
      else defineData(f.value, String(f.value.length), value)
    } else {
      if (f.value === null) f.value = {}
      this.define(f.value, f.key, value)
      f.key = undefined
    }
  }

  define(target, key, value) {
    if (this.protoKeys.has(key)) defineData(target, key, value)
    else target[key] = value
  }

  appendAll(target, items) {
    const n = items.length
    if (!this.safeArrays) {
      for (let k = 0; k < n; k++) defineData(target, String(target.length), items[k])
    } else if (n <= 16384) {
      arrayPush.apply(target, items)
    } else {
      for (let k = 0; k < n; k++) target.push(items[k])
    }
  }

  assignAll(target, members) {
    const names = objectKeys(members)
    for (let k = 0; k < names.length; k++) {
      const key = names[k]
      this.define(target, key, members[key])
    }
  }
}

/**
 * Parses (or, with `validateOnly`, validates) JSON, on the calling thread
 * or on a pool's threads (`options.offload`, OFFLOAD_AT): resolves to what
 * `JSON.parse` returns (or `true`), or rejects with the `SyntaxError`
 * `JSON.parse` would throw (with `position`). `host.native()` gives the
 * native pool handle (or throws), asked only for a job sent to the pool,
 * whose promise then goes to `host.track(promise)`. `dataName` is the
 * argument's name in errors.
 */
function start(host, data, options, validateOnly, dataName) {
  let input, opts
  try {
    input = normalize(data, dataName)
    opts = checkOptions(options)
  } catch (error) {
    return Promise.reject(error)
  }
  const { signal, slice } = opts
  if (signal && signal.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }))
  const length = input.text !== null ? input.text.length : input.view.byteLength
  if (!offloads(input, length, opts)) {
    // On the calling thread, now: what JSON.parse costs, no more (a turn of
    // the loop in between would only delay the value).
    try {
      const value = parseInput(input)
      return Promise.resolve(validateOnly ? true : value)
    } catch (error) {
      return Promise.reject(isStringLengthError(error) ? stringTooLong() : error)
    }
  }
  let pool
  try {
    pool = host.native()
  } catch (error) {
    return Promise.reject(error)
  }
  const job = new Promise((resolve, reject) => {
    try {
      schedule(new Task(pool, input, slice, validateOnly, signal, resolve, reject))
    } catch (error) {
      reject(error)
    }
  })
  host.track(job)
  return job
}

/**
 * `JSON.parse` on the calling thread, for strings and UTF-8 bytes alike,
 * with this package's `SyntaxError` (it names the position and carries
 * `position`).
 */
function parseJsonSync(data) {
  return parseInput(normalize(data, 'data'))
}

function parseInput(input) {
  const text = input.text !== null ? input.text : input.buf.toString('utf8')
  try {
    return jsonParse(text)
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    const ours =
      input.text !== null ? binding.jsonCheckStringSync(input.text) : binding.jsonCheckBytesSync(input.view)
    throw ours || error
  }
}

module.exports = {
  start,
  parseJsonSync,
  /** For the specs: a clock for the scheduler (`undefined` restores the real one). */
  [Symbol.for('nodeperf.testClock')](fn) {
    now = typeof fn === 'function' ? fn : clock
  },
}
