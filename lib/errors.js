'use strict'
// The package's errors. Every one is built by the native error model
// (src/error.rs), so codes, classes and wording are the same whether a check
// is made here or in Rust: Node's own codes for argument errors, and
// ERR_NODEPERF_* for the package's own. Values received are described here,
// with util.inspect, exactly as Node's own errors describe them.
//
// Two kinds are not: an abort is an `AbortError`, the class Node's own
// signal-taking APIs (timers/promises, events.once, streams) reject with,
// which has to be a JS class; and the loader's errors (lib/binding.js) are
// made before there is an addon to build them.

const { inspect } = require('node:util')
const { MAX_STRING_LENGTH } = require('node:buffer').constants
const binding = require('./native.js')

const make = binding.__error

/** How Node's ERR_INVALID_ARG_TYPE describes the value received. */
function describeReceived(value) {
  if (value == null) return '' + value
  if (typeof value === 'function') return `function ${value.name}`
  if (typeof value === 'object') {
    if (value.constructor?.name) return `an instance of ${value.constructor.name}`
    return `${inspect(value, { depth: -1 })}`
  }
  if (typeof value === 'string') {
    // Shortened before quoting; JSON quotes when it holds a single quote.
    const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value
    return `type string (${shown.includes("'") ? JSON.stringify(shown) : `'${shown}'`})`
  }
  let inspected = inspect(value, { colors: false })
  if (inspected.length > 28) inspected = `${inspected.slice(0, 25)}...`
  return `type ${typeof value} (${inspected})`
}

/** How Node's ERR_OUT_OF_RANGE shows the value received. */
function describeRange(value) {
  if (Number.isInteger(value) && Math.abs(value) > 2 ** 32) return separated(String(value))
  if (typeof value === 'bigint') {
    let s = String(value)
    if (value > 2n ** 32n || value < -(2n ** 32n)) s = separated(s)
    return `${s}n`
  }
  return inspect(value)
}

function separated(digits) {
  let res = ''
  let i = digits.length
  const start = digits[0] === '-' ? 1 : 0
  for (; i >= start + 4; i -= 3) res = `_${digits.slice(i - 3, i)}${res}`
  return `${digits.slice(0, i)}${res}`
}

/** `TypeError` `ERR_INVALID_ARG_TYPE`: `The "name" argument must be <expected>. Received …`. */
const invalidArgType = (name, expected, value) => make('ERR_INVALID_ARG_TYPE', name, expected, describeReceived(value))

/** `TypeError` `ERR_INVALID_ARG_VALUE`: `The argument 'name' <reason>. Received <inspect(value)>`. */
function invalidArgValue(name, value, reason = 'is invalid') {
  let inspected = inspect(value)
  if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`
  return make('ERR_INVALID_ARG_VALUE', name, `${reason}. Received ${inspected}`, '')
}

/** `RangeError` `ERR_OUT_OF_RANGE`, showing `value` as Node does. */
const outOfRange = (name, range, value) => make('ERR_OUT_OF_RANGE', name, range, describeRange(value))

/** `ERR_OUT_OF_RANGE` for a value that cannot be shown (`what` says what it was). */
const outOfRangeAs = (name, range, what) => make('ERR_OUT_OF_RANGE', name, range, what)

/** One of the package's own errors that carry no detail (`ERR_NODEPERF_POOL_CLOSED`). */
const nodeperfError = (code) => make(code, '', '', '')

/** Node's `ERR_STRING_TOO_LONG`, as `buffer.toString()` throws it. */
const stringTooLong = () => make('ERR_STRING_TOO_LONG', String(MAX_STRING_LENGTH), '', '')

/** `ERR_NODEPERF_PEER_MISSING`: `feature` needs `pkg` (`range`), not installed. */
function peerMissing(feature, pkg, range, cause) {
  const err = make('ERR_NODEPERF_PEER_MISSING', feature, pkg, range)
  if (cause !== undefined) err.cause = cause
  return err
}

/** `ERR_NODEPERF_SIDECAR`: the sidecar could not start, for `reason`. */
function sidecarError(reason, cause) {
  const err = make('ERR_NODEPERF_SIDECAR', reason, '', '')
  if (cause !== undefined) err.cause = cause
  return err
}

/**
 * The error an aborted operation rejects with, as Node's own APIs that take
 * a `signal` make it: name `AbortError`, code `ABORT_ERR`, the signal's
 * reason as `cause`.
 */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options)
    this.code = 'ABORT_ERR'
    this.name = 'AbortError'
  }
}

/** The AbortError for `signal`. */
const abortError = (signal) => new AbortError(undefined, { cause: signal?.reason })

module.exports = {
  AbortError,
  abortError,
  describeReceived,
  invalidArgType,
  invalidArgValue,
  nodeperfError,
  outOfRange,
  outOfRangeAs,
  peerMissing,
  sidecarError,
  stringTooLong,
}
