'use strict'
// Shared memory helpers: SharedArrayBuffers that pool tasks read in place
// (the zero-copy contract: src/shared/README.md).

const { invalidArgType, outOfRange } = require('./errors.js')

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

module.exports = { shared }
