// The `nodeperf` CLI, run as a user runs it (a child process of
// bin/nodeperf.js): help, usage errors (exit 2), analysis errors (exit 1,
// code and message), the table, --json and --html of heap summary and diff.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { heap } from '../index.js'

const bin = join(import.meta.dirname, '..', 'bin', 'nodeperf.js')
let dir
let a
let b

const GROW = `
const v8 = require('node:v8')
class CliSpecLeak { constructor(i) { this.items = [i, i + 1, { i }] } }
globalThis.kept = []
for (let i = 0; i < 300; i++) kept.push(new CliSpecLeak(i))
v8.writeHeapSnapshot(process.argv[1])
for (let i = 0; i < 200; i++) kept.push(new CliSpecLeak(i))
v8.writeHeapSnapshot(process.argv[2])
`

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodeperf-cli-'))
  // A file name HTML must escape.
  a = join(dir, 'a<b>&"c.heapsnapshot')
  b = join(dir, 'b.heapsnapshot')
  execFileSync(process.execPath, ['-e', GROW, a, b])
})

after(() => rmSync(dir, { recursive: true, force: true }))

function cli(...args) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('the bin is an executable script with a shebang, named in package.json', () => {
  assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'))
  assert.ok(statSync(bin).mode & 0o111, 'executable')
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'))
  assert.equal(pkg.bin.nodeperf, 'bin/nodeperf.js')
  assert.ok(pkg.files.includes('bin/'))
})

test('help: nodeperf --help and nodeperf heap --help exit 0', () => {
  const top = cli('--help')
  assert.equal(top.code, 0)
  assert.match(top.out, /Usage: nodeperf <command>/)
  assert.match(top.out, /heap/)
  const h = cli('heap', '--help')
  assert.equal(h.code, 0)
  assert.match(h.out, /nodeperf heap summary <file>/)
  assert.match(h.out, /nodeperf heap diff <a> <b>/)
  assert.equal(cli('heap', 'summary', '--help').code, 0)
})

test('usage errors print the usage and exit 2', () => {
  const cases = [
    [[], /no command given/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['heap'], /no heap command/],
    [['heap', 'sum', a], /unknown heap command 'sum'/],
    [['heap', 'summary'], /expected 1 argument, got 0/],
    [['heap', 'summary', a, b], /expected 1 argument, got 2/],
    [['heap', 'summary', a, '--top', 'x'], /--top must be a non-negative integer/],
    [['heap', 'summary', a, '--color'], /Unknown option '--color'/],
    [['heap', 'diff', a], /expected 2 arguments, got 1/],
    [['heap', 'diff', a, b, '--by', 'name'], /--by must be 'id' or 'constructor'/],
    [['heap', 'summary', a, '--html'], /argument missing|--html/],
    // Our own wording, not parseArgs' "argument is ambiguous".
    [['heap', 'summary', a, '--top', '-3'], /--top must be a non-negative integer or 'all', got '-3'/],
    [['heap', 'diff', a, b, '--paths', '-1'], /--paths must be a non-negative integer or 'all', got '-1'/],
    [['heap', 'summary', a, '--top', '--json'], /--top needs a value/],
  ]
  for (const [args, message] of cases) {
    const r = cli(...args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, message, args.join(' '))
    assert.doesNotMatch(r.err, /ambiguous/, args.join(' '))
    assert.match(r.err, /Usage:/, args.join(' '))
    assert.equal(r.out, '')
  }
})

test('analysis errors print the code and message and exit 1', () => {
  writeFileSync(join(dir, 'gz.heapsnapshot'), gzipSync(readFileSync(b).subarray(0, 1000)))
  const cases = [
    [['heap', 'summary', join(dir, 'missing.heapsnapshot')], /ENOENT/],
    [['heap', 'summary', dir], /EISDIR/],
    [['heap', 'summary', join(dir, 'gz.heapsnapshot')], /ERR_NODEPERF_HEAP_SNAPSHOT: .*gzip/],
    [['heap', 'diff', b, a], /ERR_NODEPERF_HEAP_DIFFERENT_PROCESS/],
  ]
  for (const [args, message] of cases) {
    const r = cli(...args)
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, message)
    assert.doesNotMatch(r.err, /Usage:/)
  }
})

test('heap summary: an aligned table, --json is the API report, --html one escaped page', async () => {
  const api = await heap.summary(b, { top: 5, paths: 2 })
  const r = cli('heap', 'summary', b, '--top', '5', '--paths', '2')
  assert.equal(r.code, 0, r.err)
  const lines = r.out.split('\n')
  const header = lines.findIndex((l) => l.startsWith('Constructor'))
  assert.ok(header > 0)
  // Five rows under the header and its rule, aligned: each right-aligned
  // column ends at the same place as its title.
  const rows = lines.slice(header + 2, header + 7)
  assert.equal(rows.length, 5)
  const end = lines[header].indexOf('Retained size') + 'Retained size'.length
  for (const row of rows) assert.equal(row.length, end, row)
  api.constructors.forEach((c, i) => assert.ok(rows[i].startsWith(c.name.slice(0, 20)), rows[i]))
  // 1024-based sizes, labelled as such.
  assert.match(r.out, /\d+\.\d (KiB|MiB)/)
  assert.doesNotMatch(r.out, /\d (KB|MB|GB)\b/)
  const total = r.out.match(/objects, [\d,]+ references, ([\d.]+) (KiB|MiB) in all/)
  assert.ok(total, r.out.split('\n')[0])
  assert.equal(total[1], (api.totalSize / (total[2] === 'KiB' ? 1024 : 2 ** 20)).toFixed(1))
  assert.match(r.out, /Retainer paths/)

  const j = cli('heap', 'summary', b, '--json', '--top', 'all', '--paths', '0')
  assert.equal(j.code, 0)
  const full = await heap.summary(b, { paths: 0 })
  assert.deepEqual(JSON.parse(j.out), full)
  assert.ok(full.constructors.some((c) => c.name === 'CliSpecLeak' && c.count === 500))
  // --json without --top or --paths: what the API resolves with by default,
  // every constructor (more than the table's 20).
  const all = cli('heap', 'summary', b, '--json')
  assert.equal(all.code, 0, all.err)
  const byDefault = await heap.summary(b)
  assert.ok(byDefault.constructors.length > 20)
  assert.deepEqual(JSON.parse(all.out), byDefault)
  const three = JSON.parse(cli('heap', 'summary', b, '--json', '--top', '3').out)
  assert.equal(three.constructors.length, 3)

  const out = join(dir, 'summary.html')
  const h = cli('heap', 'summary', a, '--html', out)
  assert.equal(h.code, 0, h.err)
  const html = readFileSync(out, 'utf8')
  assert.match(html, /^<!doctype html>/)
  assert.match(html, /<table>/)
  assert.ok(html.includes('a&lt;b&gt;&amp;&quot;c.heapsnapshot'), 'the file name is escaped')
  assert.ok(!html.includes('a<b>'), 'nothing unescaped')
  assert.doesNotMatch(html, /<script|<link|src=|href=/, 'no external assets, no scripts')
})

test('heap diff: by id finds the 200 new instances; by constructor the changes', async () => {
  const r = cli('heap', 'diff', a, b, '--json')
  assert.equal(r.code, 0, r.err)
  const d = JSON.parse(r.out)
  assert.equal(d.constructors.find((c) => c.name === 'CliSpecLeak').count, 200)
  // Everything the API gives, not the table's top 20.
  assert.deepEqual(d, await heap.diff(a, b))
  const t = cli('heap', 'diff', a, b, '--html', join(dir, 'id.html'))
  assert.equal(t.code, 0, t.err)
  const gone = t.out.match(/^([\d,]+) objects in b that a did not have: .*; ([\d,]+) of a's objects are gone$/m)
  assert.ok(gone, t.out)
  assert.equal(gone[1], d.added.count.toLocaleString('en-US'))
  assert.equal(gone[2], d.removed.count.toLocaleString('en-US'))
  assert.match(t.out, /^CliSpecLeak +200 /m)
  assert.match(t.out, /Retained size: what they keep alive/)
  assert.match(t.out, /Where the largest new ones are held/)
  assert.match(t.out, /-\[property kept\]-> Array/)
  // The HTML says what the text says, the gone objects included.
  const idHtml = readFileSync(join(dir, 'id.html'), 'utf8')
  assert.ok(idHtml.includes(`${gone[2]} of a&#39;s objects are gone`), 'the gone line is in the HTML')
  assert.match(idHtml, /Where the largest new ones are held/)
  const c = cli('heap', 'diff', a, b, '--by', 'constructor', '--html', join(dir, 'diff.html'))
  assert.equal(c.code, 0, c.err)
  assert.match(c.out, /^CliSpecLeak +\+200 .* 300 → 500$/m)
  assert.match(c.out, /largest self-size growth first/)
  assert.match(readFileSync(join(dir, 'diff.html'), 'utf8'), /CliSpecLeak/)
  // Growth first: the first row grew in self size.
  const first = c.out.split('\n').find((l, i, all) => i > 0 && /^-+ /.test(all[i - 1]))
  assert.match(first, /^\S.* +[+-]?[\d,]+ +\+[\d.]+ (KiB|MiB) /, first)
})
