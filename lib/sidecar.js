'use strict'
// startSidecar(): health and metrics endpoints served from a worker thread,
// so they answer while the watched event loop is blocked.

const v8 = require('node:v8')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const binding = require('./native.js')
const { invalidArgType, sidecarError } = require('./errors.js')
const { integerOption, numberOption, validateOptions } = require('./validate.js')
const { lag } = require('./lag.js')

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

/**
 * Starts an HTTP server on a worker thread that watches the calling thread's
 * loop: `GET /health/live` (503 once the loop has been busy longer than
 * `stallThresholdMs`), `GET /health/ready` (503 while stalled or
 * overloaded), `GET /metrics` (prom-client exposition of every loop). It
 * never keeps the process alive.
 *
 * @param {object} [options]
 * @param {number} [options.port] default 0 (any free port)
 * @param {string} [options.host] default '127.0.0.1'
 * @param {number} [options.stallThresholdMs] default 1000
 * @param {boolean} [options.metrics] default true (needs prom-client)
 * @param {number} [options.maxLagMs] readiness: window p99 limit, default 100
 * @param {number} [options.maxUtilization] readiness: utilisation limit, default 0.95
 * @param {number} [options.windowMs] readiness window, default 10000
 * @returns {Promise<{ port: number, close(): Promise<void> }>}
 */
async function startSidecar(options) {
  validateOptions(options)
  if (options === undefined) options = {}
  const port = integerOption(options.port, 'options.port', 0, 0, 65535, false, '>= 0 and <= 65535')
  const host = options.host === undefined ? '127.0.0.1' : options.host
  if (typeof host !== 'string') throw invalidArgType('options.host', 'of type string', host)
  const metrics = options.metrics === undefined ? true : options.metrics
  if (typeof metrics !== 'boolean') throw invalidArgType('options.metrics', 'of type boolean', metrics)
  const workerData = {
    port,
    host,
    metrics,
    target: lag.thread,
    stallThresholdMs: numberOption(options.stallThresholdMs, 'options.stallThresholdMs', 1000, 1, 3_600_000, '>= 1 and <= 3600000'),
    maxLagMs: numberOption(options.maxLagMs, 'options.maxLagMs', 100, 0.001, 3_600_000, '>= 0.001 and <= 3600000'),
    maxUtilization: numberOption(options.maxUtilization, 'options.maxUtilization', 0.95, 0, 1, '>= 0 and <= 1'),
    windowMs: numberOption(options.windowMs, 'options.windowMs', 10_000, 1000, 86_400_000, '>= 1000 and <= 86400000'),
  }
  const [script, mode] = workerScript(metrics)
  const worker = new Worker(script, {
    ...mode,
    workerData,
    name: 'nodeperf-sidecar',
    // The worker loads the very addon file this thread loaded: every loop's
    // monitor lives in that file's process-wide state.
    env: binding.__file ? { ...process.env, NODEPERF_NATIVE_PATH: binding.__file } : process.env,
  })
  const listening = await new Promise((resolve, reject) => {
    const onError = (e) => reject(e)
    worker.once('error', onError)
    worker.on('message', function first(m) {
      if (m && m.listening !== undefined) {
        worker.off('message', first)
        worker.off('error', onError)
        resolve(m.listening)
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

  let closed = null
  return {
    port: listening,
    close() {
      if (!closed) {
        clearInterval(heapTimer)
        closed = worker.terminate().then(() => undefined)
      }
      return closed
    },
  }
}

module.exports = { startSidecar }
