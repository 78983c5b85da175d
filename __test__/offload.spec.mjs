// `offload`: pool.hash / pool.run decide per task whether to hash on the
// calling thread or on the pool (lib/pool.js, thresholds from
// bench/hash-crossover.mjs). What is checked: where each task ran (the
// pool's own `completed` counter against the handle's `inline` counter),
// that the digest and the errors do not depend on it, and the option's
// checks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { createPool, hashSync } from '@nodeperf/native'

const ALGS = ['sha256', 'sha1', 'sha512', 'md5', 'blake3', 'xxh3', 'crc32']
const ENCODINGS = ['hex', 'base64', 'base64url', 'buffer']
const big = crypto.randomBytes(4 * 1024 * 1024 + 3)

/** Where one task ran: 'inline' or 'pool', from the counters. */
async function where(p, run) {
  const before = p.stats()
  const value = await run()
  const after = p.stats()
  const inline = after.inline - before.inline
  const pooled = after.completed - before.completed
  assert.equal(inline + pooled, 1, JSON.stringify({ inline, pooled }))
  return { value, ran: inline === 1 ? 'inline' : 'pool' }
}

test('auto: tiny inputs run inline and multi-MiB inputs on the pool, for every algorithm', async () => {
  const p = createPool({ threads: 1 })
  for (const alg of ALGS) {
    const tiny = await where(p, () => p.hash(alg, Buffer.from('tiny')))
    assert.equal(tiny.ran, 'inline', alg)
    assert.equal(tiny.value, hashSync(alg, Buffer.from('tiny')))
    const large = await where(p, () => p.hash(alg, big))
    assert.equal(large.ran, 'pool', alg)
    assert.equal(large.value, hashSync(alg, big))
    // The same through run(), and for a string.
    assert.equal((await where(p, () => p.run({ op: 'hash', algorithm: alg, data: 'abc' }))).ran, 'inline')
  }
  await p.close()
})

test("'never' runs even a large input inline, 'always' sends even a tiny one to the pool", async () => {
  const p = createPool({ threads: 1 })
  for (const alg of ALGS) {
    const never = await where(p, () => p.hash(alg, big, 'hex', { offload: 'never' }))
    assert.equal(never.ran, 'inline')
    assert.equal(never.value, hashSync(alg, big))
    const always = await where(p, () => p.hash(alg, Buffer.from('x'), 'hex', { offload: 'always' }))
    assert.equal(always.ran, 'pool')
    assert.equal(always.value, hashSync(alg, Buffer.from('x')))
    const viaRun = await where(p, () => p.run({ op: 'hash', algorithm: alg, data: 'x' }, { offload: 'always' }))
    assert.equal(viaRun.ran, 'pool')
  }
  await p.close()
})

test('the digest does not depend on where it ran: every data kind and encoding', async () => {
  const p = createPool({ threads: 1 })
  const ab = big.buffer.slice(big.byteOffset, big.byteOffset + 5000)
  const sab = new SharedArrayBuffer(3000)
  new Uint8Array(sab).set(big.subarray(0, 3000))
  const kinds = ['héllo ✓', big.subarray(1, 2000), new DataView(ab, 3, 100), ab, sab, new Uint16Array(ab, 2, 10), big]
  for (const alg of ALGS) {
    for (const enc of ENCODINGS) {
      for (const data of kinds) {
        const want = hashSync(alg, data, enc)
        for (const offload of ['never', 'always', 'auto']) {
          assert.deepEqual(await p.hash(alg, data, enc, { offload }), want, `${alg} ${enc} ${offload}`)
        }
      }
    }
  }
  await p.close()
})

test('inline tasks fail as pooled ones do: bad data, detached views, a closed pool, an aborted signal', async () => {
  const p = createPool({ threads: 1 })
  for (const offload of ['never', 'always']) {
    await assert.rejects(p.hash('md5', 42, 'hex', { offload }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(p.hash('md5', 'x', 'latin1', { offload }), { code: 'ERR_INVALID_ARG_VALUE' })
    await assert.rejects(p.hash('md9', 'x', 'hex', { offload }), { code: 'ERR_INVALID_ARG_VALUE' })
    const gone = new Uint8Array(16)
    structuredClone(gone.buffer, { transfer: [gone.buffer] })
    await assert.rejects(p.hash('md5', gone, 'hex', { offload }), { code: 'ERR_INVALID_ARG_VALUE' })
    const ac = new AbortController()
    ac.abort(new Error('why'))
    await assert.rejects(p.hash('md5', 'x', 'hex', { offload, signal: ac.signal }), (e) => e.name === 'AbortError' && e.cause?.message === 'why')
  }
  const s = p.stats()
  assert.equal(s.inline, 0, 'no failed task counts as run inline')
  await p.close()
  await assert.rejects(p.hash('md5', 'x', 'hex', { offload: 'never' }), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  await assert.rejects(p.hash('md5', 'x'), { code: 'ERR_NODEPERF_POOL_CLOSED' })
})

test('bad offload values are ERR_INVALID_ARG_VALUE, as Node words them; a chunked task cannot run inline', async () => {
  const p = createPool({ threads: 1 })
  await assert.rejects(p.hash('md5', 'x', 'hex', { offload: 'sometimes' }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: "The property 'options.offload' must be one of: 'auto', 'always', 'never'. Received 'sometimes'",
  })
  await assert.rejects(p.hash('md5', 'x', 'hex', { offload: true }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(p.run({ op: 'hash', algorithm: 'md5', data: 'x' }, { offload: 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  const out = new Uint8Array(new SharedArrayBuffer(64))
  const task = { op: 'hash', algorithm: 'sha256', data: 'ab', chunkSize: 1, out }
  await assert.rejects(p.run(task, { offload: 'never' }), { code: 'ERR_INVALID_ARG_VALUE', message: /runs on the pool/ })
  assert.equal(await p.run(task), 2)
  assert.deepEqual(Buffer.from(out.subarray(0, 32)), crypto.hash('sha256', 'a', 'buffer'))
  await p.close()
})
