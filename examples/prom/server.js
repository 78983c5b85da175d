'use strict'
// A small HTTP server that exposes @nodeperf/native's metrics for Prometheus.
//
//   node examples/prom/server.js [port]
//   curl localhost:9464/metrics
//   curl 'localhost:9464/block?ms=50'   # blocks the loop for 50 ms
//
// Two worker threads run beside the main thread, so /metrics shows one
// `thread` series per loop.
const http = require('node:http')
const { Worker } = require('node:worker_threads')
const client = require('prom-client')
const { lag } = require('@nodeperf/native')
const { collectMetrics } = require('@nodeperf/native/prom')

const register = new client.Registry()
client.collectDefaultMetrics({ register })
collectMetrics({ register, compat: true, labels: { service: 'example' } })
lag.configure({ stallThresholdMs: 100 })

// Worker threads with a little steady work of their own.
for (let i = 0; i < 2; i++) {
  const w = new Worker(
    `require('@nodeperf/native')
     setInterval(() => { const end = Date.now() + 2; while (Date.now() < end); }, 20)`,
    { eval: true },
  )
  w.unref()
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost')
  if (url.pathname === '/metrics') {
    res.setHeader('Content-Type', register.contentType)
    res.end(await register.metrics())
  } else if (url.pathname === '/block') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 10, 10_000)
    const end = performance.now() + ms
    while (performance.now() < end);
    res.end(`blocked ${ms} ms\n`)
  } else {
    res.end('ok\n')
  }
})
const port = Number(process.argv[2] || process.env.PORT || 9464)
server.listen(port, '127.0.0.1', () => console.log(`metrics on http://127.0.0.1:${server.address().port}/metrics`))
