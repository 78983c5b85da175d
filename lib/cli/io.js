'use strict'
// What every CLI command shares: usage errors, argument parsing, sizes,
// aligned tables and self-contained HTML.

const { parseArgs } = require('node:util')

/** A wrong command line: printed with `usage`, exit code 2. */
class UsageError extends Error {
  constructor(message, usage) {
    super(message)
    this.usage = usage
  }
}

/**
 * `--name -3`, `--name -x`: parseArgs calls a value that starts with '-'
 * ambiguous. A value that is no option of ours is taken as the value (so
 * the option's own check words the error); an option of ours is a missing
 * value.
 */
function joinDashValues(argv, options) {
  const known = (arg) => arg === '-h' || arg === '--help' || (arg.startsWith('--') && Object.hasOwn(options, arg.slice(2).split('=')[0]))
  const out = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = argv[i + 1]
    const name = arg.startsWith('--') ? arg.slice(2) : undefined
    if (name !== undefined && Object.hasOwn(options, name) && options[name].type === 'string' && next !== undefined && next.startsWith('-') && next !== '--') {
      if (known(next)) return { error: `--${name} needs a value, got the option '${next}'` }
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return { argv: out }
}

/** `util.parseArgs`, its errors turned into `UsageError`s. */
function parse(argv, options, usage, positionals) {
  const joined = joinDashValues(argv, options)
  if (joined.error !== undefined) throw new UsageError(joined.error, usage)
  let parsed
  try {
    parsed = parseArgs({ args: joined.argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(err.message, usage)
  }
  if (parsed.values.help) return parsed
  if (positionals !== undefined && parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`, usage)
  }
  return parsed
}

/** A non-negative integer option, or `all` (Infinity). */
function count(value, name, fallback, usage) {
  if (value === undefined) return fallback
  if (value === 'all') return Infinity
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer or 'all', got '${value}'`, usage)
  return Number(value)
}

/** Bytes as KiB / MiB / GiB (powers of 1024), one decimal (two for GiB). */
function size(bytes) {
  const sign = bytes < 0 ? '-' : ''
  const b = Math.abs(bytes)
  if (b < 2 ** 20) return `${sign}${(b / 1024).toFixed(1)} KiB`
  if (b < 2 ** 30) return `${sign}${(b / 2 ** 20).toFixed(1)} MiB`
  return `${sign}${(b / 2 ** 30).toFixed(2)} GiB`
}

const signed = (n, f = String) => (n > 0 ? `+${f(n)}` : f(n))
const number = (n) => n.toLocaleString('en-US')

/**
 * An aligned text table: `columns` are `{ title, right }`, `rows` arrays of
 * strings. Names longer than `maxWidth` are cut with an ellipsis.
 */
function table(columns, rows, maxWidth = 60) {
  const cut = (s) => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s)
  const cells = rows.map((r) => r.map((c) => cut(String(c).replace(/\s+/g, ' '))))
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)))
  const line = (r) =>
    r
      .map((c, i) => (columns[i].right ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(columns.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n'
}

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
/** Text for HTML. */
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c])

/** One self-contained HTML page (inline CSS, no scripts, no external assets). */
function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escape(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.95em; }
ol.path li { margin: 0.2em 0; }
</style>
</head>
<body>
${body}
</body>
</html>
`
}

/** An HTML table: `columns` `{ title, right }`, `rows` arrays of strings. */
function htmlTable(columns, rows) {
  const cls = (c) => (c.right ? ' class="n"' : '')
  const head = columns.map((c) => `<th${cls(c)}>${escape(c.title)}</th>`).join('')
  const body = rows.map((r) => `<tr>${r.map((v, i) => `<td${cls(columns[i])}>${escape(v)}</td>`).join('')}</tr>`).join('\n')
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`
}

module.exports = { UsageError, parse, count, size, signed, number, table, escape, page, htmlTable }
