// The loader (lib/binding.js): which file it loads, and what it says when a
// file will not load. Each case runs in a child process: a failed load is
// final for a process.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)
const indexPath = require.resolve('../index.js')
require(indexPath)
const loaded = require('../lib/binding.js').__file

let dir
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-loader-'))
})
after(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Requires the package in a child with NODEPERF_NATIVE_PATH set; returns what it printed. */
function load(nativePath, then = '') {
  const code = `(async () => {
    try {
      const native = require(${JSON.stringify(indexPath)})
      ${then}
      console.log(JSON.stringify({ loaded: require(${JSON.stringify(require.resolve('../lib/binding.js'))}).__file }))
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause && e.cause.message }))
    }
  })()`
  const r = spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODEPERF_NATIVE_PATH: nativePath },
  })
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('this process loaded a .node file it can name', () => {
  assert.ok(loaded && loaded.endsWith('.node') && fs.existsSync(loaded), String(loaded))
})

test('NODEPERF_NATIVE_PATH loads that file and nothing else', () => {
  const copy = path.join(dir, 'custom build.node')
  fs.copyFileSync(loaded, copy)
  const out = load(copy)
  assert.equal(out.loaded, copy)
})

test('a relative NODEPERF_NATIVE_PATH is taken from the working directory', () => {
  const out = load(path.relative(process.cwd(), loaded))
  assert.equal(out.loaded, loaded)
})

test('a missing file at NODEPERF_NATIVE_PATH: ERR_NODEPERF_NATIVE_LOAD naming the file', () => {
  const missing = path.join(dir, 'nope.node')
  const out = load(missing)
  assert.equal(out.code, 'ERR_NODEPERF_NATIVE_LOAD')
  assert.ok(out.message.includes(missing), out.message)
  assert.match(out.message, /no such file/)
})

test('a corrupt file at NODEPERF_NATIVE_PATH: ERR_NODEPERF_NATIVE_LOAD naming the file and the reason', () => {
  const corrupt = path.join(dir, 'corrupt.node')
  fs.writeFileSync(corrupt, Buffer.from('this is not a shared object, just text that ends here\n'.repeat(40)))
  const out = load(corrupt)
  assert.equal(out.code, 'ERR_NODEPERF_NATIVE_LOAD')
  assert.ok(out.message.includes(corrupt), out.message)
  assert.match(out.message, /invalid ELF header|not a valid|file too short|mach-o|%1/i)
})

test('a file for another architecture at NODEPERF_NATIVE_PATH: ERR_NODEPERF_NATIVE_LOAD naming the file', (t) => {
  const bytes = fs.readFileSync(loaded)
  if (bytes.readUInt32BE(0) !== 0x7f454c46) return t.skip('not an ELF build')
  // e_machine (offset 18): x86-64 is 62, AArch64 183; swap to the other one.
  const wrong = Buffer.from(bytes)
  wrong.writeUInt16LE(wrong.readUInt16LE(18) === 62 ? 183 : 62, 18)
  const other = path.join(dir, 'other-arch.node')
  fs.writeFileSync(other, wrong)
  const out = load(other)
  assert.equal(out.code, 'ERR_NODEPERF_NATIVE_LOAD')
  assert.ok(out.message.includes(other), out.message)
  assert.match(out.message, /it is built for (arm64|x64), and this process runs on/)
})

test("the sidecar's worker loads the same file as the thread that started it", () => {
  const copy = path.join(dir, 'sidecar copy.node')
  fs.copyFileSync(loaded, copy)
  // With another file loaded in the worker, two addons would be mapped and
  // the worker would see no monitor for the main thread.
  const out = load(
    copy,
    `const s = await native.startSidecar({ port: 0, metrics: false })
     const res = await fetch('http://127.0.0.1:' + s.port + '/health/live')
     if (res.status !== 200) throw new Error('live: ' + res.status)
     const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8')
     const mapped = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/).slice(5).join(' ')).filter((f) => f.endsWith('.node')))]
     await s.close()
     if (mapped.length !== 1 || mapped[0] !== ${JSON.stringify(copy)}) throw new Error('mapped: ' + JSON.stringify(mapped))`,
  )
  assert.equal(out.loaded, copy, JSON.stringify(out))
})
