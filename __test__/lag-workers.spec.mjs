import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./fixtures/hundred-workers.cjs', import.meta.url))

// Three rounds of 100 workers; the first is a warm-up (Node 20 itself grows
// its RSS by ~5-8 MB over its first round of 100 workers, with or without
// this addon), then RSS after round 3 must be within 10 MB of after round 2.
test('rounds of 100 blocking workers, read from main, a third terminated mid-stall', () => {
  const child = spawnSync(process.execPath, ['--expose-gc', fixture, '3'], { encoding: 'utf8', timeout: 150_000 })
  assert.equal(child.signal, null, `killed by ${child.signal}; stderr: ${child.stderr}`)
  assert.equal(child.status, 0, `exit ${child.status}; stderr: ${child.stderr}`)
  assert.doesNotMatch(child.stderr, /open handles|Assertion|Aborted|Segmentation|worker error/)
  const { rounds, rssMB } = JSON.parse(child.stdout.trim())
  assert.equal(rounds.length, 3)
  for (const r of rounds) {
    assert.equal(r.workersSeen, 100, 'every worker loop is in monitors()')
    assert.ok(r.stalledNow >= 20, `stalled workers seen as stalled: ${r.stalledNow}`)
    assert.deepEqual(r.left, ['main'], 'ended workers leave monitors()')
  }
  const shown = rssMB.map((m) => m.toFixed(1)).join(', ')
  // The RSS bar is checked on Node 20, the runtime the issue measured on.
  // Node 22/24 workers hold ~10 MB each, and their RSS at ~1 GB swings by
  // 20-40 MB from round to round with or without this addon, far more than
  // the bar: there the spec checks the rest (no crash, monitors leave).
  // Under AddressSanitizer (npm run test:asan sets NODEPERF_ASAN) freed
  // memory waits in ASan's quarantine, so RSS tells nothing either.
  if (process.versions.node.startsWith('20.') && !process.env.NODEPERF_ASAN) {
    const growth = rssMB[2] - rssMB[1]
    assert.ok(growth < 10, `RSS grew ${growth.toFixed(1)} MB between rounds 2 and 3 (${shown})`)
  }
})
