// The same bad argument gets the same error from every entry point, worded
// exactly as Node's own APIs word it (checked against timers/promises,
// which validates `options` and `options.signal` with Node's validators).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { setTimeout as nodeSleep } from 'node:timers/promises'

const require = createRequire(import.meta.url)
const native = require('@nodeperf/native')
const { collectMetrics } = require('@nodeperf/native/prom')
const { pool, createPool, hashSync, parseJsonSync, overloaded, underPressure, yieldEvery, startSidecar, AbortError } = native

/** What a call throws or rejects with (it must do one of the two). */
async function failure(call) {
  let result
  try {
    result = call()
  } catch (err) {
    return err
  }
  try {
    await result
  } catch (err) {
    return err
  }
  assert.fail('expected the call to fail')
}

const shape = (err) => ({ name: err.name, code: err.code, message: err.message, ctor: err.constructor.name })

async function assertSame(label, calls, reference) {
  const want = shape(await failure(reference))
  for (const [name, call] of Object.entries(calls)) {
    assert.deepEqual(shape(await failure(call)), want, `${label}: ${name}`)
  }
}

const data = 'x'.repeat(20)

test('a bad options object: the same error everywhere, as Node words it', async () => {
  for (const bad of [1, 'opts', true, null, [1], () => {}]) {
    await assertSame(
      `options ${String(bad)}`,
      {
        'pool.hash': () => pool.hash('sha256', data, 'hex', bad),
        'pool.run hash': () => pool.run({ op: 'hash', algorithm: 'sha256', data }, bad),
        'pool.run json.parse': () => pool.run({ op: 'json.parse', data: '[1]' }, bad),
        'pool.parseJson': () => pool.parseJson('[1]', bad),
        createPool: () => createPool(bad),
        overloaded: () => overloaded(bad),
        underPressure: () => underPressure(bad),
        yieldEvery: () => yieldEvery([], () => {}, bad),
        startSidecar: () => startSidecar(bad),
        collectMetrics: () => collectMetrics(bad),
      },
      () => nodeSleep(1, undefined, bad),
    )
  }
})

test('a bad options.signal: the same error everywhere, as Node words it', async () => {
  const long = 'a signal that is only a string, and a long one'
  for (const bad of [1, long, {}, null, new EventTarget(), Object.create(null), 12345678901234567890n]) {
    await assertSame(
      `signal ${typeof bad}`,
      {
        'pool.hash': () => pool.hash('sha256', data, 'hex', { signal: bad }),
        'pool.run hash': () => pool.run({ op: 'hash', algorithm: 'sha256', data }, { signal: bad }),
        'pool.run chunks': () => pool.run({ op: 'hash', algorithm: 'sha256', data, chunkSize: 4, out: new Uint8Array(256) }, { signal: bad }),
        'pool.run json.validate': () => pool.run({ op: 'json.validate', data: '[1]' }, { signal: bad }),
        'pool.parseJson': () => pool.parseJson('[1]', { signal: bad }),
        yieldEvery: () => yieldEvery([], () => {}, { signal: bad }),
      },
      () => nodeSleep(1, undefined, { signal: bad }),
    )
  }
})

test('bad data: the same error from hashing and JSON, sync and async', async () => {
  for (const bad of [42, {}, null, undefined, [1, 2], Symbol('s')]) {
    await assertSame(`data ${typeof bad}`, {
      'pool.parseJson': () => pool.parseJson(bad),
      hashSync: () => hashSync('sha256', bad),
      parseJsonSync: () => parseJsonSync(bad),
    }, () => pool.hash('sha256', bad))
    await assertSame(`task.data ${typeof bad}`, {
      'run json.parse': () => pool.run({ op: 'json.parse', data: bad }),
      'run json.validate': () => pool.run({ op: 'json.validate', data: bad }),
    }, () => pool.run({ op: 'hash', algorithm: 'sha256', data: bad }))
  }
})

test('a long string is shortened as Node shortens it', async () => {
  const long = 'y'.repeat(100)
  const ours = await failure(() => pool.hash('sha256', data, 'hex', { signal: long }))
  const node = await failure(() => nodeSleep(1, undefined, { signal: long }))
  assert.equal(ours.message, node.message)
  assert.match(ours.message, /Received type string \('y{25}\.\.\.'\)$/)
})

test('an abort is the same AbortError everywhere: name, code, message, cause', async () => {
  const reason = new Error('stop')
  const signal = AbortSignal.abort(reason)
  const calls = {
    'pool.hash': () => pool.hash('sha256', 'x'.repeat(4096), 'hex', { signal }),
    'pool.run hash': () => pool.run({ op: 'hash', algorithm: 'sha256', data: 'x' }, { signal }),
    'pool.parseJson': () => pool.parseJson('[1]', { signal }),
    'pool.run json.parse': () => pool.run({ op: 'json.parse', data: '[1]' }, { signal }),
    yieldEvery: () => yieldEvery([1, 2, 3], () => {}, { signal }),
    test: () => pool[Symbol.for('nodeperf.testTask')]('sleep', 10, { signal }),
  }
  const node = await failure(() => nodeSleep(1, undefined, { signal }))
  for (const [name, call] of Object.entries(calls)) {
    const err = await failure(call)
    assert.ok(err instanceof AbortError, `${name}: an AbortError`)
    assert.equal(err.name, node.name, name)
    assert.equal(err.code, node.code, name)
    assert.equal(err.message, node.message, name)
    assert.equal(err.cause, reason, `${name}: the signal's reason as cause`)
  }
})

test('an abort while running is the same AbortError as one before', async () => {
  const big = 'z'.repeat(2_000_000)
  const ac = new AbortController()
  const reason = new Error('later')
  const hashing = pool.hash('sha256', big, 'hex', { signal: ac.signal })
  const parsing = pool.parseJson(JSON.stringify([big, big]), { signal: ac.signal })
  ac.abort(reason)
  for (const p of [hashing, parsing]) {
    const err = await failure(() => p)
    assert.ok(err instanceof AbortError)
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.cause, reason)
  }
})

test('checks made natively describe values as Node does too', async () => {
  const received = (err) => err.message.slice(err.message.indexOf('. Received ') + 2)
  for (const bad of ['y'.repeat(100), "it's", 'short', true]) {
    const node = await failure(() => nodeSleep(1, undefined, { signal: bad }))
    const ours = await failure(() => native.lag.configure({ stallThresholdMs: bad }))
    assert.equal(ours.code, 'ERR_INVALID_ARG_TYPE')
    assert.equal(received(ours), received(node), String(bad))
  }
})
