'use strict'
// Binary inputs that read as empty but are not: a detached ArrayBuffer (or
// a view over one), and a view left out of bounds by shrinking its
// resizable ArrayBuffer. Node-API reports both as zero bytes, so without
// this check they would be hashed or parsed as empty input. Shared by the
// pool (lib/pool.js) and JSON (lib/json.js); asked only for inputs whose
// byte length reads 0, so it costs the hot path nothing.

const { invalidArgValue, outOfRangeAs } = require('./errors.js')

const { isArrayBuffer, isSharedArrayBuffer } = require('node:util').types

// Intrinsics, shared by the pool's façade (lib/pool.js, lib/many.js):
// neither a subclass nor a patched prototype or global changes what they
// read.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const uncurry = (f) => Function.prototype.call.bind(f)
const getter = (proto, key) => uncurry(Object.getOwnPropertyDescriptor(proto, key).get)
// `%TypedArray%.prototype.at` validates its receiver (ValidateTypedArray):
// it throws for a detached or out-of-bounds view and for nothing else.
const typedArrayAt = uncurry(TypedArrayPrototype.at)
const intrinsics = {
  uncurry,
  typedArrayTag: getter(TypedArrayPrototype, Symbol.toStringTag),
  typedArrayByteLength: getter(TypedArrayPrototype, 'byteLength'),
  typedArrayBuffer: getter(TypedArrayPrototype, 'buffer'),
  dataViewBuffer: getter(DataView.prototype, 'buffer'),
  dataViewByteLength: getter(DataView.prototype, 'byteLength'),
  dataViewByteOffset: getter(DataView.prototype, 'byteOffset'),
  arrayBufferByteLength: getter(ArrayBuffer.prototype, 'byteLength'),
  sharedByteLength: getter(SharedArrayBuffer.prototype, 'byteLength'),
}
const { typedArrayTag } = intrinsics

/**
 * An input's size for the offload rule, read with intrinsics (no user
 * getter runs): bytes, or UTF-16 units for a string (its UTF-8 is at least
 * that long). 0 for a detached view and for what is not an input at all:
 * both then take the inline path, whose checks say what is wrong.
 */
function inputSize(data) {
  if (typeof data === 'string') return data.length
  if (typedArrayTag(data) !== undefined) return intrinsics.typedArrayByteLength(data)
  try {
    if (ArrayBuffer.isView(data)) return intrinsics.dataViewByteLength(data)
    if (isArrayBuffer(data)) return intrinsics.arrayBufferByteLength(data)
    if (isSharedArrayBuffer(data)) return intrinsics.sharedByteLength(data)
  } catch {
    // A detached DataView's byteLength throws.
  }
  return 0
}

/** Whether a non-shared ArrayBuffer is detached (Node 20 lacks `.detached`). */
function isDetached(buffer) {
  if (!(buffer instanceof ArrayBuffer)) return false
  try {
    new Uint8Array(buffer, 0, 0)
    return false
  } catch {
    return true
  }
}

/**
 * Throws the right coded error if `data` (a binary input whose byte length
 * read 0, or a DataView whose `byteLength` threw) is detached or out of
 * bounds; returns quietly for a genuinely empty input.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @param {string} name the argument's name in errors
 */
function checkEmptyInput(data, name) {
  const buffer = data instanceof ArrayBuffer ? data : data.buffer
  if (isDetached(buffer)) throw invalidArgValue(name, data, 'must not be a detached ArrayBuffer (or a view over one)')
  if (buffer === data) return
  let inBounds = true
  if (typedArrayTag(data) !== undefined) {
    try {
      typedArrayAt(data, 0)
    } catch {
      inBounds = false
    }
  } else {
    try {
      void data.byteLength
    } catch {
      inBounds = false
    }
  }
  if (!inBounds) {
    throw outOfRangeAs(`${name}.byteLength`, 'a view that lies inside its buffer', 'a view outside its (shrunk) buffer')
  }
}

/**
 * A view's byte length, after the checks above when it reads 0 (or, for a
 * DataView out of bounds, throws).
 * @param {ArrayBufferView} data
 * @param {string} name
 */
function viewByteLength(data, name) {
  let n = 0
  try {
    n = data.byteLength
  } catch {
    checkEmptyInput(data, name)
  }
  if (n === 0) checkEmptyInput(data, name)
  return n
}

module.exports = { checkEmptyInput, inputSize, intrinsics, isDetached, viewByteLength }
