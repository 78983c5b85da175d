// The README as a user reads it: every JavaScript code block runs as pasted,
// the file stays short, and its error list names every code the package can
// produce (the Rust `Error::code()` match and every ERR_NODEPERF_* in lib/).
//
// Blocks run in a child process with the repository root as cwd, so
// `require('@nodeperf/native')` and `import … from '@nodeperf/native'`
// resolve to this checkout through the package's self-reference (`name` and
// `exports` in package.json). A block that cannot run as pasted is preceded
// by `<!-- readme-spec: skip (reason) -->`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const readmePath = path.join(root, 'README.md')
const readme = readFileSync(readmePath, 'utf8')

const JS_LANGS = new Set(['js', 'javascript', 'mjs', 'cjs'])
const SKIP = /^<!--\s*readme-spec:\s*skip\s*\((.+)\)\s*-->$/
// A hang guard, not a performance assertion: a block that has not ended by
// then never will (a server left listening, a forgotten interval).
const BLOCK_TIMEOUT_MS = 120_000

/** Fenced code blocks: `{ lang, line, code, skip }`, `line` 1-based, of the opening fence. */
function codeBlocks(markdown) {
  const lines = markdown.split('\n')
  const blocks = []
  let open = null
  let lastText = ''
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (open === null) {
      const m = /^(`{3,}|~{3,})\s*([\w+-]*)/.exec(line)
      if (m) {
        const skip = SKIP.exec(lastText.trim())
        open = { fence: m[1], lang: m[2].toLowerCase(), line: i + 1, body: [], skip: skip ? skip[1] : null }
      } else if (line.trim() !== '') {
        lastText = line
      }
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, '') === '') {
      blocks.push({ lang: open.lang, line: open.line, code: open.body.join('\n') + '\n', skip: open.skip })
      open = null
      lastText = line
    } else {
      open.body.push(line)
    }
  }
  assert.equal(open, null, `README.md: the code block opened at line ${open && open.line} is never closed`)
  return blocks
}

/** ESM when the fence says so or the code has static import/export syntax. */
function isModule(block) {
  if (block.lang === 'mjs') return true
  if (block.lang === 'cjs') return false
  return /^\s*(import\s+[\w*{'"]|export\s)/m.test(block.code)
}

function runBlock(code, esm) {
  return new Promise((resolve) => {
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT // the child is a plain script, not a test file
    const child = spawn(process.execPath, esm ? ['--input-type=module', '-'] : ['-'], {
      cwd: root,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, BLOCK_TIMEOUT_MS)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, timedOut, stdout, stderr })
    })
    child.stdin.end(code)
  })
}

test('the block reader finds languages, skip markers and module syntax', () => {
  const md = [
    'text',
    '```js',
    "const { lag } = require('@nodeperf/native')",
    '```',
    '<!-- readme-spec: skip (needs a running Prometheus) -->',
    '',
    '```mjs',
    "const m = await import('@nodeperf/native')",
    '```',
    '```javascript',
    "import { lag } from '@nodeperf/native'",
    '```',
    '```sh',
    'npm test',
    '```',
  ].join('\n')
  const found = codeBlocks(md)
  assert.deepEqual(
    found.map((b) => [b.lang, b.line, b.skip, JS_LANGS.has(b.lang) && isModule(b)]),
    [
      ['js', 2, null, false],
      ['mjs', 7, 'needs a running Prometheus', true],
      ['javascript', 10, null, true],
      ['sh', 13, null, false],
    ],
  )
})

const blocks = codeBlocks(readme).filter((b) => JS_LANGS.has(b.lang))

test('README.md has JavaScript blocks to run, the quick start among them', () => {
  assert.ok(blocks.length > 0, 'no ```js blocks found in README.md')
  const quickStart = readme.indexOf('## Quick start')
  assert.ok(quickStart >= 0, 'README.md has no "## Quick start" heading (scripts/test-package.js runs the block under it)')
  const quickLine = readme.slice(0, quickStart).split('\n').length
  const first = blocks.find((b) => b.line > quickLine)
  assert.ok(first && first.lang === 'js', 'the first block under "## Quick start" must be ```js (scripts/test-package.js looks for exactly that)')
  assert.equal(first.skip, null, 'the quick start must run as pasted')
})

for (const block of blocks) {
  const esm = isModule(block)
  const name = `README.md line ${block.line}: the \`\`\`${block.lang} block runs as pasted (${esm ? 'ESM' : 'CommonJS'}) and exits 0`
  test(name, { skip: block.skip ?? false, timeout: BLOCK_TIMEOUT_MS + 10_000 }, async () => {
    const r = await runBlock(block.code, esm)
    const output = `\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
    assert.equal(r.timedOut, false, `still running after ${BLOCK_TIMEOUT_MS / 1000} s: a README example must end by itself${output}`)
    assert.equal(r.signal, null, `killed by ${r.signal}${output}`)
    assert.equal(r.status, 0, `exit code ${r.status}${output}`)
  })
}

test('README.md is at most 12,000 bytes', () => {
  const bytes = statSync(readmePath).size
  assert.ok(bytes <= 12_000, `README.md is ${bytes} bytes; move detail to docs/`)
})

/** Codes of the Rust error enum: the string arms of `fn code()` in src/error.rs. */
function rustCodes() {
  const src = readFileSync(path.join(root, 'src', 'error.rs'), 'utf8')
  const start = src.indexOf('fn code(')
  assert.ok(start >= 0, 'src/error.rs has no fn code()')
  const body = src.slice(start, src.indexOf('\n    }\n', start))
  return [...body.matchAll(/=>\s*"((?:ERR_[A-Z0-9_]+)|ABORT_ERR)"/g)].map((m) => m[1])
}

/** Every ERR_NODEPERF_* string in the JS face (every .js under lib/ but the bundles, index.js, index.mjs) and in every .rs under src/. */
function ownCodes() {
  const walk = (dir, ext) =>
    readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? walk(path.join(dir, d.name), ext) : d.name.endsWith(ext) && !d.name.endsWith('.bundled.js') ? [path.join(dir, d.name)] : [],
    )
  const files = walk('lib', '.js').concat(['index.js', 'index.mjs'], walk('src', '.rs'))
  const codes = new Map()
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8')
    for (const m of text.matchAll(/\bERR_NODEPERF_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!codes.has(m[0])) codes.set(m[0], file)
    }
  }
  return codes
}

/** docs/api.md's "## Errors" section: the full list (the README has the common codes and links it). */
function errorsSection() {
  const api = readFileSync(path.join(root, 'docs', 'api.md'), 'utf8')
  const start = api.search(/^## Errors\s*$/m)
  assert.ok(start >= 0, 'docs/api.md has no "## Errors" section')
  const rest = api.slice(start + 1)
  const next = rest.search(/^## /m)
  return next < 0 ? rest : rest.slice(0, next)
}

const listed = (section, code) => new RegExp(`\\b${code}\\b`).test(section)

test("docs/api.md's Errors section lists every code of src/error.rs", () => {
  const codes = rustCodes()
  assert.ok(codes.length >= 10, `parsed only ${codes.length} codes from src/error.rs: did fn code() change shape?`)
  const section = errorsSection()
  const missing = codes.filter((c) => !listed(section, c))
  assert.deepEqual(missing, [], `docs/api.md's "## Errors" does not list: ${missing.join(', ')}`)
})

test("docs/api.md's Errors section lists every ERR_NODEPERF_* code in lib/, index.js and src/", () => {
  const codes = ownCodes()
  assert.ok(codes.has('ERR_NODEPERF_NATIVE_MISSING'), 'the loader code was not found in lib/: did the scan break?')
  const section = errorsSection()
  const missing = [...codes].filter(([c]) => !listed(section, c)).map(([c, file]) => `${c} (${file})`)
  assert.deepEqual(missing, [], `docs/api.md's "## Errors" does not list: ${missing.join(', ')}`)
})

test("README.md's Errors section links the full list", () => {
  const start = readme.search(/^## Errors\s*$/m)
  assert.ok(start >= 0, 'README.md has no "## Errors" section')
  assert.match(readme.slice(start), /docs\/api\.md#errors/)
})
