import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { getEventListeners } from 'node:events'
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { sameValue, referencePosition, expectedMessage } from './json-fuzz.mjs'
import { records, strings } from '../bench/json-docs.mjs'

const require = createRequire(import.meta.url)
const native = require('@nodeperf/native')
const jsonInternals = require('../lib/json.js')
const { parseJsonSync, pool } = native
// The async forms run on the pool: pool.parseJson and pool.run({ op }).
const parseJson = (data, options) => pool.parseJson(data, options)
const validateJson = (data, options) => pool.run({ op: 'json.validate', data }, options)
const root = fileURLToPath(new URL('..', import.meta.url))

const SLICES = [1, 2, 3, 7, 64, undefined]

/** Every binary form the API takes, over the same UTF-8 bytes. */
function binaryForms(bytes) {
  const sab = new SharedArrayBuffer(bytes.length + 3)
  const inSab = new Uint8Array(sab, 3, bytes.length)
  inSab.set(bytes)
  const ab = new ArrayBuffer(bytes.length)
  new Uint8Array(ab).set(bytes)
  const offset = new Uint8Array(bytes.length + 5)
  offset.set(bytes, 5)
  const forms = {
    Buffer: Buffer.from(bytes),
    Uint8Array: Uint8Array.from(bytes),
    'Uint8Array at an offset': offset.subarray(5),
    DataView: new DataView(ab),
    ArrayBuffer: ab,
    SharedArrayBuffer: bytes.length === sab.byteLength ? sab : (() => {
      const s = new SharedArrayBuffer(bytes.length)
      new Uint8Array(s).set(bytes)
      return s
    })(),
    'SharedArrayBuffer view': inSab,
  }
  if (bytes.length % 2 === 0) {
    const u16 = new Uint16Array(bytes.length / 2)
    new Uint8Array(u16.buffer).set(bytes)
    forms.Uint16Array = u16
  }
  return forms
}

function assertSame(actual, expected, what) {
  const diff = sameValue(actual, expected)
  assert.equal(diff, null, `${what}: ${diff}`)
}

const VALID = [
  // escapes, surrogate pairs, lone surrogate escapes
  '"\\ud800"',
  '["\\udc00\\ud800", "\\uD83D\\uDE00", "\\ud83d", "\\ude00x"]',
  '"😀é中\\u0000\\n\\t\\"\\\\\\/\\b\\f\\r\\u2028\\u00e9"',
  // numbers at the edges
  '[1e400,-1e400,-0,1e-400,0.1,5e-324,1.7976931348623157e308,9007199254740993,123456789012345678901234567890,0.30000000000000004,2.2250738585072011e-308,1e21,1E+2,-0.0e-0,2147483648,-1073741825,4.35]',
  // duplicate keys: last value wins, first position kept
  '{"a":1,"b":2,"a":3,"c":{"x":1,"x":[2]},"b":"last"}',
  // __proto__ is an own property, never the prototype
  '{"__proto__":{"polluted":true},"y":2}',
  '[{"__proto__":[]},{"a":1,"__proto__":null,"__proto__":2}]',
  '{"constructor":1,"toString":2,"hasOwnProperty":3,"valueOf":{"__proto__":4}}',
  // integer-like keys enumerate first, as in any object
  '{"b":1,"2":2,"a":3,"1":4,"01":5,"4294967295":6,"4294967294":7,"-0":8,"":9}',
  '\t\n\r {  "a" \n: [ 1 , 2 ,{ } , [ ] ] } \r\n',
  '[[],{},[[]],[{}],{"a":{}},""]',
  'true',
  ' null ',
  '-0',
  `"${'x\\n😀'.repeat(200)}"`,
  `{"${'k\\u00e9'.repeat(100)}":"${'v'.repeat(300)}","short":1}`,
]

describe('parseJson gives what JSON.parse gives', () => {
  for (const text of VALID) {
    test(`${JSON.stringify(text.slice(0, 50))}`, async () => {
      const expected = JSON.parse(text)
      for (const sliceSize of SLICES) {
        const options = sliceSize === undefined ? undefined : { sliceSize }
        assertSame(await parseJson(text, options), expected, `string, slice ${sliceSize}`)
        assertSame(parseJsonSync(text), expected, 'parseJsonSync')
        assert.equal(await validateJson(text, options), true)
        for (const [form, data] of Object.entries(binaryForms(Buffer.from(text)))) {
          assertSame(await parseJson(data, options), expected, `${form}, slice ${sliceSize}`)
        }
      }
    })
  }

  test('a raw lone surrogate in a string input survives', async () => {
    const text = '["\ud800", "a\udc00b", "\udbff\udfff"]'
    for (const sliceSize of SLICES) {
      assertSame(await parseJson(text, { sliceSize }), JSON.parse(text), `slice ${sliceSize}`)
    }
  })

  test('no prototype pollution: __proto__ keys stay own data properties', async () => {
    const v = await parseJson('{"__proto__":{"polluted":true},"a":{"__proto__":{"polluted":1}}}', { sliceSize: 2 })
    assert.equal({}.polluted, undefined)
    assert.equal(Object.getPrototypeOf(v), Object.prototype)
    assert.equal(Object.getPrototypeOf(v.a), Object.prototype)
    assert.deepEqual(Object.keys(v), ['__proto__', 'a'])
    assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__').value.polluted, true)
  })

  test('a generated records document, string and Buffer, default slices', async () => {
    const text = records(1_500_000, 7)
    const expected = JSON.parse(text)
    assertSame(await parseJson(text), expected, 'string')
    assertSame(await parseJson(Buffer.from(text)), expected, 'Buffer')
  })

  test('long strings are cut into pieces and joined exactly', async () => {
    const text = strings(400_000, 9)
    const expected = JSON.parse(text)
    for (const sliceSize of [1000, 4096, undefined]) {
      assertSame(await parseJson(text, { sliceSize }), expected, `string, slice ${sliceSize}`)
      assertSame(await parseJson(Buffer.from(text), { sliceSize }), expected, `Buffer, slice ${sliceSize}`)
    }
  })
})

describe('a string value longer than V8 allows', () => {
  test("ERR_STRING_TOO_LONG from parseJson as from parseJsonSync, not a bare RangeError", async () => {
    // 600 MB of one string: over V8's 0x1fffffe8-unit limit. Its pieces
    // are concatenated on the main thread until V8 refuses.
    const n = 600e6
    const bytes = Buffer.allocUnsafe(n).fill(0x61)
    bytes[0] = bytes[n - 1] = 0x22
    const code = 'ERR_STRING_TOO_LONG'
    assert.throws(() => parseJsonSync(bytes), { code })
    const e = await pool.parseJson(bytes).then(() => null, (err) => err)
    assert.equal(e?.code, code, String(e))
    assert.match(e.message, /^Cannot create a string longer than 0x[0-9a-f]+ characters$/)
  })
})

describe('bytes decode as buffer.toString("utf8") does', () => {
  test('invalid UTF-8 inside strings becomes U+FFFD', async () => {
    const bytes = Buffer.concat([
      Buffer.from('["a'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('b","'),
      Buffer.from([0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0xff, 0xc3]),
      Buffer.from('",'),
      Buffer.from('"é"]'),
    ])
    const expected = JSON.parse(bytes.toString('utf8'))
    assert.equal(expected[0], 'a\ufffdb')
    for (const sliceSize of SLICES) {
      assertSame(await parseJson(bytes, { sliceSize }), expected, `slice ${sliceSize}`)
    }
    assertSame(parseJsonSync(bytes), expected, 'parseJsonSync')
  })

  test('a byte-order mark is kept, so JSON.parse and ours reject it at 0', async () => {
    const bytes = Buffer.from('\ufeff{}')
    await assert.rejects(parseJson(bytes), { name: 'SyntaxError', position: 0 })
    assert.throws(() => parseJsonSync(bytes), { name: 'SyntaxError', position: 0 })
  })
})

const INVALID = [
  '', ' ', '[', '{', '[1', '{"a":1', '{"a"', '{"a":', '{1', '{"a":1,}', '[1,]', '[1 2]', 'tru', 'trux', 'tr"',
  'tr1', '-', '-a', '-01', '01', '1.', '1.e', '1e', '1e+', '"abc', '"a\\', '"a\\x"', '"a\\u12"', '"a\\u12',
  '"\u0001"', 'NaN', 'undefined', '[object Object]', 'Infinity', 'x', '[x]', '1 2', '"\\\u0100"', '"\\é"',
  '[😀]', '{"a":1}x', 'nul', '[1,2,3,4,5,6,7,8,9,10,x,11,12,13,14,15,16,17]', 'a'.repeat(35), '\r\n[\n1,\nx]',
  '{"a" 1}', '{"b":1,"a"x', '{"b":1,"a" 1', '{"b":1,"a"', '[-]', '[1.]', '-0-', '0-', '[1e-]',
  '["\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00", x, "\ud83d\ude00\ud83d\ude00\ud83d\ude00"]',
  '[' + '"abc",'.repeat(20) + '"\\q"]',
]

describe('invalid JSON rejects where JSON.parse throws', () => {
  for (const text of INVALID) {
    test(`${JSON.stringify(text.slice(0, 50))}`, async () => {
      let refMessage
      try {
        JSON.parse(text)
      } catch (e) {
        refMessage = e.message
      }
      assert.ok(refMessage, 'JSON.parse accepted it')
      const position = referencePosition(text, refMessage)
      const message = expectedMessage(text, refMessage, position)
      const expected = { name: 'SyntaxError', code: 'ERR_NODEPERF_JSON_SYNTAX', position, message }
      for (const sliceSize of [1, 3, undefined]) {
        await assert.rejects(parseJson(text, { sliceSize }), expected)
        await assert.rejects(validateJson(text, { sliceSize }), expected)
      }
      assert.throws(() => parseJsonSync(text), expected)
      assert.match(message, new RegExp(`at position ${position}\\b`))
      if (!/[\ud800-\udfff]/.test(text)) {
        // The same text as bytes: same position (a UTF-16 offset).
        await assert.rejects(parseJson(Buffer.from(text)), expected)
      }
    })
  }

  test('positions are UTF-16 offsets also for multi-byte and invalid UTF-8 input', async () => {
    const bytes = Buffer.concat([Buffer.from('["é😀",'), Buffer.from([0xe2, 0x82]), Buffer.from(']')])
    const text = bytes.toString('utf8')
    let refMessage
    try {
      JSON.parse(text)
    } catch (e) {
      refMessage = e.message
    }
    const position = referencePosition(text, refMessage)
    assert.equal(position, 7)
    await assert.rejects(parseJson(bytes, { sliceSize: 2 }), { position, message: expectedMessage(text, refMessage, position) })
  })
})

describe('very deep nesting', () => {
  function checkNestedArrays(v, depth) {
    for (let i = 0; i < depth - 1; i++) {
      assert.ok(Array.isArray(v) && v.length === 1, `level ${i}`)
      v = v[0]
    }
    assert.ok(Array.isArray(v) && v.length === 0, 'innermost')
  }

  test('100,000 levels of objects: the same value as JSON.parse', async () => {
    const n = 100_000
    const text = '{"a":'.repeat(n) + '[1,"x"]' + '}'.repeat(n)
    for (const data of [text, Buffer.from(text)]) {
      let v = await parseJson(data)
      for (let i = 0; i < n; i++) {
        assert.deepEqual(Object.keys(v), ['a'])
        v = v.a
      }
      assert.deepEqual(v, [1, 'x'])
    }
  })

  test('1,000,000 levels of arrays: the same value as JSON.parse, no stack overflow', async () => {
    const n = 1_000_000
    const text = '['.repeat(n) + ']'.repeat(n)
    checkNestedArrays(JSON.parse(text), n)
    checkNestedArrays(await parseJson(text), n)
    checkNestedArrays(parseJsonSync(text), n)
    assert.equal(await validateJson(Buffer.from(text)), true)
  })

  test('1,000,000 levels, one bracket short: a SyntaxError at the end', async () => {
    const n = 1_000_000
    const text = '['.repeat(n) + ']'.repeat(n - 1)
    await assert.rejects(parseJson(text), { name: 'SyntaxError', position: 2 * n - 1 })
  })
})

describe('AbortSignal', () => {
  const big = records(8_000_000, 3)

  test('an aborted signal rejects at once with an AbortError', async () => {
    const c = new AbortController()
    c.abort(new Error('because'))
    await assert.rejects(parseJson('[1]', { signal: c.signal }), (e) => {
      assert.equal(e.name, 'AbortError')
      assert.equal(e.code, 'ABORT_ERR')
      assert.equal(e.cause.message, 'because')
      return true
    })
    await assert.rejects(validateJson('[1]', { signal: c.signal }), { name: 'AbortError' })
  })

  test('aborting while the native side scans', async () => {
    const c = new AbortController()
    const p = parseJson(big, { signal: c.signal })
    c.abort()
    await assert.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' })
  })

  test('aborting in the middle of building the value on the main thread', async () => {
    const c = new AbortController()
    let turns = 0
    let settled = false
    let settledBeforeAbort
    // Small slices: thousands of ops, hundreds of turns of the loop.
    const p = parseJson(big, { signal: c.signal, sliceSize: 256 })
    p.then(
      () => (settled = true),
      () => (settled = true),
    )
    await new Promise((resolve) => {
      const spin = () => {
        // Abort once the parse has had a few turns building the value.
        if (++turns === 4) {
          settledBeforeAbort = settled
          c.abort()
          resolve()
        } else setImmediate(spin)
      }
      setImmediate(spin)
    })
    assert.equal(settledBeforeAbort, false, 'the parse ended before the abort: make the document larger')
    await assert.rejects(p, { name: 'AbortError' })
    assert.equal(getEventListeners(c.signal, 'abort').length, 0)
  })

  test('a parse that finished ignores a later abort and leaves no listener', async () => {
    const c = new AbortController()
    assert.deepEqual(await parseJson('{"a":[1]}', { signal: c.signal }), { a: [1] })
    assert.equal(getEventListeners(c.signal, 'abort').length, 0)
    c.abort()
  })
})

describe('the main thread stays responsive', () => {
  test('the value is built in budgeted slices, the loop turning between them', async () => {
    // The scheduler's clock made to advance 1 ms per reading: every turn
    // then ends after a bounded number of ops (its 2 ms budget is two
    // readings), whatever the machine's speed, so the count of turns
    // follows from the count of ops (hundreds with 1 KiB slices) and
    // cannot flake.
    const setClock = jsonInternals[Symbol.for('nodeperf.testClock')]
    let ticks = 0
    setClock(() => ticks++)
    try {
      const text = records(40_000, 5)
      let turns = 0
      let parsing = true
      const spin = () => {
        turns++
        if (parsing) setImmediate(spin)
      }
      setImmediate(spin)
      const v = await parseJson(text, { sliceSize: 1024 })
      parsing = false
      assertSame(v, JSON.parse(text), 'value')
      const slices = text.length / 1024
      assert.ok(turns >= slices / 4, `the loop turned ${turns} times for about ${Math.round(slices)} slices`)
    } finally {
      setClock(undefined)
    }
  })

  test('8 parses at once all resolve to the right values', async () => {
    const texts = Array.from({ length: 8 }, (_, i) => records(300_000, 100 + i))
    const values = await Promise.all(texts.map((t, i) => parseJson(i % 2 ? Buffer.from(t) : t, { sliceSize: 4096 })))
    values.forEach((v, i) => assertSame(v, JSON.parse(texts[i]), `parse ${i}`))
  })
})

describe('arguments', () => {
  test('data must be a string or binary', async () => {
    for (const bad of [123, null, undefined, {}, [1], () => 1]) {
      await assert.rejects(parseJson(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
      await assert.rejects(validateJson(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
      assert.throws(() => parseJsonSync(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
    }
  })

  test('options are checked', async () => {
    await assert.rejects(parseJson('1', 'x'), { code: 'ERR_INVALID_ARG_TYPE', message: /"options"/ })
    await assert.rejects(parseJson('1', { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.signal"/ })
    await assert.rejects(parseJson('1', { sliceSize: '2' }), { code: 'ERR_INVALID_ARG_TYPE' })
    for (const bad of [0, -1, 1.5, 2 ** 31, NaN]) {
      await assert.rejects(parseJson('1', { sliceSize: bad }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
    }
    assert.equal(await parseJson('1', {}), 1)
    // As every entry point (and Node's own validateObject): null is not an options object.
    await assert.rejects(parseJson('1', null), { code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument must be of type object\. Received null/ })
  })
})

describe('process level', () => {
  test('a frozen Object.prototype does not change the result', () => {
    const script = `
      const { pool } = require(${JSON.stringify(root)})
      const parseJson = (d, o) => pool.parseJson(d, o)
      Object.freeze(Object.prototype)
      const text = '{"toString":1,"a":{"valueOf":2,"constructor":[3]},"hasOwnProperty":4,"b":5}'
      parseJson(text, { sliceSize: 2 }).then((v) => {
        const ok = JSON.stringify(v) === JSON.stringify(JSON.parse(text)) && Object.keys(v).join() === 'toString,a,hasOwnProperty,b'
        process.exit(ok ? 0 : 1)
      }, (e) => { console.error(e); process.exit(2) })`
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
  })

  test('parseJson works inside a worker thread, and a worker ended mid-parse does not crash the process', async () => {
    const source = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { pool } = require(${JSON.stringify(root)})
      const parseJson = (d, o) => pool.parseJson(d, o)
      const text = '[' + '{"a":[1,2,"x"],"b":{"c":"é"}},'.repeat(workerData.n) + '0]'
      const data = workerData.bytes ? Buffer.from(text) : text
      parseJson(data, { sliceSize: 1024 }).then((v) => parentPort.postMessage(v.length))`
    for (const bytes of [false, true]) {
      const w = new Worker(source, { eval: true, workerData: { n: 1000, bytes } })
      const [length] = await new Promise((resolve, reject) => {
        w.once('message', (m) => resolve([m]))
        w.once('error', reject)
      })
      assert.equal(length, 1001)
      await w.terminate()
    }
    for (const bytes of [false, true]) {
      const w = new Worker(source, { eval: true, workerData: { n: 60_000, bytes } })
      await new Promise((r) => setTimeout(r, 30))
      assert.ok([0, 1].includes(await w.terminate()))
    }
    // Still alive and working.
    assert.deepEqual(await parseJson('[1,{"a":2}]', { sliceSize: 1 }), [1, { a: 2 }])
  })
})
