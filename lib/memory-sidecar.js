'use strict'
// The sidecar's memory endpoints, run on its worker thread
// (lib/sidecar-worker.js), each off by default:
//
// - GET /debug/heap-growth (`heapGrowth`): the leak locator's read of the
//   main thread's sampling heap profile. V8's sampler is per isolate: the
//   main thread starts it on its own in-process session (lib/sidecar.js,
//   through lib/memory-locator.js) and keeps it running; this thread reads
//   it with `HeapProfiler.getSamplingProfile` over a session connected to
//   the main thread for that one request. A session that did not start the
//   sampler may read it, and its end does not stop it (checked on Node 20,
//   22, 24). The main thread builds and serialises the profile (the cost of
//   a read); the parse and the growth arithmetic run here.
// - POST /debug/heap-snapshot (`heapSnapshots: { dir }`): the main thread
//   writes its own snapshot with `v8.writeHeapSnapshot`, as
//   memory.writeHeapSnapshot does (the same check, a 0600 file): this
//   thread sends `Runtime.evaluate` of the function lib/sidecar.js
//   installed on the main thread's global (lib/memory-snapshot.js,
//   writeForSidecar), which V8 runs at the next interrupt check, so also
//   while the main loop is stuck. Not `HeapProfiler.takeHeapSnapshot`:
//   an inspector snapshot gives V8's objects new ids, and heap.diff by id
//   of two snapshots then matches the wrong objects.
//
// One request at a time (409 `busy` while one runs). One session to the
// main thread serves them all, connected at the first and kept until the
// sidecar's close() or the main thread's exit: the end of any inspector
// session on a thread clears V8's heap-snapshot object ids (checked on
// Node 20, 22, 24: a session connected and disconnected between two
// v8.writeHeapSnapshot calls renumbers the objects), so a session per
// request would renumber every object between two snapshots. A session
// connected to the main thread keeps Node from exiting ("Waiting for the
// debugger to disconnect..."): the main thread's exit and close() ask this
// thread to disconnect and wait for it; `state` (a SharedArrayBuffer the
// main thread also reads) says whether it is connected and when it ended
// (lib/sidecar.js).

const inspector = require('node:inspector')
const { Growth } = require('./memory-growth.js')
const snapshot = require('./memory-snapshot.js')

const CONNECTED = 0

/**
 * The state's views: [connected] (Int32), [, session's end in epoch ms]
 * (Float64) and [, , sessions ended] (Int32, which the main thread counts
 * as events that clear V8's object ids: lib/memory-snapshot.js).
 */
function stateViews(sab) {
  return { flag: new Int32Array(sab, 0, 1), times: new Float64Array(sab, 8, 1), disconnects: new Int32Array(sab, 16, 1) }
}
const STATE_BYTES = 24

/** Status and body of each refusal or failure (docs/api.md, "Sidecar endpoints"). */
const BUSY = 'busy'

class MemoryEndpoints {
  /**
   * @param {object} config `{ heapGrowth: { top, samplingIntervalBytes } | null,
   *   heapSnapshots: { dir, force } | null, state: SharedArrayBuffer, availableForTest }`
   * @param {() => object | null} heapStatistics the main thread's latest `v8.getHeapStatistics()`
   */
  constructor(config, heapStatistics) {
    this.growthConfig = config.heapGrowth
    this.snapshotConfig = config.heapSnapshots
    this.heapStatistics = heapStatistics
    this.state = stateViews(config.state)
    this.growth = new Growth()
    this.busy = null
    /** The session to the main thread, or null. */
    this.session = null
    this.closing = false
    if (typeof config.availableForTest === 'number') snapshot[Symbol.for('nodeperf.memoryAvailable')](config.availableForTest)
  }

  /** Whether this request is one of ours; if so, answers it through `send`. */
  handles(req, pathname) {
    return (pathname === '/debug/heap-growth' && this.growthConfig !== null) || (pathname === '/debug/heap-snapshot' && this.snapshotConfig !== null)
  }

  async handle(req, res, pathname, send) {
    const snap = pathname === '/debug/heap-snapshot'
    const allowed = snap ? 'POST' : 'GET, HEAD'
    if (!allowed.split(', ').includes(req.method)) {
      res.writeHead(405, { Allow: allowed }).end()
      return
    }
    if (this.busy !== null) {
      send(res, 409, { error: { code: BUSY, message: `a ${this.busy} request is running; retry when it is done` } })
      return
    }
    this.busy = snap ? 'heap snapshot' : 'heap growth'
    try {
      if (snap) {
        // A snapshot takes longer than the idle timeout; nothing moves on
        // the socket meanwhile.
        req.socket.setTimeout(0)
        send(res, 200, await this.writeSnapshot())
      } else {
        send(res, 200, await this.readGrowth())
      }
    } catch (e) {
      // Ours carry their status; anything else is the session's failure.
      const ours = e instanceof Error && typeof e.status === 'number'
      send(res, ours ? e.status : 503, { error: { code: ours ? e.code : 'ERR_NODEPERF_INSPECTOR', message: String((e && e.message) || e) } })
    } finally {
      this.busy = null
    }
  }

  /**
   * Runs `fn(post)` on this sidecar's session to the main thread, connected
   * at the first memory request and kept until `close()` (the sidecar's
   * close(), the main thread's exit): the end of any inspector session clears V8's
   * heap-snapshot object ids, so a session per request would renumber every
   * object between two snapshots. A failed command ends the session (the
   * next request connects afresh).
   */
  async withMainThread(fn) {
    if (this.closing) throw failure(503, 'ERR_NODEPERF_INSPECTOR', 'the sidecar is closing')
    if (this.session === null) {
      const session = new inspector.Session()
      Atomics.store(this.state.flag, CONNECTED, 1)
      try {
        session.connectToMainThread()
      } catch (e) {
        this.ended()
        throw e
      }
      this.session = session
    }
    const session = this.session
    const post = (method, params) =>
      new Promise((resolve, reject) => {
        session.post(method, params, (err, result) => (err ? reject(err) : resolve(result)))
      })
    try {
      return await fn(post)
    } catch (e) {
      if (this.session === session) this.disconnect()
      throw e
    }
  }

  /** The main thread's close() and exit: the session ends, and no other is connected. */
  close() {
    this.closing = true
    this.disconnect()
  }

  /** Ends the session to the main thread, if any. */
  disconnect() {
    const session = this.session
    if (session === null) return
    this.session = null
    try {
      session.disconnect()
    } finally {
      // The end cleared V8's object ids: the main thread counts it (lib/memory-snapshot.js).
      Atomics.add(this.state.disconnects, 0, 1)
      this.ended()
    }
  }

  ended() {
    this.state.times[0] = Date.now()
    Atomics.store(this.state.flag, CONNECTED, 0)
    Atomics.notify(this.state.flag, CONNECTED)
  }

  async readGrowth() {
    const { profile } = await this.withMainThread((post) => post('HeapProfiler.getSamplingProfile'))
    const result = this.growth.read(profile, this.growthConfig.top)
    return { ...result, samplingIntervalBytes: this.growthConfig.samplingIntervalBytes }
  }

  async writeSnapshot() {
    const { dir, force, key } = this.snapshotConfig
    // The worker's copy of the heap statistics (sent each second) refuses
    // early without a session; the main thread checks again on its own.
    const heap = this.heapStatistics()
    if (!force && heap) {
      const refusal = snapshot.lowMemoryError(heap.used_heap_size, 'start the sidecar with heapSnapshots: { dir, force: true } to write it anyway')
      if (refusal !== null) throw failure(507, refusal.code, refusal.message)
    }
    // The main thread names the file (one sequence for the process).
    const expression = `globalThis[Symbol.for(${JSON.stringify(key)})]?.(${JSON.stringify(dir)}, ${force})`
    const t0 = performance.now()
    const answer = await this.withMainThread((post) => post('Runtime.evaluate', { expression, returnByValue: true, silent: true }))
    const value = answer && answer.result ? answer.result.value : undefined
    if (answer && answer.exceptionDetails) throw failure(503, 'ERR_NODEPERF_INSPECTOR', `the main thread's snapshot threw: ${answer.exceptionDetails.text}`)
    if (value === undefined || value === null) throw failure(503, 'ERR_NODEPERF_INSPECTOR', "the main thread's snapshot function is not installed (the sidecar is closing)")
    if (value.error) throw failure(value.error.code === 'ERR_NODEPERF_LOW_MEMORY' ? 507 : 500, value.error.code, value.error.message)
    return { path: value.path, bytes: value.bytes, ms: Math.round(performance.now() - t0) }
  }
}

/** An error the handler answers with `status` and `{ error: { code, message } }`. */
function failure(status, code, message) {
  const e = new Error(message)
  e.status = status
  e.code = code
  return e
}

module.exports = { MemoryEndpoints, stateViews, STATE_BYTES }
