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

/**
 * Whether `value` is a revoked Proxy, which every operation (even
 * `typeof`-free ones such as `in`) throws on. `Array.isArray` is the one
 * check that runs none of a live Proxy's traps and throws only on a
 * revoked one.
 */
function isRevokedProxy(value) {
  try {
    Array.isArray(value)
    return false
  } catch {
    return true
  }
}

/**
 * How Node's ERR_INVALID_ARG_TYPE describes the value received. Never
 * throws: a Proxy whose traps throw (or a revoked one) is shown as
 * `util.inspect` shows it, which runs no trap.
 */
function describeReceived(value) {
  if (value == null) return '' + value
  if (typeof value === 'function') {
    try {
      return `function ${value.name}`
    } catch {
      return `function ${inspect(value, { depth: -1 })}`
    }
  }
  if (typeof value === 'object') {
    try {
      if (value.constructor?.name) return `an instance of ${value.constructor.name}`
    } catch {
      // fall through to inspect, which reads no property of a Proxy
    }
    try {
      return inspect(value, { depth: -1 })
    } catch {
      return 'an object that cannot be inspected'
    }
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

/**
 * `util.inspect(value)`, as Node's errors show values, but never throwing:
 * a Proxy of a Buffer (whose custom inspect then reads the Proxy) or a
 * DataView over a detached buffer make inspect itself throw.
 */
function inspectSafely(value) {
  try {
    return inspect(value)
  } catch {
    return describeReceived(value)
  }
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
  let inspected = inspectSafely(value)
  if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`
  return make('ERR_INVALID_ARG_VALUE', name, `${reason}. Received ${inspected}`, '')
}

/** `RangeError` `ERR_OUT_OF_RANGE`, showing `value` as Node does. */
const outOfRange = (name, range, value) => make('ERR_OUT_OF_RANGE', name, range, describeRange(value))

/** `ERR_OUT_OF_RANGE` for a value that cannot be shown (`what` says what it was). */
const outOfRangeAs = (name, range, what) => make('ERR_OUT_OF_RANGE', name, range, what)

/** `TypeError` `ERR_INVALID_ARG_VALUE` for a revoked Proxy where an object is expected. */
const revokedProxy = (name, value) => invalidArgValue(name, value, 'is a revoked Proxy')

/** `TypeError` `ERR_ILLEGAL_CONSTRUCTOR`: `Illegal constructor`, as Node's `new AbortSignal()`. */
const illegalConstructor = () => make('ERR_ILLEGAL_CONSTRUCTOR', '', '', '')

/** `Error` `ERR_MEMORY_ALLOCATION_FAILED` (Node's code) for `what`; the engine's error as `cause`. */
function allocationFailed(what, cause) {
  const err = make('ERR_MEMORY_ALLOCATION_FAILED', what, '', '')
  if (cause !== undefined) err.cause = cause
  return err
}

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

/**
 * `require(pkg)` of an optional peer dependency; when it is not installed,
 * `ERR_NODEPERF_PEER_MISSING` naming `feature` and the `range` to install.
 */
function requirePeer(feature, pkg, range) {
  try {
    return require(pkg)
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${pkg}'`)) {
      throw peerMissing(feature, pkg, range, e)
    }
    throw e
  }
}

/** `ERR_NODEPERF_SIDECAR`: the sidecar could not start, for `reason`. */
function sidecarError(reason, cause) {
  const err = make('ERR_NODEPERF_SIDECAR', reason, '', '')
  if (cause !== undefined) err.cause = cause
  return err
}

/**
 * The cluster supervisor's own failures (lib/cluster.js):
 * `ERR_NODEPERF_NOT_PRIMARY` (supervise() in a cluster worker) and
 * `ERR_NODEPERF_SUPERVISOR` (a second supervisor, restart() after
 * shutdown began, a rolling restart whose replacement died). Built
 * here, not by the native error model: they concern processes only, never
 * reach Rust, and the addon need not be rebuilt for them. A plain `Error`
 * with `code`, its message said in full by the caller.
 */
function clusterError(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

/**
 * The error an aborted operation rejects with, as Node's own APIs that take
 * a `signal` make it: name `AbortError`, code `ABORT_ERR`, the signal's
 * reason as `cause`.
 */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    // As Node's own AbortError checks `options`; `message` must be a
    // string (the typings say so), since coercing a Symbol or a Proxy can
    // only throw an engine error without a code.
    if (typeof message !== 'string') throw invalidArgType('message', 'of type string', message)
    if (options !== undefined) {
      if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
      if (options !== null && isRevokedProxy(options)) throw revokedProxy('options', options)
    }
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
  allocationFailed,
  clusterError,
  describeReceived,
  illegalConstructor,
  isRevokedProxy,
  revokedProxy,
  invalidArgType,
  invalidArgValue,
  nodeperfError,
  outOfRange,
  outOfRangeAs,
  peerMissing,
  requirePeer,
  sidecarError,
  stringTooLong,
}
