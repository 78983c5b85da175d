// The demo's HTTP server (run by demo/index.mjs in a child process). Each
// scenario is an endpoint doing the same work either on the main thread or
// on the pool; /ping is the small request whose latency the driver measures.
import http from 'node:http'
import crypto from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { lag, pool, startSidecar } from '@nodeperf/native'

const MiB = 1 << 20

// A 20 MB JSON document of records, made once with a fixed seed.
function makeDocument(bytes) {
  let seed = 42
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  const words = ['alpha', 'beta', 'gamma', 'delta', 'épsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa']
  const records = []
  let size = 2
  for (let i = 0; size < bytes; i++) {
    const r = {
      id: i,
      name: `${words[i % 10]}-${Math.floor(rnd() * 1e6)}`,
      score: rnd() * 1000,
      active: rnd() > 0.5,
      tags: [words[Math.floor(rnd() * 10)], words[Math.floor(rnd() * 10)]],
      address: { city: words[Math.floor(rnd() * 10)], zip: String(10000 + Math.floor(rnd() * 89999)) },
      history: [rnd(), rnd(), rnd()],
    }
    const s = JSON.stringify(r)
    size += s.length + 1
    records.push(s)
  }
  return `[${records.join(',')}]`
}

const doc = makeDocument(20 * MiB)
const docBytes = Buffer.from(doc)
const blob = crypto.randomBytes(16 * MiB)

const eld = monitorEventLoopDelay({ resolution: 10 })
eld.enable()
const stalls = []
lag.onStall(500, (s) => stalls.push(s))

const sidecar = await startSidecar({ stallThresholdMs: 500, metrics: false })

const busy = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

const routes = {
  '/ping': async () => 'pong',
  '/json/main': async () => JSON.parse(doc).length,
  '/json/pool': async () => (await pool.parseJson(docBytes)).length,
  '/hash/main': async () => crypto.createHash('sha256').update(blob).digest('hex'),
  '/hash/pool': async () => pool.hash('sha256', blob),
  '/stall': async () => {
    busy(2000)
    return 'stalled 2000 ms'
  },
  '/reset': async () => {
    lag.reset()
    eld.reset()
    stalls.length = 0
    return 'ok'
  },
  '/report': async () =>
    JSON.stringify({ lagP99: lag.p99(), lagMax: lag.max(), eldP99: eld.percentile(99) / 1e6, eldMax: eld.max / 1e6, stalls }),
}

const server = http.createServer(async (req, res) => {
  const route = routes[req.url]
  if (!route) return res.writeHead(404).end()
  try {
    res.end(String(await route()))
  } catch (e) {
    res.writeHead(500).end(String(e && e.message))
  }
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.send({ port: server.address().port, sidecar: sidecar.port, docMB: docBytes.length / MiB })
})
