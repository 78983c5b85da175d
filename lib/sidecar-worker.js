'use strict'
// The sidecar's worker thread: an HTTP server on its own event loop, so it
// answers while the loop it watches is stuck. See lib/sidecar.js.
const http = require('node:http')
const { parentPort, workerData } = require('node:worker_threads')
const { monitors, windowRead } = require('./lag.js')
const { sidecarError } = require('./errors.js')

const { port, host, stallThresholdMs, metrics, target, maxLagMs, maxUtilization, windowMs } = workerData
const watched = monitors().find((m) => m.thread === target)
if (!watched) throw sidecarError(`no monitor for thread ${target}`)

// The watched loop's sliding window, read from this thread.
const watchedWindow = () => windowRead(watched, windowMs)
watchedWindow()

let heap = null
parentPort.on('message', (m) => {
  if (m && m.heap) heap = m.heap
})

let register = null
if (metrics) {
  const client = require('prom-client')
  const { collectMetrics } = require('./prom.js')
  register = new client.Registry()
  collectMetrics({ register, threads: 'all', heapStatistics: () => heap })
}

function send(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0]
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end()
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
})
server.on('error', (e) => parentPort.postMessage({ error: { message: e.message, code: e.code } }))
server.listen(port, host, () => parentPort.postMessage({ listening: server.address().port }))
