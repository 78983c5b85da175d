'use strict'
// Binary inputs that read as empty but are not: a detached ArrayBuffer (or
// a view over one), and a view left out of bounds by shrinking its
// resizable ArrayBuffer. Node-API reports both as zero bytes, so without
// this check they would be hashed or parsed as empty input. Shared by the
// pool (lib/pool.js) and JSON (lib/json.js); asked only for inputs whose
// byte length reads 0, so it costs the hot path nothing.

const { invalidArgValue, outOfRangeAs } = require('./errors.js')

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const uncurry = (f) => Function.prototype.call.bind(f)
// `%TypedArray%.prototype.at` validates its receiver (ValidateTypedArray):
// it throws for a detached or out-of-bounds view and for nothing else.
const typedArrayAt = uncurry(TypedArrayPrototype.at)
const typedArrayTag = uncurry(Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get)

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

module.exports = { checkEmptyInput, isDetached, viewByteLength }
