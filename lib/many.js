'use strict'
// `pool.hashMany(algorithm, inputs, options)`: a batch of inputs as one
// pool task (src/pool/tasks/many.rs), one Promise and one crossing each way
// for N inputs. Here: the checks, the items' hand-over and the result's
// shape; lib/pool.js submits.
//
// The hand-over. Items are copied (as references, not bytes) into arrays
// of our own, `[kinds, first, ...items]` of up to CHUNK items each, which
// are passed whole as the arguments of the raw `__manyAdd` (one Node-API
// callback per CHUNK items, no `napi_get_element` per item); the native
// side then references the list of those arrays until the task is done.
// No other code can reach them, so every item stays reachable and in
// place (src/shared/many.rs says why no reference per item is needed).
//
// Detachment. A batch reads non-shared buffers in place with no loop-turn
// watch: before a result reaches the caller, every item captured with
// bytes is checked here (its byte length reads 0 once detached, less once
// its resizable buffer shrank), and such an item rejects the batch with
// ERR_NODEPERF_DETACHED, as a single task's settle-time check does
// (src/shared/mod.rs, case 4). Every read is fault-guarded meanwhile.
//
// Resizable buffers. ArrayBuffer and DataView items over a resizable
// buffer are copied here, as single tasks' inputs are. A TypedArray item is
// not: its `buffer` getter is a runtime call that measured the largest
// per-item cost of this file; it is read in place like any other (V8
// shrinks a resizable buffer in place, within its reservation, and a read
// that faults anyway stops), and a shrink is caught by the check above.

const binding = require('./native.js')
const { isArrayBuffer, isSharedArrayBuffer, isDataView } = require('node:util').types
const { invalidArgType, invalidArgValue, nodeperfError, outOfRange, revokedProxy } = require('./errors.js')
const { DATA_TYPES } = require('./validate.js')
const { checkEmptyInput, intrinsics } = require('./input.js')

/** Items per `__manyAdd` call (they travel as call arguments). */
const CHUNK = 4096
/** Most items in one batch (src/pool/many.rs, MAX_ITEMS). */
const MAX_ITEMS = 2 ** 24

const KIND_STRING = 0
const KIND_TYPED_ARRAY = 1
const KIND_ARRAY_BUFFER = 2
const KIND_DATA_VIEW = 3

// Intrinsics (lib/input.js): neither a subclass nor a patched prototype
// changes what they read.
const { uncurry, typedArrayTag, typedArrayByteLength, typedArrayBuffer, dataViewBuffer, dataViewByteLength, dataViewByteOffset, arrayBufferByteLength } = intrinsics
const arrayBufferSlice = uncurry(ArrayBuffer.prototype.slice)
// A property read, not a brand check (a C++ call, the largest per-item
// cost here when measured): a SharedArrayBuffer has no `resizable`, and
// `growable` ones only grow.
const isResizable = (buffer) => buffer.resizable === true

// Result shapes: the native `dest` codes (src/pool/many.rs).
const TEXT = ['hex', 'base64', 'base64url']
const DEST_BYTES = 3
const DEST_OUT = 4

let manyAdd = null

/**
 * `options` of `hashMany` (or a `hash.many` task's fields): where the
 * digests go. `prefix` names them in errors (`options.` or `task.`).
 */
function destination(encoding, out, prefix) {
  if (out !== undefined) {
    if (encoding !== undefined && encoding !== 'buffer') {
      throw invalidArgValue(`${prefix}encoding`, encoding, 'is not used with out: digests are written as bytes into out')
    }
    if (!ArrayBuffer.isView(out)) {
      throw invalidArgType(`${prefix}out`, 'a TypedArray, Buffer or DataView over a SharedArrayBuffer', out)
    }
    const buffer = typedArrayTag(out) !== undefined ? typedArrayBuffer(out) : dataViewBuffer(out)
    if (!isSharedArrayBuffer(buffer)) {
      throw invalidArgType(`${prefix}out`, 'a TypedArray, Buffer or DataView over a SharedArrayBuffer', out)
    }
    return DEST_OUT
  }
  if (encoding === undefined || encoding === 'buffer') return DEST_BYTES
  const i = typeof encoding === 'string' ? TEXT.indexOf(encoding) : -1
  if (i >= 0) return i
  if (typeof encoding !== 'string') throw invalidArgType(`${prefix}encoding`, 'of type string', encoding)
  throw invalidArgValue(`${prefix}encoding`, encoding, "must be one of 'hex', 'base64', 'base64url', 'buffer'")
}

/**
 * Checks `inputs` and puts its items into arrays of our own (see above).
 * Throws a coded error naming the first bad item (`inputs[3]`).
 * @returns {{ n: number, kinds: Uint8Array, lengths: Float64Array, owner: unknown[][] }}
 */
function prepare(inputs, name) {
  let isArray
  try {
    isArray = Array.isArray(inputs)
  } catch {
    throw revokedProxy(name, inputs)
  }
  if (!isArray) throw invalidArgType(name, 'an instance of Array', inputs)
  const n = inputs.length
  if (n > MAX_ITEMS) throw outOfRange(`${name}.length`, `<= ${MAX_ITEMS}`, n)
  const kinds = new Uint8Array(n)
  const lengths = new Float64Array(n)
  const owner = []
  for (let first = 0; first < n; first += CHUNK) {
    const m = Math.min(CHUNK, n - first)
    const args = new Array(m + 2)
    args[0] = kinds
    args[1] = first
    for (let j = 0; j < m; j++) {
      const i = first + j
      let v = inputs[i]
      let kind
      if (typeof v === 'string') {
        kind = KIND_STRING
      } else if (typedArrayTag(v) !== undefined) {
        kind = KIND_TYPED_ARRAY
        const length = typedArrayByteLength(v)
        if (length === 0) checkEmptyInput(v, `${name}[${i}]`)
        lengths[i] = length
      } else if (isArrayBuffer(v)) {
        kind = KIND_ARRAY_BUFFER
        if (arrayBufferByteLength(v) === 0) checkEmptyInput(v, `${name}[${i}]`)
        if (isResizable(v)) v = arrayBufferSlice(v, 0)
        lengths[i] = arrayBufferByteLength(v)
      } else if (isDataView(v)) {
        kind = KIND_DATA_VIEW
        let length = 0
        try {
          length = dataViewByteLength(v)
        } catch {
          checkEmptyInput(v, `${name}[${i}]`)
        }
        if (length === 0) checkEmptyInput(v, `${name}[${i}]`)
        const buffer = dataViewBuffer(v)
        if (isResizable(buffer)) v = new DataView(arrayBufferSlice(buffer, dataViewByteOffset(v), dataViewByteOffset(v) + length))
        lengths[i] = length
      } else if (isSharedArrayBuffer(v)) {
        // Node-API on Node 20 cannot read a bare SharedArrayBuffer.
        kind = KIND_TYPED_ARRAY
        v = new Uint8Array(v)
        lengths[i] = typedArrayByteLength(v)
      } else {
        throw invalidArgType(`${name}[${i}]`, DATA_TYPES, v)
      }
      args[j + 2] = v
      kinds[i] = kind
    }
    owner.push(args)
  }
  return { n, kinds, lengths, owner }
}

/** Hands the prepared items to the native side (this thread's batch). */
function capture(batch) {
  if (manyAdd === null) manyAdd = binding.__manyAdd()
  for (const args of batch.owner) Reflect.apply(manyAdd, undefined, args)
}

/** Whether any item the task read in place was detached (or shrunk) meanwhile. */
function anyDetached(batch) {
  const { kinds, lengths, owner } = batch
  for (const args of owner) {
    const first = args[1]
    for (let j = 2; j < args.length; j++) {
      const i = first + j - 2
      const kind = kinds[i]
      if (kind === KIND_STRING) continue // also: no bytes captured (src/shared/many.rs)
      const v = args[j]
      let now
      if (kind === KIND_TYPED_ARRAY) now = typedArrayByteLength(v)
      else if (kind === KIND_ARRAY_BUFFER) now = arrayBufferByteLength(v)
      else {
        try {
          now = dataViewByteLength(v)
        } catch {
          return true
        }
      }
      if (now < lengths[i]) return true
    }
  }
  return false
}

/** The empty batch's result. */
function empty(dest, out) {
  if (dest === DEST_OUT) return out
  if (dest === DEST_BYTES) return Buffer.alloc(0)
  return []
}

/**
 * The settled task's value as the caller gets it: a Buffer, `out`, or the
 * one string of back-to-back encodings cut into N strings.
 */
function finish(batch, value, dest, out) {
  if (anyDetached(batch)) throw nodeperfError('ERR_NODEPERF_DETACHED')
  if (dest === DEST_OUT) return out
  if (dest === DEST_BYTES) return value
  const n = batch.n
  const width = value.length / n
  const strings = new Array(n)
  for (let i = 0; i < n; i++) strings[i] = value.slice(i * width, (i + 1) * width)
  return strings
}

module.exports = { DEST_OUT, capture, destination, empty, finish, prepare }
