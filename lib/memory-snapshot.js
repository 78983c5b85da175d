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
// taken automatically. The sidecar's POST /debug/heap-snapshot runs the
// same write on the main thread (writeForSidecar, below; lib/sidecar.js
// installs it, lib/memory-sidecar.js calls it), with the same check.
//
// Object ids: V8 keeps an object's id from one snapshot to the next only
// while nothing clears its id map between them, and the end of any
// inspector session on the thread clears it (V8's heap-profiler agent does
// on its session's end; checked on Node 20, 22 and 24 with a session
// connected and disconnected between two v8.writeHeapSnapshot calls), as does an
// inspector `HeapProfiler.takeHeapSnapshot`. heap.diff by id of two
// snapshots with such an end between them matches the wrong objects. So
// snapshots are written with `v8.writeHeapSnapshot` on the thread itself,
// the sidecar keeps one session to the main thread rather than one per
// request, and a snapshot written after one of the package's own sessions
// on the thread ended (a leak locator's stop(), the sidecar's session)
// warns once (NODEPERF_SNAPSHOT_IDS).

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
 * Ends of the package's inspector sessions on this thread (each clears
 * V8's object ids), and the sidecars' counts of theirs (Int32Array views
 * of their shared state, lib/memory-sidecar.js).
 */
let sessionEnds = 0
const sidecarCounters = new Set()
/** The count at this thread's previous snapshot (null: none yet). */
let endsAtLastSnapshot = null
let warnedIds = false

/** A session of the package's on this thread has ended (lib/memory-locator.js). */
function sessionEnded() {
  sessionEnds++
}

/** Counts a sidecar's session ends too, until the returned function is called. */
function watchSessionEnds(counter) {
  sidecarCounters.add(counter)
  return () => {
    // Its ends still count: they happened.
    sessionEnds += Atomics.load(counter, 0)
    sidecarCounters.delete(counter)
  }
}

/**
 * Called before each snapshot this package writes: warns (once per
 * process) when one of the package's sessions on this thread ended since
 * the previous one, as that clears V8's object ids.
 */
function noteSnapshot() {
  let now = sessionEnds
  for (const c of sidecarCounters) now += Atomics.load(c, 0)
  if (endsAtLastSnapshot !== null && now !== endsAtLastSnapshot && !warnedIds) {
    warnedIds = true
    process.emitWarning(
      "@nodeperf/native: an inspector session ended since the previous heap snapshot (a leak locator's stop(), or the sidecar's session at close()), which clears V8's object ids: heap.diff by id of these two snapshots would match the wrong objects; diff them with { by: 'constructor' } (docs/memory.md, \"Object ids\")",
      { code: 'NODEPERF_SNAPSHOT_IDS' },
    )
  }
  endsAtLastSnapshot = now
}

/**
 * Writes a heap snapshot of the calling thread's isolate to `path` (default:
 * Node's `Heap.<date>.<time>.<pid>.<thread>.<seq>.heapsnapshot` in the
 * working directory) and returns its absolute path. The file is 0600.
 * Blocks this thread for seconds and takes 8–30× the heap used in extra
 * memory while it runs: refuses (ERR_NODEPERF_LOW_MEMORY) when that is more
 * than is available, unless `options.force`. The options may come alone,
 * in place of the path.
 *
 * @param {string | { force?: boolean }} [path]
 * @param {{ force?: boolean }} [options]
 * @returns {string}
 */
function writeHeapSnapshot(path, options) {
  if (options === undefined && path !== null && typeof path === 'object') {
    options = path
    path = undefined
  }
  if (path !== undefined) {
    if (typeof path !== 'string') throw invalidArgType('path', 'of type string or an options object', path)
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
  noteSnapshot()
  // Node opens the file 0600 and returns the name as given (or its own
  // relative default): absolute, it still names the file after a chdir.
  return pathModule.resolve(v8.writeHeapSnapshot(path))
}

/** The sidecar's snapshots so far, in this process (their file names' sequence). */
let sidecarSeq = 0

/**
 * A new file name in `dir`, as Node names its own snapshots:
 * Heap.<yyyymmdd>.<hhmmss>.<pid>.0.<seq>.sidecar.heapsnapshot (the main
 * thread's 0). One sequence for every sidecar of the process, and a name
 * already taken (by another process's sidecar with the same pid, say) is
 * skipped: no snapshot is ever written over.
 */
function sidecarFileName(dir) {
  const d = new Date()
  const p = (n, w = 2) => String(n).padStart(w, '0')
  const date = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`
  const time = `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
  for (;;) {
    const file = pathModule.join(dir, `Heap.${date}.${time}.${process.pid}.0.${p(++sidecarSeq, 3)}.sidecar.heapsnapshot`)
    if (!fs.existsSync(file) && !fs.existsSync(`${file}.partial`)) return file
  }
}

/**
 * The sidecar's POST /debug/heap-snapshot, run on the main thread (through
 * `Runtime.evaluate` from the sidecar's worker, at the next interrupt
 * check, so also while the loop is stuck): the same check and the same
 * `v8.writeHeapSnapshot`, into `<file>.partial` in `dir` (created here,
 * 0600, refusing an existing file), renamed when complete, removed on
 * failure. Never throws: returns `{ path, bytes }` or `{ error: { code,
 * message } }`, a plain value the inspector can return by value.
 */
function writeForSidecar(dir, force) {
  try {
    if (!force) {
      const refusal = lowMemoryError(v8.getHeapStatistics().used_heap_size, 'start the sidecar with heapSnapshots: { dir, force: true } to write it anyway')
      if (refusal !== null) return { error: { code: refusal.code, message: refusal.message } }
    }
    const file = sidecarFileName(dir)
    const partial = `${file}.partial`
    fs.closeSync(fs.openSync(partial, 'wx', 0o600))
    try {
      noteSnapshot()
      v8.writeHeapSnapshot(partial)
      fs.renameSync(partial, file)
    } catch (e) {
      fs.rmSync(partial, { force: true })
      throw e
    }
    return { path: file, bytes: fs.statSync(file).size }
  } catch (e) {
    return { error: { code: (e && typeof e.code === 'string' && e.code) || 'ERR_NODEPERF_SIDECAR', message: String((e && e.message) || e) } }
  }
}

module.exports = { writeHeapSnapshot }
// Internal (not spread into `memory`: lib/memory.js copies enumerable keys only).
Object.defineProperties(module.exports, {
  lowMemoryError: { value: lowMemoryError },
  writeForSidecar: { value: writeForSidecar },
  sessionEnded: { value: sessionEnded },
  watchSessionEnds: { value: watchSessionEnds },
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
