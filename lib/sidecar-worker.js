'use strict'
// The sidecar's worker thread: an HTTP server on its own event loop, so it
// answers while the loop it watches is stuck. See lib/sidecar.js.
const fs = require('node:fs')
const http = require('node:http')
const { parentPort, workerData } = require('node:worker_threads')
const { monitors, windowRead, recentStalls } = require('./lag.js')
const { sidecarError } = require('./errors.js')
const { MemoryEndpoints } = require('./memory-sidecar.js')

const { port, host, stallThresholdMs, metrics, stalls, target, maxLagMs, maxUtilization, windowMs } = workerData
const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, idleTimeoutMs } = workerData
const watched = monitors().find((m) => m.thread === target)
if (!watched) throw sidecarError(`no monitor for thread ${target}`)

// The watched loop's sliding window, read from this thread.
const watchedWindow = () => windowRead(watched, windowMs)
watchedWindow()

// /debug/heap-growth and /debug/heap-snapshot, when asked for (lib/memory-sidecar.js).
let heap = null
const memoryEndpoints = workerData.memory ? new MemoryEndpoints(workerData.memory, () => heap) : null

parentPort.on('message', (m) => {
  if (m && m.heap) heap = m.heap
  // close() and the main thread's exit: end the session to the main thread.
  if (m && m.disconnect && memoryEndpoints !== null) memoryEndpoints.close()
})

let register = null
if (metrics) {
  const client = require('prom-client')
  const { collectMetrics } = require('./prom.js')
  register = new client.Registry()
  // GC series describe the collecting thread's own isolate: here that would
  // be this worker's, so they stay off (the app's collectMetrics has them).
  collectMetrics({ register, threads: 'all', heapStatistics: () => heap, gc: false, worker: workerData.worker })
}

function send(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

// ## Connections
//
// The sidecar shares the process's file descriptors with the app it
// watches. Unbounded, a flood of idle connections (1,100 under
// `ulimit -n 1024`, issue #16) takes every descriptor: the app's own
// open() and process.memoryUsage() fail with EMFILE, and the probes this
// server exists for are reset. So it holds at most `maxConnections`, and a
// slow or silent connection goes after `headersTimeoutMs`.
//
// At the cap, a new connection closes the one idle the longest (no request
// in flight; never sent one, or sent part of one, or kept alive since its
// last answer) rather than being refused: refusing would let a flood that
// got in first lock every probe out until the headers timeout. A probe is
// the newest connection when it arrives, so it is evicted only if
// `maxConnections` newer ones arrive before its request has been read (the
// same turn of the loop). A connection with a request in flight is never
// evicted; when all are, the newcomer is closed.

/**
 * The sidecar's share of the descriptors when no `maxConnections` is
 * given: an eighth of the soft RLIMIT_NOFILE (the app keeps seven eighths),
 * at least 4, at most 256 (more concurrent probes and scrapes than any
 * deployment makes). Node has no getrlimit; on Linux /proc/self/limits has
 * the limit this process runs under (after Node's own raise of the soft
 * limit to the hard one at start-up). Elsewhere, 256.
 */
function defaultMaxConnections() {
  let text
  try {
    text = fs.readFileSync('/proc/self/limits', 'latin1')
  } catch {
    return 256
  }
  const m = /^Max open files\s+(\d+)/m.exec(text)
  if (!m) return 256 // unlimited
  return Math.max(4, Math.min(256, Math.floor(Number(m[1]) / 8)))
}
const maxConnections = workerData.maxConnections ?? defaultMaxConnections()

/** Open connections, each with its requests in flight; least recently active first. */
const open = new Map()

function onConnection(socket) {
  open.set(socket, 0)
  socket.once('close', () => open.delete(socket))
  if (open.size <= maxConnections) return
  let victim = socket
  for (const [s, inFlight] of open) {
    if (inFlight === 0 && s !== socket) {
      victim = s
      break
    }
  }
  open.delete(victim)
  // Closes the descriptor now (uv_close); the 'close' event comes later.
  victim.destroy()
}

function onRequest(req, res) {
  const socket = req.socket
  const inFlight = open.get(socket)
  if (inFlight === undefined) return
  open.set(socket, inFlight + 1)
  res.once('close', () => {
    const n = open.get(socket)
    if (n === undefined) return
    // Re-inserted: the most recently active is evicted last.
    open.delete(socket)
    open.set(socket, n - 1)
  })
}

const server = http.createServer(
  {
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // Node checks headersTimeout and requestTimeout on this interval (30 s
    // by default, which would let a 5 s timeout run to 35 s).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
  },
  handle,
)
// Socket inactivity (a reader that stopped reading, say): with no 'timeout'
// listener, Node destroys the socket.
server.timeout = idleTimeoutMs
server.on('connection', onConnection)

/** Whether this sidecar serves `path` (with GET). */
function served(path) {
  return path === '/health/live' || path === '/health/ready' || (path === '/debug/stalls' && stalls) || (path === '/metrics' && register !== null)
}

async function handle(req, res) {
  onRequest(req, res)
  const path = req.url.split('?')[0]
  if (memoryEndpoints !== null && memoryEndpoints.handles(req, path)) return memoryEndpoints.handle(req, res, path, send)
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    // 405 for what this sidecar serves; anything else is not here at all
    // (a POST to /debug/heap-snapshot when heapSnapshots is off: 404).
    if (served(path)) res.writeHead(405, { Allow: 'GET, HEAD' }).end()
    else res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
    return
  }
  if (path === '/health/live') {
    const stalledMs = watched.stalledFor()
    if (stalledMs > stallThresholdMs) return send(res, 503, { status: 'stalled', stalledMs })
    return send(res, 200, { status: 'ok', lagP99Ms: watchedWindow().p99Ms })
  }
  if (path === '/health/ready') {
    const stalledMs = watched.stalledFor()
    if (stalledMs > stallThresholdMs) return send(res, 503, { status: 'stalled', stalledMs })
    const w = watchedWindow()
    if (w.p99Ms > maxLagMs || w.utilization > maxUtilization) {
      return send(res, 503, { status: 'overloaded', lagP99Ms: w.p99Ms, utilization: w.utilization })
    }
    return send(res, 200, { status: 'ok', lagP99Ms: w.p99Ms, utilization: w.utilization })
  }
  if (path === '/debug/stalls' && stalls) {
    return send(res, 200, { stalls: recentStalls() })
  }
  if (path === '/metrics' && register) {
    try {
      const text = await register.metrics()
      res.writeHead(200, { 'Content-Type': register.contentType })
      res.end(text)
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(e && e.stack))
    }
    return
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
}
server.on('error', (e) => parentPort.postMessage({ error: { message: e.message, code: e.code } }))
server.listen(port, host, () => parentPort.postMessage({ listening: server.address().port, maxConnections }))
