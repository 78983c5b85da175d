import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import * as esm from '@nodeperf/native'

const require = createRequire(import.meta.url)
const native = require('@nodeperf/native')

// One loop turn at least: an immediate queued from inside an immediate's
// callback (this await's continuation) runs in the next turn. A chain of
// short timers may run two in one turn on a loaded machine.
const tick = () => new Promise((resolve) => setImmediate(resolve))

test('loopInfo() reports libuv, Node-API, thread and live iterations', async () => {
  const first = native.loopInfo()
  assert.equal(first.libuv, process.versions.uv)
  assert.equal(first.napi, Number(process.versions.napi))
  assert.equal(first.thread, 'main')
  assert.equal(typeof first.iterations, 'number')
  for (let i = 0; i < 5; i++) await tick()
  const later = native.loopInfo()
  assert.ok(later.iterations >= first.iterations + 5, `${later.iterations} vs ${first.iterations}`)
})

test('ESM named imports are the same functions as require()', () => {
  assert.equal(esm.loopInfo, native.loopInfo)
  assert.equal(esm.default, native)
})

test('loopInfo() inside a worker thread labels the worker and counts its own loop', async () => {
  const worker = new Worker(
    `const { parentPort, threadId } = require('node:worker_threads')
     const { loopInfo } = require('@nodeperf/native')
     let n = 0
     const hop = () => (++n < 20 ? setImmediate(hop) : parentPort.postMessage({ info: loopInfo(), threadId }))
     hop()`,
    { eval: true },
  )
  const [msg] = await Promise.all([
    new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    }),
    new Promise((resolve) => worker.once('exit', resolve)),
  ])
  assert.equal(msg.info.thread, `worker-${msg.threadId}`)
  assert.equal(msg.info.libuv, process.versions.uv)
  assert.ok(msg.info.iterations >= 19, `worker iterations ${msg.info.iterations}`)
})
