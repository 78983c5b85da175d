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

/** `util.parseArgs`, its errors turned into `UsageError`s. */
function parse(argv, options, usage, positionals) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
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

/** Bytes as KB / MB / GB (1024-based), one decimal. */
function size(bytes) {
  const sign = bytes < 0 ? '-' : ''
  const b = Math.abs(bytes)
  if (b < 2 ** 20) return `${sign}${(b / 1024).toFixed(1)} KB`
  if (b < 2 ** 30) return `${sign}${(b / 2 ** 20).toFixed(1)} MB`
  return `${sign}${(b / 2 ** 30).toFixed(2)} GB`
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
