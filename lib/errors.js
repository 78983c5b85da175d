'use strict'
// The façade's errors. They are built by the native error model
// (src/error.rs, through src/args.rs), so codes, classes and wording are the
// same whether a check is made here or in Rust: Node's own codes for
// argument errors and aborts, ERR_NODEPERF_* for the package's own.

const binding = require('./binding.js')

const makeError = binding.__error

/** `TypeError` `ERR_INVALID_ARG_TYPE`: "The "name" argument must be <expected>. Received …". */
const invalidArgType = (name, expected, value) => makeError('ERR_INVALID_ARG_TYPE', name, expected, value)

/** `TypeError` `ERR_INVALID_ARG_VALUE`: "The argument 'name' <reason>". */
const invalidArgValue = (name, reason) => makeError('ERR_INVALID_ARG_VALUE', name, reason, undefined)

/**
 * `RangeError` `ERR_OUT_OF_RANGE`. `value` is the number received, or a
 * string that describes what was received.
 */
const outOfRange = (name, range, value) => makeError('ERR_OUT_OF_RANGE', name, range, value)

/** An `AbortError` (`ABORT_ERR`) carrying the signal's reason as `cause`. */
function abortError(signal) {
  const err = makeError('ABORT_ERR', '', '', undefined)
  if (signal !== undefined && signal.reason !== undefined) err.cause = signal.reason
  return err
}

/** One of the package's own errors by code (`ERR_NODEPERF_POOL_CLOSED`). */
const nodeperfError = (code) => makeError(code, '', '', undefined)

module.exports = { invalidArgType, invalidArgValue, outOfRange, abortError, nodeperfError }
