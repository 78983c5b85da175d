'use strict'
// Shared memory helpers: SharedArrayBuffers that pool tasks read in place
// (the zero-copy contract: src/shared/README.md).

const { constants: bufferConstants } = require('node:buffer')
const { isSharedArrayBuffer, isTypedArray } = require('node:util').types
const { allocationFailed, invalidArgType, outOfRange } = require('./errors.js')

// The longest Uint8Array this Node makes (2**32 on Node 20, 2**53 - 1 from
// Node 22), as Buffer.alloc bounds its size.
const MAX_LENGTH = bufferConstants.MAX_LENGTH

// The intrinsic `buffer` getters: a view's own (or a subclass's) `buffer`
// property cannot change the answer, and a Proxy is not a view.
const uncurry = (get) => Function.prototype.call.bind(get)
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const typedArrayBuffer = uncurry(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'buffer').get)
const dataViewBuffer = uncurry(Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer').get)

const shared = {
  /**
   * A Uint8Array over a new SharedArrayBuffer of `bytes` bytes.
   * @param {number} bytes
   * @returns {Uint8Array}
   */
  alloc(bytes) {
    if (typeof bytes !== 'number') throw invalidArgType('bytes', 'of type number', bytes)
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_LENGTH) {
      throw outOfRange('bytes', `an integer >= 0 and <= ${MAX_LENGTH}`, bytes)
    }
    let buffer
    try {
      buffer = new SharedArrayBuffer(bytes)
    } catch (err) {
      throw allocationFailed(`a SharedArrayBuffer of ${bytes} bytes`, err)
    }
    return new Uint8Array(buffer)
  },
  /**
   * Whether `value` is a SharedArrayBuffer or a view over one.
   * @param {unknown} value
   * @returns {boolean}
   */
  isShared(value) {
    if (isSharedArrayBuffer(value)) return true
    if (!ArrayBuffer.isView(value)) return false
    return isSharedArrayBuffer(isTypedArray(value) ? typedArrayBuffer(value) : dataViewBuffer(value))
  },
}

module.exports = { shared }
