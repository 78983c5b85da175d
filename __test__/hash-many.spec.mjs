import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { pool, createPool, hashSync, shared } = require('@nodeperf/native')
const testTask = Symbol.for('nodeperf.testTask')
const indexPath = require.resolve('@nodeperf/native')
const { xxh3 } = require('@node-rs/xxhash')

const ALGORITHMS = ['sha256', 'sha1', 'sha512', 'md5', 'blake3', 'xxh3', 'crc32']
const NODE_ALGS = ['sha256', 'sha1', 'sha512', 'md5']
const DIGEST = { sha256: 32, sha1: 20, sha512: 64, md5: 16, blake3: 32, xxh3: 8, crc32: 4 }
const bytes = crypto.randomBytes(600 * 1024)

/** Every kind of input, with the bytes it stands for; small and large (read in place in pieces). */
function kinds() {
  const sab = new SharedArrayBuffer(300 * 1024)
  new Uint8Array(sab).set(bytes.subarray(0, sab.byteLength))
  const ab = bytes.buffer.slice(bytes.byteOffset + 10, bytes.byteOffset + 10 + 5000)
  return [
    ['string', 'héllo wörld ✓', Buffer.from('héllo wörld ✓')],
    ['long string', 'x'.repeat(300) + '✓', Buffer.from('x'.repeat(300) + '✓')],
    ['empty string', '', Buffer.alloc(0)],
    ['tiny Buffer', bytes.subarray(1, 17), bytes.subarray(1, 17)],
    ['1 KiB Buffer', bytes.subarray(100, 1124), bytes.subarray(100, 1124)],
    ['large Buffer (over a piece)', bytes.subarray(3, 3 + 280 * 1024), bytes.subarray(3, 3 + 280 * 1024)],
    ['empty Buffer', Buffer.alloc(0), Buffer.alloc(0)],
    ['on-heap Uint8Array', new Uint8Array([1, 2, 3]), Buffer.from([1, 2, 3])],
    ['Uint16Array at an offset', new Uint16Array(ab, 2, 511), Buffer.from(ab, 2, 1022)],
    ['Float64Array', new Float64Array([1.5, -2, 3e300]), Buffer.from(new Float64Array([1.5, -2, 3e300]).buffer)],
    ['DataView at an offset', new DataView(ab, 7, 4000), Buffer.from(ab, 7, 4000)],
    ['ArrayBuffer', ab, Buffer.from(ab)],
    ['SharedArrayBuffer', sab, Buffer.from(sab)],
    ['view over a SharedArrayBuffer', new Int32Array(sab, 8, 1000), Buffer.from(sab, 8, 4000)],
    ['DataView over a SharedArrayBuffer', new DataView(sab, 1, 70000), Buffer.from(sab, 1, 70000)],
    ['resizable ArrayBuffer', resizable(50), Buffer.from(bytes.subarray(0, 50))],
  ]
}

function resizable(n) {
  const ab = new ArrayBuffer(n, { maxByteLength: 4 * n })
  new Uint8Array(ab).set(bytes.subarray(0, n))
  return ab
}

/** The anchor's digest of `b`: node:crypto, @node-rs/xxhash, or (blake3, crc32) hashSync. */
function anchor(algorithm, b) {
  if (NODE_ALGS.includes(algorithm)) return crypto.hash(algorithm, b, 'buffer')
  if (algorithm === 'xxh3') {
    const out = Buffer.alloc(8)
    out.writeBigUInt64BE(xxh3.xxh64(b))
    return out
  }
  return hashSync(algorithm, b, 'buffer')
}

test('every algorithm, every input kind mixed in one batch: digests equal the anchors', async () => {
  const k = kinds()
  const inputs = k.map(([, v]) => v)
  for (const algorithm of ALGORITHMS) {
    const want = Buffer.concat(k.map(([, , b]) => anchor(algorithm, b)))
    const got = await pool.hashMany(algorithm, inputs)
    assert.ok(Buffer.isBuffer(got), algorithm)
    assert.equal(got.length, inputs.length * DIGEST[algorithm])
    for (let i = 0; i < k.length; i++) {
      const d = DIGEST[algorithm]
      assert.deepEqual(got.subarray(i * d, (i + 1) * d), want.subarray(i * d, (i + 1) * d), `${algorithm}, ${k[i][0]}`)
    }
  }
})

test('many items on a pool of several threads, via pool.run too; metrics count them under hash.many', async () => {
  const p = createPool({ threads: 3 })
  const inputs = Array.from({ length: 5000 }, (_, i) => bytes.subarray(i, i + (i % 1500)))
  const want = Buffer.concat(inputs.map((b) => crypto.hash('sha1', b, 'buffer')))
  assert.deepEqual(await p.hashMany('sha1', inputs), want)
  assert.deepEqual(await p.run({ op: 'hash.many', algorithm: 'sha1', inputs }), want)
  const { completed } = p.stats()
  assert.equal(completed, 2, 'a batch is one task')
  await p.close()
})

test('encodings give N strings; out gets the digests and is what the Promise resolves with', async () => {
  const inputs = ['a', Buffer.from('bc'), new Uint8Array(2000)]
  for (const encoding of ['hex', 'base64', 'base64url']) {
    const got = await pool.hashMany('sha512', inputs, { encoding })
    assert.deepEqual(got, inputs.map((b) => crypto.hash('sha512', typeof b === 'string' ? b : b, encoding)))
  }
  assert.deepEqual(
    await pool.hashMany('xxh3', ['x', 'y'], { encoding: 'hex' }),
    ['x', 'y'].map((s) => hashSync('xxh3', s)),
  )
  const out = shared.alloc(3 * 32 + 5)
  const r = await pool.hashMany('sha256', inputs, { out })
  assert.equal(r, out)
  assert.deepEqual(Buffer.from(out.subarray(0, 96)), Buffer.concat(inputs.map((b) => crypto.hash('sha256', b, 'buffer'))))
  const viaRun = shared.alloc(96)
  assert.equal(await pool.run({ op: 'hash.many', algorithm: 'sha256', inputs, out: viaRun }), viaRun)
  assert.deepEqual(Buffer.from(viaRun), Buffer.from(out.subarray(0, 96)))
})

test('an empty array resolves with an empty result of the asked shape', async () => {
  assert.deepEqual(await pool.hashMany('sha256', []), Buffer.alloc(0))
  assert.deepEqual(await pool.hashMany('md5', [], { encoding: 'hex' }), [])
  const out = shared.alloc(4)
  assert.equal(await pool.hashMany('crc32', [], { out }), out)
})

test('bad arguments and bad items: coded errors naming the index, rejected before anything is accepted', async () => {
  const p = createPool({ threads: 1 })
  const before = p.stats()
  const ab = new ArrayBuffer(8)
  const overDetached = new Uint8Array(ab)
  structuredClone(ab, { transfer: [ab] })
  const cases = [
    [() => p.hashMany('sha256', ['ok', Buffer.from('ok'), 3]), { code: 'ERR_INVALID_ARG_TYPE', message: /"inputs\[2\]"/ }],
    [() => p.hashMany('sha256', [null]), { code: 'ERR_INVALID_ARG_TYPE', message: /"inputs\[0\]"/ }],
    [() => p.hashMany('sha256', ['a', 'b', 'c', {}]), { code: 'ERR_INVALID_ARG_TYPE', message: /"inputs\[3\]"/ }],
    [() => p.hashMany('sha256', ['a', overDetached]), { code: 'ERR_INVALID_ARG_VALUE', message: /inputs\[1\].*detached/ }],
    [() => p.hashMany('sha256', [ab]), { code: 'ERR_INVALID_ARG_VALUE', message: /inputs\[0\].*detached/ }],
    [() => p.hashMany('sha256', 'abc'), { code: 'ERR_INVALID_ARG_TYPE', message: /"inputs"/ }],
    [() => p.hashMany('sha3', ['a']), { code: 'ERR_INVALID_ARG_VALUE', message: /algorithm/ }],
    [() => p.hashMany('md5', ['a'], { encoding: 'latin1' }), { code: 'ERR_INVALID_ARG_VALUE', message: /options.encoding/ }],
    [() => p.hashMany('md5', ['a'], { out: new Uint8Array(16) }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options.out"/ }],
    [() => p.hashMany('md5', ['a', 'b'], { out: shared.alloc(31) }), { code: 'ERR_OUT_OF_RANGE', message: /out.byteLength/ }],
    [() => p.hashMany('md5', ['a'], { out: shared.alloc(16), encoding: 'hex' }), { code: 'ERR_INVALID_ARG_VALUE' }],
    [() => p.hashMany('md5', ['a'], { chunkSize: 4 }), { code: 'ERR_INVALID_ARG_VALUE', message: /unknown field 'chunkSize'/ }],
    [() => p.run({ op: 'hash.many', algorithm: 'md5', inputs: [1] }), { code: 'ERR_INVALID_ARG_TYPE', message: /"task.inputs\[0\]"/ }],
    [() => p.run({ op: 'hash.many', algorithm: 'md5', data: ['a'] }), { code: 'ERR_INVALID_ARG_VALUE', message: /unknown field 'data'/ }],
    [() => p.hashMany('md5', new Proxy([], {})) /* an array: fine */, null],
  ]
  for (const [call, error] of cases) {
    const promise = call()
    assert.ok(promise instanceof Promise)
    if (error === null) await promise
    else await assert.rejects(promise, error)
  }
  const after = p.stats()
  assert.equal(after.completed - before.completed, 0, 'nothing was accepted')
  assert.equal(after.failed - before.failed, 0)
  // The thread's next batch is not disturbed by the refused ones.
  assert.deepEqual(await p.hashMany('md5', ['a']), crypto.hash('md5', 'a', 'buffer'))
  await p.close()
})

test('abort mid-batch: settles once with AbortError, stops between items, and the pool goes on', async () => {
  const p = createPool({ threads: 2 })
  const big = Array.from({ length: 400 }, () => bytes.subarray(0, 256 * 1024)) // ~100 MB of SHA-512
  const ac = new AbortController()
  let settled = 0
  const batch = p.hashMany('sha512', big, { signal: ac.signal }).finally(() => settled++)
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  ac.abort()
  await assert.rejects(batch, { name: 'AbortError', code: 'ABORT_ERR' })
  await p.close() // resolves once the task has stopped
  assert.equal(settled, 1)
  const s = p.stats()
  assert.equal(s.active, 0)
  // An already-aborted signal rejects without submitting.
  await assert.rejects(pool.hashMany('md5', ['a'], { signal: AbortSignal.abort() }), { name: 'AbortError' })
  assert.deepEqual(await pool.hashMany('md5', ['a']), crypto.hash('md5', 'a', 'buffer'))
})

test('maxQueue: a batch is one task; close() waits for a batch', async () => {
  const p = createPool({ threads: 1, maxQueue: 1 })
  const running = p[testTask]('sleep', 100)
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  const inputs = Array.from({ length: 3000 }, (_, i) => String(i))
  const queued = p.hashMany('sha256', inputs)
  assert.equal(p.queueSize, 1, 'one task for 3000 items')
  await assert.rejects(p.hashMany('sha256', ['x']), { code: 'ERR_NODEPERF_QUEUE_FULL' })
  await p.close()
  const s = p.stats()
  assert.equal(s.queued + s.active, 0, 'close() resolved after the batch ran')
  assert.equal(s.completed, 2)
  assert.deepEqual(await queued, Buffer.concat(inputs.map((s) => crypto.hash('sha256', s, 'buffer'))))
  await running
  await assert.rejects(p.hashMany('md5', ['a']), { code: 'ERR_NODEPERF_POOL_CLOSED' })
})

test('a huge batch: over the item limit is refused with a RangeError; a million items are hashed', async () => {
  const tooMany = new Array(2 ** 24 + 1)
  await assert.rejects(pool.hashMany('xxh3', tooMany), { code: 'ERR_OUT_OF_RANGE', message: /inputs.length/ })
  const n = 1_000_000
  const one = Buffer.from('abcdefgh')
  const inputs = new Array(n).fill(one)
  const got = await pool.hashMany('xxh3', inputs)
  assert.equal(got.length, 8 * n)
  const d = hashSync('xxh3', one, 'buffer')
  assert.deepEqual(got.subarray(0, 8), d)
  assert.deepEqual(got.subarray(8 * (n - 1)), d)
})

test('a non-shared item detached while the batch runs: ERR_NODEPERF_DETACHED, no crash', async () => {
  const p = createPool({ threads: 1 })
  const running = p[testTask]('sleep', 50)
  const ab = new ArrayBuffer(4096)
  const batch = p.hashMany('sha256', ['a', new Uint8Array(ab), 'b'])
  const moved = structuredClone(ab, { transfer: [ab] }) // kept alive: the memory stays valid
  await assert.rejects(batch, { code: 'ERR_NODEPERF_DETACHED' })
  assert.equal(moved.byteLength, 4096)
  await running
  await p.close()
})

test('the worker that owns the items is terminated mid-batch: clean exit, the pool goes on', () => {
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `const { Worker } = require('node:worker_threads')
      const { pool } = require(${JSON.stringify(indexPath)})
      const w = new Worker(\`const { pool, shared } = require(${JSON.stringify(indexPath)})
        const big = Buffer.alloc(1 << 20, 1)
        const sab = shared.alloc(1 << 20)
        const items = []
        for (let i = 0; i < 400; i++) items.push(i % 2 ? big : sab, 'x' + i)
        for (let i = 0; i < 4; i++) pool.hashMany('sha256', items).catch(() => {})
        require('node:worker_threads').parentPort.postMessage('go')\`, { eval: true })
      w.once('message', () => setTimeout(() => w.terminate().then(async () => {
        const d = await pool.hashMany('md5', ['a'], { encoding: 'hex' })
        console.log('terminated', d[0])
      }), 20))`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /terminated 0cc175b9c0f1b6a831c399e269772661/)
})
