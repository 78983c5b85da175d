'use strict'
// Writing a heap snapshot on request, and refusing when the machine lacks
// the memory it takes.
//
// A snapshot is expensive: V8 builds a graph of every object on the heap
// (blocking the thread for seconds) and that graph takes many times the
// heap's own size in RSS (bench/heap-snapshot-cost.mjs, Node 20–24: 7.6–12×
// the heap used for a heap of records, 24–30× for one of tiny objects). A
// process near its container's limit is killed by a snapshot taken to find
// out why it grows. So before writing, the cost is
// estimated from the heap used and compared with what the system and the
// cgroup have left; below the estimate the call throws
// ERR_NODEPERF_LOW_MEMORY with both figures, unless `force: true`. Never
// taken automatically. The sidecar's POST /debug/heap-snapshot makes the
// same check (lib/memory-sidecar.js).

const fs = require('node:fs')
const os = require('node:os')
const v8 = require('node:v8')
const pathModule = require('node:path')
const binding = require('./native.js')
const { invalidArgType, invalidArgValue } = require('./errors.js')
const { validateKeys, validateOptions } = require('./validate.js')

/**
 * Peak RSS a snapshot adds per byte of heap used. It depends on how many
 * objects the heap holds per byte (the snapshot's cost is per object and per
 * reference): bench/heap-snapshot-cost.mjs measured 7.6–11.7 for heaps of
 * records with strings and arrays and 23.5–29.6 for heaps of tiny objects
 * (Node 20, 22, 24; 20–97 MiB heaps; both ways of writing). The heap's
 * statistics do not tell the two apart, so the estimate takes the worst,
 * rounded up: a snapshot the check lets through fits. `force` is for those
 * who know their heap is of bigger objects. See BENCHMARKS.md.
 */
const SNAPSHOT_RSS_PER_HEAP_BYTE = 30
/** Plus a fixed part (the fit's intercept was 56 MiB for records: buffers, the file stream, code). */
const SNAPSHOT_RSS_BASE_BYTES = 64 * 2 ** 20
const OPTIONS = ['force']

/** Test hook (spec only, not typed): a reading of available memory to use instead of the system's. */
const AVAILABLE_HOOK = Symbol.for('nodeperf.memoryAvailable')
let availableForTest = null

/** The memory a snapshot of a heap with `heapUsed` bytes used will take, estimated. */
function estimateSnapshotBytes(heapUsed) {
  return Math.ceil(heapUsed * SNAPSHOT_RSS_PER_HEAP_BYTE + SNAPSHOT_RSS_BASE_BYTES)
}

function readNumber(file) {
  try {
    const text = fs.readFileSync(file, 'latin1').trim()
    if (text === 'max') return Infinity
    const n = Number(text)
    return Number.isFinite(n) ? n : null
  } catch {
    return null
  }
}

function statField(file, names) {
  let text
  try {
    text = fs.readFileSync(file, 'latin1')
  } catch {
    return 0
  }
  for (const name of names) {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
    if (m) return Number(m[1])
  }
  return 0
}

/** This process's cgroup paths: `{ v2, memoryV1 }` (null when not found). */
function cgroupPaths() {
  let text
  try {
    text = fs.readFileSync('/proc/self/cgroup', 'latin1')
  } catch {
    return { v2: null, memoryV1: null }
  }
  let v2 = null
  let memoryV1 = null
  for (const line of text.split('\n')) {
    const [, controllers, p] = line.split(':')
    if (p === undefined) continue
    if (line.startsWith('0::')) v2 = p
    else if (controllers.split(',').includes('memory')) memoryV1 = p
  }
  return { v2, memoryV1 }
}

/**
 * What the cgroup leaves this process: limit minus usage, where usage
 * leaves out inactive page cache (which the kernel reclaims before it
 * kills), as Kubernetes counts its working set. null: no limit found.
 * Inside a container the cgroup's own directory is usually mounted as the
 * root of /sys/fs/cgroup, so the root is tried after the path.
 */
function cgroupHeadroom() {
  const { v2, memoryV1 } = cgroupPaths()
  const tries = []
  if (v2 !== null) {
    for (const dir of new Set([pathModule.posix.join('/sys/fs/cgroup', v2), '/sys/fs/cgroup'])) {
      tries.push({ limit: `${dir}/memory.max`, usage: `${dir}/memory.current`, stat: `${dir}/memory.stat`, inactive: ['inactive_file'], name: 'cgroup memory.max - memory.current' })
    }
  }
  if (memoryV1 !== null) {
    for (const dir of new Set([pathModule.posix.join('/sys/fs/cgroup/memory', memoryV1), '/sys/fs/cgroup/memory'])) {
      tries.push({ limit: `${dir}/memory.limit_in_bytes`, usage: `${dir}/memory.usage_in_bytes`, stat: `${dir}/memory.stat`, inactive: ['total_inactive_file', 'inactive_file'], name: 'cgroup memory.limit_in_bytes - memory.usage_in_bytes' })
    }
  }
  for (const t of tries) {
    const limit = readNumber(t.limit)
    const usage = readNumber(t.usage)
    if (limit === null || usage === null) continue
    // "No limit": 'max' (v2) or a page-rounded 2^63 (v1).
    if (limit === Infinity || limit >= 2 ** 62) return null
    const working = Math.max(0, usage - statField(t.stat, t.inactive))
    return { bytes: Math.max(0, limit - working), source: t.name }
  }
  return null
}

/** MemAvailable from /proc/meminfo (Linux), else os.freemem(). */
function systemAvailable() {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'latin1'))
    if (m) return { bytes: Number(m[1]) * 1024, source: '/proc/meminfo MemAvailable' }
  } catch {
    // not Linux
  }
  return { bytes: os.freemem(), source: 'os.freemem()' }
}

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`

/**
 * The memory this process can still take: the smaller of the system's
 * MemAvailable and the cgroup's headroom. `{ bytes, source }`, the source
 * naming each figure.
 */
function availableMemory() {
  if (availableForTest !== null) return { bytes: availableForTest, source: 'test reading' }
  const sys = systemAvailable()
  const cg = cgroupHeadroom()
  if (cg === null) return { bytes: sys.bytes, source: `${sys.source} ${mib(sys.bytes)}; no cgroup memory limit` }
  return {
    bytes: Math.min(sys.bytes, cg.bytes),
    source: `${sys.source} ${mib(sys.bytes)}, ${cg.source} ${mib(cg.bytes)}`,
  }
}

/** The refusal for a snapshot of `heapUsed` bytes, or null when there is room. */
function lowMemoryError(heapUsed, overrideHint) {
  const needed = estimateSnapshotBytes(heapUsed)
  const available = availableMemory()
  if (available.bytes >= needed) return null
  const detail = `estimated as ${SNAPSHOT_RSS_PER_HEAP_BYTE} × heap used (${mib(heapUsed)}) + ${mib(SNAPSHOT_RSS_BASE_BYTES)}; available from ${available.source}; ${overrideHint}`
  return binding.__error('ERR_NODEPERF_LOW_MEMORY', String(needed), String(Math.floor(available.bytes)), detail)
}

/**
 * Writes a heap snapshot of the calling thread's isolate to `path` (default:
 * Node's `Heap.<date>.<time>.<pid>.<thread>.<seq>.heapsnapshot` in the
 * working directory) and returns the path. Blocks this thread for seconds
 * and takes 8–30× the heap used in extra memory while it runs: refuses
 * (ERR_NODEPERF_LOW_MEMORY) when that is more than is available, unless
 * `options.force`.
 *
 * @param {string} [path]
 * @param {{ force?: boolean }} [options]
 * @returns {string}
 */
function writeHeapSnapshot(path, options) {
  if (path !== undefined) {
    if (typeof path !== 'string') throw invalidArgType('path', 'of type string', path)
    if (path === '' || path.includes('\0')) throw invalidArgValue('path', path, 'must be a non-empty file name without null bytes')
  }
  validateOptions(options)
  const o = options === undefined ? {} : options
  validateKeys(o, 'options', OPTIONS, `it takes ${OPTIONS.join(', ')}`)
  const force = o.force === undefined ? false : o.force
  if (typeof force !== 'boolean') throw invalidArgType('options.force', 'of type boolean', force)
  if (!force) {
    const refusal = lowMemoryError(v8.getHeapStatistics().used_heap_size, 'pass { force: true } to write it anyway')
    if (refusal !== null) throw refusal
  }
  return v8.writeHeapSnapshot(path)
}

module.exports = { writeHeapSnapshot }
// Internal (not spread into `memory`: lib/memory.js copies enumerable keys only).
Object.defineProperties(module.exports, {
  lowMemoryError: { value: lowMemoryError },
  availableMemory: { value: availableMemory },
  estimateSnapshotBytes: { value: estimateSnapshotBytes },
  availableForTest: { get: () => availableForTest },
  [AVAILABLE_HOOK]: {
    // Spec only: `bytes` (a number) replaces the system's reading, null restores it.
    value: (bytes) => {
      availableForTest = typeof bytes === 'number' ? bytes : null
    },
  },
})
