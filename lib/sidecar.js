'use strict'
// startSidecar(): health and metrics endpoints served from a worker thread,
// so they answer while the watched event loop is blocked.

const v8 = require('node:v8')
const net = require('node:net')
const path = require('node:path')
const fs = require('node:fs')
const { Worker, isMainThread } = require('node:worker_threads')
const binding = require('./native.js')
const { invalidArgType, invalidArgValue, outOfRange, sidecarError } = require('./errors.js')
const { integerOption, numberOption, validateKeys, validateObject, validateOptions } = require('./validate.js')
const { lag } = require('./lag.js')
const { holdSamplerForSidecar, sidecarTop } = require('./memory-locator.js')
const { STATE_BYTES, stateViews } = require('./memory-sidecar.js')
const snapshot = require('./memory-snapshot.js')

/** How long the main thread's exit, and close(), wait for a memory request's session to end. */
const EXIT_WAIT_MS = 200
const CLOSE_WAIT_MS = 2000
/** close() lets a worker's inspector session end this long before the worker does. */
const AFTER_DISCONNECT_MS = 100

/**
 * The worker's script. From the installed package: lib/sidecar-worker.js.
 * When an app has bundled this package (its code is then not in this file,
 * and its other files are not on disk), the self-contained copy made at pack
 * time (scripts/bundle-sidecar.js), which carries its own prom-client.
 * @param {boolean} metrics
 * @returns {[string, { eval?: boolean }]}
 */
function workerScript(metrics) {
  if (path.basename(__filename) === 'sidecar.js') {
    // Fail here, with the install hint, rather than inside the worker.
    if (metrics) require('./prom.js').loadPromClient()
    return [path.join(__dirname, 'sidecar-worker.js'), {}]
  }
  let code
  try {
    code = require('./sidecar-worker.bundled.js')
  } catch (e) {
    throw sidecarError(
      "in a bundled app it runs lib/sidecar-worker.bundled.js, which this copy of @nodeperf/native does not have (it is made by 'npm run pack:all'): bundle the published package, or mark @nodeperf/native external (esbuild --external:@nodeperf/native)",
      e,
    )
  }
  return [code, { eval: true }]
}

/** startSidecar()'s options: any other field is refused (a typo would otherwise go unnoticed). */
const OPTIONS = [
  'port',
  'host',
  'allowRemote',
  'maxConnections',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'idleTimeoutMs',
  'stallThresholdMs',
  'metrics',
  'stalls',
  'heapGrowth',
  'heapSnapshots',
  'maxLagMs',
  'maxUtilization',
  'windowMs',
]

/** The longest timeout option, in ms (one hour). */
const MAX_TIMEOUT_MS = 3_600_000

let loopbackList = null
/**
 * Whether `host` names a loopback interface: an address in 127.0.0.0/8 or
 * ::1 (any spelling, IPv4-mapped too), or the name `localhost`.
 * @param {string} host
 */
function isLoopback(host) {
  if (/^localhost\.?$/i.test(host)) return true
  const family = net.isIP(host)
  if (family === 0) return false
  if (loopbackList === null) {
    loopbackList = new net.BlockList()
    loopbackList.addSubnet('127.0.0.0', 8, 'ipv4')
    loopbackList.addAddress('::1', 'ipv6')
  }
  return loopbackList.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * `options.host`, checked: loopback only, unless `allowRemote`. `''` is
 * refused either way: Node reads it as "every interface", which nobody
 * writes on purpose; `'0.0.0.0'` or `'::'` say it.
 * @param {unknown} host
 * @param {boolean} allowRemote
 * @returns {string}
 */
function hostOption(host, allowRemote) {
  if (host === undefined) return '127.0.0.1'
  if (typeof host !== 'string') throw invalidArgType('options.host', 'of type string', host)
  if (host === '') {
    throw invalidArgValue(
      'options.host',
      host,
      "must not be empty ('' listens on every interface; to do that, pass '0.0.0.0' or '::' with options.allowRemote: true)",
    )
  }
  if (!allowRemote && !isLoopback(host)) {
    throw invalidArgValue(
      'options.host',
      host,
      "must be a loopback address (127.0.0.0/8, ::1 or 'localhost') unless options.allowRemote is true",
    )
  }
  return host
}

/**
 * The four connection timeouts, in ms. `requestTimeoutMs` (whole request)
 * may not be shorter than `headersTimeoutMs` (Node's own rule); when one of
 * the two is given, the other's default gives way to it.
 * @param {object} options
 */
function timeoutOptions(options) {
  const ms = (name) => integerOption(options[name], `options.${name}`, undefined, 1, MAX_TIMEOUT_MS)
  let headersTimeoutMs = ms('headersTimeoutMs')
  let requestTimeoutMs = ms('requestTimeoutMs')
  requestTimeoutMs ??= Math.max(10_000, headersTimeoutMs ?? 0)
  headersTimeoutMs ??= Math.min(5_000, requestTimeoutMs)
  if (headersTimeoutMs > requestTimeoutMs) {
    throw outOfRange('options.headersTimeoutMs', `<= options.requestTimeoutMs (${requestTimeoutMs})`, headersTimeoutMs)
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integerOption(options.keepAliveTimeoutMs, 'options.keepAliveTimeoutMs', 5_000, 1, MAX_TIMEOUT_MS),
    idleTimeoutMs: integerOption(options.idleTimeoutMs, 'options.idleTimeoutMs', 10_000, 1, MAX_TIMEOUT_MS),
  }
}

/**
 * Starts an HTTP server on a worker thread that watches the calling thread's
 * loop: `GET /health/live` (503 once the loop has been busy longer than
 * `stallThresholdMs`), `GET /health/ready` (503 while stalled or
 * overloaded), `GET /metrics` (prom-client exposition of every loop). It
 * never keeps the process alive.
 *
 * A flood of idle or half-sent connections cannot take it, or the process,
 * down: it holds at most `maxConnections` (a new connection at the cap
 * closes the one idle the longest, so a probe always gets in), and drops a
 * connection whose headers are not in after `headersTimeoutMs`. The default
 * cap keeps its sockets to an eighth of the process's file descriptors
 * (lib/sidecar-worker.js, defaultMaxConnections).
 *
 * @param {object} [options]
 * @param {number} [options.port] default 0 (any free port)
 * @param {string} [options.host] default '127.0.0.1'; loopback only
 *   (127.0.0.0/8, ::1, 'localhost') unless `allowRemote`
 * @param {boolean} [options.allowRemote] default false: allow any other host
 *   ('0.0.0.0', '::', the pod's IP)
 * @param {number} [options.maxConnections] default min(256, soft
 *   RLIMIT_NOFILE / 8), at least 4; 256 where the limit cannot be read
 * @param {number} [options.headersTimeoutMs] default 5000
 * @param {number} [options.requestTimeoutMs] default 10000
 * @param {number} [options.keepAliveTimeoutMs] default 5000
 * @param {number} [options.idleTimeoutMs] socket inactivity, default 10000
 * @param {number} [options.stallThresholdMs] default 1000
 * @param {boolean} [options.metrics] default true (needs prom-client)
 * @param {boolean} [options.stalls] default false: also serve `GET
 *   /debug/stalls`, the recent stalls of every thread with their culprits
 *   (function names and file paths: keep it off where the port is reachable
 *   from outside)
 * @param {boolean | { samplingIntervalBytes?: number, top?: number }} [options.heapGrowth]
 *   default false: also serve `GET /debug/heap-growth`, the leak locator's
 *   read of the main thread's heap (starts V8's sampling heap profiler on
 *   the main thread until close(); docs/memory.md)
 * @param {false | { dir: string, force?: boolean }} [options.heapSnapshots]
 *   default false: also serve `POST /debug/heap-snapshot`, which writes the
 *   main thread's heap snapshot into `dir` (blocks the main loop for
 *   seconds; refused when memory is short unless `force`)
 * @param {number} [options.maxLagMs] readiness: window p99 limit, default 100
 * @param {number} [options.maxUtilization] readiness: utilisation limit, default 0.95
 * @param {number} [options.windowMs] readiness window, default 10000
 * @returns {Promise<{ port: number, maxConnections: number, close(): Promise<void> }>}
 */
async function startSidecar(options) {
  validateOptions(options)
  if (options === undefined) options = {}
  validateKeys(options, 'options', OPTIONS, `it takes ${OPTIONS.join(', ')}`)
  const port = integerOption(options.port, 'options.port', 0, 0, 65535, false, '>= 0 and <= 65535')
  const allowRemote = options.allowRemote === undefined ? false : options.allowRemote
  if (typeof allowRemote !== 'boolean') throw invalidArgType('options.allowRemote', 'of type boolean', allowRemote)
  const host = hostOption(options.host, allowRemote)
  const metrics = options.metrics === undefined ? true : options.metrics
  if (typeof metrics !== 'boolean') throw invalidArgType('options.metrics', 'of type boolean', metrics)
  const stalls = options.stalls === undefined ? false : options.stalls
  if (typeof stalls !== 'boolean') throw invalidArgType('options.stalls', 'of type boolean', stalls)
  const memory = memoryOptions(options)
  const workerData = {
    port,
    host,
    metrics,
    // /metrics labels a cluster worker's series as its collectMetrics does
    // (worker="<cluster.worker.id>"), which only this thread can tell.
    worker: metrics ? (require('./prom-options.js').defaultWorker() ?? false) : false,
    stalls,
    target: lag.thread,
    stallThresholdMs: numberOption(options.stallThresholdMs, 'options.stallThresholdMs', 1000, 1, 3_600_000, '>= 1 and <= 3600000'),
    maxLagMs: numberOption(options.maxLagMs, 'options.maxLagMs', 100, 0.001, 3_600_000, '>= 0.001 and <= 3600000'),
    maxUtilization: numberOption(options.maxUtilization, 'options.maxUtilization', 0.95, 0, 1, '>= 0 and <= 1'),
    windowMs: numberOption(options.windowMs, 'options.windowMs', 10_000, 1000, 86_400_000, '>= 1000 and <= 86400000'),
    // undefined: the worker works it out from the descriptor limit.
    maxConnections: integerOption(options.maxConnections, 'options.maxConnections', undefined, 1, 65536),
    ...timeoutOptions(options),
    memory,
  }
  // The sampler runs on this thread's own session while the sidecar reads it.
  let releaseSampler = () => {}
  if (memory !== null && memory.heapGrowth !== null) {
    const held = holdSamplerForSidecar(options.heapGrowth, 'options.heapGrowth')
    releaseSampler = held.release
    memory.heapGrowth.samplingIntervalBytes = held.intervalBytes
  }
  // The snapshot function the worker runs on this thread (lib/memory-sidecar.js):
  // a key of this sidecar's own, removed at close().
  let uninstall = () => {}
  if (memory !== null && memory.heapSnapshots !== null) uninstall = installSnapshotFunction(memory.heapSnapshots)
  const release = () => {
    uninstall()
    releaseSampler()
  }
  try {
    return await launch(workerData, metrics, host, port, release)
  } catch (e) {
    release()
    throw e
  }
}

let snapshotKeys = 0
/**
 * Puts `snapshot.writeForSidecar` on this thread's global under
 * `Symbol.for(key)` (non-enumerable), records the key in `config` for the
 * worker, and returns what removes it.
 */
function installSnapshotFunction(config) {
  const key = `@nodeperf/native.sidecarSnapshot.${process.pid}.${++snapshotKeys}.${Math.random().toString(36).slice(2)}`
  const sym = Symbol.for(key)
  Object.defineProperty(globalThis, sym, {
    value: (dir, force) => snapshot.writeForSidecar(dir, force),
    configurable: true,
    enumerable: false,
    writable: false,
  })
  config.key = key
  return () => {
    delete globalThis[sym]
  }
}

/** Starts the worker and waits until it listens. */
async function launch(workerData, metrics, host, port, release) {
  const { memory } = workerData
  const [script, mode] = workerScript(metrics)
  const worker = new Worker(script, {
    ...mode,
    workerData,
    name: 'nodeperf-sidecar',
    // The worker loads the very addon file this thread loaded: every loop's
    // monitor lives in that file's process-wide state.
    env: binding.__file ? { ...process.env, NODEPERF_NATIVE_PATH: binding.__file } : process.env,
  })
  const started = await new Promise((resolve, reject) => {
    const onError = (e) => reject(e)
    worker.once('error', onError)
    worker.on('message', function first(m) {
      if (m && m.listening !== undefined) {
        worker.off('message', first)
        worker.off('error', onError)
        resolve(m)
      } else if (m && m.error) {
        const err = sidecarError(`it could not listen on ${host}:${port}: ${m.error.message}`)
        // The system's own code (EADDRINUSE, EACCES) is what callers match on.
        if (m.error.code) err.code = m.error.code
        worker.terminate()
        reject(err)
      }
    })
    worker.once('exit', (code) => reject(sidecarError(`its worker exited (${code}) before listening`)))
  })
  worker.unref()
  worker.on('error', () => {})

  // The heap gauge must describe this thread's heap, not the worker's.
  const postHeap = () => worker.postMessage({ heap: v8.getHeapStatistics() })
  postHeap()
  const heapTimer = setInterval(postHeap, 1000)
  heapTimer.unref()

  const state = memory === null ? null : stateViews(memory.state)
  // The worker's session to this thread (kept from its first memory
  // request on: lib/memory-sidecar.js) must end before the process does, or
  // Node waits for it ("Waiting for the debugger to disconnect..."). The
  // worker disconnects on its own loop while this thread waits here
  // (bounded), then this thread leaves the worker AFTER_DISCONNECT_MS
  // before the process ends it (a worker that ended right after an
  // inspector disconnect aborted Node 20). Nothing is paid when no memory
  // request was made.
  const onExit = () => {
    if (Atomics.load(state.flag, 0) !== 1) return
    worker.postMessage({ disconnect: true })
    Atomics.wait(state.flag, 0, 1, EXIT_WAIT_MS)
    if (Atomics.load(state.flag, 0) === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, AFTER_DISCONNECT_MS)
  }
  if (state !== null) process.on('exit', onExit)
  // The main thread counts the ends of the worker's sessions: each clears
  // V8's object ids (lib/memory-snapshot.js warns on it).
  const unwatch = state === null ? () => {} : snapshot.watchSessionEnds(state.disconnects)

  let closed = null
  return {
    port: started.listening,
    maxConnections: started.maxConnections,
    close() {
      if (!closed) {
        clearInterval(heapTimer)
        closed = (async () => {
          if (state !== null) {
            worker.postMessage({ disconnect: true })
            await sessionsEnded(state)
            process.off('exit', onExit)
          }
          await worker.terminate()
          unwatch()
          release()
        })()
      }
      return closed
    },
  }
}

/**
 * Waits (at most CLOSE_WAIT_MS) until the worker's session is not
 * connected and ended AFTER_DISCONNECT_MS ago: a worker that
 * ended right after an inspector session's disconnect aborted Node 20
 * (src/lag/CULPRITS.md).
 */
async function sessionsEnded(state) {
  const until = Date.now() + CLOSE_WAIT_MS
  while (Date.now() < until) {
    const quiet = Date.now() - state.times[0]
    if (Atomics.load(state.flag, 0) === 0 && quiet >= AFTER_DISCONNECT_MS) return
    await new Promise((resolve) => setTimeout(resolve, Math.max(10, AFTER_DISCONNECT_MS - quiet)))
  }
}

/**
 * `heapGrowth` and `heapSnapshots`, checked: null when both are off, else
 * what the worker needs (lib/memory-sidecar.js).
 */
function memoryOptions(options) {
  const growth = options.heapGrowth === undefined ? false : options.heapGrowth
  if (typeof growth !== 'boolean' && (growth === null || typeof growth !== 'object')) {
    throw invalidArgType('options.heapGrowth', 'of type boolean or object', growth)
  }
  const snaps = options.heapSnapshots === undefined ? false : options.heapSnapshots
  if (snaps !== false && (snaps === null || typeof snaps !== 'object')) {
    throw invalidArgType('options.heapSnapshots', 'false or of type object', snaps)
  }
  const heapGrowth = growth === false ? null : { top: sidecarTop(growth, 'options.heapGrowth'), samplingIntervalBytes: 0 }
  let heapSnapshots = null
  if (snaps !== false) {
    validateObject(snaps, 'options.heapSnapshots')
    validateKeys(snaps, 'options.heapSnapshots', ['dir', 'force'], 'it takes dir, force')
    const { dir } = snaps
    if (typeof dir !== 'string') throw invalidArgType('options.heapSnapshots.dir', 'of type string', dir)
    let isDir = false
    try {
      isDir = dir !== '' && !dir.includes('\0') && fs.statSync(dir).isDirectory()
    } catch {
      isDir = false
    }
    if (!isDir) throw invalidArgValue('options.heapSnapshots.dir', dir, 'must name an existing directory')
    const force = snaps.force === undefined ? false : snaps.force
    if (typeof force !== 'boolean') throw invalidArgType('options.heapSnapshots.force', 'of type boolean', force)
    heapSnapshots = { dir: path.resolve(dir), force }
  }
  if (heapGrowth === null && heapSnapshots === null) return null
  if (!isMainThread) {
    throw invalidArgValue(
      heapGrowth !== null ? 'options.heapGrowth' : 'options.heapSnapshots',
      heapGrowth !== null ? growth : snaps,
      "reads the main thread's heap: start this sidecar from the main thread",
    )
  }
  return { heapGrowth, heapSnapshots, state: new SharedArrayBuffer(STATE_BYTES), availableForTest: snapshot.availableForTest }
}

module.exports = { startSidecar }
