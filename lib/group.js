'use strict'
// A cross-process registry of loop state (issue #21): every process of a
// group publishes its loops' lag, stalls, window figures, default pool and
// heap into shared memory from a native thread (src/group/), and any process
// of the group reads all of them with no IPC and no help from their loops,
// so a stuck cluster worker is seen stuck while it is stuck.
//
// Groups: a cluster worker (main thread) joins its primary's group at load,
// key `c<ppid>-<ppid start time>`; any process joins a named group with
// `group.join(name)` or `NODEPERF_GROUP=<name>` (key `n<name>`);
// `NODEPERF_GROUP=off` turns the automatic cluster join off. Worker threads
// never join: the process's publisher covers every loop of the process.

const cluster = require('node:cluster')
const v8 = require('node:v8')
const { isMainThread } = require('node:worker_threads')
const { setInterval } = require('node:timers')
const binding = require('./native.js')
const { invalidArgType, invalidArgValue } = require('./errors.js')
const { validateOptions, integerOption, validateKeys } = require('./validate.js')
const { unpackExport } = require('./lag.js')

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const DEFAULT_INTERVAL_MS = 100
/** prom's default `windowMs`: the window figures published are over it. */
const DEFAULT_WINDOW_MS = 60000
const HEAP_EVERY_MS = 1000

/** What this process joined: `{ key, name, cluster, intervalMs }` or null. */
let joined = null
let heapTimer = null
let exitHooked = false

function validateName(name, argName = 'name') {
  if (typeof name !== 'string') throw invalidArgType(argName, 'of type string', name)
  if (!NAME.test(name)) throw invalidArgValue(argName, name, 'must match /^[A-Za-z0-9_.-]{1,64}$/')
  return name
}

/** The cluster group key of the primary `pid` (its start time defeats pid reuse). */
function clusterKey(pid) {
  const start = binding.groupStartTime(pid)
  if (start === null) return null
  return `c${pid}-${start}`
}

function pushHeap() {
  const h = v8.getHeapStatistics()
  binding.groupSetHeap(h.used_heap_size, h.heap_size_limit)
}

function joinKey(key, name, isCluster, options) {
  validateOptions(options)
  if (options !== undefined) validateKeys(options, 'options', ['intervalMs', 'windowMs'], 'it takes intervalMs, windowMs')
  const intervalMs = integerOption(options?.intervalMs, 'options.intervalMs', DEFAULT_INTERVAL_MS, 10, 10000)
  const windowMs = integerOption(options?.windowMs, 'options.windowMs', DEFAULT_WINDOW_MS, 1000, 86400000)
  if (joined !== null && joined.key !== key) {
    throw binding.__error('ERR_NODEPERF_GROUP_JOINED', `This process is already in group '${joined.name ?? joined.key}'; call group.leave() first`, '', '')
  }
  if (joined !== null) return { key, pid: process.pid }
  const workerId = cluster.isWorker ? cluster.worker.id : undefined
  // The heap figures go out with the first publish.
  pushHeap()
  binding.groupJoin(key, intervalMs, windowMs, workerId)
  joined = { key, name, cluster: isCluster, intervalMs, windowMs }
  heapTimer = setInterval(pushHeap, HEAP_EVERY_MS)
  heapTimer.unref()
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', leave)
  }
  return { key, pid: process.pid }
}

/**
 * Joins the named group: this process's loops (main and worker threads),
 * default pool and heap are published every `intervalMs` (10..10000,
 * default 100) for any process of the group to read. Main thread only.
 * Returns `{ key, pid }`.
 */
function join(name, options) {
  validateName(name)
  if (!isMainThread) throw invalidArgValue('name', name, 'cannot be joined from a worker thread: the main thread\'s group covers every loop of the process')
  return joinKey(`n${name}`, name, false, options)
}

/** Leaves the group (stops publishing, removes this process's marker). */
function leave() {
  if (joined === null) return
  joined = null
  if (heapTimer !== null) clearInterval(heapTimer)
  heapTimer = null
  binding.groupLeave()
}

/** `{ key, name, cluster, intervalMs }` of the group joined, or null. */
function current() {
  if (joined === null) return null
  return { key: joined.key, name: joined.name, cluster: joined.cluster, intervalMs: joined.intervalMs }
}

/** Whether this process is a cluster primary that has forked (or set up). */
function isClusterPrimary() {
  if (!cluster.isPrimary) return false
  return Object.keys(cluster.workers ?? {}).length > 0 || cluster.settings?.exec !== undefined
}

/** The key `options.name` (or the default group) reads. */
function keyFor(options, fn) {
  validateOptions(options)
  if (options !== undefined) validateKeys(options, 'options', ['name'], 'it takes name')
  if (options?.name !== undefined) return `n${validateName(options.name, 'options.name')}`
  if (isClusterPrimary()) {
    const key = clusterKey(process.pid)
    if (key !== null) return key
  }
  if (joined !== null) return joined.key
  throw binding.__error(
    'ERR_NODEPERF_NO_GROUP',
    `group.${fn}() has no group to read: this process is not a cluster primary and joined none; call group.join(name) (or set NODEPERF_GROUP=<name>) in the processes to read, and pass { name }`,
    '',
    '',
  )
}

const orNull = (v) => (v === undefined ? null : v)

/**
 * Every process of the group, as last published: `{ pid, workerId,
 * publishedAt, ageMs, loops, pool, heap, error }` (see index.d.ts). A
 * process whose segment cannot be read comes back with `error` set.
 */
function processes(options) {
  const key = keyFor(options, 'processes')
  return binding.groupRead(key).map((p) => ({
    pid: p.pid,
    workerId: orNull(p.workerId),
    publishedAt: orNull(p.publishedAt),
    ageMs: orNull(p.ageMs),
    loops: p.loops.map((l) => ({ ...l, culprit: orNull(l.culprit) })),
    pool: orNull(p.pool),
    heap: orNull(p.heap),
    error: orNull(p.error),
  }))
}

/**
 * For the prom integration: per process of the group, what its own exporter
 * would read at its last publish. `{ pid, workerId, loops: [{ thread, x }],
 * pool, error }`: `x` is what lib/lag.js `readExport(monitor, bounds,
 * windowMs)` returns, `pool` what `defaultPoolMetrics(poolBounds)` returns
 * (or null). ERR_INVALID_ARG_VALUE if `windowMs` is not the group's span.
 */
function readGroupExport(boundsSeconds, poolBoundsSeconds, windowMs, options) {
  validateBounds(boundsSeconds, 'boundsSeconds')
  validateBounds(poolBoundsSeconds, 'poolBoundsSeconds')
  if (typeof windowMs !== 'number') throw invalidArgType('windowMs', 'of type number', windowMs)
  const key = keyFor(options, 'readGroupExport')
  const n = boundsSeconds.length
  return binding.groupReadExport(key, boundsSeconds, poolBoundsSeconds, windowMs).map((p) => ({
    pid: p.pid,
    workerId: orNull(p.workerId),
    loops: p.loops.map((l) => ({ thread: l.thread, x: l.x == null ? null : unpackExport(l.x, n) })),
    pool: orNull(p.pool),
    error: orNull(p.error),
  }))
}

/** Sorted bucket bounds in seconds, as the prom options give them. */
function validateBounds(value, name) {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value)
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'number' || !Number.isFinite(value[i])) throw invalidArgType(`${name}[${i}]`, 'a finite number', value[i])
    if (i > 0 && !(value[i] > value[i - 1])) throw invalidArgValue(name, value, 'must be sorted in increasing order')
  }
}

/** The automatic join at load: NODEPERF_GROUP, else a cluster worker's. */
function autoJoin() {
  if (!isMainThread) return
  const env = process.env.NODEPERF_GROUP
  try {
    if (env !== undefined && env !== '' && env !== 'off') {
      if (!NAME.test(env)) {
        process.emitWarning(`@nodeperf/native: NODEPERF_GROUP='${env}' is not a group name (/^[A-Za-z0-9_.-]{1,64}$/); not joining`, { code: 'NODEPERF_GROUP' })
        return
      }
      joinKey(`n${env}`, env, false, undefined)
      return
    }
    if (env === 'off' || !cluster.isWorker) return
    const key = clusterKey(process.ppid)
    if (key !== null) joinKey(key, null, true, undefined)
  } catch (e) {
    process.emitWarning(`@nodeperf/native: could not join the process group: ${e.message}`, { code: 'NODEPERF_GROUP' })
  }
}

autoJoin()

const group = { join, leave, current, processes }

module.exports = { group, readGroupExport }
