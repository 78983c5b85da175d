// collectMetrics({ processes: true }) in a cluster primary: every worker's
// series from the group's shared memory, labelled worker="<id>", equal to
// what the worker exports itself, and there while a worker is stuck.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import client from 'prom-client'
import { collectMetrics } from '@nodeperf/native/prom'

test('a cluster primary exports its workers from shared memory: same histogram as each worker exports itself, and during a block', () => {
  const fixture = fileURLToPath(new URL('./fixtures/cluster-group-prom.cjs', import.meta.url))
  // A hang guard, not a timing assertion.
  const child = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(child.status, 0, child.stderr)
  const r = JSON.parse(child.stdout.trim().split('\n').pop())
  for (const id of r.ids) {
    const e = r.equal[id]
    assert.ok(e.agreeing >= 1, `worker ${id}: no trial where its own reads agreed (${e.trials} trials)`)
    assert.equal(e.same, e.agreeing, `worker ${id}: the primary's series differ from the worker's own: ${JSON.stringify(e.example)}`)
  }
  // The scrape ran while worker 1 was stuck (stalledFor read before and
  // after it both show the block), and it has both workers' series.
  assert.ok(r.stalledBefore >= 300 && r.stalledAfter >= r.stalledBefore, JSON.stringify(r))
  assert.deepEqual(r.workersInScrape, [...r.ids].sort())
  assert.equal(r.heapSeries, 2)
})

test('collectMetrics({ processes: true }) without a group to read throws ERR_NODEPERF_NO_GROUP; a non-boolean is ERR_INVALID_ARG_TYPE', () => {
  const register = new client.Registry()
  assert.throws(() => collectMetrics({ register, processes: true }), { code: 'ERR_NODEPERF_NO_GROUP', message: /collectMetrics\(\{ processes: true \}\) has no group/ })
  assert.throws(() => collectMetrics({ register, processes: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.equal(register.getMetricsAsArray().length, 0)
})
