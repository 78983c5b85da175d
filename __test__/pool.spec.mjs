import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import * as esm from '@nodeperf/native'

const require = createRequire(import.meta.url)
const native = require('@nodeperf/native')
const { pool, createPool, hashSync, shared } = native
const testTask = Symbol.for('nodeperf.testTask')
// The pool's own machinery (batches, the stage, maxQueue) is what most of
// these specs check: small tasks must reach it rather than run inline.
const ALWAYS = { offload: 'always' }
const indexPath = require.resolve('@nodeperf/native')

const NODE_ALGS = ['sha256', 'sha1', 'sha512', 'md5']
const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17)

/** The same bytes as every kind of `data`, with the bytes it stands for. */
function inputs() {
  const small = bytes.subarray(5, 5 + 100)
  const large = bytes.subarray(3, 3 + 2 * 1024 * 1024 + 9)
  const sab = new SharedArrayBuffer(large.length)
  new Uint8Array(sab).set(large)
  const ab = large.buffer.slice(large.byteOffset, large.byteOffset + large.length)
  const u16 = new Uint16Array(ab.slice(0, 2048), 2, 511)
  return [
    ['string', 'héllo wörld ✓', Buffer.from('héllo wörld ✓')],
    ['empty string', '', Buffer.alloc(0)],
    ['small Buffer', small, small],
    ['large Buffer at an offset', large, large],
    ['Uint16Array at an offset', u16, Buffer.from(u16.buffer, 2, 1022)],
    ['Float64Array', new Float64Array([1.5, -2, 3e300]), Buffer.from(new Float64Array([1.5, -2, 3e300]).buffer)],
    ['BigInt64Array', new BigInt64Array([1n, -1n]), Buffer.from(new BigInt64Array([1n, -1n]).buffer)],
    ['DataView at an offset', new DataView(ab, 7, 4000), Buffer.from(ab, 7, 4000)],
    ['ArrayBuffer', ab, Buffer.from(ab)],
    ['SharedArrayBuffer', sab, large],
    ['view over a SharedArrayBuffer', new Int32Array(sab, 8, 1000), large.subarray(8, 4008)],
    ['DataView over a SharedArrayBuffer', new DataView(sab, 1, 70000), large.subarray(1, 70001)],
    // Node 24+: two bytes an element (an element size guessed from an
    // unknown kind once read four times its length).
    ...(typeof Float16Array === 'function'
      ? [
          ['Float16Array at an offset', new Float16Array(ab.slice(0, 4096), 6, 1000), Buffer.from(ab, 6, 2000)],
          ['large Float16Array', new Float16Array(large.buffer, large.byteOffset & ~1, 600000), Buffer.from(large.buffer, large.byteOffset & ~1, 1200000)],
        ]
      : []),
  ]
}

test('digests equal node:crypto for every data kind, algorithm and encoding', async () => {
  for (const [what, data, raw] of inputs()) {
    for (const alg of NODE_ALGS) {
      const want = crypto.createHash(alg).update(raw).digest('hex')
      assert.equal(await pool.hash(alg, data), want, `${alg} of ${what}`)
      assert.equal(hashSync(alg, data), want, `hashSync ${alg} of ${what}`)
    }
    const sha = crypto.createHash('sha512').update(raw)
    const d = sha.digest()
    assert.equal(await pool.run({ op: 'hash', algorithm: 'sha512', data, encoding: 'base64' }), d.toString('base64'))
    assert.equal(await pool.run({ op: 'hash', algorithm: 'sha512', data, encoding: 'base64url' }), d.toString('base64url'))
    const buf = await pool.run({ op: 'hash', algorithm: 'sha512', data, encoding: 'buffer' })
    assert.ok(Buffer.isBuffer(buf))
    assert.deepEqual(buf, d)
  }
})

test('strings around the inline size, with multi-byte characters and lone surrogates at the edge', async () => {
  const tails = ['', 'é', '✓', '😀', '\ud800', 'a\udc00']
  const strings = []
  for (let n = 52; n <= 68; n++) for (const t of tails) strings.push('a'.repeat(n) + t, t + 'b'.repeat(n))
  const digests = await Promise.all(strings.map((s) => pool.hash('sha1', s)))
  strings.forEach((s, i) => {
    const want = crypto.hash('sha1', Buffer.from(s))
    assert.equal(digests[i], want, `${JSON.stringify(s.slice(-3))} after ${s.length} units`)
    assert.equal(hashSync('sha1', s), want)
  })
})

test('blake3, xxh3 and crc32 match published vectors', async () => {
  // BLAKE3 test_vectors.json: input i is (i % 251) bytes.
  const vec = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251)
  const blake3 = {
    0: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    1: '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213',
    1023: '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11',
    1024: '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7',
    1025: 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444',
    102400: 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085',
  }
  for (const [n, want] of Object.entries(blake3)) {
    assert.equal(await pool.hash('blake3', vec(Number(n))), want, `blake3 of ${n} bytes`)
    assert.equal(hashSync('blake3', vec(Number(n))), want)
  }
  // XXH3-64 (seed 0) and CRC-32 (IEEE) reference values.
  assert.equal(await pool.hash('xxh3', ''), '2d06800538d394c2')
  assert.equal(await pool.hash('xxh3', 'a'), 'e6c632b61e964e1f')
  assert.equal(await pool.hash('crc32', '123456789'), 'cbf43926')
  assert.equal(await pool.hash('crc32', ''), '00000000')
  assert.equal(await pool.hash('crc32', 'The quick brown fox jumps over the lazy dog'), '414fa339')
})

test('large BLAKE3 inputs are hashed as a tree across the pool, same digest', async () => {
  const p2 = createPool({ threads: 2 })
  for (const n of [512 * 1024, 512 * 1024 + 1, 3 * 1024 * 1024 + 17]) {
    const data = bytes.subarray(0, n)
    assert.equal(await p2.hash('blake3', data), hashSync('blake3', data), `n=${n}`)
  }
  await p2.close()
})

test('ESM exports are the same objects as require()', () => {
  for (const k of ['pool', 'createPool', 'hashSync', 'shared', 'Pool']) assert.equal(esm[k], native[k], k)
})

test('the default pool has max(1, availableParallelism() - 1) threads and a documented maxQueue', () => {
  assert.equal(pool.threads, Math.max(1, availableParallelism() - 1))
  assert.equal(pool.maxQueue, 131072)
  const s = pool.stats()
  for (const k of ['threads', 'queued', 'active', 'completed', 'failed', 'rejected']) assert.equal(typeof s[k], 'number', k)
  for (const k of ['p50', 'p99', 'max', 'mean']) {
    assert.equal(typeof s.waitTime[k], 'number')
    assert.equal(typeof s.runTime[k], 'number')
  }
})

test('stats() counts tasks and times them', async () => {
  const p = createPool({ threads: 1 })
  await Promise.all([p[testTask]('sleep', 20), p.hash('md5', 'x', undefined, ALWAYS), p[testTask]('panic').catch(() => {})])
  const s = p.stats()
  assert.equal(s.threads, 1)
  assert.equal(s.completed, 2)
  assert.equal(s.failed, 1)
  assert.equal(s.queued, 0)
  assert.equal(s.active, 0)
  assert.ok(s.runTime.max >= 19 && s.runTime.max < 1000, `run max ${s.runTime.max}`)
  assert.ok(s.waitTime.max >= 19, `the md5 waited behind the sleep: ${s.waitTime.max}`)
  await p.close()
})

test('a full queue rejects at once with ERR_NODEPERF_QUEUE_FULL, and recovers', async () => {
  const p = createPool({ threads: 1, maxQueue: 2 })
  const running = p[testTask]('sleep', 200)
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  const queued = [p.hash('md5', 'a', undefined, ALWAYS), p.hash('md5', 'b', undefined, ALWAYS)]
  assert.equal(p.queueSize, 2)
  await assert.rejects(p.hash('md5', 'c', undefined, ALWAYS), { code: 'ERR_NODEPERF_QUEUE_FULL', message: /queue is full \(2 tasks waiting\)/ })
  assert.equal(p.stats().rejected, 1)
  await Promise.all([running, ...queued])
  assert.equal(await p.hash('md5', 'c', undefined, ALWAYS), crypto.hash('md5', 'c'))
  await p.close()
})

test('small tasks held for one flush still meet maxQueue exactly, synchronously', async () => {
  const p = createPool({ threads: 1, maxQueue: 5 })
  const running = p[testTask]('sleep', 200)
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  // No stats() read in between: all ten are submitted in one synchronous run.
  const settled = Promise.allSettled(Array.from({ length: 10 }, (_, i) => p.hash('xxh3', `t${i}`, undefined, ALWAYS)))
  const outcomes = await settled
  assert.deepEqual(
    outcomes.map((o) => o.status),
    [...Array(5).fill('fulfilled'), ...Array(5).fill('rejected')],
  )
  for (const o of outcomes.slice(5)) assert.equal(o.reason.code, 'ERR_NODEPERF_QUEUE_FULL')
  assert.equal(p.stats().rejected, 5)
  await running
  await p.close()
})

test('tiny Buffer inputs staged in JS: maxQueue exact and synchronous across stage boundaries', async () => {
  for (const [maxQueue, n] of [[5, 10], [100, 150], [64, 64], [129, 200]]) {
    const p = createPool({ threads: 1, maxQueue })
    const running = p[testTask]('sleep', 200)
    while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
    const data = Array.from({ length: n }, (_, i) => Buffer.from(`b${i}`))
    const outcomes = await Promise.allSettled(data.map((d) => p.hash('xxh3', d, undefined, ALWAYS)))
    const accepted = Math.min(n, maxQueue)
    assert.deepEqual(
      outcomes.map((o) => o.status),
      [...Array(accepted).fill('fulfilled'), ...Array(n - accepted).fill('rejected')],
      `maxQueue ${maxQueue}, ${n} tasks`,
    )
    outcomes.slice(0, accepted).forEach((o, i) => assert.equal(o.value, hashSync('xxh3', data[i])))
    for (const o of outcomes.slice(accepted)) assert.equal(o.reason.code, 'ERR_NODEPERF_QUEUE_FULL')
    assert.equal(p.stats().rejected, n - accepted)
    await running
    await p.close()
  }
})

test('staged and unstaged tasks reach the pool in the order they were submitted', async () => {
  const p = createPool({ threads: 1 })
  const other = createPool({ threads: 1 })
  // Hold the thread so that everything below waits in one queue.
  const running = p[testTask]('sleep', 50)
  const data = [
    Buffer.from('staged'), 'a string', new Float64Array([1, 2]), Buffer.alloc(64, 1), Buffer.alloc(65, 2),
    new Uint8Array(crypto.randomBytes(4096)), Buffer.from('x'), new Uint8Array(new SharedArrayBuffer(8)),
  ]
  const order = []
  const ps = []
  let others = 0
  for (let round = 0; round < 40; round++) {
    for (const d of data) {
      const i = ps.length
      ps.push(p.hash('sha1', d, undefined, ALWAYS).then((digest) => order.push(i) && digest))
      // Another pool's tasks in between: the stage changes pool.
      if (i % 7 === 0) {
        ps.push(other.hash('md5', d, undefined, ALWAYS))
        others++
      }
    }
  }
  const digests = await Promise.all(ps)
  await running
  let j = 0
  for (let round = 0; round < 40; round++) {
    for (const d of data) {
      const i = j
      assert.equal(digests[j++], hashSync('sha1', d))
      if (i % 7 === 0) assert.equal(digests[j++], hashSync('md5', d))
    }
  }
  assert.equal(order.length, 40 * data.length)
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'one thread ran them first-in, first-out')
  assert.equal(other.stats().completed, others)
  await Promise.all([p.close(), other.close()])
})

test('a staged copy is of the bytes, whatever a subclass or a patched global says', async () => {
  class Liar extends Uint8Array {
    get byteLength() {
      return 3
    }
    get length() {
      return 3
    }
  }
  const liar = new Liar(crypto.randomBytes(40))
  const real = Buffer.from(liar.buffer)
  assert.equal(await pool.hash('sha256', liar, undefined, ALWAYS), crypto.hash('sha256', real))
  const hasInstance = Object.getOwnPropertyDescriptor(Function.prototype, Symbol.hasInstance)
  Object.defineProperty(Uint8Array, Symbol.hasInstance, { value: () => true, configurable: true })
  try {
    const f64 = new Float64Array([Math.PI])
    assert.equal(await pool.hash('sha256', f64, undefined, ALWAYS), crypto.hash('sha256', Buffer.from(f64.buffer)))
  } finally {
    delete Uint8Array[Symbol.hasInstance]
  }
  assert.deepEqual(Object.getOwnPropertyDescriptor(Function.prototype, Symbol.hasInstance), hasInstance)
  // Detached: refused, as when not staged.
  const gone = new Uint8Array(8)
  structuredClone(gone.buffer, { transfer: [gone.buffer] })
  await assert.rejects(pool.hash('md5', gone, undefined, ALWAYS), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(pool.hash('md5', gone), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('close() right after staged tasks: they are accepted and settle first', async () => {
  const p = createPool({ threads: 1 })
  const data = Array.from({ length: 100 }, (_, i) => Buffer.from(`c${i}`))
  const order = []
  const ps = data.map((d, i) => p.hash('crc32', d, undefined, ALWAYS).then((h) => order.push(i) && h))
  const closed = p.close().then(() => order.push('closed'))
  await assert.rejects(p.hash('crc32', data[0]), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  assert.deepEqual(await Promise.all(ps), data.map((d) => hashSync('crc32', d)))
  await closed
  assert.equal(order.at(-1), 'closed')
  assert.equal(p.stats().completed, 100)
})

test('the settler and stage are checked when set; a stage flush of a bad count is refused', () => {
  const binding = require('../lib/binding.js')
  const settle = () => {}
  const bytes = new Uint8Array(64 * 64)
  const codes = new Int32Array(128)
  assert.throws(() => binding.__setSettler({}, new Int32Array(4), bytes, codes), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => binding.__setSettler(settle, new Uint8Array(4096), bytes, codes), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => binding.__setSettler(settle, new Int32Array(4), new Uint8Array(64), codes), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => binding.__setSettler(settle, new Int32Array(4), bytes, new Float64Array(128)), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => binding.__stageFlush(65), { code: 'ERR_OUT_OF_RANGE' })
  // Driving the private binding by hand (a stale slot handed over again)
  // makes a task nobody holds a Promise for: its result is dropped, the
  // process goes on. In a child process: a regression is a fatal exception.
  const r = child(
    `const { pool, hashSync } = require(${JSON.stringify(indexPath)})
     const binding = require(${JSON.stringify(require.resolve('../lib/binding.js'))})
     ;(async () => {
       await pool.hash('md5', Buffer.from('a'), undefined, { offload: 'always' })
       binding.__stageFlush(1)
       binding.__flushSubmitted()
       await new Promise((r) => setTimeout(r, 100))
       const h = await pool.hash('md5', Buffer.from('b'), undefined, { offload: 'always' })
       if (h !== hashSync('md5', Buffer.from('b'))) throw new Error('wrong digest')
       console.log('alive')
     })()`,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /alive/)
})

test('two threads filling the shared default pool at once: exactly maxQueue accepted', async () => {
  const n = 70000
  const sleepMs = 4000
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const { pool } = require(${JSON.stringify(indexPath)})
     parentPort.once('message', async () => {
       const ps = []
       for (let i = 0; i < ${n}; i++) ps.push(pool.hash('xxh3', 'w' + i, undefined, { offload: 'always' }))
       const submittedAt = performance.timeOrigin + performance.now()
       const r = await Promise.allSettled(ps)
       parentPort.postMessage({
         submittedAt,
         ok: r.filter((x) => x.status === 'fulfilled').length,
         full: r.filter((x) => x.reason?.code === 'ERR_NODEPERF_QUEUE_FULL').length,
       })
     })
     parentPort.postMessage('ready')`,
    { eval: true },
  )
  await new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))
  const rejectedBefore = pool.stats().rejected
  let sleptAt = 0
  const sleeps = Array.from({ length: pool.threads }, () => pool[testTask]('sleep', sleepMs))
  const slept = Promise.all(sleeps).then(() => (sleptAt = performance.timeOrigin + performance.now()))
  while (pool.stats().active < pool.threads) await new Promise((r) => setTimeout(r, 1))
  const fromWorker = new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))
  w.postMessage('go')
  const ps = []
  // Buffers here (staged in JS, see index.js), strings in the worker.
  for (let i = 0; i < n; i++) ps.push(pool.hash('xxh3', Buffer.from('m' + i), undefined, ALWAYS))
  const submittedAt = performance.timeOrigin + performance.now()
  const [mine, theirs] = await Promise.all([Promise.allSettled(ps), fromWorker, slept])
  assert.ok(Math.max(submittedAt, theirs.submittedAt) < sleptAt, 'both threads submitted while the pool was blocked')
  const ok = mine.filter((x) => x.status === 'fulfilled').length + theirs.ok
  const full = mine.filter((x) => x.reason?.code === 'ERR_NODEPERF_QUEUE_FULL').length + theirs.full
  assert.equal(ok, pool.maxQueue)
  assert.equal(full, 2 * n - pool.maxQueue)
  assert.equal(pool.stats().rejected - rejectedBefore, full)
  await w.terminate()
})

test('tasks and parses settle while fake timers hold the global queueMicrotask, setImmediate and setTimeout', () => {
  // In a child process: a regression would leave work pending forever.
  const r = child(
    `const { pool, hashSync } = require(${JSON.stringify(indexPath)})
     const assert = require('node:assert/strict')
     // What a fake clock does until it is ticked.
     for (const n of ['queueMicrotask', 'setImmediate', 'setTimeout']) globalThis[n] = () => {}
     ;(async () => {
       assert.deepEqual(await Promise.all([pool.hash('xxh3', 'a'), pool.hash('crc32', 'b')]), [hashSync('xxh3', 'a'), hashSync('crc32', 'b')])
       // Over a slice: built in turns of the loop, yielded with setImmediate.
       const text = JSON.stringify(Array.from({ length: 20000 }, (_, i) => ({ i, s: 'v' + i })))
       assert.deepEqual(await pool.parseJson(text), JSON.parse(text))
       console.log('settled')
     })()`,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /settled/)
})

test('a worker that exits with small tasks not yet handed over: nothing leaks, the pool goes on', async () => {
  const w = new Worker(
    `const { pool } = require(${JSON.stringify(indexPath)})
     for (let i = 0; i < 500; i++) pool.hash('xxh3', 'x' + i)
     process.exit(0)`,
    { eval: true },
  )
  assert.equal(await new Promise((resolve) => w.once('exit', resolve)), 0)
  assert.equal(await pool.hash('xxh3', 'after'), hashSync('xxh3', 'after'))
  assert.equal(pool.stats().queued, 0)
})

test('abort before start: AbortError at once, and the task never runs', async () => {
  const p = createPool({ threads: 1 })
  const blocker = p[testTask]('sleep', 150)
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  const ac = new AbortController()
  const victim = p[testTask]('sleep', 5000, { signal: ac.signal })
  const t0 = performance.now()
  ac.abort()
  await assert.rejects(victim, { name: 'AbortError', code: 'ABORT_ERR' })
  assert.ok(performance.now() - t0 < 50)
  await blocker
  await new Promise((r) => setTimeout(r, 20))
  const s = p.stats()
  assert.equal(s.completed, 1, 'only the blocker ran')
  assert.equal(s.failed, 1, 'the aborted one counts as failed')
  assert.ok(s.runTime.max < 1000, 'the 5 s task never ran')
  // An already-aborted signal rejects without queueing anything.
  await assert.rejects(p.hash('sha256', 'x', undefined, { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' })
  await assert.rejects(p.run({ op: 'hash', algorithm: 'md5', data: 'x' }, { signal: AbortSignal.abort('why') }), (e) => e.cause === 'why')
  await p.close()
})

test('small tasks aborted before they reach the pool: AbortError, and their ids serve later tasks', async () => {
  const p = createPool({ threads: 1 })
  const acs = Array.from({ length: 10 }, () => new AbortController())
  const first = acs.map((ac, i) => p.hash('xxh3', `first ${i}`, 'hex', { signal: ac.signal, ...ALWAYS }))
  // Aborted in the same synchronous run: still held, not yet handed over.
  for (let i = 0; i < 10; i += 2) acs[i].abort()
  const second = Array.from({ length: 10 }, (_, i) => p.hash('xxh3', `second ${i}`, undefined, ALWAYS))
  const outcomes = await Promise.allSettled(first)
  outcomes.forEach((o, i) => {
    if (i % 2 === 0) assert.equal(o.reason?.name, 'AbortError', `first ${i}`)
    else assert.equal(o.value, hashSync('xxh3', `first ${i}`), `first ${i}`)
  })
  assert.deepEqual(await Promise.all(second), second.map((_, i) => hashSync('xxh3', `second ${i}`)))
  const s = p.stats()
  assert.equal(s.completed, 15)
  assert.equal(s.failed, 5, 'the aborted ones count as failed (aborted), once')
  assert.equal(s.queued, 0)
  await p.close()
})

test('abort while running: rejects promptly and a long hash stops at its next piece', async () => {
  const p = createPool({ threads: 1 })
  const ac = new AbortController()
  const sleeping = p[testTask]('sleep', 10_000, { signal: ac.signal })
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  ac.abort()
  await assert.rejects(sleeping, { name: 'AbortError' })
  const big = Buffer.alloc(512 * 1024 * 1024, 1)
  const ac2 = new AbortController()
  const hashing = p.hash('sha256', big, 'hex', { signal: ac2.signal })
  while (p.stats().active === 0) await new Promise((r) => setTimeout(r, 1))
  await new Promise((r) => setTimeout(r, 20))
  const t0 = performance.now()
  ac2.abort()
  await assert.rejects(hashing, { code: 'ABORT_ERR' })
  assert.ok(performance.now() - t0 < 50, 'rejected promptly')
  while (p.stats().active !== 0) await new Promise((r) => setTimeout(r, 1))
  // The whole 512 MiB takes ~350 ms at full speed; a piece is 256 KiB.
  assert.ok(performance.now() - t0 < 150, `stopped within a piece, not after 512 MiB: ${performance.now() - t0} ms`)
  assert.equal(await p.hash('md5', 'ok'), crypto.hash('md5', 'ok'))
  await p.close()
})

test('a completed task ignores a later abort; listeners are removed', async () => {
  const ac = new AbortController()
  const d = await pool.hash('sha1', 'x', 'hex', { signal: ac.signal })
  ac.abort()
  assert.equal(d, crypto.hash('sha1', 'x'))
})

test('a panic rejects with ERR_NODEPERF_TASK_PANICKED and the pool keeps its threads', async () => {
  const p = createPool({ threads: 2 })
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => p[testTask]('panic')))
  for (const r of results) {
    assert.equal(r.status, 'rejected')
    assert.equal(r.reason.code, 'ERR_NODEPERF_TASK_PANICKED')
    assert.match(r.reason.message, /test panic requested/)
  }
  const t0 = performance.now()
  await Promise.all([p[testTask]('sleep', 100), p[testTask]('sleep', 100)])
  assert.ok(performance.now() - t0 < 190, 'both threads still run in parallel')
  assert.equal(p.threads, 2)
  await p.close()
})

test('close() drains, is idempotent, and later run rejects with ERR_NODEPERF_POOL_CLOSED', async () => {
  const p = createPool({ threads: 1 })
  const order = []
  const tasks = [1, 2, 3].map((i) => p[testTask]('sleep', 20).then(() => order.push(i)))
  const c1 = p.close().then(() => order.push('closed'))
  const c2 = p.close()
  await Promise.all([c1, c2, ...tasks])
  assert.deepEqual(order, [1, 2, 3, 'closed'])
  await assert.rejects(p.hash('md5', 'x'), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  await assert.rejects(p.run({ op: 'hash', algorithm: 'md5', data: 'x' }), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  await p.close()
})

const badTasks = [
  ['no argument', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null task', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['unknown op', { op: 'compress', data: 'x' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['missing op', { algorithm: 'md5', data: 'x' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['unknown algorithm', { op: 'hash', algorithm: 'sha3', data: 'x' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['algorithm not a string', { op: 'hash', algorithm: 5, data: 'x' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['missing data', { op: 'hash', algorithm: 'md5' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null data', { op: 'hash', algorithm: 'md5', data: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['number data', { op: 'hash', algorithm: 'md5', data: 42 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['plain-object data', { op: 'hash', algorithm: 'md5', data: { length: 3 } }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['Symbol data', { op: 'hash', algorithm: 'md5', data: Symbol('x') }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['unknown encoding', { op: 'hash', algorithm: 'md5', data: 'x', encoding: 'utf16' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['extra field', { op: 'hash', algorithm: 'md5', data: 'x', priority: 1 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['misspelt field', { op: 'hash', algoritm: 'md5', data: 'x' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
]

for (const [what, task, ctor, code] of badTasks) {
  test(`bad task (${what}): ${code}, and the pool still works`, async () => {
    const p = what === 'no argument' ? pool.run() : pool.run(task)
    await assert.rejects(p, (e) => e instanceof ctor && e.code === code && e.message.length > 10)
    assert.equal(await pool.hash('md5', 'still'), crypto.hash('md5', 'still'))
  })
}

test('bad signals and options are TypeErrors', async () => {
  for (const signal of [null, 1, {}, 'abort']) {
    await assert.rejects(pool.run({ op: 'hash', algorithm: 'md5', data: 'x' }, { signal }), { code: 'ERR_INVALID_ARG_TYPE', message: /AbortSignal/ })
  }
  await assert.rejects(pool.run({ op: 'hash', algorithm: 'md5', data: 'x' }, 5), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => hashSync('md5', 42), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => hashSync('nope', 'x'), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.equal(await pool.hash('md5', 'still'), crypto.hash('md5', 'still'))
})

test('createPool rejects bad threads and maxQueue', () => {
  const cases = [
    [{ threads: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ threads: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ threads: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ threads: '2' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ threads: 10000 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ threads: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ maxQueue: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ maxQueue: -5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ maxQueue: 2.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ maxQueue: '10' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ thread: 2 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    [5, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [options, ctor, code] of cases) {
    assert.throws(() => createPool(options), (e) => e instanceof ctor && e.code === code, JSON.stringify(options))
  }
  const p = createPool({ threads: 1, maxQueue: Infinity })
  assert.equal(p.maxQueue, Infinity)
  return p.close()
})

test('every accepted task settles exactly once (20k tasks with aborts mixed in)', async () => {
  const p = createPool({ threads: 2, maxQueue: Infinity })
  let resolved = 0
  let rejected = 0
  const all = []
  for (let i = 0; i < 20000; i++) {
    const ac = i % 7 === 0 ? new AbortController() : undefined
    const pr = p.hash('xxh3', `task ${i}`, 'hex', { signal: ac?.signal, ...ALWAYS })
    all.push(pr.then(() => resolved++, () => rejected++))
    if (ac && i % 2) queueMicrotask(() => ac.abort())
    else if (ac) ac.abort() // most of these are still queued: they never run
  }
  await Promise.all(all)
  assert.equal(resolved + rejected, 20000)
  const s = p.stats()
  assert.equal(s.completed + s.failed, 20000, JSON.stringify(s))
  // Aborted while queued: failed (never ran). Aborted after it ran: the
  // pool counts it completed, the caller saw an AbortError.
  assert.ok(s.failed > 0 && s.failed <= rejected, JSON.stringify({ s, rejected }))
  assert.ok(rejected >= 1400, `every abort rejected: ${rejected}`)
  await p.close()
})

test('worker threads share the default pool and get their own results', async () => {
  const before = pool.stats().completed
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const { pool } = require(${JSON.stringify(indexPath)})
     Promise.all([pool.hash('sha256', 'from worker', undefined, { offload: 'always' }), pool.hash('md5', 'w', undefined, { offload: 'always' })])
       .then((d) => parentPort.postMessage({ d, threads: pool.threads }))`,
    { eval: true },
  )
  const msg = await new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))
  assert.deepEqual(msg.d, [crypto.hash('sha256', 'from worker'), crypto.hash('md5', 'w')])
  assert.equal(msg.threads, pool.threads)
  assert.ok(pool.stats().completed >= before + 2, 'the worker ran on the same (process-wide) pool')
  await w.terminate()
})

function child(code) {
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000 })
}

test('an idle pool does not keep the process alive; a pending task does', () => {
  const idle = child(`const { pool } = require(${JSON.stringify(indexPath)})
    pool.hash('md5', 'x').then((d) => console.log('done', d))`)
  assert.equal(idle.status, 0, idle.stderr)
  assert.match(idle.stdout, /^done 9dd4e461268c8034f5c8564e155c67a6/)
  const pending = child(`const { createPool } = require(${JSON.stringify(indexPath)})
    const p = createPool({ threads: 1 })
    p[Symbol.for('nodeperf.testTask')]('sleep', 300).then(() => console.log('slept'))`)
  assert.equal(pending.status, 0, pending.stderr)
  assert.match(pending.stdout, /slept/)
})

test('a worker with pending tasks on its own memory can be terminated: clean exit', () => {
  const r = child(`const { Worker } = require('node:worker_threads')
    const w = new Worker(\`const { pool } = require(${JSON.stringify(indexPath)})
      const big = Buffer.alloc(64 << 20, 1)
      for (let i = 0; i < 50; i++) pool.hash('sha256', big).catch(() => {})
      require('node:worker_threads').parentPort.postMessage('go')\`, { eval: true })
    w.once('message', () => setTimeout(() => w.terminate().then(() => console.log('terminated')), 10))`)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /terminated/)
})

test('a tiny result is not held back behind a long task (deferred wakeups are bounded)', async () => {
  const p = createPool({ threads: 1 })
  const t0 = performance.now()
  const tiny = p.hash('xxh3', 'x').then(() => performance.now() - t0)
  const long = p[testTask]('sleep', 300)
  assert.ok((await tiny) < 150, 'the tiny task settled before the long one ended')
  await long
  // A stream of tiny tasks from two threads at once: every one settles.
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const { pool } = require(${JSON.stringify(indexPath)})
     let n = 0
     const next = () => (++n < 20000 ? pool.hash('xxh3', 'w' + n).then(next) : parentPort.postMessage(n))
     for (let i = 0; i < 8; i++) next()`,
    { eval: true },
  )
  const fromWorker = new Promise((resolve) => w.once('message', resolve))
  let n = 0
  await new Promise((resolve) => {
    const next = () => (++n < 20000 ? pool.hash('xxh3', 'm' + n).then(next) : resolve())
    for (let i = 0; i < 8; i++) next()
  })
  assert.ok((await fromWorker) >= 20000)
  await w.terminate()
  await p.close()
})
