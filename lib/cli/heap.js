'use strict'
// `nodeperf heap summary|diff`: heap-snapshot reports (lib/heap.js) as an
// aligned table, JSON (--json) or one self-contained HTML file (--html).

const { writeFileSync } = require('node:fs')
const { heap } = require('../heap.js')
const { UsageError, parse, count, size, signed, number, table, escape, page, htmlTable } = require('./io.js')

const USAGE = `Usage:
  nodeperf heap summary <file> [--top N] [--paths N] [--json] [--html <out.html>]
  nodeperf heap diff <a> <b> [--by id|constructor] [--top N] [--paths N] [--json] [--html <out.html>]

  summary   objects by constructor: count, self size and retained size
            (largest retained first), and retainer paths for the largest
  diff      by id (default): the objects in <b> that <a> did not have
            (both snapshots of one process, <a> first), largest self size
            first, and retainer paths to the largest; by constructor: count
            and size changes per constructor (any two snapshots), largest
            self-size growth first

Columns:
  Count            objects (diff by id: "New objects"; by constructor: b − a)
  Self size        the objects' own bytes (diff by id: bytes of new objects,
                   what was allocated and kept; by constructor: b − a)
  Retained size    bytes freed if those objects went: their own and all they
                   alone keep alive. In a diff by id that includes older
                   objects now held only through new ones (a grown array's
                   new backing store retains its old entries), so it can
                   exceed the bytes allocated since <a>
  Sizes are in KiB, MiB, GiB (powers of 1024).

Options:
  --top N          constructors to show (default 20; 'all' for every one;
                   with --json, all unless --top is given)
  --paths N        retainer paths to show (summary and diff by id; default 3,
                   with --json 5 as the API gives)
  --by id|constructor   how diff matches objects (default id)
  --json           print the report as JSON, as the API resolves with it
  --html <file>    also write the report as one self-contained HTML file
  -h, --help       this help
`

const COLUMNS = [
  { title: 'Constructor' },
  { title: 'Count', right: true },
  { title: 'Self size', right: true },
  { title: 'Retained size', right: true },
]
const ADDED_COLUMNS = [
  { title: 'Constructor' },
  { title: 'New objects', right: true },
  { title: 'Self size', right: true },
  { title: 'Retained size', right: true },
]
const DIFF_COLUMNS = [
  { title: 'Constructor' },
  { title: 'Count', right: true },
  { title: 'Self size', right: true },
  { title: 'Retained size', right: true },
  { title: 'Count before → after', right: true },
]

const ADDED_NOTE =
  'Self size: the new objects\' own bytes (sorted by it). Retained size: what they keep alive, older objects held only through them included.'
const CHANGES_NOTE = 'Changes by constructor (b − a), largest self-size growth first; unchanged constructors left out.'

const rowOf = (c) => [c.name, number(c.count), size(c.selfSize), size(c.retainedSize)]
const diffRowOf = (c) => [
  c.name,
  signed(c.count, number),
  signed(c.selfSize, size),
  signed(c.retainedSize, size),
  `${number(c.before.count)} → ${number(c.after.count)}`,
]

function stepText(s) {
  const name = s.node.name.length > 40 ? `${s.node.name.slice(0, 39)}…` : s.node.name
  return `-[${s.edge.type} ${s.edge.name}]-> ${s.node.class} @${s.node.id}${name && name !== s.node.class ? ` "${name.replace(/\s+/g, ' ')}"` : ''}`
}

function summaryText(s) {
  let out = `${s.file}: ${number(s.nodes)} objects, ${number(s.edges)} references, ${size(s.totalSize)} in all\n\n`
  out += table(COLUMNS, s.constructors.map(rowOf))
  if (s.constructors.length < s.constructorCount) out += `(${s.constructorCount - s.constructors.length} more constructors; --top all shows them)\n`
  return out + pathsText(s.retainerPaths, 'Retainer paths (shortest, from the root):')
}

function pathsText(paths, title) {
  let out = paths.length > 0 ? `\n${title}\n` : ''
  for (const p of paths) {
    out += `\n  ${p.constructor} (${size(p.retainedSize)} retained), e.g. @${p.node.id} retaining ${size(p.node.retainedSize)}\n`
    if (!p.reachable) out += '    not reachable from the root through strong references\n'
    for (const step of p.path) out += `    ${stepText(step)}\n`
  }
  return out
}

function pathsHtml(paths, title) {
  if (paths.length === 0) return ''
  const items = paths
    .map(
      (p) =>
        `<h3>${escape(p.constructor)} — ${escape(size(p.retainedSize))} retained, e.g. @${escape(p.node.id)}</h3>\n` +
        (p.reachable ? '' : '<p>not reachable from the root through strong references</p>\n') +
        '<ol class="path">\n' +
        p.path.map((step) => `<li><code>${escape(stepText(step))}</code></li>`).join('\n') +
        '\n</ol>',
    )
    .join('\n')
  return `<h2>${escape(title)}</h2>\n${items}`
}

const ADDED_PATHS = 'Where the largest new ones are held (shortest path from the root in b):'

function addedLine(d) {
  return `${number(d.added.count)} objects in b that a did not have: ${size(d.added.selfSize)} of their own (self size), ${size(d.added.retainedSize)} with what only they keep alive, older objects included (retained size); ${number(d.removed.count)} of a's objects are gone`
}

function summaryHtml(s) {
  const paths = pathsHtml(s.retainerPaths, 'Retainer paths')
  return page(
    `Heap summary: ${s.file}`,
    `<h1>Heap summary: <code>${escape(s.file)}</code></h1>
<p>${escape(number(s.nodes))} objects, ${escape(number(s.edges))} references, ${escape(size(s.totalSize))} in all; ${escape(number(s.constructorCount))} constructors.</p>
${htmlTable(COLUMNS, s.constructors.map(rowOf))}
${paths}`,
  )
}

function diffText(d) {
  let out = `a: ${d.a.file} (${number(d.a.nodes)} objects, ${size(d.a.totalSize)})\nb: ${d.b.file} (${number(d.b.nodes)} objects, ${size(d.b.totalSize)})\n\n`
  if (d.by === 'id') {
    out += `${addedLine(d)}\n\n`
    out += table(ADDED_COLUMNS, d.constructors.map(rowOf))
    out += `${ADDED_NOTE}\n`
    out += pathsText(d.retainerPaths, ADDED_PATHS)
  } else {
    out += `${CHANGES_NOTE}\n\n`
    out += table(DIFF_COLUMNS, d.constructors.map(diffRowOf))
  }
  return out
}

function diffHtml(d) {
  const head = `<h1>Heap diff (by ${escape(d.by)})</h1>
<p>a: <code>${escape(d.a.file)}</code> (${escape(number(d.a.nodes))} objects, ${escape(size(d.a.totalSize))})<br>
b: <code>${escape(d.b.file)}</code> (${escape(number(d.b.nodes))} objects, ${escape(size(d.b.totalSize))})</p>`
  const body =
    d.by === 'id'
      ? `<p>${escape(addedLine(d))}</p>\n${htmlTable(ADDED_COLUMNS, d.constructors.map(rowOf))}\n<p>${escape(ADDED_NOTE)}</p>\n${pathsHtml(d.retainerPaths, ADDED_PATHS)}`
      : `<p>${escape(CHANGES_NOTE)}</p>\n${htmlTable(DIFF_COLUMNS, d.constructors.map(diffRowOf))}`
  return page(`Heap diff: ${d.a.file} → ${d.b.file}`, `${head}\n${body}`)
}

function report(io, values, result, text, html) {
  if (values.html !== undefined) writeFileSync(values.html, html(result))
  io.out(values.json ? `${JSON.stringify(result, null, 2)}\n` : text(result))
  return 0
}

/**
 * `--top` and `--paths`: a table shows 20 constructors and 3 paths by
 * default; --json prints what the API resolves with (every constructor,
 * its default paths) unless they are given.
 */
function limits(values) {
  const top = count(values.top, 'top', values.json ? Infinity : 20, USAGE)
  const paths = count(values.paths, 'paths', values.json ? undefined : 3, USAGE)
  if (paths > 1000) throw new UsageError('--paths must be at most 1000', USAGE)
  return paths === undefined ? { top } : { top, paths }
}

async function summaryCommand(argv, io) {
  const { values, positionals } = parse(
    argv,
    { top: { type: 'string' }, paths: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' } },
    USAGE,
    1,
  )
  if (values.help) return io.out(USAGE), 0
  const s = await heap.summary(positionals[0], limits(values))
  return report(io, values, s, summaryText, summaryHtml)
}

async function diffCommand(argv, io) {
  const { values, positionals } = parse(
    argv,
    { by: { type: 'string' }, top: { type: 'string' }, paths: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' } },
    USAGE,
    2,
  )
  if (values.help) return io.out(USAGE), 0
  const by = values.by ?? 'id'
  if (by !== 'id' && by !== 'constructor') throw new UsageError(`--by must be 'id' or 'constructor', got '${by}'`, USAGE)
  const d = await heap.diff(positionals[0], positionals[1], { by, ...limits(values) })
  return report(io, values, d, diffText, diffHtml)
}

async function run(argv, io) {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) throw new UsageError('no heap command given', USAGE)
    io.out(USAGE)
    return 0
  }
  if (sub === 'summary') return summaryCommand(rest, io)
  if (sub === 'diff') return diffCommand(rest, io)
  throw new UsageError(`unknown heap command '${sub}'`, USAGE)
}

module.exports = { name: 'heap', summary: 'heap-snapshot summary and diff (nodeperf heap --help)', usage: USAGE, run }
