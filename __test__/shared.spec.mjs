import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { pool, createPool, hashSync, shared } = require('@nodeperf/native')
const stress = fileURLToPath(new URL('./fixtures/shared-stress.cjs', import.meta.url))

test('shared.alloc gives a Uint8Array over a new SharedArrayBuffer; isShared tells', () => {
  const v = shared.alloc(100)
  assert.ok(v instanceof Uint8Array)
  assert.ok(v.buffer instanceof SharedArrayBuffer)
  assert.equal(v.length, 100)
  assert.equal(shared.alloc(0).length, 0)
  assert.equal(shared.isShared(v), true)
  assert.equal(shared.isShared(v.buffer), true)
  assert.equal(shared.isShared(new DataView(v.buffer, 4)), true)
  assert.equal(shared.isShared(Buffer.alloc(4)), false)
  assert.equal(shared.isShared(new ArrayBuffer(4)), false)
  assert.equal(shared.isShared('x'), false)
  assert.equal(shared.isShared(null), false)
})

test('shared.alloc rejects bad sizes', () => {
  assert.throws(() => shared.alloc(-1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => shared.alloc(1.5), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => shared.alloc('8'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => shared.alloc(), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
})

test('views at any offset into a SharedArrayBuffer are read in place', async () => {
  const sab = shared.alloc(3 << 20)
  crypto.randomFillSync(sab)
  const view = new Uint8Array(sab.buffer, 12345, 2 << 20)
  const want = crypto.createHash('sha256').update(view).digest('hex')
  const pending = pool.hash('sha256', view)
  assert.equal(await pending, want)
  // In place: a change made after the task settled shows in the next digest.
  view[0] ^= 0xff
  assert.notEqual(await pool.hash('sha256', view), want)
  assert.equal(await pool.hash('sha256', view), crypto.createHash('sha256').update(view).digest('hex'))
})

test('chunked hashing writes every chunk digest back to back into shared out', async () => {
  const p = createPool({ threads: 2 })
  const data = shared.alloc(5 * 65536 + 1000)
  crypto.randomFillSync(data)
  for (const [alg, len, ref] of [
    ['sha256', 32, (b) => crypto.createHash('sha256').update(b).digest()],
    ['blake3', 32, (b) => hashSync('blake3', b, 'buffer')],
    ['md5', 16, (b) => crypto.createHash('md5').update(b).digest()],
    ['crc32', 4, (b) => hashSync('crc32', b, 'buffer')],
  ]) {
    for (const input of [data, data.buffer, Buffer.from(data)]) {
      const out = shared.alloc(6 * len + 3)
      out.fill(0xee)
      const n = await p.run({ op: 'hash', algorithm: alg, data: input, chunkSize: 65536, out })
      assert.equal(n, 6)
      for (let i = 0; i < 6; i++) {
        const chunk = data.subarray(i * 65536, Math.min(data.length, (i + 1) * 65536))
        assert.deepEqual(Buffer.from(out.subarray(i * len, (i + 1) * len)), ref(chunk), `${alg} chunk ${i}`)
      }
      assert.deepEqual([...out.subarray(6 * len)], [0xee, 0xee, 0xee], 'nothing written past the digests')
    }
  }
  // out as a DataView at an offset of a SharedArrayBuffer.
  const backing = new SharedArrayBuffer(64 + 6 * 32)
  const n = await p.run({ op: 'hash', algorithm: 'sha256', data, chunkSize: 65536, out: new DataView(backing, 64) })
  assert.equal(n, 6)
  assert.deepEqual(Buffer.from(backing, 64, 32), crypto.createHash('sha256').update(data.subarray(0, 65536)).digest())
  await p.close()
})

test('chunked hashing: bad out and chunkSize are rejected before any work', async () => {
  const data = shared.alloc(200000)
  const run = (extra) => pool.run({ op: 'hash', algorithm: 'sha256', data, chunkSize: 65536, out: shared.alloc(4 * 32), ...extra })
  await assert.rejects(run({ out: Buffer.alloc(128) }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /SharedArrayBuffer/ })
  await assert.rejects(run({ out: new SharedArrayBuffer(128) }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  const small = shared.alloc(3 * 32)
  await assert.rejects(run({ out: small }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: />= 128/ })
  assert.ok(small.every((b) => b === 0), 'nothing written')
  for (const chunkSize of [0, -1, 1.5, 2 ** 32 + 1, NaN, Infinity]) {
    await assert.rejects(run({ chunkSize }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, String(chunkSize))
  }
  await assert.rejects(run({ chunkSize: '64' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(run({ encoding: 'hex' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.equal(await run({}), 4)
})

test('a detached ArrayBuffer (or a view over one) is rejected, not hashed as empty', async () => {
  const ab = new ArrayBuffer(4096)
  const view = new Uint8Array(ab, 16)
  structuredClone(ab, { transfer: [ab] })
  assert.equal(ab.byteLength, 0)
  await assert.rejects(pool.hash('sha256', ab), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ })
  await assert.rejects(pool.hash('sha256', view), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ })
  assert.throws(() => hashSync('sha256', ab), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.equal(await pool.hash('md5', 'ok'), crypto.hash('md5', 'ok'))
})

test('a DataView left outside its shrunk buffer is a RangeError', async () => {
  const rab = new ArrayBuffer(64, { maxByteLength: 128 })
  const dv = new DataView(rab, 32, 16)
  rab.resize(40)
  await assert.rejects(pool.hash('sha256', dv), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => hashSync('sha256', dv), { code: 'ERR_OUT_OF_RANGE' })
  // A resizable buffer still in bounds is hashed (from a copy).
  const big = new ArrayBuffer(8192, { maxByteLength: 16384 })
  new Uint8Array(big).fill(9)
  assert.equal(await pool.hash('sha1', new DataView(big, 100, 5000)), crypto.createHash('sha1').update(Buffer.alloc(5000, 9)).digest('hex'))
  assert.equal(await pool.hash('sha1', big), crypto.createHash('sha1').update(Buffer.alloc(8192, 9)).digest('hex'))
})

test('a non-shared ArrayBuffer detached while a task reads it: ERR_NODEPERF_DETACHED, no crash', async () => {
  const ab = new ArrayBuffer(256 << 20)
  const p = pool.hash('sha256', ab)
  const moved = structuredClone(ab, { transfer: [ab] }) // kept alive: the memory stays valid
  await assert.rejects(p, { code: 'ERR_NODEPERF_DETACHED' })
  assert.equal(moved.byteLength, 256 << 20)
})

test('JSON bytes detached mid-parse: ERR_NODEPERF_DETACHED, not a value built from whatever the memory holds', async () => {
  const text = Buffer.from(JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: `v${i}` }))))
  const ab = new ArrayBuffer(text.length)
  const bytes = new Uint8Array(ab)
  bytes.set(text)
  const p = pool.parseJson(bytes)
  await new Promise((resolve) => setImmediate(resolve)) // the parse is under way
  const moved = structuredClone(ab, { transfer: [ab] })
  await assert.rejects(p, { code: 'ERR_NODEPERF_DETACHED' })
  assert.equal(moved.byteLength, text.length)
})

test('a non-shared buffer transferred and freed while a task reads it: the read faults, the task rejects, the process lives', () => {
  // Deterministic: the main thread stays busy until the receiving worker has
  // exited and freed the memory, while a 512 MiB hash still reads it. Without
  // the fault guard (src/shared/fault.rs) this child dies of SIGSEGV.
  const r = spawnSync(process.execPath, [stress, 'freed-under-read', '2'], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.signal, null, `killed by ${r.signal}; stderr: ${r.stderr}`)
  assert.equal(r.status, 0, `exit ${r.status}; stderr: ${r.stderr}`)
  const out = JSON.parse(r.stdout.trim())
  assert.deepEqual(out.outcomes, { ERR_NODEPERF_DETACHED: 2 })
  assert.ok(out.faultsCaught >= 1, `the guard caught the fault: ${out.faultsCaught}`)
})

test("WebAssembly out-of-bounds traps still reach V8 with the fault guard installed", () => {
  const fixture = fileURLToPath(new URL('./fixtures/wasm-trap.cjs', import.meta.url))
  const r = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.signal, null, `killed by ${r.signal}; stderr: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim())
  assert.equal(out.inBounds, 0)
  assert.equal(out.guardInstalled, true)
  assert.deepEqual(out.traps, ['RuntimeError: memory access out of bounds', 'RuntimeError: memory access out of bounds'])
  assert.equal(out.faultsCaught, 0)
})

test('a SIGSEGV that is not a pool read still ends the process (the guard hides no real crash)', () => {
  const index = fileURLToPath(new URL('../index.js', import.meta.url))
  const code = `const native = require(${JSON.stringify(index)})
    native.pool.hash('sha256', new ArrayBuffer(1 << 20)).then(() => {
      process.kill(process.pid, 'SIGSEGV')
      setTimeout(() => console.log('survived'), 500)
    })`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.signal, 'SIGSEGV', `status ${r.status}, stdout ${r.stdout}`)
  assert.doesNotMatch(r.stdout, /survived/)
})

for (const mode of ['transfer-broken', 'json-transfer-broken']) {
  test(`contract broken (${mode}, 20 rounds in a child process): every task ERR_NODEPERF_DETACHED, no value, no crash`, () => {
    const r = spawnSync(process.execPath, [stress, mode, '20'], { encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.signal, null, `killed by ${r.signal}; stderr: ${r.stderr}`)
    assert.equal(r.status, 0, `exit ${r.status}; stderr: ${r.stderr}`)
    const out = JSON.parse(r.stdout.trim())
    const total = Object.values(out.outcomes).reduce((a, b) => a + b, 0)
    assert.equal(total, 20, `every task settled: ${JSON.stringify(out.outcomes)}`)
    // A task still running when its buffer was transferred away never
    // resolves (src/shared/mod.rs, case 4): the settle-time check on the
    // submitting thread sees the buffer detached. One that had already
    // settled before the transfer broke nothing.
    for (const k of Object.keys(out.outcomes)) {
      assert.ok(['ERR_NODEPERF_DETACHED', 'settled-before-transfer'].includes(k), `outcome ${k}: ${JSON.stringify(out.outcomes)}`)
    }
    assert.ok((out.outcomes.ERR_NODEPERF_DETACHED ?? 0) >= 10, `the transfer came mid-task: ${JSON.stringify(out.outcomes)}`)
  })
}

for (const mode of ['owner-exit', 'transfer-exit', 'worker-1000', 'quarters']) {
  test(`memory safety under teardown (${mode}, 20 rounds in a child process): no crash`, () => {
    const r = spawnSync(process.execPath, [stress, mode, '20'], { encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.signal, null, `killed by ${r.signal}; stderr: ${r.stderr}`)
    assert.equal(r.status, 0, `exit ${r.status}; stderr: ${r.stderr}`)
    assert.doesNotMatch(r.stderr, /Segmentation|Aborted|Assertion|open handles/)
    const out = JSON.parse(r.stdout.trim())
    assert.equal(out.mode, mode)
    if (mode === 'quarters') assert.ok(out.checked >= 20, `every worker incarnation reported a correct digest: ${out.checked}`)
  })
}
