// Bar 1 of the "no pool thread waits on a JS thread" work: a worker owns a
// large pool.parseJson and blocks its own loop for a while in the middle of
// it; meanwhile the main thread submits a tiny pool.hash every 10 ms to the
// same (default) pool and times each one. With the string fed to a parked
// pool thread (the old design) the tiny hashes waited for the whole block;
// now a string's scan reaches the pool only once the text is all copied
// in, so they do not. The same document as a Buffer is the control: its
// scan does run on the pool, so tiny hashes queue behind that scan (not
// behind the blocked loop).
//
//   node bench/json-starve.mjs [mb=41] [blockMs=3000] [rounds=2]
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const index = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'index.js')
const { pool } = require(index)
const [mb = 41, blockMs = 3000, rounds = 2] = process.argv.slice(2).map(Number)

const workerCode = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { setImmediate: tick } = require('node:timers/promises')
  const { pool } = require(workerData.index)
  const rows = []
  let size = 2
  for (let i = 0; size < workerData.mb * 1e6; i++) {
    const row = { id: i, name: 'item-' + i, tags: ['a', 'b', 'c'], score: i * 0.5, ok: i % 2 === 0 }
    size += JSON.stringify(row).length + 1
    rows.push(row)
  }
  const text = JSON.stringify(rows)
  const data = workerData.input === 'string' ? text : Buffer.from(text)
  ;(async () => {
    const p = pool.parseJson(data)
    await tick() // the parse is under way: the string partly copied in, or the bytes being scanned
    await tick()
    parentPort.postMessage({ blocking: true, bytes: text.length })
    const until = Date.now() + workerData.blockMs
    while (Date.now() < until);
    const value = await p
    parentPort.postMessage({ done: true, rows: value.length })
  })()`

async function once(input) {
  const w = new Worker(workerCode, { eval: true, workerData: { mb, blockMs, input, index } })
  const lat = []
  let done = false
  let bytes = 0
  const finished = new Promise((resolve, reject) => {
    w.on('error', reject)
    w.on('message', async (m) => {
      if (m.blocking) {
        bytes = m.bytes
        const start = performance.now()
        while (!done && performance.now() - start < blockMs) {
          const t = performance.now()
          await pool.hash('sha256', 'tiny', 'hex', { offload: 'always' })
          lat.push(performance.now() - t)
          await new Promise((r) => setTimeout(r, 10))
        }
      }
      if (m.done) {
        done = true
        resolve()
      }
    })
  })
  await finished
  await w.terminate()
  lat.sort((a, b) => a - b)
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]
  return { n: lat.length, p50: q(0.5), max: lat[lat.length - 1], bytes }
}

console.log(`pool threads ${pool.stats().threads}, owner blocked ${blockMs} ms mid-parse, document ${mb} MB`)
for (let r = 0; r < rounds; r++) {
  for (const input of r % 2 ? ['buffer', 'string'] : ['string', 'buffer']) {
    const o = await once(input)
    console.log(`${input.padEnd(6)} tiny hash while the owner is blocked: max ${o.max.toFixed(1)} ms, p50 ${o.p50.toFixed(2)} ms (${o.n} hashes)`)
  }
}
