// hashSync and hasher: digests equal node:crypto's and the single-purpose
// addons' (@node-rs/xxhash, @node-rs/crc32, @napi-rs/blake-hash) for every
// algorithm, encoding and kind of input; the 'number' and 'bigint'
// encodings (also on the pool); argument checks and coded errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const native = require('../index.js')
const { hashSync, hasher, pool, createPool } = native
const { xxh3 } = require('@node-rs/xxhash')
const { crc32 } = require('@node-rs/crc32')
const { blake3 } = require('@napi-rs/blake-hash')

const ALGORITHMS = ['sha256', 'sha1', 'sha512', 'md5', 'blake3', 'xxh3', 'crc32']
const TEXT = ['hex', 'base64', 'base64url']

/** The digest's bytes, from node:crypto or the anchors. */
function reference(alg, bytes) {
  switch (alg) {
    case 'blake3':
      return blake3(bytes)
    case 'xxh3': {
      const b = Buffer.alloc(8)
      b.writeBigUInt64BE(xxh3.xxh64(bytes))
      return b
    }
    case 'crc32': {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(crc32(bytes))
      return b
    }
    default:
      return crypto.createHash(alg).update(bytes).digest()
  }
}

function encoded(digest, encoding) {
  if (encoding === undefined || encoding === 'hex') return digest.toString('hex')
  if (encoding === 'buffer') return digest
  return digest.toString(encoding)
}

const bytesOf = (n, seed = 1) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 255
  return b
}

/** [label, data, its bytes]: every kind of input, at sizes on both sides of the native cut-offs. */
function inputs() {
  const out = []
  for (const n of [0, 1, 15, 16, 64, 65, 255, 1024, 1025, 70000]) {
    const b = bytesOf(n, n)
    out.push([`Buffer ${n}`, b, b])
    const u8 = new Uint8Array(b)
    out.push([`Uint8Array ${n}`, u8, b])
    out.push([`ArrayBuffer ${n}`, u8.slice().buffer, b])
    const sab = new SharedArrayBuffer(n)
    new Uint8Array(sab).set(b)
    out.push([`SharedArrayBuffer ${n}`, sab, b])
    out.push([`Uint8Array over a SharedArrayBuffer ${n}`, new Uint8Array(sab), b])
    const padded = Buffer.concat([Buffer.alloc(3, 9), b, Buffer.alloc(5, 9)])
    out.push([`DataView at offset 3, ${n}`, new DataView(padded.buffer, padded.byteOffset + 3, n), b])
  }
  const f64 = new Float64Array([1.5, -2, Math.PI])
  out.push(['Float64Array', f64, Buffer.from(f64.buffer)])
  const u16 = new Uint16Array([1, 2, 65535])
  out.push(['Uint16Array', u16, Buffer.from(u16.buffer)])
  const big = new BigUint64Array([1n, 2n ** 64n - 1n])
  out.push(['BigUint64Array', big, Buffer.from(big.buffer)])
  const rab = new ArrayBuffer(40, { maxByteLength: 64 })
  new Uint8Array(rab).set(bytesOf(40, 3))
  out.push(['a view of a resizable ArrayBuffer', new Uint8Array(rab, 4, 30), bytesOf(40, 3).subarray(4, 34)])
  out.push(['a resizable ArrayBuffer', rab, bytesOf(40, 3)])
  for (const s of ['', 'abc', 'héllo wörld ✓ 𝄞', 'k'.repeat(251), 'é'.repeat(130), 'long '.repeat(2000), 'lone \ud800 surrogate']) {
    out.push([`string of ${s.length}`, s, Buffer.from(s, 'utf8')])
  }
  return out
}

test('hashSync and hasher equal node:crypto and the anchors for every algorithm, text/Buffer encoding and input', () => {
  const all = inputs()
  for (const alg of ALGORITHMS) {
    for (const enc of [undefined, ...TEXT, 'buffer']) {
      const h = hasher(alg, enc)
      for (const [label, data, bytes] of all) {
        const want = encoded(reference(alg, bytes), enc)
        assert.deepEqual(hashSync(alg, data, enc), want, `hashSync ${alg} ${enc} ${label}`)
        assert.deepEqual(h(data), want, `hasher ${alg} ${enc} ${label}`)
      }
    }
  }
})

test("'number' and 'bigint' are the anchors' values (crc32 → number, xxh3 and crc32 → BigInt), on every path", async () => {
  const p = createPool({ threads: 1 })
  try {
    for (const [label, data, bytes] of inputs()) {
      const c = crc32(bytes)
      const x = xxh3.xxh64(bytes)
      assert.equal(hashSync('crc32', data, 'number'), c, `crc32 ${label}`)
      assert.equal(hasher('crc32', 'number')(data), c, `crc32 hasher ${label}`)
      assert.equal(hashSync('crc32', data, 'bigint'), BigInt(c), `crc32 bigint ${label}`)
      assert.equal(hashSync('xxh3', data, 'bigint'), x, `xxh3 ${label}`)
      assert.equal(hasher('xxh3', 'bigint')(data), x, `xxh3 hasher ${label}`)
      // The same number as the hex digest reads (big-endian).
      assert.equal(hashSync('xxh3', data, 'bigint'), BigInt(`0x${hashSync('xxh3', data)}`), `xxh3 hex ${label}`)
      assert.equal(await p.hash('crc32', data, 'number'), c, `pool crc32 ${label}`)
      assert.equal(await pool.hash('xxh3', data, 'bigint'), x, `default pool xxh3 ${label}`)
      assert.equal(await p.run({ op: 'hash', algorithm: 'xxh3', data, encoding: 'bigint' }), x, `run xxh3 ${label}`)
      assert.equal(await p.run({ op: 'hash', algorithm: 'crc32', data, encoding: 'bigint' }), BigInt(c), `run crc32 ${label}`)
    }
    // Tiny Uint8Arrays are staged in JS: the widened code goes that way too.
    const tiny = Array.from({ length: 100 }, (_, i) => bytesOf(1 + (i % 64), i))
    const got = await Promise.all(tiny.map((b, i) => (i % 2 ? pool.hash('crc32', b, 'number') : pool.hash('xxh3', b, 'bigint'))))
    got.forEach((v, i) => assert.equal(v, i % 2 ? crc32(tiny[i]) : xxh3.xxh64(tiny[i]), `staged ${i}`))
    assert.equal(typeof (await pool.hash('crc32', bytesOf(8), 'hex')), 'string')
  } finally {
    await p.close()
  }
})

test("'number' and 'bigint' are refused where the digest does not fit, with ERR_INVALID_ARG_VALUE everywhere", async () => {
  const refused = [
    ...['sha256', 'sha1', 'sha512', 'md5', 'blake3', 'xxh3'].map((a) => [a, 'number']),
    ...['sha256', 'sha1', 'sha512', 'md5', 'blake3'].map((a) => [a, 'bigint']),
  ]
  for (const [alg, enc] of refused) {
    const check = (err) => {
      assert.equal(err.code, 'ERR_INVALID_ARG_VALUE', `${alg} ${enc}`)
      assert.match(err.message, new RegExp(`${enc}.*${alg}.*does not fit`))
      return true
    }
    assert.throws(() => hashSync(alg, 'x', enc), check)
    assert.throws(() => hasher(alg, enc), check)
    await assert.rejects(pool.hash(alg, 'x', enc), check)
    await assert.rejects(pool.hash(alg, new Uint8Array(3), enc), check)
    await assert.rejects(pool.run({ op: 'hash', algorithm: alg, data: bytesOf(5000), encoding: enc }), (err) => {
      assert.equal(err.code, 'ERR_INVALID_ARG_VALUE')
      assert.match(err.message, /task\.encoding/)
      return true
    })
  }
})

test('hasher checks its arguments when it is made, and the function it returns is a plain function', () => {
  assert.throws(() => hasher('sha3'), { code: 'ERR_INVALID_ARG_VALUE', message: /'algorithm'/ })
  assert.throws(() => hasher(), { code: 'ERR_INVALID_ARG_TYPE', message: /"algorithm"/ })
  assert.throws(() => hasher(5, 'hex'), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => hasher('sha256', 'latin1'), { code: 'ERR_INVALID_ARG_VALUE', message: /'encoding'/ })
  assert.throws(() => hasher('sha256', null), { code: 'ERR_INVALID_ARG_TYPE', message: /"encoding"/ })
  const h = hasher('md5')
  assert.equal(typeof h, 'function')
  assert.equal(h('abc'), '900150983cd24fb0d6963f7d28e17f72')
  assert.equal(h('abc', 'ignored', 42), '900150983cd24fb0d6963f7d28e17f72', 'extra arguments are ignored')
  assert.equal(h.call({}, 'abc'), '900150983cd24fb0d6963f7d28e17f72', '`this` is not used')
  assert.notEqual(hasher('md5'), h, 'a new function per call')
})

test('bad inputs give hashSync\'s coded errors from hasher and hashSync alike', () => {
  const detached = new ArrayBuffer(8)
  const overDetached = new Uint8Array(detached, 2, 4)
  structuredClone(detached, { transfer: [detached] })
  const rab = new ArrayBuffer(16, { maxByteLength: 32 })
  const outside = new Uint8Array(rab, 8, 8)
  const outsideDv = new DataView(rab, 8, 8)
  rab.resize(4)
  const cases = [
    ['a number', 5, 'ERR_INVALID_ARG_TYPE'],
    ['undefined', undefined, 'ERR_INVALID_ARG_TYPE'],
    ['null', null, 'ERR_INVALID_ARG_TYPE'],
    ['an object', { length: 3 }, 'ERR_INVALID_ARG_TYPE'],
    ['an array', [1, 2, 3], 'ERR_INVALID_ARG_TYPE'],
    ['a String object', new String('x'), 'ERR_INVALID_ARG_TYPE'],
    ['a detached ArrayBuffer', detached, 'ERR_INVALID_ARG_VALUE'],
    ['a view over a detached ArrayBuffer', overDetached, 'ERR_INVALID_ARG_VALUE'],
    ['a view outside its shrunk buffer', outside, 'ERR_OUT_OF_RANGE'],
    ['a DataView outside its shrunk buffer', outsideDv, 'ERR_OUT_OF_RANGE'],
  ]
  for (const alg of ['sha256', 'crc32']) {
    const h = hasher(alg)
    for (const [what, data, code] of cases) {
      let fromSync
      assert.throws(() => hashSync(alg, data), (err) => {
        fromSync = err
        return err.code === code
      }, `hashSync ${what}`)
      assert.throws(() => h(data), (err) => {
        assert.equal(err.code, code, `hasher ${what}`)
        assert.equal(err.message, fromSync.message, `hasher ${what}`)
        return true
      })
    }
  }
  assert.throws(() => hasher('sha1')(), { code: 'ERR_INVALID_ARG_TYPE', message: /"data"/ })
  // Still usable after errors; empty inputs that are not detached hash as empty.
  assert.equal(hasher('crc32', 'number')(new Uint8Array(new ArrayBuffer(0))), 0)
  assert.equal(hashSync('sha256', new DataView(new ArrayBuffer(0))), crypto.createHash('sha256').digest('hex'))
})

test('a throwing getter or a revoked Proxy as data is refused, not read', () => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  const h = hasher('xxh3', 'bigint')
  assert.throws(() => h(proxy), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => hashSync('xxh3', proxy), { code: 'ERR_INVALID_ARG_TYPE' })
  class Evil extends Uint8Array {
    get byteLength() {
      throw new Error('read')
    }
  }
  const e = new Evil([1, 2, 3])
  assert.equal(h(e), xxh3.xxh64(Buffer.from([1, 2, 3])), 'the bytes, not the getter')
})

test('hashSync runs on the calling thread only: no thread is started for a large input', { skip: !existsSync('/proc/self/task') }, () => {
  const script = `
    const { readdirSync } = require('node:fs')
    const { hashSync } = require(${JSON.stringify(require.resolve('../index.js'))})
    hashSync('sha256', 'warm up')
    const before = readdirSync('/proc/self/task').length
    const b = Buffer.alloc(8 << 20, 1)
    for (const a of ['blake3', 'sha256', 'xxh3']) hashSync(a, b)
    process.stdout.write(JSON.stringify([before, readdirSync('/proc/self/task').length]))
  `
  const [before, after] = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  assert.equal(after, before)
  void readdirSync
})

test('hasher and hashSync work on worker threads, and a worker that ends with hashers alive ends cleanly', async () => {
  const sab = new SharedArrayBuffer(3000)
  new Uint8Array(sab).set(bytesOf(3000, 5))
  const want = reference('sha256', bytesOf(3000, 5)).toString('hex')
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { hashSync, hasher } = require(${JSON.stringify(require.resolve('../index.js'))})
    const h = hasher('sha256')
    // A bare SharedArrayBuffer goes through the checked path (a call into JS).
    parentPort.postMessage([h(workerData), hashSync('sha256', workerData), h(new Uint8Array(workerData))])
  `
  for (let i = 0; i < 3; i++) {
    const w = new Worker(code, { eval: true, workerData: sab })
    const [got] = await Promise.all([new Promise((r, j) => w.once('message', r).once('error', j)), new Promise((r) => w.once('exit', r))])
    assert.deepEqual(got, [want, want, want])
  }
})
