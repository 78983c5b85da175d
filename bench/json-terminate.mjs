// How long `worker.terminate()` waits for pool work that reads the
// worker's own memory. A worker starts a pool task over a large Buffer it
// owns (a JSON scan, or a hash for comparison), tells the main thread once
// the task is under way, and is terminated at once. Teardown must wait for
// whatever piece of the task is reading that memory: a hash piece is
// 256 KiB, a JSON scan window 4 MiB (it used to be the whole scan).
//
//   node bench/json-terminate.mjs [mb=400] [rounds=3]
import { Worker } from 'node:worker_threads'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const index = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'index.js')
const [mb = 400, rounds = 3] = process.argv.slice(2).map(Number)

const code = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { pool } = require(workerData.index)
  const n = workerData.mb * 1e6 | 1 // odd: '[' then pairs '1,' ... and '1]'
  const buf = Buffer.allocUnsafe(n)
  buf.fill('1,', 1)
  buf[0] = 0x5b
  buf[n - 1] = 0x5d
  const t = performance.now()
  const p = workerData.op === 'json' ? pool.parseJson(buf) : pool.hash('sha256', buf)
  p.catch(() => {})
  // Under way on a pool thread: give it a moment, then say so.
  setTimeout(() => parentPort.postMessage(performance.now() - t), 30)`

async function once(op) {
  const w = new Worker(code, { eval: true, workerData: { mb, op, index } })
  await new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  const t = performance.now()
  await w.terminate()
  return performance.now() - t
}

console.log(`terminate() of a worker whose ${mb} MB Buffer a pool task is reading`)
for (let r = 0; r < rounds; r++) {
  for (const op of r % 2 ? ['hash', 'json'] : ['json', 'hash']) {
    console.log(`${op.padEnd(4)} terminate took ${(await once(op)).toFixed(1)} ms`)
  }
}
