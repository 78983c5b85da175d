// underPressure's exemptions: `exclude` paths and predicates (http/Express
// and Fastify), Fastify's per-route `config: { underPressure: false }`, and
// the Fastify plugin covering every route of the app wherever it is
// registered. Shedding is driven by utilisation (the loop kept busy for
// most of a 1 s window), as in pressure.spec.mjs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import express from 'express'
import Fastify from 'fastify'
import { underPressure } from '@nodeperf/native'
import { underPressure as fastifyUnderPressure } from '@nodeperf/native/fastify'
import { underPressure as expressUnderPressure } from '@nodeperf/native/express'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const busyWait = (ms) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}
const SHED = { maxLagMs: 3_600_000, maxUtilization: 0.5, windowMs: 1000 }

/** Busy through 800 ms of the 1 s window (no idle time): utilisation > 0.5. */
async function overload() {
  for (let end = performance.now() + 800; performance.now() < end; ) {
    busyWait(8)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await sleep(60) // past the 50 ms answer cache
}

test('underPressure({ exclude }): excluded paths and predicate matches are served while the rest is shed (Express)', async () => {
  assert.equal(expressUnderPressure, underPressure)
  const app = express()
  // The app-wide one leaves /api and /p to theirs.
  app.use(underPressure({ ...SHED, exclude: ['/metrics', '/health/*', '/api/*', '/p/*'] }))
  const api = express.Router()
  // Mounted: matched against the request's path (originalUrl), not the mount-relative one.
  api.use(underPressure({ ...SHED, exclude: ['/api/live'] }))
  api.get('/live', (req, res) => res.end('live'))
  api.get('/work', (req, res) => res.end('work'))
  const probe = express.Router()
  probe.use(underPressure({ ...SHED, exclude: (req) => req.headers['x-probe'] === '1' }))
  probe.get('/probe', (req, res) => res.end('probe'))
  for (const path of ['/metrics', '/metrics/more', '/health', '/health/', '/health/live', '/healthz', '/work']) app.get(path, (req, res) => res.end(path))
  app.use('/api', api)
  app.use('/p', probe)
  const server = http.createServer(app).listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${server.address().port}`
  try {
    await fetch(`${url}/work`) // warms up fetch (its first call blocks this loop)
    await sleep(1100)
    await overload()
    const status = async (path, headers) => (await fetch(url + path, { headers })).status
    const got = {}
    for (const path of ['/work', '/metrics', '/metrics?name=x', '/metrics/more', '/health', '/health/', '/health/live', '/healthz', '/api/live', '/api/work', '/p/probe']) {
      got[path] = await status(path)
    }
    got['/p/probe x-probe'] = await status('/p/probe', { 'x-probe': '1' })
    assert.deepEqual(got, {
      '/work': 503,
      '/metrics': 200,
      '/metrics?name=x': 200,
      '/metrics/more': 503,
      '/health': 503,
      '/health/': 200,
      '/health/live': 200,
      '/healthz': 503,
      '/api/live': 200,
      '/api/work': 503,
      '/p/probe': 503,
      '/p/probe x-probe': 200,
    })
  } finally {
    server.close()
    server.closeAllConnections()
  }
})

test('underPressure.fastify registered inside an encapsulated child plugin covers every route of the app; exclude and config.underPressure: false exempt', async () => {
  assert.equal(fastifyUnderPressure, underPressure.fastify)
  const ok = async () => 'ok'
  const app = Fastify()
  app.get('/root-before', ok)
  app.get('/opt-out', { config: { underPressure: false } }, ok)
  app.get('/metrics', ok)
  app.register(async function siblingBefore(child) {
    child.get('/sibling-before', ok)
  })
  app.register(async function setup(child) {
    child.register(fastifyUnderPressure, { ...SHED, retryAfterS: 7, exclude: ['/metrics', '/health/*'] })
    child.get('/inside', ok)
  })
  app.register(async function siblingAfter(child) {
    child.get('/sibling-after', ok)
    child.get('/sibling-opt-out', { config: { underPressure: false } }, ok)
    child.register(async (grandchild) => grandchild.get('/health/live', ok))
  })
  app.get('/root-after', ok)
  await app.ready()
  try {
    await sleep(1100)
    assert.equal((await app.inject('/root-before')).statusCode, 200)
    await overload()
    const got = {}
    for (const path of ['/root-before', '/sibling-before', '/inside', '/sibling-after', '/root-after', '/missing', '/opt-out', '/sibling-opt-out', '/metrics', '/health/live']) {
      const r = await app.inject(path)
      got[path] = `${r.statusCode} ${r.headers['retry-after'] ?? ''}`
    }
    assert.deepEqual(got, {
      '/root-before': '503 7',
      '/sibling-before': '503 7',
      '/inside': '503 7',
      '/sibling-after': '503 7',
      '/root-after': '503 7',
      '/missing': '503 7',
      '/opt-out': '200 ',
      '/sibling-opt-out': '200 ',
      '/metrics': '200 ',
      '/health/live': '200 ',
    })
  } finally {
    await app.close()
  }
})

test('underPressure.fastify: a predicate exclude is given the Fastify request', async () => {
  const app = Fastify()
  const seen = []
  await app.register(fastifyUnderPressure, {
    ...SHED,
    exclude: (request) => {
      seen.push(typeof request.routeOptions?.url)
      return request.headers['x-probe'] === '1'
    },
  })
  app.get('/x', async () => 'ok')
  await app.ready()
  try {
    await sleep(1100)
    await overload()
    assert.equal((await app.inject('/x')).statusCode, 503)
    assert.equal((await app.inject({ url: '/x', headers: { 'x-probe': '1' } })).statusCode, 200)
    assert.ok(seen.includes('string'), 'a Fastify request (routeOptions.url)')
  } finally {
    await app.close()
  }
})

test('underPressure: bad exclude options and route configs are coded errors', async () => {
  for (const [exclude, code, message] of [
    ['/metrics', 'ERR_INVALID_ARG_TYPE', /options\.exclude/],
    [[5], 'ERR_INVALID_ARG_TYPE', /options\.exclude\[0\]/],
    [['metrics'], 'ERR_INVALID_ARG_VALUE', /starting with '\/'/],
    [['/a/*/b'], 'ERR_INVALID_ARG_VALUE', /only as its last character/],
    [['/a?b=1'], 'ERR_INVALID_ARG_VALUE', /query string/],
    [{}, 'ERR_INVALID_ARG_TYPE', /options\.exclude/],
  ]) {
    assert.throws(() => underPressure({ exclude }), { code, message }, JSON.stringify(exclude))
  }
  // A predicate that does not answer true or false: the error goes to next().
  const mw = underPressure({ exclude: () => 'yes' })
  let passed
  mw({ url: '/' }, {}, (err) => (passed = err))
  assert.equal(passed?.code, 'ERR_INVALID_ARG_TYPE')
  // A route config that is not a boolean is refused where the route is declared.
  const app = Fastify()
  await app.register(fastifyUnderPressure)
  assert.throws(() => app.get('/x', { config: { underPressure: 'off' } }, async () => 'ok'), { code: 'ERR_INVALID_ARG_TYPE', message: /config\.underPressure/ })
  await app.close()
  const bad = Fastify()
  bad.register(fastifyUnderPressure, { exclude: ['nope'] })
  await assert.rejects(bad.ready(), { code: 'ERR_INVALID_ARG_VALUE' })
})
