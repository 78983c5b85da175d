// Seeded generators for the JSON benchmark documents (bench/json.mjs) and
// the fuzz corpus. Same seed, same document, on every machine and Node.

/** A small, fast, seeded PRNG (mulberry32); returns floats in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = [
  'alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet',
  'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango',
]
const NON_ASCII = ['é', 'ü', 'ß', 'ñ', 'Ω', 'ж', 'λ', '中文', '日本語', '한국어', '😀', '🚀', 'ｶﾀｶﾅ', '€', '→']
const ESCAPES = ['\\n', '\\t', '\\"', '\\\\', '\\/', '\\u00e9', '\\ud83d\\ude00', '\\u2028', '\\r', '\\b', '\\f', '\\u0000']

function pick(r, list) {
  return list[Math.floor(r() * list.length)]
}

function int(r, lo, hi) {
  return lo + Math.floor(r() * (hi - lo + 1))
}

/** A number literal as a JSON writer would print it, with edge cases. */
export function numberLiteral(r) {
  const k = r()
  if (k < 0.3) return String(int(r, -1000, 100000))
  if (k < 0.55) return String((r() - 0.5) * 10 ** int(r, -5, 12))
  if (k < 0.7) return String(int(r, 0, 2 ** 31) * 2 ** 21 + int(r, 0, 2 ** 21)) // > 2^31, up to ~2^53
  if (k < 0.8) return `${int(r, 1, 9)}.${String(int(r, 0, 1e15)).padStart(15, '0')}e${int(r, -320, 308)}`
  if (k < 0.88) return `-${int(r, 0, 9)}.${int(r, 0, 99999)}E+${int(r, 0, 30)}`
  if (k < 0.93) return pick(r, ['0', '-0', '5e-324', '1.7976931348623157e308', '1e400', '-1e-400', '0.1', '9007199254740993', '123456789012345678901234567890'])
  return `${int(r, 0, 99)}.${String(int(r, 0, 1e9))}`
}

// ASCII only: a typical API payload is one-byte text, which V8 parses
// fastest (a harder baseline to match than a two-byte document).
function shortString(r) {
  const n = int(r, 1, 4)
  const parts = []
  for (let i = 0; i < n; i++) parts.push(pick(r, WORDS))
  return '"' + parts.join(' ') + '"'
}

function record(r, id) {
  const tags = []
  for (let i = int(r, 0, 5); i > 0; i--) tags.push(shortString(r))
  const history = []
  for (let i = int(r, 1, 6); i > 0; i--) {
    history.push(`{"t":${1700000000000 + int(r, 0, 1e9)},"v":${numberLiteral(r)},"ok":${r() < 0.5}}`)
  }
  return (
    `{"id":${id},"guid":"${Math.floor(r() * 2 ** 52).toString(16)}-${int(r, 0, 65535).toString(16)}",` +
    `"name":${shortString(r)},"email":"${pick(r, WORDS)}.${pick(r, WORDS)}@example.com",` +
    `"active":${r() < 0.5},"score":${numberLiteral(r)},"balance":${(r() * 1e6 - 5e5).toFixed(2)},` +
    `"tags":[${tags.join(',')}],"location":{"lat":${(r() * 180 - 90).toFixed(6)},"lon":${(r() * 360 - 180).toFixed(6)},"city":${shortString(r)}},` +
    `"history":[${history.join(',')}],"matrix":[[${int(r, 0, 9)},${int(r, 0, 9)}],[${int(r, 0, 9)},${int(r, 0, 9)}]],` +
    `"note":${r() < 0.3 ? 'null' : shortString(r)},"nested":{"a":{"b":{"c":[${numberLiteral(r)},${shortString(r)},{}]}}}}`
  )
}

/** (a) An array of records with strings, numbers, nested arrays and objects. */
export function records(bytes, seed = 1) {
  const r = rng(seed)
  const parts = []
  let size = 2
  for (let id = 0; size < bytes; id++) {
    const rec = record(r, id)
    parts.push(rec)
    size += rec.length + 1
  }
  return '[' + parts.join(',') + ']'
}

// Short non-ASCII strings: names, cities and tags as an international
// API payload has them (most strings two-byte or with multi-byte UTF-8).
const INTL = [
  'Zoë', 'Müller', 'Øresund', 'São Paulo', 'Kraków', 'Ελλάδα', 'Москва', 'Київ', '東京', '北京市',
  '서울', 'Ἀθῆναι', 'İstanbul', 'Mañana', 'Straße', 'café', 'naïve', 'Ωmega', 'añejo', 'שלום',
  'مرحبا', 'नमस्ते', 'ไทย', '😀 ok', '→ next', '€ 12', 'ｶﾀｶﾅ', 'jalapeño', 'Smørrebrød', 'Crème',
]

function intlString(r) {
  const n = int(r, 1, 3)
  const parts = []
  for (let i = 0; i < n; i++) parts.push(r() < 0.8 ? pick(r, INTL) : pick(r, WORDS))
  return '"' + parts.join(' ') + '"'
}

function intlRecord(r, id) {
  const tags = []
  for (let i = int(r, 1, 6); i > 0; i--) tags.push(intlString(r))
  return (
    `{"id":${id},"name":${intlString(r)},"city":${intlString(r)},"country":${intlString(r)},` +
    `"score":${int(r, 0, 1000)},"tags":[${tags.join(',')}],"bio":${intlString(r)},` +
    `"address":{"street":${intlString(r)},"zip":"${int(r, 10000, 99999)}","note":${intlString(r)}}}`
  )
}

/**
 * (e) Records of many short strings, mostly non-ASCII (Greek, Cyrillic,
 * CJK, emoji…): V8 makes many small two-byte strings; `bytes` of UTF-8.
 */
export function intlRecords(bytes, seed = 5) {
  const r = rng(seed)
  const parts = []
  let size = 2
  for (let id = 0; size < bytes; id++) {
    const rec = intlRecord(r, id)
    parts.push(rec)
    size += Buffer.byteLength(rec) + 1
  }
  return '[' + parts.join(',') + ']'
}

/** (b) A flat array of numbers. */
export function numbers(bytes, seed = 2) {
  const r = rng(seed)
  const parts = []
  let size = 2
  while (size < bytes) {
    const n = numberLiteral(r)
    parts.push(n)
    size += n.length + 1
  }
  return '[' + parts.join(',') + ']'
}

function longString(r, chars) {
  const parts = []
  let n = 0
  while (n < chars) {
    const k = r()
    const piece = k < 0.7 ? pick(r, WORDS) + ' ' : k < 0.88 ? pick(r, NON_ASCII) : pick(r, ESCAPES)
    parts.push(piece)
    n += piece.length
  }
  return '"' + parts.join('') + '"'
}

/** (c) Long strings (1 KiB .. 256 KiB) with escapes and non-ASCII text. */
export function strings(bytes, seed = 3) {
  const r = rng(seed)
  const parts = []
  let size = 2
  while (size < bytes) {
    const s = longString(r, Math.floor(2 ** (10 + r() * 8)))
    parts.push(s)
    size += Buffer.byteLength(s) + 1
  }
  return '[' + parts.join(',') + ']'
}

/** (d) Objects nested `depth` levels deep, `bytes` in total. */
export function nested(bytes, depth = 5000, seed = 4) {
  const r = rng(seed)
  const per = Math.max(0, Math.floor(bytes / depth) - 40)
  const open = []
  for (let i = 0; i < depth; i++) {
    const vals = []
    let n = 0
    while (n < per) {
      const v = r() < 0.5 ? numberLiteral(r) : shortString(r)
      vals.push(v)
      n += v.length + 1
    }
    open.push(`{"depth":${i},"values":[${vals.join(',')}],"child":`)
  }
  return open.join('') + 'null' + '}'.repeat(depth)
}

export const DOCS = {
  // `warm`: a 1 MB document of the same kind (another seed) that every
  // method parses once before it is measured, as a running server would have.
  a: { name: 'records', make: () => records(20e6), warm: () => records(1e6, 11) },
  b: { name: 'numbers', make: () => numbers(20e6), warm: () => numbers(1e6, 12) },
  c: { name: 'strings', make: () => strings(20e6), warm: () => strings(1e6, 13) },
  d: { name: 'nested 5000', make: () => nested(2e6, 5000), warm: () => nested(2e5, 500, 14) },
  e: { name: 'short non-ASCII strings', make: () => intlRecords(20e6), warm: () => intlRecords(1e6, 15) },
}
