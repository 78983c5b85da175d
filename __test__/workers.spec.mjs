import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./fixtures/fifty-workers.cjs', import.meta.url))

test('50 workers load the addon, half terminated mid-work: clean exit', () => {
  const child = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.signal, null, `killed by ${child.signal}; stderr: ${child.stderr}`)
  assert.equal(child.status, 0, `exit ${child.status}; stderr: ${child.stderr}`)
  assert.doesNotMatch(child.stderr, /open handles|Assertion|Aborted|Segmentation/)
  const results = JSON.parse(child.stdout.trim())
  assert.deepEqual(results, { finished: 25, terminated: 25, errors: [] })
})
