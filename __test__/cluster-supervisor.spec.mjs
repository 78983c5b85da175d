// The cluster supervisor (`@nodeperf/native/cluster`), process-level: each
// test runs __test__/fixtures/cluster-supervised.cjs (a primary that calls
// supervise() and prints every event as a JSON line) and checks the events,
// the responses and the exit code. Two workers at most: the machine is
// shared. Nothing here asserts on wall-clock time; the timeouts are hang
// guards.
import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { supervise, drain, exitCodes } = require('../lib/cluster.js')
const fixture = fileURLToPath(new URL('./fixtures/cluster-supervised.cjs', import.meta.url))

/**
 * Fixture primaries still running. After each test, whatever it left (a
 * failed or timed-out test) is SIGKILLed: its workers exit with it (a
 * cluster worker exits when its IPC channel closes), and no open pipe keeps
 * this file's process alive after its tests.
 */
const live = new Set()
afterEach(() => {
  for (const child of live) child.kill('SIGKILL')
  live.clear()
})

/** Starts the fixture cluster; `events` fills as its lines arrive. */
function startCluster({ options, worker = 'http', trace = false, defaultLog = false, culprits = false }) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, SUP_OPTIONS: JSON.stringify(options), SUP_WORKER: worker, SUP_TRACE: trace ? '1' : '0', SUP_DEFAULT_LOG: defaultLog ? '1' : '0', SUP_CULPRITS: culprits ? '1' : '0' },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  live.add(child)
  child.on('exit', () => live.delete(child))
  const events = []
  const waiters = []
  let stderr = ''
  let partial = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    partial += chunk
    let nl
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      if (!line.trim()) continue
      events.push(JSON.parse(line))
      for (const w of [...waiters]) w()
    }
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  /** The first event from index `from` on that `pred` accepts. */
  const waitFor = (pred, what, from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const i = events.findIndex((e, k) => k >= from && pred(e))
        if (i === -1) return false
        waiters.splice(waiters.indexOf(check), 1)
        resolve(events[i])
        return true
      }
      waiters.push(check)
      if (check()) return
      exited.then(() => {
        if (waiters.includes(check) && !check()) reject(new Error(`exited before ${what}; stderr:\n${stderr}\nevents:\n${events.map((e) => e.message).join('\n')}`))
      })
    })
  /** Resolves once `n` events match `pred`. */
  const waitCount = async (pred, n, what) => {
    for (;;) {
      const matching = events.filter(pred)
      if (matching.length >= n) return matching
      await waitFor((e) => pred(e) && !matching.includes(e), what)
    }
  }
  const send = (line) => child.stdin.write(`${line}\n`)
  return { child, events, waitFor, waitCount, exited, send, stderr: () => stderr }
}

const ofType = (events, type) => events.filter((e) => e.type === type)

/** GET on 127.0.0.1:port; resolves { status, pid, body } or { error }. */
function get(port, path, agent = false) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, pid: Number(res.headers['x-worker-pid']), body, connection: res.headers.connection }))
      res.on('error', (error) => resolve({ error }))
    })
    req.on('error', (error) => resolve({ error }))
  })
}

test('options are checked with coded errors before anything forks; drain() wants an http server', () => {
  const cases = [
    [{ workers: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ workers: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ workers: '2' }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ stuckMs: 5 }, 'ERR_INVALID_ARG_VALUE', TypeError],
    [{ stuckMs: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ graceMs: 'soon' }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ backoff: { initialMs: 500, maxMs: 100 } }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ backoff: { factor: 0.5 } }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ backoff: { initial: 5 } }, 'ERR_INVALID_ARG_VALUE', TypeError],
    [{ crashLoop: { crashes: 0 } }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ crashLoop: [] }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ args: ['a', 1] }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ log: 'stderr' }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ signals: 1 }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ worker: 2 }, 'ERR_INVALID_ARG_VALUE', TypeError],
    ['4', 'ERR_INVALID_ARG_TYPE', TypeError],
  ]
  for (const [options, code, Class] of cases) {
    assert.throws(() => supervise(options), (err) => err instanceof Class && err.code === code, JSON.stringify(options))
  }
  for (const bad of [null, {}, { close() {}, on() {} }, 'server']) {
    assert.throws(() => drain(bad), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  const server = http.createServer()
  assert.equal(drain(server), server)
  assert.equal(drain(server), server, 'twice is once')
  assert.deepEqual({ ...exitCodes }, { clean: 0, deadline: 1, crashLoop: 2, forced: 3 })
})

test('supervise() in a cluster worker throws ERR_NODEPERF_NOT_PRIMARY', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 1, crashLoop: { crashes: 1 } }, worker: 'nested' })
  const nested = await c.waitFor((e) => e.type === 'nested', 'the worker ran supervise()')
  assert.equal(nested.code, 'ERR_NODEPERF_NOT_PRIMARY')
  await c.exited
})

test('crash loop: a worker failing at start is restarted with a growing backoff, then the supervisor stops after K crashes in T and exits 2; never more forks than crashes', { timeout: 90_000 }, async () => {
  const K = 4
  const c = startCluster({ options: { workers: 1, crashLoop: { crashes: K, windowMs: 60_000 }, backoff: { initialMs: 50, factor: 2 } }, worker: 'crash' })
  const { code } = await c.exited
  assert.equal(code, exitCodes.crashLoop, c.stderr())
  const forks = ofType(c.events, 'fork')
  const crashes = ofType(c.events, 'crash')
  assert.equal(forks.length, K, 'one fork per crash: the first plus K - 1 restarts')
  assert.equal(crashes.length, K)
  assert.deepEqual(
    crashes.map((e) => e.delayMs),
    [50, 100, 200, null],
    'the backoff doubles; no restart after the Kth',
  )
  assert.ok(crashes.every((e) => e.code === 1 && e.signal === null))
  const loop = ofType(c.events, 'crash-loop')
  assert.equal(loop.length, 1)
  assert.match(loop[0].message, /crash loop: 4 crashes in 60 s \(limit 4\); the last, worker 4 \(pid \d+\), exited with code 1: not restarting/)
  assert.equal(c.events.indexOf(loop[0]), c.events.length - 3, 'then only shutdown and stopped')
  const stopped = ofType(c.events, 'stopped')[0]
  assert.equal(stopped.code, exitCodes.crashLoop)
  assert.equal(stopped.reason, 'crash-loop')
})

test('the backoff goes back to initialMs once a worker of the slot has stayed up resetMs (0 here: at once)', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 1, crashLoop: { crashes: 3 }, backoff: { initialMs: 50, resetMs: 0 } }, worker: 'crash' })
  assert.equal((await c.exited).code, exitCodes.crashLoop)
  assert.deepEqual(
    ofType(c.events, 'crash').map((e) => e.delayMs),
    [50, 50, null],
  )
})

test('crash loop with 2 workers: K crashes in all, at most K + 1 forks (the other slot may have forked before the Kth), the extra one shut down', { timeout: 90_000 }, async () => {
  const K = 3
  const c = startCluster({ options: { workers: 2, crashLoop: { crashes: K, windowMs: 60_000 }, backoff: { initialMs: 50 } }, worker: 'crash' })
  const { code } = await c.exited
  assert.equal(code, exitCodes.crashLoop)
  const crashes = ofType(c.events, 'crash')
  const forks = ofType(c.events, 'fork')
  assert.equal(crashes.length, K)
  assert.ok(forks.length >= K && forks.length <= K + 1, `${forks.length} forks`)
  // A worker forked before the Kth crash (the other slot's restart) is shut down, not restarted.
  const exits = ofType(c.events, 'exit')
  assert.equal(exits.length, forks.length)
  assert.equal(exits.filter((e) => e.reason === 'shutdown').length, forks.length - K)
  assert.equal(ofType(c.events, 'crash-loop').length, 1)
})

test('a crashed worker is restarted once, by one fork, and the server keeps answering', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 2 } })
  const listening = await c.waitCount((e) => e.type === 'listening', 2, 'two workers listening')
  const port = listening[0].address.port
  const crashed = await get(port, '/crash')
  assert.ok(crashed.error, 'the crashing request gets no answer')
  const crash = await c.waitFor((e) => e.type === 'crash', 'the crash')
  assert.equal(crash.code, 7)
  assert.equal(crash.delayMs, 100)
  const refork = await c.waitFor((e) => e.type === 'fork' && e.reason === 'crash', 'the restart')
  await c.waitFor((e) => e.type === 'listening' && e.id === refork.id, 'the restarted worker listening')
  for (let i = 0; i < 6; i++) assert.equal((await get(port, '/')).status, 200)
  c.send('shutdown')
  const { code } = await c.exited
  assert.equal(code, exitCodes.clean, c.stderr())
  assert.equal(ofType(c.events, 'fork').length, 3, 'two at start, one restart')
  assert.equal(ofType(c.events, 'crash').length, 1)
})

test('rolling restart: each worker replaced in turn (replacement listening before the old one drains), every request answered', { timeout: 120_000 }, async () => {
  const c = startCluster({ options: { workers: 2 } })
  const listening = await c.waitCount((e) => e.type === 'listening', 2, 'two workers listening')
  const port = listening[0].address.port
  const before = new Set(listening.map((e) => e.pid))
  const results = []
  let restarting = true
  // A connection per request: a request sent on an idle keep-alive socket
  // at the instant a draining server closes it gets ECONNRESET whatever the
  // supervisor does (docs/cluster.md, "Rolling restart").
  const load = (async () => {
    while (restarting) results.push(await get(port, '/slow?ms=20'))
  })()
  c.send('restart')
  const resolved = await c.waitFor((e) => e.type === 'restart-resolved' || e.type === 'restart-rejected', 'the restart to settle')
  restarting = false
  await load
  assert.equal(resolved.type, 'restart-resolved')
  assert.equal(resolved.replaced, 2)
  const failed = results.filter((r) => r.status !== 200)
  assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)))
  assert.ok(results.length > 0)

  // Order: for each old worker, its replacement forks and listens, then the old one exits; one at a time.
  const ev = c.events
  const replaces = ofType(ev, 'replace')
  assert.equal(replaces.length, 2)
  let last = ev.findIndex((e) => e.type === 'restart')
  for (const r of replaces) {
    const fork = ev.findIndex((e) => e.type === 'fork' && e.id === r.by)
    const up = ev.findIndex((e) => e.type === 'listening' && e.id === r.by)
    const gone = ev.findIndex((e) => e.type === 'exit' && e.id === r.id)
    assert.equal(ev[fork].reason, 'restart')
    assert.ok(last < fork && fork < up && up < gone, `fork ${fork} listening ${up} old exit ${gone} after ${last}`)
    assert.equal(ev[gone].reason, 'restart')
    assert.ok(before.has(r.pid))
    last = gone
  }
  const after = await Promise.all([get(port, '/'), get(port, '/'), get(port, '/'), get(port, '/')])
  assert.ok(after.every((r) => r.status === 200 && !before.has(r.pid)), 'only new workers answer')
  c.send('shutdown')
  assert.equal((await c.exited).code, exitCodes.clean)
  assert.equal(ofType(ev, 'crash').length, 0)
})

test('SIGHUP to the primary is a rolling restart', { timeout: 120_000 }, async () => {
  const c = startCluster({ options: { workers: 2 } })
  const listening = await c.waitCount((e) => e.type === 'listening', 2, 'two workers listening')
  c.child.kill('SIGHUP')
  const done = await c.waitFor((e) => e.type === 'restarted', 'the restart to end')
  assert.equal(done.workers, 2)
  const replaced = ofType(c.events, 'replace').map((e) => e.pid).sort()
  assert.deepEqual(replaced, listening.map((e) => e.pid).sort())
  c.send('shutdown')
  assert.equal((await c.exited).code, exitCodes.clean, c.stderr())
})

test('SIGTERM under load: every request the workers received before the signal completes with 200, keep-alive sockets do not hold the drain, exit 0', { timeout: 120_000 }, async () => {
  const c = startCluster({ options: { workers: 2, shutdownMs: 20_000 }, trace: true })
  const listening = await c.waitCount((e) => e.type === 'listening', 2, 'two workers listening')
  const port = listening[0].address.port
  const agent = new http.Agent({ keepAlive: true })
  const N = 12
  const pending = Array.from({ length: N }, () => get(port, '/slow?ms=1500', agent))
  await c.waitCount((e) => e.type === 'request', N, 'every request received by a worker')
  c.child.kill('SIGTERM')
  const results = await Promise.all(pending)
  assert.deepEqual(
    results.map((r) => [r.status, r.body]),
    Array.from({ length: N }, () => [200, 'slow\n']),
  )
  assert.ok(results.every((r) => r.connection === 'close'), 'in-flight keep-alive responses close their connection')
  const { code } = await c.exited
  agent.destroy()
  assert.equal(code, exitCodes.clean, c.stderr())
  const stopped = ofType(c.events, 'stopped')[0]
  assert.deepEqual(stopped.killed, [])
  assert.equal(stopped.reason, 'SIGTERM')
  assert.deepEqual(
    ofType(c.events, 'exit').map((e) => e.reason),
    ['shutdown', 'shutdown'],
  )
})

test('shutdown deadline: a worker that never drains is SIGKILLed after shutdownMs and the primary exits 1', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 1, shutdownMs: 300 }, worker: 'stubborn' })
  const up = await c.waitFor((e) => e.type === 'listening', 'listening')
  c.child.kill('SIGTERM')
  const { code } = await c.exited
  assert.equal(code, exitCodes.deadline, c.stderr())
  const kill = ofType(c.events, 'kill')
  assert.deepEqual(kill.map((e) => [e.id, e.signal]), [[up.id, 'SIGKILL']])
  assert.deepEqual(ofType(c.events, 'stopped')[0].killed, [up.id])
  assert.equal(ofType(c.events, 'exit')[0].signal, 'SIGKILL')
})

test('a second SIGTERM during shutdown SIGKILLs the workers and exits 3', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 1, shutdownMs: 60_000 }, worker: 'stubborn' })
  await c.waitFor((e) => e.type === 'listening', 'listening')
  c.child.kill('SIGTERM')
  await c.waitFor((e) => e.type === 'shutdown', 'shutdown began')
  c.child.kill('SIGTERM')
  const { code } = await c.exited
  assert.equal(code, exitCodes.forced, c.stderr())
  const forced = ofType(c.events, 'signal').find((e) => e.forced)
  assert.equal(forced.killed.length, 1)
})

test('a stuck worker is seen through the shared-memory view, replaced (not a crash), SIGTERMed, and the others keep answering', { timeout: 120_000 }, async () => {
  const stuckMs = 600
  // Precise stall culprits in the workers: the view names the running stall's code.
  const c = startCluster({ options: { workers: 2, stuckMs, graceMs: 1000 }, culprits: true })
  const listening = await c.waitCount((e) => e.type === 'listening', 2, 'two workers listening')
  const port = listening[0].address.port
  get(port, '/block') // never answered
  const blocking = await c.waitFor((e) => e.type === 'blocking', 'a worker blocking')
  const stuck = await c.waitFor((e) => e.type === 'stuck', 'the stuck event')
  assert.equal(stuck.pid, blocking.pid)
  assert.equal(stuck.id, listening.find((e) => e.pid === blocking.pid).id)
  assert.ok(stuck.stalledFor >= stuckMs, `stalledFor ${stuck.stalledFor}`)
  assert.match(stuck.culprit, /^blockForEver \(.*cluster-supervised\.cjs/)
  assert.match(stuck.message, new RegExp(`^worker ${stuck.id} \\(pid ${stuck.pid}\\) stuck for \\d+ ms, culprit blockForEver \\(`))
  const fork = await c.waitFor((e) => e.type === 'fork' && e.reason === 'stuck', 'the replacement fork')
  await c.waitFor((e) => e.type === 'listening' && e.id === fork.id, 'the replacement listening')
  const gone = await c.waitFor((e) => e.type === 'exit' && e.pid === stuck.pid, 'the stuck worker exiting')
  assert.equal(gone.reason, 'stuck')
  assert.ok(gone.signal === 'SIGTERM' || gone.signal === 'SIGKILL', JSON.stringify(gone))
  assert.throws(() => process.kill(stuck.pid, 0), { code: 'ESRCH' }, 'the stuck pid is dead')
  const replace = ofType(c.events, 'replace')
  assert.deepEqual(replace.map((e) => [e.id, e.by, e.reason]), [[stuck.id, fork.id, 'stuck']])
  for (let i = 0; i < 6; i++) {
    const r = await get(port, '/')
    assert.equal(r.status, 200)
    assert.notEqual(r.pid, stuck.pid)
  }
  assert.equal(ofType(c.events, 'crash').length, 0, 'a stuck replacement is not a crash')
  assert.equal(ofType(c.events, 'fork').length, 3)
  c.send('shutdown')
  assert.equal((await c.exited).code, exitCodes.clean, c.stderr())
})

test('a stuck worker alone in the round-robin handle is stopped only once its replacement listens', { timeout: 120_000 }, async () => {
  const c = startCluster({ options: { workers: 1, stuckMs: 600, graceMs: 1000 } })
  const up = await c.waitFor((e) => e.type === 'listening', 'listening')
  get(up.address.port, '/block')
  const stuck = await c.waitFor((e) => e.type === 'stuck', 'the stuck event')
  assert.match(stuck.message, /stopping new connections once its replacement listens/)
  const fork = await c.waitFor((e) => e.type === 'fork' && e.reason === 'stuck', 'the replacement fork')
  const sigterm = await c.waitFor((e) => e.type === 'kill' && e.pid === stuck.pid && e.signal === 'SIGTERM', 'the SIGTERM')
  const listening = c.events.findIndex((e) => e.type === 'listening' && e.id === fork.id)
  assert.ok(listening !== -1 && listening < c.events.indexOf(sigterm), 'the replacement listened before the SIGTERM')
  await c.waitFor((e) => e.type === 'exit' && e.pid === stuck.pid, 'the stuck worker exiting')
  const r = await get(up.address.port, '/')
  assert.equal(r.status, 200)
  c.send('shutdown')
  assert.equal((await c.exited).code, exitCodes.clean, c.stderr())
})

test('the default log writes one readable line per event on stderr', { timeout: 90_000 }, async () => {
  const c = startCluster({ options: { workers: 1, crashLoop: { crashes: 2 }, backoff: { initialMs: 10 } }, worker: 'exit9', defaultLog: true })
  const { code } = await c.exited
  assert.equal(code, exitCodes.crashLoop)
  assert.equal(c.events.length, 0, 'no JSON: the fixture gave no log function')
  const lines = c.stderr().trim().split('\n')
  assert.ok(lines.every((l) => l.startsWith('nodeperf cluster: ')), c.stderr())
  assert.ok(lines.some((l) => /^nodeperf cluster: worker 1 \(pid \d+\) exited with code 9 \(crash 1 of 2 in 60 s\): restarting in 10 ms$/.test(l)), c.stderr())
  assert.ok(lines.some((l) => /^nodeperf cluster: crash loop: 2 crashes in 60 s \(limit 2\); the last, worker 2 \(pid \d+\), exited with code 9: not restarting/.test(l)), c.stderr())
})
