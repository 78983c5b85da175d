'use strict'
// The doctor's advice for event-loop blocking (lib/doctor/diagnose.js):
// what to do about a culprit, chosen by the call that ran, and that call
// found in the culprit's own source when the profile has no frame for it.
// Pure functions.

// Calls the advice knows, looked for in the culprit function's own source
// when the profile did not sample them as a frame of their own (V8 runs
// builtins such as JSON.parse inside their caller's frame).
const KNOWN_CALLS = /\b(JSON\.parse|JSON\.stringify|pbkdf2Sync|scryptSync|hashSync|readFileSync|writeFileSync|execSync|spawnSync|gzipSync|gunzipSync|deflateSync|inflateSync|brotliCompressSync|brotliDecompressSync)\s*\(/

/**
 * The first known blocking call in the function that starts at `line`
 * (1-based) of `text`: its first 40 lines, up to where the indentation
 * returns to the function's own. Null if none.
 */
function calleeInSource(text, line) {
  const lines = text.split('\n')
  const first = lines[line - 1]
  if (first === undefined) return null
  const indent = first.match(/^\s*/)[0].length
  for (let i = line - 1; i < Math.min(lines.length, line + 39); i++) {
    const l = lines[i]
    if (i > line - 1 && l.trim() !== '' && l.match(/^\s*/)[0].length <= indent && /^\s*[})\]]/.test(l)) break
    const m = l.match(KNOWN_CALLS)
    if (m) return m[1]
  }
  return null
}

/** `JSON.parse` for V8's builtin `parse`, the name otherwise. */
function calleeName(frame) {
  if (frame.url !== '') return frame.functionName
  const known = { parse: 'JSON.parse', stringify: 'JSON.stringify' }
  return known[frame.functionName] ?? frame.functionName
}

const ADVICE = [
  [/^JSON\.parse$/, 'parse the body off the loop with `pool.parseJson` (or the `@nodeperf/native/express` / `/fastify` body parser)'],
  [/^JSON\.stringify$/, 'serialise less per request, stream the output, or cache the serialised form'],
  [/^(pbkdf2Sync|scryptSync|hashSync|digest|update|createHash|randomBytesSync|generateKeyPairSync)$/, 'hash off the loop with `pool.hash` (or the async `crypto.pbkdf2` / `crypto.scrypt`)'],
  [/Sync$/, 'use the asynchronous form of this call (`fs.promises`, async `zlib`, `child_process.spawn`) so the loop keeps serving while it runs'],
  [/^(exec|test|match|matchAll|replace|replaceAll|split|search)$/, 'a regular expression runs long here: check it for catastrophic backtracking and bound the input length'],
  [/^sort$/, 'sort smaller arrays, keep the data sorted as it arrives, or move the work to a worker thread'],
]

function blockingAdvice(group, culprit, allStalls) {
  const what = culprit.callee ? `\`${culprit.callee}\` in \`${culprit.functionName}\`` : `\`${culprit.functionName}\``
  const at = culprit.where ? ` (${culprit.where})` : ''
  const times = `${group.count} time${group.count === 1 ? '' : 's'}`
  const range = group.count === 1 ? `${Math.round(group.max)} ms` : `${Math.round(group.min)}–${Math.round(group.max)} ms`
  const share = allStalls > group.count ? ` (of ${allStalls} stalls)` : ''
  let fix = 'split the work into slices with `yieldEvery(items, fn)` so the loop serves requests between them, or move it to a worker thread'
  for (const [re, text] of ADVICE) {
    if (culprit.callee && re.test(culprit.callee)) {
      fix = text
      break
    }
  }
  if (culprit.kind === 'gc') fix = 'the time went to garbage collection while this function allocated: allocate less per call (reuse buffers, stream instead of building whole results)'
  if (culprit.kind === 'native' && fix.startsWith('split')) fix = 'a native call blocks the loop here: use its asynchronous form, or run it on the pool or a worker thread'
  return `${what}${at} blocked the loop ${times}${share} for ${range}: ${fix}.`
}

function blockingAdviceUnknown(p) {
  const off = p.start?.culpritsOff
  const why = off ? ` Stall culprits were off (${off}), so the code is not named;` : ' No culprit was named for these stalls;'
  return `The loop was blocked by synchronous work.${why} run the doctor again without the inspector, or look at the flame graph of a CPU profile (\`node --cpu-prof\`) for the long-running functions.`
}

module.exports = { calleeInSource, calleeName, blockingAdvice, blockingAdviceUnknown }
