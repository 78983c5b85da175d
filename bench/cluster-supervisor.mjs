// The cluster supervisor against issue #21's bars 2-4, with autocannon:
//
//   stuck     a worker blocked for ever under load, stuckMs 5000: time from
//             the block to the 'stuck' event, the replacement listening and
//             the stuck pid's exit; autocannon's non-2xx, errors and
//             timeouts, split by the worker whose connection they were on
//             (known when that connection had already got a response, which
//             names its worker in x-worker-pid; otherwise "unknown");
//   crashloop a worker that throws at start: forks, crashes, exit code;
//   sigterm   SIGTERM to the primary under load on a 100 ms handler:
//             requests the workers received vs answered, responses counted
//             by autocannon, the primary's exit code and time vs its
//             shutdownMs deadline.
//
//   node bench/cluster-supervisor.mjs [stuck|crashloop|sigterm ...] [--workers N] [--connections N]
//
// Uses __test__/fixtures/cluster-supervised.cjs. The stuck part needs the
// shared-memory view (lib/group.js).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { machine } from './common.mjs'

const fixture = fileURLToPath(new URL('../__test__/fixtures/cluster-supervised.cjs', import.meta.url))
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const WORKERS = arg('workers', 4)
const CONNECTIONS = arg('connections', 32)
const parts = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] || '').startsWith('--'))
const run = parts.length > 0 ? parts : ['crashloop', 'sigterm', 'stuck']

function startCluster(options, env = {}) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, SUP_OPTIONS: JSON.stringify(options), ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const events = []
  const waiters = new Set()
  let partial = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    partial += chunk
    let nl
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      if (!line.trim()) continue
      const e = JSON.parse(line)
      e.seenAt = Date.now()
      events.push(e)
      for (const w of waiters) w(e)
    }
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })))
  const waitFor = (pred) =>
    new Promise((resolve) => {
      const hit = events.find(pred)
      if (hit) return resolve(hit)
      const w = (e) => {
        if (pred(e)) {
          waiters.delete(w)
          resolve(e)
        }
      }
      waiters.add(w)
    })
  const waitCount = async (pred, n) => {
    while (events.filter(pred).length < n) await waitFor((e) => pred(e) && events.filter(pred).length >= n)
    return events.filter(pred)
  }
  return { child, events, waitFor, waitCount, exited }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** autocannon with each client's connection tagged by the worker pid its responses named. */
function load(port, path, seconds, timeoutS) {
  const byPid = { unknown: { errors: 0, timeouts: 0, non2xx: 0 } }
  const slot = (pid) => (byPid[pid ?? 'unknown'] ??= { errors: 0, timeouts: 0, non2xx: 0 })
  const instance = autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: timeoutS,
    setupClient(client) {
      client.connPid = null
      client.prevPid = null
      const connect = client._connect
      client._connect = function () {
        client.prevPid = client.connPid
        client.connPid = null
        return connect.call(this)
      }
      client.on('headers', (opts) => {
        const h = opts.headers
        for (let i = 0; i < h.length; i += 2) if (String(h[i]).toLowerCase() === 'x-worker-pid') client.connPid = Number(h[i + 1])
        if (opts.statusCode < 200 || opts.statusCode >= 300) slot(client.connPid).non2xx++
      })
      // 'connError' comes before the reconnect; 'timeout' after it (prevPid is the timed-out connection's).
      client.on('connError', () => slot(client.connPid).errors++)
      client.on('timeout', () => slot(client.prevPid).timeouts++)
    },
  })
  const done = new Promise((resolve) => instance.on('done', resolve))
  return { instance, done, byPid }
}

async function crashLoop() {
  const crashes = 5
  const started = Date.now()
  const c = startCluster({ workers: WORKERS, crashLoop: { crashes, windowMs: 60_000 } }, { SUP_WORKER: 'crash' })
  const { code, at } = await c.exited
  const forks = c.events.filter((e) => e.type === 'fork').length
  const crashed = c.events.filter((e) => e.type === 'crash')
  console.log(`\n## crash loop: ${WORKERS} workers failing at start, crashLoop { crashes: ${crashes}, windowMs: 60000 }, backoff defaults`)
  console.log(`forks ${forks} (bound: crashes + workers - 1 = ${crashes + WORKERS - 1}), crashes ${crashed.length}, restarts scheduled ${crashed.filter((e) => e.delayMs !== null).length}`)
  console.log(`backoff delays (ms): ${crashed.map((e) => e.delayMs).join(', ')}`)
  console.log(`crash-loop message: ${c.events.find((e) => e.type === 'crash-loop')?.message}`)
  console.log(`primary exit code ${code}, ${at - started} ms after start`)
}

async function sigterm() {
  const shutdownMs = 10_000
  const c = startCluster({ workers: WORKERS, shutdownMs }, { SUP_COUNT: '1' })
  const listening = await c.waitCount((e) => e.type === 'listening', WORKERS)
  const port = listening[0].address.port
  const { instance, done, byPid } = load(port, '/slow?ms=100', 30, 10)
  await sleep(3000)
  const signalAt = Date.now()
  c.child.kill('SIGTERM')
  const { code, at } = await c.exited
  // The primary is gone; stop the load once the workers' last answers are in.
  await sleep(200)
  instance.stop()
  const result = await done
  const counts = c.events.filter((e) => e.type === 'counts')
  const received = counts.reduce((s, e) => s + e.received, 0)
  const answered = counts.reduce((s, e) => s + e.answered, 0)
  console.log(`\n## SIGTERM under load: ${WORKERS} workers, autocannon ${CONNECTIONS} connections on a 100 ms handler, SIGTERM after 3 s, shutdownMs ${shutdownMs}`)
  console.log(`workers reporting counts: ${counts.length} of ${WORKERS}; requests received by workers ${received}, answered (response finished) ${answered}, lost ${received - answered}`)
  console.log(`autocannon: 2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors} (timeouts ${result.timeouts}), by worker: ${JSON.stringify(byPid)}`)
  console.log(`(errors after the signal are connections refused or closed once every server had closed: never accepted)`)
  console.log(`primary exit code ${code}, ${at - signalAt} ms after SIGTERM (deadline ${shutdownMs} ms)`)
}

async function stuck() {
  if (!existsSync(fileURLToPath(new URL('../lib/group.js', import.meta.url)))) {
    console.log('\n## stuck worker: skipped, this checkout has no lib/group.js (the shared-memory view)')
    return
  }
  const stuckMs = 5000
  const graceMs = 2000
  // Precise stall culprits in the workers: the view then names the running stall's code.
  const c = startCluster({ workers: WORKERS, stuckMs, graceMs }, { SUP_CULPRITS: '1' })
  const listening = await c.waitCount((e) => e.type === 'listening', WORKERS)
  const port = listening[0].address.port
  const { instance, done, byPid } = load(port, '/', 25, 10)
  await sleep(3000)
  fetch(`http://127.0.0.1:${port}/block`).catch(() => {})
  const blocking = await c.waitFor((e) => e.type === 'blocking')
  const stuckEvent = await c.waitFor((e) => e.type === 'stuck')
  const replace = await c.waitFor((e) => e.type === 'replace' && e.reason === 'stuck')
  const up = await c.waitFor((e) => e.type === 'listening' && e.id === replace.by)
  const gone = await c.waitFor((e) => e.type === 'exit' && e.pid === stuckEvent.pid)
  const result = await done
  c.child.kill('SIGTERM')
  await c.exited
  const stuckPid = stuckEvent.pid
  const on = byPid[stuckPid] ?? { errors: 0, timeouts: 0, non2xx: 0 }
  const elsewhere = Object.entries(byPid).filter(([pid]) => pid !== String(stuckPid) && pid !== 'unknown')
  const sum = (k) => elsewhere.reduce((s, [, v]) => s + v[k], 0)
  console.log(`\n## stuck worker: ${WORKERS} workers, autocannon ${CONNECTIONS} connections on GET / for 25 s, one worker blocked for ever at 3 s; stuckMs ${stuckMs}, graceMs ${graceMs}`)
  console.log(`blocked pid ${blocking.pid} (the stuck event names pid ${stuckPid}, stalledFor ${Math.round(stuckEvent.stalledFor)} ms, culprit ${JSON.stringify(stuckEvent.culprit)})`)
  console.log(`from the block: stuck event ${stuckEvent.time - blocking.at} ms, replacement listening ${up.time - blocking.at} ms, stuck pid exited ${gone.time - blocking.at} ms (${gone.signal ?? `code ${gone.code}`}); bar: ${stuckMs} + ${graceMs} ms`)
  console.log(`autocannon: 2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors} (timeouts ${result.timeouts})`)
  console.log(`  on the stuck worker's connections: errors ${on.errors}, timeouts ${on.timeouts}, non-2xx ${on.non2xx}`)
  console.log(`  on the other workers' connections: errors ${sum('errors')}, timeouts ${sum('timeouts')}, non-2xx ${sum('non2xx')}`)
  console.log(`  on connections with no response yet (worker unknown): ${JSON.stringify(byPid.unknown)}`)
}

console.log(`# cluster supervisor bench — ${machine()}`)
for (const part of run) {
  if (part === 'crashloop') await crashLoop()
  else if (part === 'sigterm') await sigterm()
  else if (part === 'stuck') await stuck()
  else throw new Error(`unknown part ${part}`)
}
