// Differential fuzzing of parseJson / validateJson / parseJsonSync against
// JSON.parse itself: generated documents (valid ones, and mutations that
// are mostly invalid), as strings and as UTF-8 bytes (with invalid UTF-8
// mixed in), with slice sizes from 1 unit up, so the splitting and
// assembling paths run on every case. The spec (json-fuzz.spec.mjs) runs
// 10,000 cases; bench/json-fuzz.mjs runs 100,000 and more.
//
// Not a spec file itself (no .spec. in the name): a helper the two import.

import { spawnSync } from 'node:child_process'
import { rng } from '../bench/json-docs.mjs'

// ---------------------------------------------------------------- oracle

const POSITIONED = /at position (\d+)(?: \(line \d+ column \d+\))?$/
const SPECIAL = /^"(NaN|Infinity|undefined|\[object Object\])" is not valid JSON$/

function isTokenMessage(message) {
  return message.startsWith('Unexpected token ') || SPECIAL.test(message)
}

function tryParse(text) {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, error }
  }
}

/**
 * Where JSON.parse reports its error, as a UTF-16 offset. V8 names the
 * position in most messages; for an unexpected token it does not, so the
 * position is found from JSON.parse itself: the shortest prefix that fails
 * on that token ends one past it (shorter prefixes end before the token
 * and fail at their end instead).
 */
export function referencePosition(text, message) {
  const m = POSITIONED.exec(message)
  if (m) return Number(m[1])
  if (message === 'Unexpected end of JSON input') return text.length
  if (!isTokenMessage(message)) throw new Error(`unknown JSON.parse message: ${message}`)
  let lo = 1
  let hi = text.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const r = tryParse(text.slice(0, mid))
    if (!r.ok && isTokenMessage(r.error.message)) hi = mid
    else lo = mid + 1
  }
  return lo - 1
}

/** V8's CalculateFileLocation, for the "(line L column C)" suffix. */
function lineColumn(text, position) {
  let line = 1
  let lastBreak = 0
  let i = 0
  for (; i < position; i++) {
    if (text.charCodeAt(i) === 13 && i < position - 1 && text.charCodeAt(i + 1) === 10) i++
    const c = text.charCodeAt(i)
    if (c === 13 || c === 10) {
      line++
      lastBreak = i + 1
    }
  }
  return `(line ${line} column ${1 + i - lastBreak})`
}

let withLineColumn
function lineColumnStyle() {
  if (withLineColumn === undefined) {
    try {
      JSON.parse('[1')
    } catch (e) {
      withLineColumn = /\(line \d+ column \d+\)$/.test(e.message)
    }
  }
  return withLineColumn
}

/** The message ours must carry: V8's, naming the position if V8's does not. */
export function expectedMessage(text, message, position) {
  if (POSITIONED.test(message)) return message
  const suffix = lineColumnStyle() ? ` ${lineColumn(text, position)}` : ''
  return `${message} at position ${position}${suffix}`
}

/**
 * Deep equality as JSON.parse's results need it: same types, same
 * prototypes, the same own keys in the same order with the same property
 * attributes, numbers by Object.is (so -0 is not 0). Iterative: values
 * nested a million levels deep are fine.
 */
export function sameValue(a, b) {
  const stack = [a, b, '$']
  while (stack.length > 0) {
    const path = stack.pop()
    const y = stack.pop()
    const x = stack.pop()
    if (typeof x !== typeof y) return `${path}: ${typeof x} vs ${typeof y}`
    if (x === null || y === null || typeof x !== 'object') {
      if (!Object.is(x, y)) return `${path}: ${show(x)} vs ${show(y)}`
      continue
    }
    if (Array.isArray(x) !== Array.isArray(y)) return `${path}: array vs object`
    if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: different prototypes`
    const kx = Reflect.ownKeys(x)
    const ky = Reflect.ownKeys(y)
    if (kx.length !== ky.length) return `${path}: ${kx.length} keys vs ${ky.length}`
    for (let i = kx.length - 1; i >= 0; i--) {
      if (kx[i] !== ky[i]) return `${path}: key #${i} ${show(kx[i])} vs ${show(ky[i])}`
      const dx = Object.getOwnPropertyDescriptor(x, kx[i])
      const dy = Object.getOwnPropertyDescriptor(y, ky[i])
      for (const attr of ['writable', 'enumerable', 'configurable']) {
        if (dx[attr] !== dy[attr]) return `${path}.${String(kx[i])}: ${attr} differs`
      }
      if (('value' in dx) !== ('value' in dy)) return `${path}.${String(kx[i])}: accessor vs data`
      stack.push(dx.value, dy.value, `${path}.${String(kx[i])}`)
    }
  }
  return null
}

/**
 * An exact text form of a JSON value (own keys in order, -0, lone
 * surrogates escaped), built without creating property keys, so it cannot
 * be affected by the string-table state a buggy JSON.parse depends on.
 * Iterative. Also sent to the fresh process as source code.
 */
export const canonicalSource = `function canonical(root) {
  const out = []
  // Work items: [value] to print, or [null, text] to copy as is.
  const stack = [[root]]
  while (stack.length > 0) {
    const item = stack.pop()
    if (item.length === 2) { out.push(item[1]); continue }
    const v = item[0]
    if (v === null || typeof v !== 'object') {
      out.push(typeof v === 'number' && Object.is(v, -0) ? '-0' : typeof v === 'string' ? JSON.stringify(v) : String(v))
      continue
    }
    const isArray = Array.isArray(v)
    const proto = Object.getPrototypeOf(v) === (isArray ? Array.prototype : Object.prototype) ? '' : '!proto'
    const keys = Reflect.ownKeys(v)
    const items = [[null, (isArray ? '[' : '{') + proto]]
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]
      items.push([null, (i > 0 ? ',' : '') + (typeof k === 'string' ? JSON.stringify(k) : String(k)) + ':'], [v[k]])
    }
    items.push([null, isArray ? ']' : '}'])
    for (let i = items.length - 1; i >= 0; i--) stack.push(items[i])
  }
  return out.join('')
}`
const canonical = new Function(`${canonicalSource}; return canonical`)()

/** canonical(JSON.parse(text)) in a new Node process (same binary). */
function freshCanonical(text) {
  const script =
    `${canonicalSource}; const c = []; process.stdin.on('data', (d) => c.push(d)).on('end', () => ` +
    `process.stdout.write(Buffer.from(canonical(JSON.parse(Buffer.concat(c).toString('utf16le'))), 'utf16le')))`
  const r = spawnSync(process.execPath, ['-e', script], { input: Buffer.from(text, 'utf16le'), maxBuffer: 1 << 28 })
  return r.status === 0 ? r.stdout.toString('utf16le') : undefined
}

function show(v) {
  return typeof v === 'string' ? JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v) : String(v)
}

// ------------------------------------------------------------- generator

const KEYS = [
  'a', 'b', 'id', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', '0', '1', '7', '01', '-0',
  '4294967294', '4294967295', '1e3', 'é', '😀', 'a\\u0000b', '\\ud800', 'x\\"y', 'length', 'valueOf',
]
const NUMBERS = [
  '0', '-0', '1', '-1', '0.1', '1e400', '-1e400', '1e-400', '5e-324', '2.2250738585072014e-308',
  '1.7976931348623157e308', '9007199254740993', '123456789012345678901234567890', '0.1e1', '1E+2',
  '-0.0e-0', '12345678901234567', '0.30000000000000004', '4.35', '1e21', '1e-7', '2147483647',
  '2147483648', '-2147483649', '1073741823', '1073741824', '999999999', '1000000000',
]
const STRING_BITS = [
  'abc', ' ', 'é', '中文', '😀', '\u2028', '\u2029', '\uFFFD', '\\n', '\\t', '\\r', '\\b', '\\f', '\\/',
  '\\\\', '\\"', '\\u0000', '\\u001f', '\\u00e9', '\\uD83D\\uDE00', '\\ud800', '\\udfff', '\\uDbFf',
  '\\u2028', 'x'.repeat(40), '\u00ff', '\u0100',
]
const WS = [' ', '\t', '\n', '\r', '\r\n']

function pick(r, list) {
  return list[Math.floor(r() * list.length)]
}

function ws(r) {
  if (r() < 0.75) return ''
  let s = ''
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) s += pick(r, WS)
  return s
}

function stringLiteral(r) {
  let s = '"'
  const n = Math.floor(r() * (r() < 0.1 ? 60 : 6))
  for (let i = 0; i < n; i++) s += pick(r, STRING_BITS)
  return s + '"'
}

/** A random JSON text, built iteratively (deep nests are cheap). */
export function generateDocument(r) {
  const deep = r() < 0.03
  const maxDepth = deep ? 50 + Math.floor(r() * 3000) : 1 + Math.floor(r() * 6)
  const parts = []
  function scalar() {
    const k = r()
    if (k < 0.35) return pick(r, NUMBERS)
    if (k < 0.45) return String(Math.floor((r() - 0.5) * 1e6) / 100)
    if (k < 0.8) return stringLiteral(r)
    return pick(r, ['true', 'false', 'null'])
  }
  // Each work item: a value to write at some depth.
  const work = [0]
  while (work.length > 0) {
    const item = work.pop()
    if (typeof item === 'string') {
      parts.push(item)
      continue
    }
    const depth = item
    const k = r()
    if (depth >= maxDepth || k < 0.35) {
      parts.push(ws(r) + scalar() + ws(r))
    } else if (k < 0.65 || deep) {
      const n = deep ? 1 + (r() < 0.3 ? 1 : 0) : Math.floor(r() * 6)
      parts.push(ws(r) + '[')
      const items = []
      for (let i = 0; i < n; i++) items.push(depth + 1)
      if (n === 0) parts.push(ws(r))
      // Written in reverse because `work` is a stack.
      work.push(ws(r) + ']' + ws(r))
      for (let i = n - 1; i >= 0; i--) {
        work.push(items[i])
        if (i > 0) work.push(',')
      }
    } else {
      const n = Math.floor(r() * 6)
      parts.push(ws(r) + '{')
      if (n === 0) parts.push(ws(r))
      work.push(ws(r) + '}' + ws(r))
      for (let i = n - 1; i >= 0; i--) {
        work.push(depth + 1)
        const key = r() < 0.7 ? `"${pick(r, KEYS)}"` : stringLiteral(r)
        work.push(ws(r) + key + ws(r) + ':')
        if (i > 0) work.push(',')
      }
    }
  }
  return parts.join('')
}

const INSERTS = [
  ',', ':', '[', ']', '{', '}', '"', '\\', '-', '+', '.', 'e', 'E', '0', '1', 'x', 'u', 't', 'n', 'f', ' ',
  '\u0000', '\u0001', '\u001f', '\u007f', 'é', '😀', '\ud800', '\udc00', '\ufeff', '\u2028', 'Ā', '\u00a0',
  'NaN', 'Infinity', 'undefined', '[object Object]', '\\u', '\\x', '\\uZZZZ', '0x1', '01', '-', '1.', '1e',
  // UTF-16 units whose low byte is JSON syntax or whitespace.
  '\u0120', '\u010a', '\u0109', '\u010d', '\u015b', '\u015d', '\u017b', '\u017d', '\u012c', '\u013a', '\u0122',
  '\u015c', '\u0130', '\u0174', '\u2d2c', '\uff3b',
]

/** A small edit of `text`; usually (not always) invalid. */
export function mutate(r, text) {
  const n = text.length
  const at = Math.floor(r() * (n + 1))
  const k = r()
  if (n > 0 && k < 0.25) return text.slice(0, at) + text.slice(at + 1)
  if (k < 0.5) return text.slice(0, at) + pick(r, INSERTS) + text.slice(at)
  if (n > 0 && k < 0.7) return text.slice(0, at) + pick(r, INSERTS) + text.slice(at + 1)
  if (k < 0.8) return text.slice(0, at)
  if (k < 0.9) return pick(r, ['NaN', 'Infinity', 'undefined', '[object Object]', '', ' ', 'nul', 'tru', '"', '-'])
  const b = Math.floor(r() * (n + 1))
  return text.slice(0, Math.min(at, b)) + text.slice(Math.max(at, b))
}

const BAD_BYTES = [
  [0x80], [0xbf], [0xc3], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff], [0xc0, 0xaf], [0xef, 0xbb, 0xbf], [0xf0, 0x9f, 0x98],
]

/** UTF-8 bytes of `text`, sometimes with invalid UTF-8 spliced in. */
export function toBytes(r, text) {
  const bytes = Buffer.from(text, 'utf8')
  if (r() < 0.6) return bytes
  const at = Math.floor(r() * (bytes.length + 1))
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(r, BAD_BYTES)), bytes.subarray(at)])
}

const SLICES = [1, 2, 3, 4, 5, 7, 8, 13, 16, 32, 64, 256, 65536]

/** One fuzz case from `seed`: what to feed, how, and through which API. */
export function makeCase(seed) {
  const r = rng(seed)
  let text = generateDocument(r)
  if (r() < 0.5) {
    text = mutate(r, text)
    if (r() < 0.3) text = mutate(r, text)
  }
  const asBytes = r() < 0.4
  const data = asBytes ? toBytes(r, text) : text
  const k = r()
  const api = k < 0.75 ? 'parse' : k < 0.9 ? 'validate' : 'sync'
  return { seed, data, api, sliceSize: pick(r, SLICES) }
}

/**
 * Runs one case; resolves to null, a description of the difference, or
 * { unstable } (see runFuzz).
 */
export async function checkCase(native, c) {
  const text = typeof c.data === 'string' ? c.data : c.data.toString('utf8')
  const ref = tryParse(text)
  let ours
  try {
    let value
    if (c.api === 'parse') value = await native.pool.parseJson(c.data, { sliceSize: c.sliceSize })
    else if (c.api === 'validate') value = await native.pool.run({ op: 'json.validate', data: c.data }, { sliceSize: c.sliceSize })
    else value = native.parseJsonSync(c.data)
    ours = { ok: true, value }
  } catch (error) {
    ours = { ok: false, error }
  }
  const where = `seed ${c.seed} (${c.api}, ${typeof c.data === 'string' ? 'string' : 'bytes'}, slice ${c.sliceSize}): ${JSON.stringify(text.slice(0, 120))}`
  if (ref.ok) {
    if (!ours.ok) return `${where}\n  JSON.parse accepts it; ours threw ${ours.error && ours.error.stack}`
    if (c.api === 'validate') return ours.value === true ? null : `${where}\n  validateJson resolved ${ours.value}`
    const diff = sameValue(ours.value, ref.value)
    if (!diff) return null
    // JSON.parse itself can depend on what it parsed before in the same
    // process (V8 13.6 in Node 24 returns a wrong key after objects with
    // similar keys). Ask a fresh process's JSON.parse; report it either way.
    if (freshCanonical(text) !== canonical(ours.value)) return `${where}\n  values differ at ${diff}`
    return { unstable: `${where}\n  this process's JSON.parse differs at ${diff}; a fresh process's JSON.parse agrees with ours` }
  }
  if (ours.ok) return `${where}\n  JSON.parse throws ${ref.error.message}; ours succeeded`
  const e = ours.error
  const position = referencePosition(text, ref.error.message)
  const message = expectedMessage(text, ref.error.message, position)
  if (!(e instanceof SyntaxError)) return `${where}\n  not a SyntaxError: ${e && e.stack}`
  if (e.code !== 'ERR_NODEPERF_JSON_SYNTAX') return `${where}\n  code ${e.code}`
  if (e.position !== position) return `${where}\n  position ${e.position}, JSON.parse's ${position} (${ref.error.message})`
  if (e.message !== message) return `${where}\n  message ${JSON.stringify(e.message)}\n  expected ${JSON.stringify(message)}`
  return null
}

/**
 * Runs `count` cases from `seed` on, `concurrency` at a time. Resolves to
 * { cases, failures, unstable, valid, invalid }: `failures` describe
 * differences from JSON.parse; `unstable` the cases where JSON.parse in
 * this realm disagreed with a fresh JSON.parse and ours matched the fresh one.
 */
export async function runFuzz(native, { count, seed = 1, concurrency = 8, onProgress } = {}) {
  const failures = []
  const unstable = []
  let next = 0
  let valid = 0
  let done = 0
  async function worker() {
    while (next < count) {
      const c = makeCase(seed + next++)
      const text = typeof c.data === 'string' ? c.data : c.data.toString('utf8')
      if (tryParse(text).ok) valid++
      const diff = await checkCase(native, c)
      if (typeof diff === 'string') failures.push(diff)
      else if (diff) unstable.push(diff.unstable)
      done++
      if (onProgress && done % 10000 === 0) onProgress(done, failures.length)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { cases: count, failures, unstable, valid, invalid: count - valid }
}
