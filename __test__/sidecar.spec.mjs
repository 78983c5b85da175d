import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { startSidecar } from '@nodeperf/native'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('during a 2 s main-thread block, /health/live answers 503 fast and /metrics is valid', async () => {
  const sidecar = await startSidecar({ stallThresholdMs: 500 })
  try {
    const before = await fetch(`http://127.0.0.1:${sidecar.port}/health/live`)
    assert.equal(before.status, 200)
    assert.equal((await before.json()).status, 'ok')
    // A child process asks while this thread is blocked.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const port = ${sidecar.port}
         setTimeout(async () => {
           const t0 = performance.now()
           const live = await fetch('http://127.0.0.1:' + port + '/health/live')
           const liveMs = performance.now() - t0
           const body = await live.json()
           const t1 = performance.now()
           const metrics = await (await fetch('http://127.0.0.1:' + port + '/metrics')).text()
           console.log(JSON.stringify({ status: live.status, body, liveMs, metricsMs: performance.now() - t1, metrics }))
         }, 1000)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    busyWait(2000)
    await once(child, 'exit')
    const r = JSON.parse(out)
    assert.equal(r.status, 503)
    assert.equal(r.body.status, 'stalled')
    assert.ok(r.body.stalledMs > 500, `stalledMs ${r.body.stalledMs}`)
    assert.ok(r.liveMs < 200, `/health/live took ${r.liveMs} ms`)
    assert.match(r.metrics, /^nodeperf_eventloop_lag_seconds_bucket\{thread="main",le="\+Inf"\} \d+/m)
    const max = Number(r.metrics.match(/^nodeperf_eventloop_lag_max_seconds\{thread="main"\} (\S+)/m)[1])
    assert.ok(max > 0.5, `max gauge during the stall: ${max}`)
    await sleep(20)
    const after = await fetch(`http://127.0.0.1:${sidecar.port}/health/live`)
    assert.equal(after.status, 200)
  } finally {
    await sidecar.close()
  }
})

test('/health/ready turns 503 while overloaded and back to 200 after the window', async () => {
  const sidecar = await startSidecar({ maxLagMs: 5, windowMs: 1200, metrics: false })
  const ready = async () => {
    const r = await fetch(`http://127.0.0.1:${sidecar.port}/health/ready`)
    return { status: r.status, body: await r.json() }
  }
  try {
    await sleep(1300)
    assert.equal((await ready()).status, 200)
    for (let i = 0; i < 10; i++) {
      busyWait(20)
      await sleep(5)
    }
    const busy = await ready()
    assert.equal(busy.status, 503)
    assert.equal(busy.body.status, 'overloaded')
    assert.ok(busy.body.lagP99Ms > 5)
    await sleep(1500)
    assert.equal((await ready()).status, 200)
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
  await assert.rejects(startSidecar({ stallThresholdMs: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(startSidecar({ metrics: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(startSidecar('x'), { code: 'ERR_INVALID_ARG_TYPE' })
  const taken = await startSidecar({ metrics: false })
  try {
    await assert.rejects(startSidecar({ port: taken.port, metrics: false }), { code: 'EADDRINUSE' })
  } finally {
    await taken.close()
  }
})
