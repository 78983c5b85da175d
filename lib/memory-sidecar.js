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
// - POST /debug/heap-snapshot (`heapSnapshots: { dir }`): the main thread's
//   snapshot, `HeapProfiler.takeHeapSnapshot` over the same kind of
//   session, each `addHeapSnapshotChunk` written to the file as it comes,
//   so neither thread holds the whole snapshot. Refused as
//   memory.writeHeapSnapshot refuses (lib/memory-snapshot.js).
//
// One request at a time (409 while one runs). The session is connected only
// while a request runs: a session connected to the main thread keeps Node
// from exiting ("Waiting for the debugger to disconnect..."). `state` (a
// SharedArrayBuffer the main thread also reads) says whether one is
// connected and when the last one ended, so the main thread's exit and the
// sidecar's close() wait for it (lib/sidecar.js).

const fs = require('node:fs')
const path = require('node:path')
const inspector = require('node:inspector')
const { Growth } = require('./memory-growth.js')
const snapshot = require('./memory-snapshot.js')

const CONNECTED = 0

/** The state's two views: [connected] (Int32) and [, last end in epoch ms] (Float64). */
function stateViews(sab) {
  return { flag: new Int32Array(sab, 0, 1), times: new Float64Array(sab, 8, 1) }
}
const STATE_BYTES = 16

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
    this.seq = 0
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
      send(res, 409, { error: { code: 'EBUSY', message: `a ${this.busy} request is running; retry when it is done` } })
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
      const status = e && e.code === 'ERR_NODEPERF_LOW_MEMORY' ? 507 : 503
      send(res, status, { error: { code: (e && e.code) || 'ERR_NODEPERF_INSPECTOR', message: String((e && e.message) || e) } })
    } finally {
      this.busy = null
    }
  }

  /** Runs `fn(post, session)` on a session connected to the main thread, then disconnects. */
  async withMainThread(fn) {
    const session = new inspector.Session()
    Atomics.store(this.state.flag, CONNECTED, 1)
    try {
      session.connectToMainThread()
      const post = (method, params) =>
        new Promise((resolve, reject) => {
          session.post(method, params, (err, result) => (err ? reject(err) : resolve(result)))
        })
      return await fn(post, session)
    } finally {
      try {
        session.disconnect()
      } finally {
        this.state.times[0] = Date.now()
        Atomics.store(this.state.flag, CONNECTED, 0)
        Atomics.notify(this.state.flag, CONNECTED)
      }
    }
  }

  async readGrowth() {
    const { profile } = await this.withMainThread((post) => post('HeapProfiler.getSamplingProfile'))
    const result = this.growth.read(profile, this.growthConfig.top)
    return { ...result, samplingIntervalBytes: this.growthConfig.samplingIntervalBytes }
  }

  async writeSnapshot() {
    const { dir, force } = this.snapshotConfig
    const heap = this.heapStatistics()
    if (!force) {
      const heapUsed = heap ? heap.used_heap_size : 0
      const refusal = snapshot.lowMemoryError(heapUsed, 'start the sidecar with heapSnapshots: { dir, force: true } to write it anyway')
      if (refusal !== null) throw refusal
    }
    const file = path.join(dir, fileName(++this.seq))
    const partial = `${file}.partial`
    const fd = fs.openSync(partial, 'wx')
    let bytes = 0
    const t0 = performance.now()
    try {
      await this.withMainThread(async (post, session) => {
        session.on('HeapProfiler.addHeapSnapshotChunk', (m) => {
          bytes += fs.writeSync(fd, m.params.chunk)
        })
        await post('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
      })
      fs.closeSync(fd)
      fs.renameSync(partial, file)
    } catch (e) {
      try {
        fs.closeSync(fd)
      } catch {
        // closed already
      }
      fs.rmSync(partial, { force: true })
      throw e
    }
    return { path: file, bytes, ms: Math.round(performance.now() - t0) }
  }
}

/** As Node names its own snapshots: Heap.<yyyymmdd>.<hhmmss>.<pid>.<thread>.<seq>.heapsnapshot (the main thread's 0). */
function fileName(seq) {
  const d = new Date()
  const p = (n, w = 2) => String(n).padStart(w, '0')
  const date = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`
  const time = `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
  return `Heap.${date}.${time}.${process.pid}.0.${p(seq, 3)}.sidecar.heapsnapshot`
}

module.exports = { MemoryEndpoints, stateViews, STATE_BYTES }
