'use strict'
// heap: heap-snapshot analysis. `summary(path)` and `diff(a, b)` read
// `.heapsnapshot` files on a pool thread (src/heap/: a streaming parser,
// the dominator tree, per-constructor totals), never on this thread; the
// report crosses over as one JSON string, parsed here.

const { fileURLToPath } = require('node:url')
const { Pool, pool: defaultPool, heapSubmit } = require('./pool.js')
const { invalidArgType, invalidArgValue, isRevokedProxy, revokedProxy } = require('./errors.js')
const { validateOptions, validateKeys, validateSignal, integerOption, oneOf } = require('./validate.js')

const SUMMARY = 0
const DIFF = 1
const BY = ['id', 'constructor']
const SUMMARY_KEYS = ['top', 'paths', 'signal', 'pool']
const DIFF_KEYS = ['by', 'top', 'paths', 'signal', 'pool']
/** Retainer paths a summary (or an id diff) gives by default. */
const DEFAULT_PATHS = 5
const MAX_PATHS = 1000

/** A path as `node:fs` takes one: a string or a `file:` URL (not empty, no NUL). */
function pathArg(value, name) {
  let path = value
  if (typeof value === 'object' && value !== null && isRevokedProxy(value)) throw revokedProxy(name, value)
  if (typeof value === 'function' && isRevokedProxy(value)) throw revokedProxy(name, value)
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value.href, "must be a path or a 'file:' URL")
    path = fileURLToPath(value)
  } else if (typeof value !== 'string') {
    throw invalidArgType(name, 'of type string or an instance of URL', value)
  }
  if (path.length === 0) throw invalidArgValue(name, value, 'must be a non-empty path')
  if (path.includes('\u0000')) throw invalidArgValue(name, value, 'must be a string without null bytes')
  return path
}

function common(options, keys, what) {
  validateOptions(options)
  if (options === undefined) return { signal: undefined, top: Infinity, target: defaultPool }
  validateKeys(options, 'options', keys, `${what} takes ${keys.join(', ')}`)
  const signal = validateSignal(options.signal, 'options.signal')
  const top = integerOption(options.top, 'options.top', Infinity, 0, Number.MAX_SAFE_INTEGER, true)
  const target = options.pool === undefined ? defaultPool : options.pool
  if ((typeof target === 'object' || typeof target === 'function') && isRevokedProxy(target)) throw revokedProxy('options.pool', target)
  if (!(target instanceof Pool)) throw invalidArgType('options.pool', 'an instance of Pool', target)
  return { signal, top, target }
}

const parse = (text) => JSON.parse(text)

/**
 * Analyses one heap snapshot: per-constructor counts, self and retained
 * sizes (largest retained first), and retainer paths for the largest.
 * @param {string | URL} path
 * @param {{ top?: number, paths?: number, signal?: AbortSignal, pool?: Pool }} [options]
 * @returns {Promise<object>}
 */
function summary(path, options) {
  try {
    const file = pathArg(path, 'path')
    const { signal, top, target } = common(options, SUMMARY_KEYS, 'heap.summary')
    const paths = integerOption(options?.paths, 'options.paths', DEFAULT_PATHS, 0, MAX_PATHS)
    return heapSubmit(target, SUMMARY, file, '', 0, top, paths, signal).then(parse)
  } catch (err) {
    return Promise.reject(err)
  }
}

/**
 * Compares two snapshots. `by: 'id'` (the default): objects of `b` whose
 * ids are not in `a` (new since `a`, alive in `b`), by constructor (largest
 * self size first), with retainer paths to the largest; both must come from
 * one process, `a` first, with no renumbering of ids between them.
 * `by: 'constructor'`: per-constructor count and size changes, largest
 * self-size growth first (any two snapshots).
 * @param {string | URL} a
 * @param {string | URL} b
 * @param {{ by?: 'id' | 'constructor', top?: number, paths?: number, signal?: AbortSignal, pool?: Pool }} [options]
 * @returns {Promise<object>}
 */
function diff(a, b, options) {
  try {
    const fileA = pathArg(a, 'a')
    const fileB = pathArg(b, 'b')
    const { signal, top, target } = common(options, DIFF_KEYS, 'heap.diff')
    const by = options?.by === undefined ? 0 : oneOf(options.by, 'options.by', BY)
    const paths = integerOption(options?.paths, 'options.paths', DEFAULT_PATHS, 0, MAX_PATHS)
    return heapSubmit(target, DIFF, fileA, fileB, by, top, by === 0 ? paths : 0, signal).then(parse)
  } catch (err) {
    return Promise.reject(err)
  }
}

module.exports = { heap: Object.freeze({ summary, diff }) }
