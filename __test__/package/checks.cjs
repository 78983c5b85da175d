'use strict'
// What a user does first with the installed package, checked from CJS, ESM
// and bundled apps by scripts/test-package.js. Prints one JSON line.
const assert = require('node:assert/strict')
const crypto = require('node:crypto')

/**
 * @param {object} api
 * @param {any} api.native   require('@nodeperf/native') or its ESM namespace
 * @param {any} api.prom     @nodeperf/native/prom
 * @param {any} api.client   prom-client
 * @param {string} api.via
 */
async function check({ native, prom, client, via }) {
  const { lag, pool, startSidecar } = native
  // A little work for the monitor to see.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const p99 = lag.p99()
  assert.equal(typeof p99, 'number')
  assert.ok(p99 >= 0 && Number.isFinite(p99), `lag.p99() = ${p99}`)
  assert.ok(lag.count() > 0, 'the lag monitor recorded no busy period')

  const data = crypto.randomBytes(4096)
  // offload: 'always': small inputs otherwise run inline, and this checks the installed pool.
  assert.equal(await pool.hash('sha256', data, 'hex', { offload: 'always' }), crypto.createHash('sha256').update(data).digest('hex'))
  assert.equal(await pool.hash('sha256', data), crypto.createHash('sha256').update(data).digest('hex'))
  const doc = { a: [1, 2.5, { b: null, c: 'é' }], d: true }
  assert.deepEqual(await pool.parseJson(JSON.stringify(doc)), doc)
  assert.deepEqual(await pool.parseJson(Buffer.from(JSON.stringify(doc)), { offload: 'always' }), doc)
  assert.ok(pool.stats().completed >= 1, `pool.stats().completed = ${pool.stats().completed}`)

  const register = new client.Registry()
  prom.collectMetrics({ register })
  const text = await register.metrics()
  assert.match(text, /^nodeperf_eventloop_lag_seconds_bucket\{.*thread="main".*\} \d+/m)
  assert.match(text, /^nodeperf_pool_tasks_total\{/m)

  const sidecar = await startSidecar({ port: 0 })
  try {
    const live = await fetch(`http://127.0.0.1:${sidecar.port}/health/live`)
    assert.equal(live.status, 200)
    assert.equal((await live.json()).status, 'ok')
    const metrics = await fetch(`http://127.0.0.1:${sidecar.port}/metrics`)
    assert.equal(metrics.status, 200)
    assert.match(await metrics.text(), /^nodeperf_eventloop_lag_seconds_count\{.*thread="main"/m)
  } finally {
    await sidecar.close()
  }
  // Which addon files the process has mapped (one, shared by the sidecar's thread).
  const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8')
  const binaries = [...new Set(maps.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).filter((f) => f.endsWith('.node')))]
  assert.equal(binaries.length, 1, `expected one native addon loaded, got ${JSON.stringify(binaries)}`)
  console.log(JSON.stringify({ ok: true, via, node: process.version, binary: binaries[0], p99 }))
}

module.exports = { check }
