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

test('loaded only by workers, one after another (the main thread never loads it): no crash', () => {
  // The first thread to use the addon's allocator was a worker that has
  // exited by the time the next one loads the addon: mimalloc 3 crashed
  // there (in its thread init); the addon uses mimalloc 2 (src/alloc.rs).
  const index = fileURLToPath(new URL('../index.js', import.meta.url))
  const code = `
    const { Worker } = require('node:worker_threads')
    const body = 'const { pool } = require(' + JSON.stringify(${JSON.stringify(index)}) + ');' +
      "pool.hash('sha256', Buffer.alloc(1 << 20)).then((d) => require('node:worker_threads').parentPort.postMessage(d))"
    ;(async () => {
      const digests = []
      for (let i = 0; i < 4; i++) {
        const w = new Worker(body, { eval: true })
        digests.push(await new Promise((resolve) => w.once('message', resolve)))
        await w.terminate()
      }
      console.log(JSON.stringify(digests))
    })()`
  const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.signal, null, `killed by ${child.signal}; stderr: ${child.stderr}`)
  assert.equal(child.status, 0, `exit ${child.status}; stderr: ${child.stderr}`)
  const digests = JSON.parse(child.stdout.trim())
  assert.equal(digests.length, 4)
  assert.equal(new Set(digests).size, 1)
})
