// The sidecar under a connection flood (issue #16): an app under
// `ulimit -n 1024` runs startSidecar() with its defaults; another process
// opens 1,100 connections to it, each sending half a request and then
// nothing. Meanwhile this process probes /health/live every 50 ms (a fresh
// connection each, as kubelet does), reads how many descriptors the app
// holds (/proc/<pid>/fd), and the app itself opens a file and reads
// process.memoryUsage() every 5 ms, counting EMFILE.
//
// Control, in the same run: the same app with what the sidecar was before,
// a plain http.createServer on a worker thread with Node's defaults (no
// cap; headers timeout 60 s, checked every 30 s).
//
// The bar: /health/live answers 200/503 in <= 50 ms throughout, the app
// never sees EMFILE, connections beyond the cap are closed at once.
//
// usage: node bench/sidecar-flood.mjs [--connections 1100] [--ulimit 1024]
//          [--seconds 10] [--rounds 1] [--churn]
//   --churn: the flooder reopens every connection the server closes
//   (a harsher flood than the bar's; its own row).
// Linux only (ulimit through bash, /proc/<pid>/fd).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { machine } from './common.mjs'

const self = fileURLToPath(import.meta.url)
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const HALF = 'GET /health/live HTTP/1.1\r\nHost: sidecar\r\n' // the headers never end
const PACED = 20

// ---------------------------------------------------------------------------
// The app: `node sidecar-flood.mjs app <sidecar|control>`

async function app(variant) {
  let sidecarLoop = null
  let port
  let cap = null
  if (variant === 'sidecar') {
    const { startSidecar } = await import('@nodeperf/native')
    const sidecar = await startSidecar({ port: 0 })
    port = sidecar.port
    cap = sidecar.maxConnections
    // The sidecar's own loop: its longest busy period is how long a probe
    // can wait behind the flood's connections being accepted and closed.
    const { monitors } = await import('@nodeperf/native')
    sidecarLoop = monitors().find((m) => m.thread !== 'main')
    setTimeout(() => sidecarLoop.reset(), 500) // after its start-up
  } else {
    const { Worker } = await import('node:worker_threads')
    const worker = new Worker(
      `const http = require('node:http')
       const server = http.createServer((req, res) => {
         const body = JSON.stringify({ status: 'ok' })
         res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
         res.end(body)
       })
       server.listen(0, '127.0.0.1', () => require('node:worker_threads').parentPort.postMessage(server.address().port))`,
      { eval: true },
    )
    port = await new Promise((resolve) => worker.once('message', resolve))
    worker.unref()
  }
  const counts = { opens: 0, openEmfile: 0, mem: 0, memEmfile: 0, otherErrors: 0 }
  const t0 = performance.now()
  setInterval(() => {
    try {
      fs.closeSync(fs.openSync('/dev/null', 'r'))
      counts.opens++
    } catch (e) {
      if (e.code === 'EMFILE') counts.openEmfile++
      else counts.otherErrors++
    }
    try {
      process.memoryUsage()
      counts.mem++
    } catch (e) {
      if (e.code === 'EMFILE') counts.memEmfile++
      else counts.otherErrors++
    }
  }, 5)
  setInterval(() => {
    const loopMaxMs = sidecarLoop ? sidecarLoop.max() : null
    console.log(JSON.stringify({ t: performance.now() - t0, ...counts, loopMaxMs }))
  }, 250)
  console.log(JSON.stringify({ ready: true, port, cap, pid: process.pid }))
}

// ---------------------------------------------------------------------------
// The flooder: `node sidecar-flood.mjs flood <port> <n> <seconds> <churn 0|1> <cap>`

async function flood(port, n, seconds, churn, cap) {
  const t0 = performance.now()
  const now = () => performance.now() - t0
  const connects = []
  const closes = []
  let open = 0
  let answered408 = 0
  let resets = 0
  let stopping = false
  const sockets = new Set()
  const timeline = []
  const connectOne = () => {
    const socket = net.connect(port, '127.0.0.1')
    let connected = false
    let got = ''
    sockets.add(socket)
    socket.setEncoding('latin1')
    socket.on('data', (d) => (got += d))
    socket.on('error', (e) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') resets++
    })
    socket.once('connect', () => {
      connected = true
      open++
      connects.push(now())
      socket.write(HALF)
    })
    socket.once('close', () => {
      sockets.delete(socket)
      if (stopping) return
      if (connected) {
        open--
        closes.push(now())
        if (got.startsWith('HTTP/1.1 408')) answered408++
      }
      if (churn) connectOne()
    })
  }
  for (let i = 0; i < n; i++) connectOne()
  const sampler = setInterval(() => timeline.push([Math.round(now()), open]), 100)
  // Then, the burst long over and this loop idle, PACED connections one at a
  // time, each beyond the cap (this process holding `cap` already, topped
  // up first when the probes' evictions took some): from its connect() to
  // the next close the server makes (of the connection idle longest). A
  // probe arriving in between closes one of ours too; the figure is then
  // the time to that close.
  const paced = []
  let pacedOpen = 0
  const openPaced = async () => {
    const socket = net.connect(port, '127.0.0.1')
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => pacedOpen--)
    await new Promise((resolve) => socket.once('connect', resolve))
    pacedOpen++
    socket.write(HALF)
  }
  await new Promise((resolve) => setTimeout(resolve, 2000))
  for (let i = 0; cap > 0 && !churn && i < PACED; i++) {
    // No pause after topping up: a probe meanwhile would evict one of ours
    // and leave room for the next.
    while (open + pacedOpen < cap) await openPaced()
    const before = closes.length
    const t = performance.now()
    await openPaced()
    const closed = await new Promise((resolve) => {
      const check = setInterval(() => {
        if (closes.length > before) resolve(true)
        else if (performance.now() - t > 200) resolve(false)
        else return
        clearInterval(check)
      }, 0)
    })
    paced.push(closed ? closes[before] - (t - t0) : null)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds * 1000 - now())))
  clearInterval(sampler)
  stopping = true
  for (const s of sockets) s.destroy()
  console.log(JSON.stringify({ connects, closes, answered408, resets, timeline, paced }))
}

// ---------------------------------------------------------------------------
// The run.

function lines(stream, onLine) {
  let buffered = ''
  stream.setEncoding('utf8')
  stream.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i)
      buffered = buffered.slice(i + 1)
      if (line.trim()) onLine(line)
    }
  })
}

function probe(port) {
  return new Promise((resolve) => {
    const t = performance.now()
    const req = http.get({ host: '127.0.0.1', port, path: '/health/live', agent: false, timeout: 2000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ ms: performance.now() - t, status: res.statusCode }))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', (e) => resolve({ ms: performance.now() - t, error: e.code || e.message }))
  })
}

const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : NaN)

async function round(variant, { connections, ulimit, seconds, churn }) {
  const child = spawn('bash', ['-c', `ulimit -n ${ulimit} && exec "${process.execPath}" "${self}" app ${variant}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const appLines = []
  const ready = new Promise((resolve, reject) => {
    lines(child.stdout, (line) => {
      const m = JSON.parse(line)
      if (m.ready) resolve(m)
      else appLines.push(m)
    })
    child.once('exit', (code) => reject(new Error(`the app exited (${code})`)))
  })
  const { port, cap, pid } = await ready
  const t0 = performance.now()
  const now = () => performance.now() - t0

  // Probes every 50 ms, each on a connection of its own.
  const probes = []
  const pending = new Set()
  const prober = setInterval(() => {
    const at = now()
    const p = probe(port).then((r) => {
      probes.push({ at, ...r })
      pending.delete(p)
    })
    pending.add(p)
  }, 50)
  // Descriptors the app holds.
  const fds = []
  let sampling = true
  ;(async () => {
    while (sampling) {
      const at = now()
      try {
        fds.push([at, (await fs.promises.readdir(`/proc/${pid}/fd`)).length])
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })()
  // This process's own lateness: a 5 ms timer's delay past its due time.
  const lateness = []
  let due = performance.now() + 5
  const ticker = setInterval(() => {
    const t = performance.now()
    lateness.push([t - t0, t - due])
    due = t + 5
  }, 5)

  await new Promise((resolve) => setTimeout(resolve, 1000))
  const baselineFds = fds.length ? Math.max(...fds.map(([, n]) => n)) : NaN
  const floodAt = now()
  const flooder = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${connections + 512} 2>/dev/null || ulimit -n hard; exec "${process.execPath}" "${self}" flood ${port} ${connections} ${seconds} ${churn ? 1 : 0} ${cap ?? 0}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let floodOut = ''
  flooder.stdout.on('data', (d) => (floodOut += d))
  await new Promise((resolve) => flooder.once('exit', resolve))
  const floodEnd = now()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  clearInterval(prober)
  clearInterval(ticker)
  sampling = false
  await Promise.all(pending)
  child.kill()
  const f = JSON.parse(floodOut)

  // Probes from the flood's start to its end.
  const during = probes.filter((p) => p.at >= floodAt && p.at <= floodEnd)
  const answered = during.filter((p) => p.status === 200 || p.status === 503)
  const ms = answered.map((p) => p.ms).sort((a, b) => a - b)
  const failed = {}
  for (const p of during) if (p.error || (p.status !== 200 && p.status !== 503)) failed[p.error ?? p.status] = (failed[p.error ?? p.status] ?? 0) + 1
  const lastApp = appLines.at(-1) ?? {}
  // Beyond the cap: the k-th close against the (cap + k)-th connect.
  const connects = [...f.connects].sort((a, b) => a - b)
  const closes = [...f.closes].sort((a, b) => a - b)
  let beyond = null
  if (cap !== null && !churn && connects.length > cap) {
    const delays = []
    for (let k = 0; k < connects.length - cap && k < closes.length; k++) delays.push(Math.max(0, closes[k] - connects[cap + k]))
    delays.sort((a, b) => a - b)
    beyond = { n: delays.length, of: connects.length - cap, p50: pct(delays, 0.5), max: delays.at(-1) }
  }
  const paced = f.paced.filter((x) => x !== null).sort((a, b) => a - b)
  const held = (t) => {
    const s = fds.filter(([at]) => at >= floodAt + t * 1000)[0]
    return s ? s[1] - baselineFds : NaN
  }
  const floodFds = fds.filter(([at]) => at >= floodAt && at <= floodEnd).map(([, n]) => n - baselineFds)
  return {
    variant: churn ? `${variant}, churn` : variant,
    cap,
    probes: during.length,
    answered: answered.length,
    unanswered: during.length - answered.length,
    failed,
    p50: pct(ms, 0.5),
    p99: pct(ms, 0.99),
    max: ms.at(-1),
    over50: ms.filter((x) => x > 50).length,
    slow: during.filter((p) => p.ms > 20 || p.error).map((p) => `${p.error ?? p.status} ${p.ms.toFixed(0)} ms at ${((p.at - floodAt) / 1000).toFixed(2)} s`),
    emfile: (lastApp.openEmfile ?? 0) + (lastApp.memEmfile ?? 0),
    appOps: (lastApp.opens ?? 0) + (lastApp.mem ?? 0),
    otherErrors: lastApp.otherErrors ?? 0,
    loopMaxMs: lastApp.loopMaxMs,
    probeLate: Math.max(...lateness.filter(([at]) => at >= floodAt && at <= floodEnd).map(([, ms]) => ms)),
    paced: { n: paced.length, of: f.paced.length, p50: pct(paced, 0.5), max: paced.at(-1) },
    connected: f.connects.length,
    closedByServer: f.closes.length,
    answered408: f.answered408,
    resets: f.resets,
    beyond,
    heldMax: Math.max(...floodFds),
    heldAt: [0.5, 2, 4, 6, 8].filter((t) => t < seconds).map((t) => [t, held(t)]),
    heldEnd: floodFds.at(-1),
    timeline: f.timeline.filter((_, i) => i % 5 === 4),
  }
}

function report(r) {
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-')
  console.log(`\n${r.variant}${r.cap !== null ? ` (maxConnections ${r.cap})` : ' (no cap)'}`)
  console.log(
    `  /health/live during the flood: ${r.answered}/${r.probes} answered, failed ${JSON.stringify(r.failed)}; ` +
      `p50 ${f(r.p50)} ms, p99 ${f(r.p99)} ms, max ${f(r.max)} ms, ${r.over50} over 50 ms`,
  )
  if (r.slow.length) console.log(`  probes over 20 ms or failed: ${r.slow.slice(0, 12).join('; ')}${r.slow.length > 12 ? '; …' : ''}`)
  if (r.loopMaxMs != null) console.log(`  the sidecar's loop: longest busy period ${r.loopMaxMs.toFixed(1)} ms`)
  console.log(`  app: EMFILE ${r.emfile} of ${r.emfile + r.appOps} open/memoryUsage calls (other errors ${r.otherErrors})`)
  console.log(
    `  flooder: ${r.connected} connected, ${r.closedByServer} closed by the server (${r.answered408} with a 408, ${r.resets} reset)`,
  )
  console.log(`  this process's own 5 ms timer, latest: ${f(r.probeLate)} ms (the probes' times include it)`)
  if (r.beyond) {
    console.log(
      `  beyond the cap, in the burst (as the flooder's loop saw it): ${r.beyond.n} of ${r.beyond.of} closed, ` +
        `k-th close after the (cap+k)-th connect: p50 ${f(r.beyond.p50)} ms, max ${f(r.beyond.max)} ms`,
    )
  }
  if (r.paced.of) {
    console.log(
      `  beyond the cap, paced (one connection at a time, 2 s in): ${r.paced.n} of ${r.paced.of} made the server close one, ` +
        `${r.paced.n ? `after p50 ${f(r.paced.p50)} ms, max ${f(r.paced.max)} ms` : 'none within 200 ms'}`,
    )
  }
  console.log(
    `  descriptors the app holds above its baseline: max ${r.heldMax}; ${r.heldAt.map(([t, n]) => `${t} s: ${n}`).join(', ')}; at the flood's end ${r.heldEnd}`,
  )
  console.log(`  flooder's open connections each 0.5 s: ${r.timeline.map(([, n]) => n).join(' ')}`)
}

const [role, ...rest] = process.argv.slice(2)
if (role === 'app') await app(rest[0])
else if (role === 'flood') await flood(Number(rest[0]), Number(rest[1]), Number(rest[2]), rest[3] === '1', Number(rest[4]))
else {
  if (process.platform !== 'linux') throw new Error('bench/sidecar-flood.mjs needs Linux (ulimit, /proc)')
  const opts = { connections: arg('connections', 1100), ulimit: arg('ulimit', 1024), seconds: arg('seconds', 10) }
  const rounds = arg('rounds', 1)
  const churn = process.argv.includes('--churn')
  console.log(`sidecar flood: ${machine()}; load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log(
    `  app under ulimit -n ${opts.ulimit}; ${opts.connections} connections, each half a request, held ${opts.seconds} s; probes every 50 ms`,
  )
  const results = []
  for (let i = 0; i < rounds; i++) {
    for (const variant of ['control', 'sidecar']) {
      const r = await round(variant, { ...opts, churn: false })
      report(r)
      results.push(r)
    }
    if (churn) {
      const r = await round('sidecar', { ...opts, churn: true })
      report(r)
      results.push(r)
    }
  }
  const ours = results.filter((r) => r.variant === 'sidecar')
  const control = results.filter((r) => r.variant === 'control')
  const worst = (rs, k) => Math.max(...rs.map((r) => r[k]))
  if (rounds > 1) {
    console.log('\nper round (control | ours)')
    const row = (label, k, fmt = (x) => x.toFixed(1)) =>
      console.log(`  ${label}: ${control.map((r) => fmt(r[k])).join(' ')} | ${ours.map((r) => fmt(r[k])).join(' ')}`)
    row('probe p50, ms', 'p50')
    row('probe max, ms', 'max')
    row("the prober's own 5 ms timer, latest, ms", 'probeLate')
    row('unanswered probes', 'unanswered', String)
    row('EMFILE', 'emfile', String)
    row('descriptors held above baseline, max', 'heldMax', String)
  }
  const failures = (rs) => rs.reduce((n, r) => n + r.unanswered, 0)
  console.log('\nbar')
  console.log(
    `  /health/live 200/503 in <= 50 ms throughout: ${failures(ours) === 0 && worst(ours, 'max') <= 50 ? 'met' : 'MISSED'} ` +
      `(max ${worst(ours, 'max').toFixed(1)} ms, ${failures(ours)} unanswered; control: max ${worst(control, 'max').toFixed(1)} ms, ${failures(control)} unanswered)`,
  )
  console.log(
    `  the app never sees EMFILE: ${worst(ours, 'emfile') === 0 ? 'met' : 'MISSED'} (${worst(ours, 'emfile')}; control ${worst(control, 'emfile')})`,
  )
  const capOk = ours.every((r) => r.heldMax <= r.cap + 1 && r.paced.n === r.paced.of)
  console.log(
    `  beyond the cap closed at once: ${capOk ? 'met' : 'MISSED'} (the app held at most ${worst(ours, 'heldMax')} descriptors above its baseline ` +
      `in samples every ~10 ms, cap ${ours[0].cap}; control ${worst(control, 'heldMax')}. Paced, the server closed one ` +
      `within max ${worst(ours.map((r) => r.paced), 'max').toFixed(1)} ms of each connection past the cap)`,
  )
}
