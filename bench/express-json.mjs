// Large JSON uploads to Express: `express.json()` against
// `@nodeperf/native/express` `json()`, in one run.
//
//   node bench/express-json.mjs [--rounds 5] [--mb 20] [--uploads 4]
//
// A child process serves one Express app with both parsers (POST
// /ref/upload and /ours/upload, limit 64mb, each answering the parsed
// array's length) and GET /ping. This process is the client: per round
// and arm (the arms' order alternates), it starts `--uploads` concurrent
// uploads of the same `--mb` MB document (an array of records) and polls
// /ping every 5 ms (open loop, latency from when each ping was due, on its
// own keep-alive agent) until the last upload is answered. Reported per arm: the ping latency p50 / p99 / max during
// the uploads and the time from the first upload's start to the last
// answer. A control round (pings only, no uploads) runs first. Ratios:
// ping p99 express.json / ours (bar: >= 10), upload time ours /
// express.json (bar: <= 1.3).
import http from 'node:http'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { machine, median } from './common.mjs'

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(args[i + 1])
}

function documentOf(bytes) {
  // Records as an API would take them: ids, names, nested objects, arrays,
  // numbers, booleans, some non-ASCII text. Seeded, so every run sends the
  // same bytes.
  let seed = 42
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'écho', 'foxtrot', 'golf', 'hôtel', 'india', 'juliett', 'kilo', '東京']
  const w = () => words[Math.floor(rnd() * words.length)]
  const parts = []
  let size = 2
  for (let i = 0; size < bytes; i++) {
    const record = JSON.stringify({
      id: i,
      uuid: `${Math.floor(rnd() * 1e9).toString(16)}-${Math.floor(rnd() * 1e9).toString(16)}`,
      name: `${w()} ${w()}`,
      email: `${w()}.${i}@example.com`,
      active: rnd() < 0.5,
      score: Math.round(rnd() * 1e6) / 100,
      tags: [w(), w(), w()],
      address: { street: `${Math.floor(rnd() * 999)} ${w()} street`, city: w(), zip: String(10000 + Math.floor(rnd() * 89999)) },
      history: [{ at: 1700000000000 + i * 1000, event: w() }, { at: 1700000500000 + i * 1000, event: w() }],
    })
    parts.push(record)
    size += record.length + 1
  }
  return { buf: Buffer.from('[' + parts.join(',') + ']'), count: parts.length }
}

function request(agent, port, method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': 'application/json', 'content-length': body.length } : {}
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      const chunks = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${path}: ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const PING_MS = 5
const percentile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((q / 100) * s.length) - 1)]
}

/** The server's GC and lag figures since the last call. */
async function stats(child) {
  child.send('stats')
  const [m] = await once(child, 'message')
  return m
}

async function arm(child, port, arm, doc, uploads) {
  const pingAgent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const uploadAgent = new http.Agent({ keepAlive: true, maxSockets: uploads })
  await request(pingAgent, port, 'GET', '/ping')
  // Open loop: a ping every PING_MS whatever the answers do, its latency
  // counted from when it was due (no coordinated omission: a 1 s block
  // delays every ping due in it, not only the one in flight), so both arms
  // serve the same ping load.
  let running = true
  const pings = []
  const inFlight = new Set()
  const start = performance.now()
  let due = start
  const poller = (async () => {
    while (running) {
      const sent = due
      const p = request(pingAgent, port, 'GET', '/ping').then(() => pings.push(performance.now() - sent))
      inFlight.add(p)
      p.finally(() => inFlight.delete(p))
      due += PING_MS
      const wait = due - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    await Promise.all(inFlight)
  })()
  const t0 = performance.now()
  if (arm === 'control') {
    await new Promise((resolve) => setTimeout(resolve, 1000))
  } else {
    const answers = await Promise.all(Array.from({ length: uploads }, () => request(uploadAgent, port, 'POST', `/${arm}/upload`, doc.buf)))
    for (const a of answers) if (JSON.parse(a).n !== doc.count) throw new Error(`${arm}: parsed ${a}, sent ${doc.count} records`)
  }
  const uploadMs = performance.now() - t0
  running = false
  await poller
  pingAgent.destroy()
  uploadAgent.destroy()
  const server = await stats(child)
  return { uploadMs, pings: pings.length, p50: percentile(pings, 50), p99: percentile(pings, 99), max: Math.max(...pings), ...server }
}

async function main() {
  const rounds = flag('rounds', 5)
  const mb = flag('mb', 20)
  const uploads = flag('uploads', 4)
  const doc = documentOf(mb * 1e6)
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [{ port }] = await once(child, 'message')
  console.log(`${machine()}; ${uploads} concurrent uploads of ${(doc.buf.length / 1e6).toFixed(1)} MB (${doc.count} records), ${rounds} rounds, ${new Date().toISOString()}`)
  const fmt = (r) =>
    `ping p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.pings} pings); uploads ${r.uploadMs.toFixed(0)} ms; ` +
    `server: longest GC ${r.gcMaxMs.toFixed(1)} ms, lag max ${r.lagMaxMs.toFixed(1)} ms`
  await stats(child)
  console.log(`control (no uploads): ${fmt(await arm(child, port, 'control', doc, uploads))}`)
  await arm(child, port, 'ours', doc, uploads) // warm-up, both arms
  await arm(child, port, 'ref', doc, uploads)
  const results = { ref: [], ours: [] }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? ['ours', 'ref'] : ['ref', 'ours']
    for (const name of order) {
      const r = await arm(child, port, name, doc, uploads)
      results[name].push(r)
      console.log(`round ${round + 1} ${name === 'ref' ? 'express.json()' : 'ours          '}: ${fmt(r)}`)
    }
  }
  child.disconnect()
  const med = (name, key) => median(results[name].map((r) => r[key]))
  const pingRatios = results.ref.map((r, i) => r.p99 / results.ours[i].p99)
  const timeRatios = results.ref.map((r, i) => results.ours[i].uploadMs / r.uploadMs)
  console.log(`\nmedians: express.json() ping p50 ${med('ref', 'p50').toFixed(1)} / p99 ${med('ref', 'p99').toFixed(1)} / max ${med('ref', 'max').toFixed(1)} ms, uploads ${med('ref', 'uploadMs').toFixed(0)} ms`)
  console.log(`         ours           ping p50 ${med('ours', 'p50').toFixed(1)} / p99 ${med('ours', 'p99').toFixed(1)} / max ${med('ours', 'max').toFixed(1)} ms, uploads ${med('ours', 'uploadMs').toFixed(0)} ms`)
  console.log(`ping p99 express.json() / ours, per round: ${pingRatios.map((x) => x.toFixed(1)).join(', ')}; median ${median(pingRatios).toFixed(1)} (bar >= 10)`)
  console.log(`upload time ours / express.json(), per round: ${timeRatios.map((x) => x.toFixed(2)).join(', ')}; median ${median(timeRatios).toFixed(2)} (bar <= 1.3)`)
}

async function serve() {
  const { default: express } = await import('express')
  const { json } = await import('@nodeperf/native/express')
  const app = express()
  app.get('/ping', (req, res) => res.end('pong'))
  const answer = (req, res) => res.json({ n: req.body.length })
  app.post('/ref/upload', express.json({ limit: '64mb' }), answer)
  app.post('/ours/upload', json({ limit: '64mb' }), answer)
  // The server's own view of each arm: its longest GC pause and loop lag
  // (read and reset by the client between arms).
  const { PerformanceObserver } = await import('node:perf_hooks')
  const { lag } = await import('@nodeperf/native')
  let gcMax = 0
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMax = Math.max(gcMax, e.duration)
  }).observe({ entryTypes: ['gc'] })
  process.on('message', (m) => {
    if (m !== 'stats') return
    process.send({ gcMaxMs: gcMax, lagMaxMs: lag.max(), lagP99Ms: lag.p99() })
    gcMax = 0
    lag.reset()
  })
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('disconnect', () => process.exit(0))
}

if (args[0] === '--server') await serve()
else await main()
