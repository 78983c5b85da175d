// JSON jobs run on the pool they are called on: that pool reserves, runs,
// counts and awaits them. No wall-clock assertions: every check
// is on counters read after `close()` resolved, which happens only once the
// job's pool side has ended.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const native = require('@nodeperf/native')
const { pool, createPool } = native
// The packed metrics lib/prom.js reads, and the op order they are packed in.
const { poolMetrics, OPS: ops } = require('../lib/pool.js')

// Several MB, far above the 1 MiB up to which offload: 'auto' parses inline.
const value = Array.from({ length: 60_000 }, (_, i) => ({ i, name: `item ${i}`, tags: ['a', 'ü', i % 7], ok: i % 2 === 0 }))
const text = JSON.stringify(value)
assert.ok(text.length > 3_000_000, `a large document: ${text.length}`)

/** The default pool's counters (its handle on this thread is shared by the file). */
function defaultCounts() {
  const s = pool.stats()
  return { completed: s.completed, failed: s.failed }
}

/** `ok` tasks of `op` in a pool's packed metrics (no histogram bounds). */
function okCount(p, op) {
  const packed = poolMetrics(p, [])
  // [threads, queued, active], then per op [ok, error, aborted, rejected]
  // and two histograms of (0 bounds + total + sum) each.
  return packed[3 + ops.indexOf(op) * 8]
}

test('parseJson on a created pool runs there: its stats count it, the default pool does not', async () => {
  const before = defaultCounts()
  const p = createPool({ threads: 1 })
  assert.deepEqual(await p.parseJson(text), value)
  await p.close()
  const s = p.stats()
  assert.equal(s.completed, 1)
  assert.equal(s.failed, 0)
  assert.equal(s.active, 0)
  assert.equal(s.queued, 0)
  assert.equal(okCount(p, 'json.parse'), 1)
  assert.deepEqual(defaultCounts(), before)
})

test("run({ op: 'json.parse' }) and json.validate on a created pool run there too", async () => {
  const before = defaultCounts()
  const p = createPool({ threads: 1 })
  assert.deepEqual(await p.run({ op: 'json.parse', data: text }), value)
  assert.equal(await p.run({ op: 'json.validate', data: text }), true)
  await assert.rejects(p.run({ op: 'json.validate', data: text + ' x' }), { name: 'SyntaxError', code: 'ERR_NODEPERF_JSON_SYNTAX' })
  await p.close()
  const s = p.stats()
  // An invalid document is a finished job: the pool did the work.
  assert.equal(s.completed, 3)
  assert.equal(s.active, 0)
  assert.equal(okCount(p, 'json.parse'), 1)
  assert.equal(okCount(p, 'json.validate'), 2)
  assert.deepEqual(defaultCounts(), before)
})

// The timeout only ends a hang (a count that never moves); it asserts nothing about time.
test('the default pool counts its own JSON jobs', { timeout: 60_000 }, async () => {
  const before = defaultCounts()
  assert.equal(await pool.run({ op: 'json.validate', data: text }), true)
  // The job's task is counted once its scan has returned, which may be just
  // after the promise settled: flush the handle's view by waiting a turn
  // until the count moves (bounded by the test runner's timeout, not time).
  while (defaultCounts().completed === before.completed) await new Promise((r) => setImmediate(r))
  assert.equal(defaultCounts().completed, before.completed + 1)
})

test('close() right after a parse was submitted resolves only after its pool side ended', async () => {
  for (const data of [text, Buffer.from(text)]) {
    const p = createPool({ threads: 1 })
    const parsed = p.parseJson(data)
    const validated = p.run({ op: 'json.validate', data })
    await p.close()
    const s = p.stats()
    assert.equal(s.completed, 2, typeof data)
    assert.equal(s.active, 0)
    assert.equal(s.queued, 0)
    assert.deepEqual(await parsed, value)
    assert.equal(await validated, true)
    await assert.rejects(p.parseJson(data), { code: 'ERR_NODEPERF_POOL_CLOSED' })
    await assert.rejects(p.run({ op: 'json.validate', data }), { code: 'ERR_NODEPERF_POOL_CLOSED' })
    await assert.rejects(p.parseJson('[1]'), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  }
})

test('Buffer and SharedArrayBuffer-backed inputs parse correctly on a created pool', async () => {
  const before = defaultCounts()
  const p = createPool({ threads: 1 })
  const buf = Buffer.from(text)
  const sab = new SharedArrayBuffer(buf.length)
  new Uint8Array(sab).set(buf)
  const alloc = native.shared.alloc(buf.length)
  alloc.set(buf)
  assert.deepEqual(await p.parseJson(buf), value)
  assert.deepEqual(await p.parseJson(sab), value)
  assert.deepEqual(await p.parseJson(new Uint8Array(sab)), value)
  assert.deepEqual(await p.parseJson(alloc), value)
  assert.equal(await p.run({ op: 'json.validate', data: new DataView(sab) }), true)
  // Small byte inputs (copied at submission, as small hash inputs are).
  assert.deepEqual(await p.parseJson(Buffer.from('[1,{"a":"ü"}]'), { sliceSize: 4 }), [1, { a: 'ü' }])
  await p.close()
  assert.equal(p.stats().completed, 6)
  assert.deepEqual(defaultCounts(), before)
})

test('a SharedArrayBuffer input outlives the references the caller dropped', async () => {
  const p = createPool({ threads: 1 })
  let sab = new SharedArrayBuffer(Buffer.byteLength(text))
  new Uint8Array(sab).set(Buffer.from(text))
  const parsed = p.parseJson(sab)
  sab = null
  globalThis.gc?.()
  assert.deepEqual(await parsed, value)
  await p.close()
})

test('non-shared bytes detached mid-parse on a created pool: ERR_NODEPERF_DETACHED, and close() still waits', async () => {
  // As hashing's detach spec (shared.spec.mjs): the contract is broken by a
  // transfer that keeps the memory alive, so the only story is the watch.
  const big = Buffer.from(JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: `v${i}` }))))
  const p = createPool({ threads: 1 })
  const ab = new ArrayBuffer(big.length)
  new Uint8Array(ab).set(big)
  const parse = p.parseJson(new Uint8Array(ab))
  await new Promise((resolve) => setImmediate(resolve)) // the parse is under way
  const moved = structuredClone(ab, { transfer: [ab] })
  await assert.rejects(parse, { code: 'ERR_NODEPERF_DETACHED' })
  assert.equal(moved.byteLength, big.length)
  await p.close()
  const s = p.stats()
  // The scan either finished before the watch saw the detach, or stopped.
  assert.equal(s.completed + s.failed, 1)
  assert.equal(s.active, 0)
  // A hash of the same detached buffer is refused, as a parse of it is
  // handled on the main thread (nothing left to read).
  await assert.rejects(pool.hash('sha256', ab), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ })
})

test('a parse aborted on a created pool ends its pool side too', async () => {
  const p = createPool({ threads: 1 })
  const ac = new AbortController()
  const parse = p.parseJson(text, { signal: ac.signal })
  ac.abort()
  await assert.rejects(parse, { name: 'AbortError' })
  await p.close()
  const s = p.stats()
  assert.equal(s.active, 0)
  assert.equal(s.completed + s.failed, 1)
})

test('maxQueue counts JSON jobs: over it they are refused with ERR_NODEPERF_QUEUE_FULL', async () => {
  const p = createPool({ threads: 1, maxQueue: 1 })
  const first = p.parseJson(text) // running (or waiting: the one place)
  const second = p.parseJson(text) // waiting, or refused if the first still waits
  const third = p.parseJson(text)
  const results = await Promise.allSettled([first, second, third])
  const refused = results.filter((r) => r.status === 'rejected')
  for (const r of refused) assert.equal(r.reason.code, 'ERR_NODEPERF_QUEUE_FULL')
  assert.ok(refused.length >= 1, 'at most one running and one waiting')
  await p.close()
  assert.equal(p.stats().rejected, refused.length)
})

test('a resizable ArrayBuffer is parsed from a copy: shrinking it mid-parse changes nothing', async () => {
  const text = JSON.stringify(Array.from({ length: 200_000 }, (_, i) => ({ i, s: `v${i}` })))
  const bytes = Buffer.from(text)
  const rab = new ArrayBuffer(bytes.length, { maxByteLength: bytes.length * 2 })
  new Uint8Array(rab).set(bytes)
  const views = [rab, new Uint8Array(rab), new DataView(rab)]
  for (const data of views) {
    new Uint8Array(rab).set(bytes)
    const p = pool.parseJson(data)
    rab.resize(0) // the caller's buffer shrinks under the parse
    const value = await p
    assert.equal(value.length, 200_000)
    assert.deepEqual(value[199_999], { i: 199_999, s: 'v199999' })
    rab.resize(bytes.length)
  }
})

// options.offload: where a parse runs, seen through the created pool's counters.
test("offload: 'never' is JSON.parse on the calling thread: same value, same errors, the pool untouched", async () => {
  const p = createPool({ threads: 1 })
  assert.deepEqual(await p.parseJson(text, { offload: 'never' }), value)
  assert.deepEqual(await p.parseJson(Buffer.from(text), { offload: 'never' }), value)
  assert.equal(await p.run({ op: 'json.validate', data: text }, { offload: 'never' }), true)
  let expected
  try {
    JSON.parse('[1,x]')
  } catch (e) {
    expected = e.message
  }
  await assert.rejects(p.parseJson('[1,x]', { offload: 'never' }), (e) => {
    assert.equal(e.name, 'SyntaxError')
    assert.equal(e.code, 'ERR_NODEPERF_JSON_SYNTAX')
    assert.equal(e.position, 3)
    assert.ok(e.message.startsWith(expected.replace(/ at position \d+.*$/, '')), e.message)
    return true
  })
  await p.close()
  assert.equal(p.stats().completed, 0)
  assert.equal(okCount(p, 'json.parse'), 0)
})

test("offload: 'always' sends even a tiny document to the pool", async () => {
  const p = createPool({ threads: 1 })
  assert.deepEqual(await p.parseJson('[1,{"a":"ü"}]', { offload: 'always' }), [1, { a: 'ü' }])
  assert.equal(await p.run({ op: 'json.validate', data: Buffer.from('{}') }, { offload: 'always' }), true)
  await p.close()
  assert.equal(p.stats().completed, 2)
  assert.equal(okCount(p, 'json.parse'), 1)
  assert.equal(okCount(p, 'json.validate'), 1)
})

test("offload: 'auto' (the default) parses small documents inline and large ones on the pool", async () => {
  const p = createPool({ threads: 1 })
  const small = JSON.stringify(value.slice(0, 100))
  assert.deepEqual(await p.parseJson(small), value.slice(0, 100))
  assert.deepEqual(await p.parseJson(Buffer.from(small), { offload: 'auto' }), value.slice(0, 100))
  assert.equal(okCount(p, 'json.parse'), 0)
  assert.deepEqual(await p.parseJson(text), value) // > 1 MiB
  assert.deepEqual(await p.parseJson(Buffer.from(text), { offload: 'auto' }), value)
  // An explicit sliceSize below the document asks for slices: the pool.
  assert.deepEqual(await p.parseJson(small, { sliceSize: 1024 }), value.slice(0, 100))
  await p.close()
  assert.equal(p.stats().completed, 3)
  assert.equal(okCount(p, 'json.parse'), 3)
})

test('offload: anything else is ERR_INVALID_ARG_VALUE, as Node words it', async () => {
  for (const bad of ['sometimes', 'AUTO', '', 1, true, null, {}]) {
    await assert.rejects(pool.parseJson('[1]', { offload: bad }), (e) => {
      assert.equal(e.name, 'TypeError')
      assert.equal(e.code, 'ERR_INVALID_ARG_VALUE')
      assert.match(e.message, /^The property 'options\.offload' must be one of: 'auto', 'always', 'never'\. Received /)
      return true
    })
    await assert.rejects(pool.run({ op: 'json.validate', data: '[1]' }, { offload: bad }), { code: 'ERR_INVALID_ARG_VALUE' })
  }
})

test('an already-aborted signal rejects an inline parse with an AbortError', async () => {
  const c = new AbortController()
  c.abort(new Error('because'))
  for (const offload of ['never', 'auto']) {
    await assert.rejects(pool.parseJson('[1]', { signal: c.signal, offload }), (e) => {
      assert.equal(e.name, 'AbortError')
      assert.equal(e.code, 'ABORT_ERR')
      assert.equal(e.cause.message, 'because')
      return true
    })
  }
})
