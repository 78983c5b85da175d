'use strict'
// The JS-side argument checks, one of each kind, worded as Node's own
// (lib/internal/validators.js and lib/internal/errors.js): the same
// checks, names and messages whichever entry point a value reaches. The
// error objects themselves are built by the native error model
// (lib/errors.js).

const { invalidArgType, invalidArgValue, isRevokedProxy, outOfRange, revokedProxy } = require('./errors.js')

/** What binary-or-text inputs (hashing, JSON) may be. */
const DATA_TYPES =
  'of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer, or SharedArrayBuffer'

/**
 * Node's `validateObject`: a non-null, non-array object; and not a revoked
 * Proxy, which every later read would throw an engine error (no code) on.
 */
function validateObject(value, name) {
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value)
  let array
  try {
    array = Array.isArray(value)
  } catch {
    throw revokedProxy(name, value)
  }
  if (array) throw invalidArgType(name, 'of type object', value)
}

/** An optional options object: `undefined`, or an object. */
function validateOptions(options, name = 'options') {
  if (options !== undefined) validateObject(options, name)
}

/**
 * Node's `validateAbortSignal`, worded as Node's, but also requiring what
 * the package then calls (`addEventListener`, `removeEventListener`): Node's
 * check alone lets `{ aborted: false }` through to a TypeError without a
 * code. Returns the signal (or undefined).
 */
function validateSignal(signal, name) {
  if (signal === undefined) return undefined
  if (
    signal === null ||
    typeof signal !== 'object' ||
    isRevokedProxy(signal) ||
    !('aborted' in signal) ||
    typeof signal.addEventListener !== 'function' ||
    typeof signal.removeEventListener !== 'function'
  ) {
    throw invalidArgType(name, 'an instance of AbortSignal', signal)
  }
  return signal
}

/** `options.signal`, checked, for an optional options object. */
function signalOption(options) {
  validateOptions(options)
  return options === undefined ? undefined : validateSignal(options.signal, 'options.signal')
}

/** A function (not a revoked Proxy of one: calling it could only throw). */
function validateFunction(value, name) {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value)
  if (isRevokedProxy(value)) throw revokedProxy(name, value)
}

/**
 * A number in `[min, max]` (`range` words it), or `fallback` when
 * `undefined`.
 */
function numberOption(value, name, fallback, min, max, range) {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!(value >= min && value <= max)) throw outOfRange(name, range, value)
  return value
}

/** A number `> 0 and <= max` (required). */
function validatePositive(value, name, max) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!(value > 0 && value <= max)) throw outOfRange(name, `> 0 and <= ${max}`, value)
  return value
}

/**
 * An integer in `[min, max]` (or `Infinity` when `allowInfinity`), or
 * `fallback` when `undefined`.
 */
function integerOption(value, name, fallback, min, max, allowInfinity = false, range = undefined) {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (allowInfinity && value === Infinity) return value
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, range ?? `an integer >= ${min} and <= ${max}${allowInfinity ? ', or Infinity' : ''}`, value)
  }
  return value
}

/** Rejects own enumerable fields not in `allowed` (`what` lists them). */
function validateKeys(object, name, allowed, what) {
  for (const key in object) {
    if (!allowed.includes(key)) {
      throw invalidArgValue(name, object, `has an unknown field '${key}'; ${what}`)
    }
  }
}

/** One of `names` (a table from Rust): its index. */
function oneOf(value, name, names) {
  const i = typeof value === 'string' ? names.indexOf(value) : -1
  if (i >= 0) return i
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  throw invalidArgValue(name, value, `must be one of ${names.map((n) => `'${n}'`).join(', ')}`)
}

/** Where a job may run: `options.offload` (see `offloadOption`). */
const OFFLOAD = ['auto', 'always', 'never']

/**
 * `options.offload` of an optional options object: `'auto'` (the default:
 * the pool only where it shortens the main thread's longest stall),
 * `'always'` (the pool) or `'never'` (the calling thread). Node's
 * `validateOneOf`: anything else is `ERR_INVALID_ARG_VALUE`.
 */
function offloadOption(options) {
  validateOptions(options)
  const value = options === undefined ? undefined : options.offload
  if (value === undefined) return 'auto'
  if (typeof value === 'string' && OFFLOAD.includes(value)) return value
  throw invalidArgValue('options.offload', value, `must be one of: ${OFFLOAD.map((v) => `'${v}'`).join(', ')}`)
}

module.exports = {
  DATA_TYPES,
  OFFLOAD,
  offloadOption,
  validateObject,
  validateOptions,
  validateSignal,
  signalOption,
  validateFunction,
  numberOption,
  validatePositive,
  integerOption,
  validateKeys,
  oneOf,
}
