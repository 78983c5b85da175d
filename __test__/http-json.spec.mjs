// Differential tests: @nodeperf/native/express `json()` against
// `express.json()` (body-parser 2), and @nodeperf/native/fastify `json`
// against Fastify's default JSON parser, on the same deterministic bodies
// (seeded PRNG) sent over real HTTP: the same status, the same error
// (status, type, expose, body, …) and a deep-equal `req.body`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import zlib from 'node:zlib'
import { once } from 'node:events'
import express from 'express'
import Fastify from 'fastify'
import { json } from '@nodeperf/native/express'
import { json as fastifyJson } from '@nodeperf/native/fastify'
import { pool } from '@nodeperf/native'

const COUNT = 1200
const LIMIT = 8192

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function generator(seed) {
  const rnd = mulberry32(seed)
  const int = (n) => Math.floor(rnd() * n)
  const pick = (a) => a[int(a.length)]
  const ws = () => (rnd() < 0.7 ? '' : pick([' ', '\n', '\t', '\r\n', '  ']))
  const KEYS = ['a', 'b', 'id', 'name', 'é', '中文', '0', '1', '10', 'toString', 'constructor', '__proto__', 'x y', '']
  const CHARS = ['a', 'Z', ' ', 'é', 'ß', '中', '😀', '\\n', '\\"', '\\\\', '\\/', '\\u0041', '\\u00e9', '\\ud800', '\\udc00', '\\ud83d\\ude00', '\\t', '\u2028']
  const string = () => {
    let s = '"'
    for (let n = int(12); n > 0; n--) s += pick(CHARS)
    return s + '"'
  }
  const number = () =>
    pick([
      () => String(int(1000) - 500),
      () => '12345678901234567890123',
      () => '-0',
      () => `${int(100)}.${int(1000)}`,
      () => `${int(9) + 1}e${int(40) - 20}`,
      () => '1E400',
      () => '9007199254740993',
      () => '0.1e-7',
    ])()
  const value = (depth, kind = rnd()) => {
    const r = kind
    if (depth > 4 || r < 0.35) return pick([() => 'null', () => 'true', () => 'false', number, string])()
    if (r < 0.65) {
      const items = []
      for (let n = int(6); n > 0; n--) items.push(ws() + value(depth + 1) + ws())
      return '[' + items.join(',') + ']'
    }
    const members = []
    for (let n = int(6); n > 0; n--) {
      const key = rnd() < 0.8 ? JSON.stringify(pick(KEYS)) : string()
      members.push(ws() + key + ws() + ':' + ws() + value(depth + 1) + ws())
    }
    return '{' + members.join(',') + '}'
  }
  // An object or array at the top (strict mode's kind of document).
  const document = () => value(0, rnd() < 0.5 ? 0.5 : 0.9)
  const big = () => {
    const rows = []
    for (let n = 300 + int(400); n > 0; n--) rows.push(`{"id":${int(1e6)},"name":${string()},"tags":[${string()},${number()}]}`)
    return '[' + rows.join(',') + ']'
  }
  const mutate = (text) => {
    const at = int(text.length + 1)
    return pick([
      () => text.slice(0, at),
      () => text.slice(0, at) + pick(['}', ']', ',', ':', '"', 'x', '\\', "'", '\u0001', ' ', '{']) + text.slice(at),
      () => text.slice(0, at) + text.slice(at + 1),
      () => text + pick([' x', ',', '}', ' ', '\n']),
      () => pick(['NaN', 'undefined', "{'a':1}", '[1,]', '{"a":1,}', '{"a" 1}', 'tru', '"abc', '01', '+1', '.5', '{"a":-}', '[1 2]', '{"\\x":1}']),
    ])()
  }
  return () => {
    const r = rnd()
    let text
    if (r < 0.5) text = document()
    else if (r < 0.6) text = value(3) // scalars and small values: strict mode
    else if (r < 0.85) text = mutate(document())
    else if (r < 0.9) text = big() // over the 8 KiB limit
    else text = pick(['', ' ', '\n\t ', '{}', '[]', '\ufeff{"a":1}', '\ufeff', '\ufeff[]', ' \ufeff{}', '{"a":1}\ufeff', '{"__proto__":{"x":1}}', '{"a":{"constructor":{"prototype":{"y":1}}}}', '{"\\u005f_proto__":1}', '{"constructor":1}', '[{"__proto__":null}]'])
    let bytes = Buffer.from(text, 'utf8')
    if (rnd() < 0.05 && bytes.length > 2) {
      // An invalid UTF-8 byte somewhere (a lone continuation or lead byte).
      const at = int(bytes.length)
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([pick([0xff, 0xc3, 0x80, 0xe2])]), bytes.subarray(at)])
    }
    let type = 'application/json'
    const t = rnd()
    if (t < 0.04) type = 'application/json; charset=utf-8'
    else if (t < 0.06) type = 'application/json; charset=UTF-8'
    else if (t < 0.08) type = 'application/json; charset=utf8'
    else if (t < 0.1) type = 'application/json; charset=latin1'
    else if (t < 0.12) {
      type = 'application/json; charset=utf-16le'
      bytes = Buffer.from(text, 'utf16le')
    } else if (t < 0.14) type = 'text/plain'
    else if (t < 0.16) type = 'application/vnd.api+json'
    else if (t < 0.18) type = undefined
    else if (t < 0.19) type = 'Application/JSON'
    else if (t < 0.2) type = 'application/json; charset'
    let encoding
    const e = rnd()
    if (e < 0.04) {
      encoding = 'gzip'
      bytes = zlib.gzipSync(bytes)
    } else if (e < 0.06) {
      encoding = 'deflate'
      bytes = zlib.deflateSync(bytes)
    } else if (e < 0.08) {
      encoding = 'br'
      bytes = zlib.brotliCompressSync(bytes)
    } else if (e < 0.09) {
      encoding = 'gzip' // not gzip data
    } else if (e < 0.1) {
      encoding = 'compress'
    }
    const framing = rnd() < 0.1 ? 'chunked' : rnd() < 0.03 ? 'none' : 'length'
    return { text, bytes, type, encoding, framing }
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

function send(port, path, c, i) {
  return new Promise((resolve, reject) => {
    const headers = { 'x-case': String(i) }
    if (c.type !== undefined) headers['content-type'] = c.type
    if (c.encoding !== undefined) headers['content-encoding'] = c.encoding
    if (c.framing === 'length') headers['content-length'] = c.bytes.length
    const req = http.request({ host: '127.0.0.1', port, path, method: c.framing === 'none' ? 'GET' : 'POST', headers, agent }, (res) => {
      const chunks = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (c.framing === 'none') req.end()
    else if (c.framing === 'chunked') {
      const half = c.bytes.length >> 1
      req.write(c.bytes.subarray(0, half))
      req.end(c.bytes.subarray(half))
    } else req.end(c.bytes)
  })
}

/** What an error handler sees of an error, as fields to compare. */
function errorView(err) {
  const keys = Object.keys(err).sort()
  const view = { name: err.name, keys, status: err.status, statusCode: err.statusCode, expose: err.expose, type: err.type }
  for (const k of ['body', 'charset', 'encoding', 'limit', 'length', 'expected', 'received']) if (k in err) view[k] = err[k]
  return view
}

async function listen(server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server.address().port
}

/** Deep equality, key order and -0 included. */
function assertSameValue(ours, ref, what) {
  assert.deepStrictEqual(ours, ref, what)
  const order = (v) => (v && typeof v === 'object' ? [Object.keys(v), ...Object.values(v).map(order)] : Object.is(v, -0) ? '-0' : v)
  assert.deepStrictEqual(order(ours), order(ref), `${what}: key order`)
}

async function runLimited(items, width, fn) {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++], next - 1)
  }))
}

test(`express: json() gives what express.json() gives on ${COUNT} generated bodies (inline and on the pool)`, async () => {
  const seen = new Map()
  const app = express()
  const record = (req, res) => {
    seen.set(req.headers['x-case'] + req.path, { body: req.body })
    res.end('ok')
  }
  app.all('/ref', express.json({ limit: LIMIT }), record)
  app.all('/auto', json({ limit: LIMIT }), record)
  app.all('/pool', json({ limit: LIMIT, offload: 'always' }), record)
  app.use((err, req, res, next) => {
    seen.set(req.headers['x-case'] + req.path, { error: errorView(err), message: err.message })
    res.status(err.status ?? 500).end('error')
  })
  const server = http.createServer(app)
  const port = await listen(server)
  const gen = generator(20)
  const cases = Array.from({ length: COUNT }, gen)
  const tally = { ok: 0, errors: {}, samples: 0 }
  try {
    await runLimited(cases, 4, async (c, i) => {
      // The same case to each route; x-case names it in `seen`.
      const results = {}
      for (const route of ['/ref', '/auto', '/pool']) {
        const res = await send(port, route, c, i)
        results[route] = { res, seen: seen.get(`${i}${route}`) }
      }
      const ref = results['/ref']
      for (const route of ['/auto', '/pool']) {
        const ours = results[route]
        const what = `case ${i} ${route} ${JSON.stringify(c.text.slice(0, 80))} type=${c.type} enc=${c.encoding} framing=${c.framing}`
        assert.equal(ours.res.status, ref.res.status, what)
        assert.ok(ref.seen && ours.seen, what)
        if (ref.seen.error) {
          assert.deepStrictEqual(ours.seen.error, ref.seen.error, what)
          // Where JSON.parse's message names no position, ours adds it (and,
          // on a V8 that words positions so, the line and column: Node 22+).
          const extra = ours.seen.message.startsWith(ref.seen.message) ? ours.seen.message.slice(ref.seen.message.length) : ours.seen.message
          assert.match(extra, /^(| at position \d+( \(line \d+ column \d+\))?)$/, `${what}: message ${ours.seen.message} vs ${ref.seen.message}`)
        } else {
          assert.equal(ours.seen.error, undefined, what)
          assertSameValue(ours.seen.body, ref.seen.body, what)
        }
      }
      if (ref.seen.error) tally.errors[ref.seen.error.type ?? ref.seen.error.status] = (tally.errors[ref.seen.error.type ?? ref.seen.error.status] ?? 0) + 1
      else tally.ok++
    })
  } finally {
    server.close()
    server.closeAllConnections()
  }
  // The generator reaches every branch the bar names.
  console.log('express differential:', JSON.stringify(tally))
  assert.ok(tally.ok > COUNT * 0.3, JSON.stringify(tally))
  for (const type of ['entity.parse.failed', 'entity.too.large', 'charset.unsupported', 'encoding.unsupported']) {
    assert.ok(tally.errors[type] > 0, `${type}: ${JSON.stringify(tally)}`)
  }
})

test('express: bodies over 1 MiB are parsed on the pool, with the same value and errors as express.json()', async () => {
  const seen = new Map()
  const app = express()
  const record = (req, res) => {
    seen.set(req.path, { body: req.body })
    res.end('ok')
  }
  app.post('/ref', express.json({ limit: '8mb' }), record)
  app.post('/ours', json({ limit: '8mb' }), record)
  app.use((err, req, res, next) => {
    seen.set(req.path, { error: errorView(err) })
    res.status(err.status ?? 500).end()
  })
  const server = http.createServer(app)
  const port = await listen(server)
  try {
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i, name: `nom ${i} é中😀`, big: 12345678901234567890, tags: ['a', 'b'], nested: { x: -0, y: [1.5e-7] } }))
    const text = JSON.stringify(rows)
    assert.ok(text.length > 1024 * 1024)
    for (const body of [text, '\ufeff' + text, text.slice(0, -1), text + ' x']) {
      const before = pool.stats().completed
      const c = { bytes: Buffer.from(body), type: 'application/json', framing: 'length' }
      const ref = await send(port, '/ref', c)
      const ours = await send(port, '/ours', c)
      assert.equal(ours.status, ref.status)
      const r = seen.get('/ref')
      const o = seen.get('/ours')
      if (r.error) assert.deepStrictEqual(o.error, r.error)
      else assertSameValue(o.body, r.body, 'large body')
      assert.ok(pool.stats().completed > before, 'parsed on the pool')
    }
  } finally {
    server.close()
    server.closeAllConnections()
  }
})

test('express: json() options: reviver, strict: false, type, inflate: false, as express.json()', async () => {
  const seen = new Map()
  const app = express()
  const record = (req, res) => {
    seen.set(req.headers['x-case'] + req.path, { body: req.body })
    res.end('ok')
  }
  const reviver = (k, v) => (typeof v === 'number' ? v * 2 : v)
  const variants = {
    reviver: { reviver },
    loose: { strict: false },
    types: { type: ['application/*+json', 'text/plain'] },
    fn: { type: (req) => req.headers['x-json'] === '1' },
    noinflate: { inflate: false },
    limit: { limit: '1kb' },
  }
  for (const [name, opts] of Object.entries(variants)) {
    app.post(`/ref-${name}`, express.json(opts), record)
    app.post(`/ours-${name}`, json(opts), record)
  }
  app.use((err, req, res, next) => {
    seen.set(req.headers['x-case'] + req.path, { error: errorView(err) })
    res.status(err.status ?? 500).end()
  })
  const server = http.createServer(app)
  const port = await listen(server)
  const bodies = ['{"a":1,"b":[2,3]}', '7', '"s"', 'null', ' ', '{"a":', '[1]'.repeat(1)]
  const types = ['application/json', 'application/vnd.api+json', 'text/plain', 'text/html']
  try {
    let i = 0
    for (const name of Object.keys(variants)) {
      for (const body of bodies) {
        for (const type of types) {
          for (const gz of [false, true]) {
            const bytes = gz ? zlib.gzipSync(Buffer.from(body.repeat(name === 'limit' ? 200 : 1))) : Buffer.from(body)
            const headers = { 'x-case': String(++i), 'content-type': type, 'x-json': type === 'text/html' ? '1' : '0' }
            if (gz) headers['content-encoding'] = 'gzip'
            const c = { bytes, framing: 'length', type }
            const go = (route) =>
              new Promise((resolve, reject) => {
                const req = http.request({ host: '127.0.0.1', port, path: route, method: 'POST', headers: { ...headers, 'content-length': bytes.length }, agent }, (res) => {
                  res.resume()
                  res.on('end', () => resolve(res.statusCode))
                })
                req.on('error', reject)
                req.end(c.bytes)
              })
            const rs = await go(`/ref-${name}`)
            const os = await go(`/ours-${name}`)
            const what = `${name} ${body} ${type} gzip=${gz}`
            assert.equal(os, rs, what)
            const r = seen.get(`${i}/ref-${name}`)
            const o = seen.get(`${i}/ours-${name}`)
            if (r.error) assert.deepStrictEqual(o.error, r.error, what)
            else assertSameValue(o.body, r.body, what)
          }
        }
      }
    }
  } finally {
    server.close()
    server.closeAllConnections()
  }
})

test('express: json() rejects bad options with coded errors', () => {
  assert.throws(() => json({ limit: 'lots' }), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.limit/ })
  assert.throws(() => json({ limit: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => json({ limit: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => json({ strict: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.strict/ })
  assert.throws(() => json({ inflate: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => json({ reviver: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => json({ type: [] }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.type/ })
  assert.throws(() => json({ type: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => json({ offload: 'sometimes' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => json({ verify: () => {} }), { code: 'ERR_INVALID_ARG_VALUE', message: /unknown field 'verify'/ })
  assert.throws(() => json(null), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.equal(typeof json({ limit: '20mb', strict: false, type: 'json' }), 'function')
})

async function fastifyPair(opts, ourOpts) {
  const seen = new Map()
  const make = async (ours) => {
    const app = Fastify({ bodyLimit: LIMIT, ...opts })
    if (ours) await app.register(fastifyJson, ourOpts)
    app.post('/', async (request) => {
      seen.set(`${request.headers['x-case']}${ours}`, { body: request.body })
      return 'ok'
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    return app
  }
  const ref = await make(false)
  const ours = await make(true)
  return { seen, ref, ours, ports: [ref.server.address().port, ours.server.address().port] }
}

test(`fastify: the json plugin gives what Fastify's default parser gives on ${COUNT} generated bodies`, async () => {
  const configs = [
    [{}, undefined],
    [{}, { offload: 'always' }],
    [{ onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove' }, undefined],
    [{ onProtoPoisoning: 'ignore' }, undefined],
  ]
  const gen = generator(7)
  const cases = Array.from({ length: COUNT }, gen)
  const tally = {}
  for (const [opts, ourOpts] of configs) {
    const { seen, ref, ours, ports } = await fastifyPair(opts, ourOpts)
    try {
      await runLimited(cases, 4, async (c, i) => {
        const results = []
        for (const port of ports) results.push(await send(port, '/', c, i))
        const what = `case ${i} ${JSON.stringify(opts)} ${JSON.stringify(c.text.slice(0, 80))} type=${c.type} enc=${c.encoding} framing=${c.framing}`
        assert.equal(results[1].status, results[0].status, what)
        assert.equal(results[1].text, results[0].text, what)
        if (results[0].status === 200) assertSameValue(seen.get(`${i}true`).body, seen.get(`${i}false`).body, what)
        const key = results[0].status === 200 ? 200 : results[0].text.match(/"code":"(\w+)"/)?.[1] ?? results[0].status
        tally[key] = (tally[key] ?? 0) + 1
        seen.delete(`${i}true`)
        seen.delete(`${i}false`)
      })
    } finally {
      await ref.close()
      await ours.close()
    }
  }
  console.log('fastify differential:', JSON.stringify(tally))
  for (const code of [200, 'FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_BODY_TOO_LARGE', 'FST_ERR_CTP_INVALID_MEDIA_TYPE']) {
    assert.ok(tally[code] > 0, `${code}: ${JSON.stringify(tally)}`)
  }
})

test('fastify: prototype poisoning is rejected (or removed) as the default parser does, also in large bodies parsed on the pool', async () => {
  const filler = JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ id: i, s: 'x'.repeat(10) })))
  assert.ok(filler.length > 1024 * 1024)
  const bodies = [
    '{"__proto__":{"admin":true}}',
    '{"a":[{"b":{"__proto__":{"admin":true}}}]}',
    '{"\\u005f\\u005Fproto\\u005f_" :{"admin":true}}',
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"constructor":{"prototyp":1},"c":{"constructor":null}}',
    `{"filler":${filler},"deep":{"__proto__":{"admin":true}}}`,
    `{"filler":${filler},"x":{"constructor":{"prototype":{}}}}`,
  ]
  for (const opts of [{}, { onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove' }, { onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' }]) {
    const { seen, ref, ours, ports } = await fastifyPair({ ...opts, bodyLimit: 8 * 1024 * 1024 })
    try {
      for (const [i, body] of bodies.entries()) {
        const c = { bytes: Buffer.from(body), type: 'application/json', framing: 'length' }
        const r = await send(ports[0], '/', c, i)
        const o = await send(ports[1], '/', c, i)
        assert.equal(o.status, r.status, `${JSON.stringify(opts)} ${i}`)
        assert.equal(o.text, r.text)
        if (opts.onProtoPoisoning === undefined && i !== 4) {
          assert.equal(o.status, 400)
          assert.match(o.text, /FST_ERR_CTP_INVALID_JSON_BODY/)
        }
        if (o.status === 200) assertSameValue(seen.get(`${i}true`).body, seen.get(`${i}false`).body, `${i}`)
      }
    } finally {
      await ref.close()
      await ours.close()
    }
  }
  // Nothing was poisoned along the way.
  assert.equal({}.admin, undefined)
})

test('fastify: errors are instances of Fastify\'s own error codes; bad options are coded errors', async () => {
  const { errorCodes } = await import('fastify')
  const app = Fastify()
  await app.register(fastifyJson)
  let caught
  app.setErrorHandler((err, request, reply) => {
    caught = err
    reply.code(err.statusCode).send({ code: err.code })
  })
  app.post('/', async () => 'ok')
  await app.ready()
  let res = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: '{' })
  assert.equal(res.statusCode, 400)
  assert.ok(caught instanceof errorCodes.FST_ERR_CTP_INVALID_JSON_BODY)
  assert.equal(caught.name, 'FastifyError')
  res = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: '' })
  assert.ok(caught instanceof errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY)
  assert.ok(!(caught instanceof errorCodes.FST_ERR_CTP_INVALID_JSON_BODY))
  await app.close()

  for (const [options, code] of [
    [{ offload: 'x' }, 'ERR_INVALID_ARG_VALUE'],
    [{ onProtoPoisoning: 'drop' }, 'ERR_INVALID_ARG_VALUE'],
    [{ onConstructorPoisoning: 1 }, 'ERR_INVALID_ARG_TYPE'],
    [{ bodyLimit: 1 }, 'ERR_INVALID_ARG_VALUE'],
  ]) {
    const bad = Fastify()
    bad.register(fastifyJson, options)
    await assert.rejects(bad.ready(), { code })
  }
})
