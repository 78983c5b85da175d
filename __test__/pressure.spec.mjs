import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import { overloaded, underPressure, yieldEvery } from '@nodeperf/native'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('overloaded() follows the window p99 and utilisation', async () => {
  const opts = { maxLagMs: 10, windowMs: 1000 }
  overloaded(opts) // starts the window
  await sleep(1100)
  assert.equal(overloaded(opts), false)
  for (let i = 0; i < 8; i++) {
    busyWait(25)
    await sleep(10)
  }
  await sleep(60) // past the 50 ms answer cache
  assert.equal(overloaded(opts), true)
  await sleep(1300)
  assert.equal(overloaded(opts), false)
  // Utilisation alone.
  const u = { maxLagMs: 10_000, maxUtilization: 0.5, windowMs: 1000 }
  overloaded(u)
  for (let end = performance.now() + 600; performance.now() < end; ) {
    busyWait(8)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await sleep(60)
  assert.equal(overloaded(u), true)
})

test('underPressure(): a real http server sheds with 503 + Retry-After under load, recovers after', async () => {
  const shed = underPressure({ maxLagMs: 10, windowMs: 1000, retryAfterS: 2 })
  const server = http.createServer((req, res) => shed(req, res, () => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${server.address().port}/`
  const get = async () => {
    const r = await fetch(url)
    return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() }
  }
  try {
    await fetch(url) // warms up fetch itself (its first call blocks this loop for ~30 ms)
    await sleep(1100)
    assert.equal((await get()).status, 200)
    // Load: the loop blocks 30 ms out of every ~40 ms.
    let loading = true
    const load = () => {
      if (!loading) return
      busyWait(30)
      setTimeout(load, 10)
    }
    load()
    await sleep(400)
    const during = []
    for (let i = 0; i < 5; i++) during.push(await get())
    loading = false
    assert.ok(during.some((r) => r.status === 503), JSON.stringify(during))
    const shedOne = during.find((r) => r.status === 503)
    assert.equal(shedOne.retryAfter, '2')
    assert.equal(JSON.parse(shedOne.body).status, 'overloaded')
    await sleep(1300)
    const after = []
    for (let i = 0; i < 3; i++) after.push((await get()).status)
    assert.deepEqual(after, [200, 200, 200])
  } finally {
    server.close()
  }
})

test('underPressure.fastify: the plugin form sheds on every route of a Fastify app, recovers after', async () => {
  const { default: Fastify } = await import('fastify')
  const app = Fastify()
  // Registered in an encapsulated child context, it still covers the root's
  // routes. Shedding on utilisation, not lag: an idle loop's lag p99 goes
  // over a few ms whenever this process is preempted on a loaded machine
  // (one busy period of the few in a quiet window is its p99), while its
  // utilisation stays near 0; the lag path has its own specs above.
  await app.register(underPressure.fastify, { maxLagMs: 3_600_000, maxUtilization: 0.5, windowMs: 1000, retryAfterS: 3 })
  app.get('/a', async () => ({ ok: 'a' }))
  app.register(async (child) => child.get('/b', async () => ({ ok: 'b' })))
  await app.ready()
  try {
    await sleep(1100)
    assert.equal((await app.inject('/a')).statusCode, 200)
    // Busy through 800 ms of the 1 s window, yielding with setImmediate (no
    // idle time in between): utilisation > 0.5 however slow the machine.
    for (let end = performance.now() + 800; performance.now() < end; ) {
      busyWait(8)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await sleep(60)
    for (const path of ['/a', '/b']) {
      const r = await app.inject(path)
      assert.equal(r.statusCode, 503, path)
      assert.equal(r.headers['retry-after'], '3')
      assert.equal(r.json().status, 'overloaded')
      assert.ok(r.json().utilization > 0.5, `utilization ${r.json().utilization}`)
    }
    await sleep(1300)
    assert.equal((await app.inject('/b')).statusCode, 200)
  } finally {
    await app.close()
  }
  const bad = Fastify()
  bad.register(underPressure.fastify, { maxLagMs: -1 })
  await assert.rejects(bad.ready(), { code: 'ERR_OUT_OF_RANGE', message: /maxLagMs/ })
})

test('yieldEvery() processes everything in order, in batches that let the loop run', async () => {
  const items = Array.from({ length: 200_000 }, (_, i) => i)
  const seen = []
  let ticks = 0
  const ticker = setInterval(() => ticks++, 1)
  const n = await yieldEvery(items, (x, i) => {
    if (x !== i) throw new Error('order')
    seen.push(x)
    // ~0.5 µs of work per item
    for (let k = 0; k < 50; k++) Math.sqrt(k)
  }, { budgetMs: 2 })
  clearInterval(ticker)
  assert.equal(n, items.length)
  assert.equal(seen.length, items.length)
  assert.ok(ticks > 0, 'the loop ran between batches')
  // Iterables work too.
  assert.equal(await yieldEvery(new Set([1, 2, 3]), () => {}), 3)
})

test('yieldEvery() honours AbortSignal and rejects with fn errors', async () => {
  const ac = new AbortController()
  let done = 0
  const p = yieldEvery(Array.from({ length: 1e7 }, (_, i) => i), () => {
    done++
    for (let k = 0; k < 20; k++) Math.sqrt(k)
  }, { budgetMs: 1, signal: ac.signal })
  setTimeout(() => ac.abort(), 5)
  await assert.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' })
  assert.ok(done > 0 && done < 1e7, `processed ${done}`)
  await assert.rejects(yieldEvery([1, 2], () => { throw new Error('boom') }), /boom/)
})

test('bad input', async () => {
  assert.throws(() => overloaded({ maxLagMs: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => overloaded({ windowMs: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => underPressure({ maxUtilization: 2 }), { code: 'ERR_OUT_OF_RANGE' })
  // yieldEvery returns a Promise: like Node's own (fs.promises,
  // timers/promises), it rejects a bad argument rather than throwing.
  const rejects = async (call, code) => {
    let p
    assert.doesNotThrow(() => {
      p = call()
    })
    await assert.rejects(p, { code })
  }
  await rejects(() => yieldEvery(5, () => {}), 'ERR_INVALID_ARG_TYPE')
  await rejects(() => yieldEvery([], 'f'), 'ERR_INVALID_ARG_TYPE')
  await rejects(() => yieldEvery([], () => {}, { budgetMs: 0 }), 'ERR_OUT_OF_RANGE')
  await rejects(() => yieldEvery([], () => {}, { signal: {} }), 'ERR_INVALID_ARG_TYPE')
  await rejects(() => yieldEvery([], () => {}, { signal: { aborted: false } }), 'ERR_INVALID_ARG_TYPE')
  await rejects(() => yieldEvery(new Proxy(new Uint8Array(4), {}), () => {}), 'ERR_INVALID_ARG_TYPE')
})
