import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSidecar } from '@nodeperf/native'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('during a main-thread block, /health/live answers 503 and /metrics is valid', async () => {
  const sidecar = await startSidecar({ stallThresholdMs: 500 })
  const dir = mkdtempSync(join(tmpdir(), 'nodeperf-sidecar-'))
  const resultFile = join(dir, 'result.json')
  try {
    const before = await fetch(`http://127.0.0.1:${sidecar.port}/health/live`)
    assert.equal(before.status, 200)
    assert.equal((await before.json()).status, 'ok')
    // A child process asks while this thread is blocked: it says 'ready'
    // once it has reached the sidecar, then polls until it sees the stall
    // and writes what it got; this thread stays blocked until then, so a
    // slow machine only makes the block longer, never the answer wrong.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const url = 'http://127.0.0.1:${sidecar.port}'
         ;(async () => {
           await (await fetch(url + '/health/live')).json()
           console.log('ready')
           let live, body
           for (let i = 0; i < 400; i++) {
             live = await fetch(url + '/health/live')
             body = await live.json()
             if (live.status === 503) break
             await new Promise((r) => setTimeout(r, 50))
           }
           const metrics = await (await fetch(url + '/metrics')).text()
           require('node:fs').writeFileSync(${JSON.stringify(resultFile)}, JSON.stringify({ status: live.status, body, metrics }))
         })()`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    const ready = new Promise((resolve) =>
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('ready')) resolve()
      }),
    )
    await ready
    const deadline = performance.now() + 30_000
    while (!existsSync(resultFile) && performance.now() < deadline) busyWait(10)
    await once(child, 'exit')
    const r = JSON.parse(readFileSync(resultFile, 'utf8'))
    assert.equal(r.status, 503)
    assert.equal(r.body.status, 'stalled')
    assert.ok(r.body.stalledMs > 500, `stalledMs ${r.body.stalledMs}`)
    assert.match(r.metrics, /^nodeperf_eventloop_lag_seconds_bucket\{thread="main",le="\+Inf"\} \d+/m)
    const max = Number(r.metrics.match(/^nodeperf_eventloop_lag_max_seconds\{thread="main"\} (\S+)/m)[1])
    assert.ok(max > 0.5, `max gauge during the stall: ${max}`)
    await sleep(20)
    const after = await fetch(`http://127.0.0.1:${sidecar.port}/health/live`)
    assert.equal(after.status, 200)
  } finally {
    await sidecar.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('/health/ready turns 503 while overloaded and back to 200 after the window', async () => {
  const sidecar = await startSidecar({ maxLagMs: 20, windowMs: 1200, metrics: false })
  const ready = async () => {
    const r = await fetch(`http://127.0.0.1:${sidecar.port}/health/ready`)
    return { status: r.status, body: await r.json() }
  }
  // Waits for 200 rather than assuming an idle window is clean: a shared
  // machine can stall this process on its own.
  const becomesReady = async () => {
    for (let i = 0; i < 40; i++) {
      if ((await ready()).status === 200) return true
      await sleep(250)
    }
    return false
  }
  try {
    assert.ok(await becomesReady(), 'ready while idle')
    for (let i = 0; i < 10; i++) {
      busyWait(60)
      await sleep(5)
    }
    const busy = await ready()
    assert.equal(busy.status, 503)
    assert.equal(busy.body.status, 'overloaded')
    assert.ok(busy.body.lagP99Ms > 20)
    assert.ok(await becomesReady(), 'ready again once the busy period left the window')
    assert.equal((await fetch(`http://127.0.0.1:${sidecar.port}/metrics`)).status, 404, 'metrics: false')
  } finally {
    await sidecar.close()
  }
})

test('close() stops it; a running sidecar never keeps the process alive', async () => {
  const sidecar = await startSidecar({ metrics: false })
  await sidecar.close()
  await assert.rejects(fetch(`http://127.0.0.1:${sidecar.port}/health/live`))
  const child = spawnSync(
    process.execPath,
    ['-e', `require('@nodeperf/native').startSidecar().then((s) => console.log('up ' + s.port))`],
    { encoding: 'utf8', timeout: 10_000 },
  )
  assert.equal(child.status, 0, child.stderr)
  assert.match(child.stdout, /^up \d+/)
})

test('bad options', async () => {
  await assert.rejects(startSidecar({ port: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(startSidecar({ port: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(startSidecar({ host: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(startSidecar({ allowRemote: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(startSidecar({ stallThresholdMs: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(startSidecar({ metrics: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(startSidecar('x'), { code: 'ERR_INVALID_ARG_TYPE' })
  // Unknown fields, a typo of a known one included, are refused with the list.
  for (const bad of [{ bogus: 1 }, { heapsnapshots: { dir: '.' } }, { metrics: false, Port: 1 }]) {
    const key = Object.keys(bad).find((k) => k !== 'metrics')
    await assert.rejects(startSidecar(bad), (e) => {
      assert.equal(e.code, 'ERR_INVALID_ARG_VALUE')
      assert.match(e.message, new RegExp(`unknown field '${key}'`))
      assert.match(e.message, /heapSnapshots/, 'lists the known fields')
      return true
    })
  }
  for (const maxConnections of [0, 1.5, 65537]) {
    await assert.rejects(startSidecar({ maxConnections }), { code: 'ERR_OUT_OF_RANGE' })
  }
  for (const name of ['headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'idleTimeoutMs']) {
    await assert.rejects(startSidecar({ [name]: 0 }), { code: 'ERR_OUT_OF_RANGE', message: new RegExp(`"options.${name}"`) })
    await assert.rejects(startSidecar({ [name]: '5000' }), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  // Node's own rule: the whole request may not have less time than its headers.
  await assert.rejects(startSidecar({ headersTimeoutMs: 2000, requestTimeoutMs: 1000 }), {
    code: 'ERR_OUT_OF_RANGE',
    message: 'The value of "options.headersTimeoutMs" is out of range. It must be <= options.requestTimeoutMs (1000). Received 2000',
  })
  const taken = await startSidecar({ metrics: false })
  try {
    await assert.rejects(startSidecar({ port: taken.port, metrics: false }), { code: 'EADDRINUSE' })
  } finally {
    await taken.close()
  }
})

test("host: loopback only unless allowRemote; '' never", async () => {
  // '' is Node's "every interface": refused even with allowRemote, which takes '0.0.0.0' or '::'.
  for (const allowRemote of [undefined, true]) {
    await assert.rejects(startSidecar({ host: '', allowRemote, metrics: false }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The property 'options\.host' must not be empty .*Received ''$/,
    })
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', 'fe80::1', 'example.com', 'localhost.example.com']) {
    await assert.rejects(startSidecar({ host, metrics: false }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: `The property 'options.host' must be a loopback address (127.0.0.0/8, ::1 or 'localhost') unless options.allowRemote is true. Received '${host}'`,
    })
    await assert.rejects(startSidecar({ host, allowRemote: false, metrics: false }), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  // Loopback in any spelling passes the check (binding ::1 needs IPv6, which CI may lack).
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
    await startSidecar({ host, metrics: false }).then(
      (s) => s.close(),
      (e) => assert.notEqual(e.code, 'ERR_INVALID_ARG_VALUE', `${host}: ${e.message}`),
    )
  }
  const local = await startSidecar({ host: 'localhost', metrics: false })
  try {
    assert.equal((await get(local.port, '/health/live', 'localhost')).status, 200)
  } finally {
    await local.close()
  }
  const remote = await startSidecar({ host: '0.0.0.0', allowRemote: true, metrics: false })
  try {
    assert.equal((await get(remote.port, '/health/live')).status, 200)
  } finally {
    await remote.close()
  }
})

// ## Connection floods (issue #16)
//
// No wall-clock assertions: each test waits for the events the server must
// cause ('close' of the sockets it drops, a 408) and asserts on which and how
// many; the test timeout is only a hang guard.

const FLOOD_GUARD = { timeout: 120_000 }
// Each wait below gives up after this long, so a broken server fails the
// test (and its cleanup runs) instead of hanging the run on open sockets.
const HANG_GUARD_MS = 20_000
const HALF = 'GET /health/live HTTP/1.1\r\nHost: x\r\n' // headers never finished
const NEVER = { headersTimeoutMs: 3_600_000, requestTimeoutMs: 3_600_000, idleTimeoutMs: 3_600_000 }

/** A GET on a connection of its own (no keep-alive pool): `{ status, body }`. */
function get(port, path, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout: HANG_GUARD_MS }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer (hang guard)`)))
    req.on('error', reject)
  })
}

/**
 * Opens `n` connections one after another, each sending `first` (if any).
 * Every socket is read (so a server's FIN or 408 becomes 'close'); `closed`
 * lists the indices the server has closed, in order, and `whenClosed(k)`
 * resolves once k are (rejects after HANG_GUARD_MS), `reached(k)` to true
 * once k are or to false after HANG_GUARD_MS.
 */
async function flood(port, n, first = HALF) {
  const sockets = []
  const closed = []
  const received = []
  const waiters = []
  for (let i = 0; i < n; i++) {
    const socket = net.connect(port, '127.0.0.1')
    received.push('')
    socket.setEncoding('utf8')
    socket.on('data', (d) => (received[i] += d))
    socket.on('error', () => {}) // a reset when dropped with data unread
    socket.on('close', () => {
      closed.push(i)
      for (const w of waiters) if (closed.length >= w.k) w.resolve()
    })
    await once(socket, 'connect')
    if (first) socket.write(first)
    sockets.push(socket)
  }
  const reached = (k) =>
    new Promise((resolve) => {
      if (closed.length >= k) return resolve(true)
      const timer = setTimeout(() => resolve(false), HANG_GUARD_MS)
      waiters.push({ k, resolve: () => resolve(true, clearTimeout(timer)) })
    })
  const whenClosed = async (k) => {
    if (!(await reached(k))) throw new Error(`${closed.length} of ${n} connections closed, waiting for ${k} (hang guard)`)
  }
  return { sockets, closed, received, whenClosed, reached, end: () => sockets.forEach((s) => s.destroy()) }
}

test('at maxConnections a new connection evicts the one idle longest; a probe always gets in', FLOOD_GUARD, async () => {
  // Timeouts far off: only the cap can close anything here.
  const sidecar = await startSidecar({ maxConnections: 4, ...NEVER, metrics: false })
  assert.equal(sidecar.maxConnections, 4)
  const f = await flood(sidecar.port, 12)
  try {
    await f.whenClosed(8) // 12 half-sent requests, 4 held
    assert.deepEqual([...f.closed].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7], 'the oldest go')
    assert.ok(f.received.slice(0, 8).every((r) => r === ''), 'dropped without an answer')
    const live = await get(sidecar.port, '/health/live')
    assert.equal(live.status, 200)
    await f.whenClosed(9) // the probe took the place of the oldest held
    assert.equal(f.closed[8], 8)
    // The three newest are still served: their requests complete.
    for (const i of [9, 10, 11]) f.sockets[i].write('Connection: close\r\n\r\n')
    await f.whenClosed(12)
    for (const i of [9, 10, 11]) assert.match(f.received[i], /^HTTP\/1\.1 200 /, `socket ${i}`)
  } finally {
    f.end()
    await sidecar.close()
  }
})

test('silent, half-sent and kept-alive connections are closed by the timeouts', FLOOD_GUARD, async () => {
  const sidecar = await startSidecar({ headersTimeoutMs: 50, requestTimeoutMs: 100, keepAliveTimeoutMs: 50, metrics: false })
  const silent = await flood(sidecar.port, 2, '')
  const half = await flood(sidecar.port, 2)
  const kept = await flood(sidecar.port, 1, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n')
  try {
    await Promise.all([silent.whenClosed(2), half.whenClosed(2), kept.whenClosed(1)])
    for (const r of [...silent.received, ...half.received]) assert.match(r, /^HTTP\/1\.1 408 /)
    assert.match(kept.received[0], /^HTTP\/1\.1 200 /)
    assert.doesNotMatch(kept.received[0], /408/, 'kept alive, then closed quietly')
  } finally {
    await sidecar.close()
  }
  // Headers given all the time in the world: idleTimeoutMs closes a silent socket.
  const idle = await startSidecar({ ...NEVER, idleTimeoutMs: 50, metrics: false })
  const quiet = await flood(idle.port, 1, '')
  try {
    await quiet.whenClosed(1)
    assert.equal(quiet.received[0], '')
  } finally {
    await idle.close()
  }
})

/** This process's soft descriptor limit (Linux), or 0. */
function openFilesLimit() {
  try {
    return Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1] ?? Infinity)
  } catch {
    return 0
  }
}
const floodSkip =
  process.platform !== 'linux'
    ? 'the default cap reads /proc/self/limits'
    : openFilesLimit() < 1024 && 'this process needs descriptors for 300 connections'
test('under ulimit -n 256, 300 idle connections leave the app its descriptors; /health/live answers', { ...FLOOD_GUARD, skip: floodSkip }, async () => {
  // The app: the default cap (256 / 8 = 32), then on 'check' opens 64
  // files at once and reads process.memoryUsage(), counting EMFILE.
  const app = spawn(
    'bash',
    [
      '-c',
      `ulimit -n 256 && exec "${process.execPath}" --input-type=module -e "
        import fs from 'node:fs'
        import { startSidecar } from '@nodeperf/native'
        const s = await startSidecar({ metrics: false, headersTimeoutMs: 3600000, requestTimeoutMs: 3600000, idleTimeoutMs: 3600000 })
        console.log(JSON.stringify({ port: s.port, maxConnections: s.maxConnections }))
        process.stdin.once('data', () => {
          let emfile = 0
          const fds = []
          for (let i = 0; i < 64; i++) {
            try { fds.push(fs.openSync('/dev/null', 'r')) } catch (e) { if (e.code === 'EMFILE') emfile++; else throw e }
          }
          try { process.memoryUsage() } catch (e) { if (e.code === 'EMFILE') emfile++; else throw e }
          for (const fd of fds) fs.closeSync(fd)
          console.log(JSON.stringify({ emfile, opened: fds.length }))
          process.exit(0)
        })"`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const lines = []
  let buffered = ''
  let onLine = null
  app.stdout.setEncoding('utf8')
  app.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, i)))
      buffered = buffered.slice(i + 1)
      onLine?.()
    }
  })
  const exited = once(app, 'exit')
  /** The app's k-th line (0-based); rejects if it exits or stays silent. */
  const line = (k) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${k} from the app (hang guard)`)), HANG_GUARD_MS)
      exited.then(([code]) => reject(new Error(`the app exited (${code}) before line ${k}`)))
      onLine = () => lines.length > k && resolve(lines[k])
      onLine()
      timer.unref()
    }).finally(() => (onLine = null))
  let f = null
  try {
    const { port, maxConnections } = await line(0)
    f = await flood(port, 300)
    const drained = await f.reached(300 - 32)
    const live = await get(port, '/health/live').catch((e) => e)
    app.stdin.write('check\n')
    const check = await line(1)
    assert.deepEqual(check, { emfile: 0, opened: 64 }, 'the app kept its descriptors')
    assert.equal(maxConnections, 32, 'an eighth of the soft limit')
    assert.ok(drained, `${f.closed.length} of 300 closed; the server should hold 32`)
    assert.equal(live.status, 200, live.message)
    assert.equal(JSON.parse(live.body).status, 'ok')
    const [code] = await exited
    assert.equal(code, 0)
  } finally {
    f?.end()
    app.kill()
  }
})
