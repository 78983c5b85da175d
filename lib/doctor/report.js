'use strict'
// The doctor's HTML report: one self-contained page (inline CSS and SVG, no
// scripts, no external assets, so it works offline and requests nothing):
// the findings first, then time-series charts on a shared time axis (lag,
// utilisation, CPU, memory, GC, and the load's latency when the doctor
// drove it), the stall table with culprit stacks, and a flame graph of the
// stalls' stacks. Long runs are downsampled to at most MAX_POINTS per series.

const { escape } = require('../cli/io.js')

const MAX_POINTS = 600
const W = 900
const H = 170
const PAD = { l: 58, r: 12, t: 10, b: 22 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const SEVERITY = { critical: '#b71c1c', warning: '#e65100', info: '#1b5e20' }

/** Keeps at most `max` points: the largest y of each bucket (peaks survive). */
function downsample(points, max = MAX_POINTS) {
  if (points.length <= max) return points
  const out = []
  const per = points.length / max
  for (let i = 0; i < max; i++) {
    const slice = points.slice(Math.floor(i * per), Math.floor((i + 1) * per))
    let best = slice[0]
    for (const p of slice) if (p.y > best.y) best = p
    out.push(best)
  }
  return out
}

function niceMax(v) {
  if (!(v > 0)) return 1
  const e = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * e) return m * e
  return 10 * e
}

function fmt(v, unit) {
  if (unit === 'MiB') return `${Math.round(v / 2 ** 20)}`
  if (unit === '%') return `${Math.round(v * 100)}`
  if (v >= 100) return String(Math.round(v))
  return String(Math.round(v * 100) / 100)
}

/**
 * One chart: `series` `[{ name, points: [{ t, y }], dashed? }]`, `bands`
 * `[{ from, to, color, title }]` shaded behind, x from t0 to t1 (epoch ms).
 */
function chart({ id, title, unit, series, bands = [], t0, t1, yMax }) {
  const iw = W - PAD.l - PAD.r
  const ih = H - PAD.t - PAD.b
  const span = Math.max(1, t1 - t0)
  const all = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite)
  const scale = unit === 'MiB' ? 2 ** 20 : 1
  const top = yMax ?? niceMax(Math.max(0, ...all) / scale) * scale
  const x = (t) => PAD.l + ((t - t0) / span) * iw
  const y = (v) => PAD.t + ih - (Math.min(v, top) / top) * ih
  const parts = []
  for (const b of bands) {
    const x0 = Math.max(PAD.l, x(b.from))
    const x1 = Math.min(W - PAD.r, Math.max(x(b.to), x0 + 1.5))
    parts.push(`<rect x="${x0.toFixed(1)}" y="${PAD.t}" width="${(x1 - x0).toFixed(1)}" height="${ih}" fill="${b.color}"><title>${escape(b.title)}</title></rect>`)
  }
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4
    const yy = y(v).toFixed(1)
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${yy}" y2="${yy}" class="grid"/><text x="${PAD.l - 6}" y="${yy}" class="ya">${fmt(v, unit)}</text>`)
  }
  const secs = span / 1000
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((s) => secs / s <= 10) ?? 7200
  for (let s = 0; s <= secs; s += step) {
    const xx = x(t0 + s * 1000).toFixed(1)
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${PAD.t}" y2="${PAD.t + ih}" class="grid"/><text x="${xx}" y="${H - 6}" class="xa">${s >= 120 ? `${Math.round(s / 60)}m` : `${s}s`}</text>`)
  }
  const legend = []
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]
    const pts = downsample(s.points.filter((p) => Number.isFinite(p.y)))
    if (pts.length > 0) {
      const d = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`).join('')
      parts.push(`<path d="${d}" stroke="${color}" fill="none" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''}><title>${escape(s.name)}</title></path>`)
      if (pts.length < 3) for (const p of pts) parts.push(`<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="2.5" fill="${color}"/>`)
    }
    legend.push(`<span><i style="background:${color}"></i>${escape(s.name)}</span>`)
  })
  return `<figure class="chart" data-chart="${escape(id)}">
<figcaption>${escape(title)} <small>(${escape(unit)})</small></figcaption>
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escape(title)}">
<rect x="${PAD.l}" y="${PAD.t}" width="${iw}" height="${ih}" class="plot"/>
${parts.join('\n')}
</svg>
<div class="legend">${legend.join(' ')}</div>
</figure>`
}

function mainOf(tick) {
  return tick.loops.find((l) => l.thread === 'main')
}

const pLabel = (p) => (p.workerId != null ? `worker ${p.workerId}` : `pid ${p.pid}`)

/** The charts: the first processes individually (up to 6), the rest left to the JSON. */
function charts(report) {
  const t0 = report.startedAt
  const t1 = report.endedAt
  const procs = report.processes.slice(0, 6)
  const first = procs[0]
  const stallBands = report.processes.flatMap((p) =>
    p.stalls.map((s) => ({ from: s.startedAt, to: s.startedAt + s.durationMs, color: 'rgba(211,47,47,0.18)', title: `pid ${p.pid}: stall ${Math.round(s.durationMs)} ms` })),
  )
  const silentBands = report.processes.flatMap((p) => p.silences.map((s) => ({ from: s.from, to: s.to, color: 'rgba(0,0,0,0.08)', title: `pid ${p.pid} silent ${Math.round(s.ms)} ms` })))
  const bands = [...mergeBands(silentBands, t1 - t0), ...mergeBands(stallBands, t1 - t0)]
  const out = []
  const ser = (p, name, f, extra = {}) => ({ name, points: p.ticks.map((t) => ({ t: t.t, y: f(t) })).filter((q) => q.y != null), ...extra })

  const lag = []
  if (first) {
    lag.push(ser(first, `${pLabel(first)} main p50`, (t) => mainOf(t)?.p50), ser(first, `${pLabel(first)} main p99`, (t) => mainOf(t)?.p99), ser(first, `${pLabel(first)} main max`, (t) => mainOf(t)?.max, { dashed: true }))
    for (const p of procs.slice(1)) lag.push(ser(p, `${pLabel(p)} main p99`, (t) => mainOf(t)?.p99))
    const workerLoops = first.ticks.length ? Math.max(...first.ticks.map((t) => t.loops.length)) - 1 : 0
    if (workerLoops > 0) lag.push(ser(first, `${pLabel(first)} worker threads, worst p99 (${workerLoops})`, (t) => Math.max(0, ...t.loops.filter((l) => l.thread !== 'main').map((l) => l.p99)), { color: '#999' }))
  }
  out.push(chart({ id: 'lag', title: 'Event-loop lag per second (shaded: stalls; grey: silent)', unit: 'ms', series: lag, bands, t0, t1 }))

  const util = procs.map((p) => ser(p, `${pLabel(p)} main`, (t) => mainOf(t)?.utilization))
  if (first && first.ticks.some((t) => t.loops.length > 1)) util.push(ser(first, `${pLabel(first)} worker threads, mean`, (t) => meanOf(t.loops.filter((l) => l.thread !== 'main').map((l) => l.utilization)), { color: '#999' }))
  out.push(chart({ id: 'utilization', title: 'Event-loop utilisation', unit: '%', series: util, bands, t0, t1, yMax: 1 }))

  const cpu = procs.map((p) => ser(p, `${pLabel(p)} process`, (t) => t.cpuMs / (t.wallMs || 1000)))
  if (first) {
    const totals = new Map()
    for (const t of first.ticks) for (const [n, ms] of Object.entries(t.threads ?? {})) totals.set(n, (totals.get(n) ?? 0) + ms)
    const names = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n]) => n)
    for (const n of names) cpu.push(ser(first, `${pLabel(first)} thread "${n}"`, (t) => (t.threads?.[n] ?? 0) / (t.wallMs || 1000), { dashed: true }))
  }
  const cores = first?.start?.cores
  out.push(chart({ id: 'cpu', title: `CPU${cores ? ` (${cores} cores)` : ''}`, unit: 'cores', series: cpu, bands, t0, t1 }))

  const mem = []
  for (const p of procs.slice(0, 3)) {
    mem.push(ser(p, `${pLabel(p)} RSS`, (t) => t.rss), ser(p, `${pLabel(p)} heap used`, (t) => t.heapUsed), ser(p, `${pLabel(p)} heap after major GC`, (t) => t.heapAfterMajorGc, { dashed: true }))
  }
  out.push(chart({ id: 'memory', title: 'Memory', unit: 'MiB', series: mem, bands, t0, t1 }))

  const gc = []
  if (first) {
    const kinds = new Set()
    for (const t of first.ticks) for (const [k, v] of Object.entries(t.gcPauseMs ?? {})) if (v > 0) kinds.add(k)
    for (const k of kinds) gc.push(ser(first, `${pLabel(first)} ${k}`, (t) => t.gcPauseMs?.[k] ?? 0))
  }
  out.push(chart({ id: 'gc', title: 'GC pause time per second, by kind (main thread)', unit: 'ms', series: gc, bands, t0, t1 }))

  if (report.load && Array.isArray(report.load.perSecond)) {
    const ps = report.load.perSecond
    out.push(
      chart({
        id: 'load',
        title: "The doctor's load: response latency p99 and responses per second",
        unit: 'ms / count',
        series: [
          { name: 'latency p99 (ms)', points: ps.filter((s) => s.p99 != null).map((s) => ({ t: s.t, y: s.p99 })) },
          { name: 'responses per second', points: ps.map((s) => ({ t: s.t, y: s.ok })), dashed: true },
        ],
        bands,
        t0,
        t1,
      }),
    )
  }
  return out.join('\n')
}

/**
 * Bands closer than a pixel merge into one (a long run with thousands of
 * stalls stays small): the title counts what it holds.
 */
function mergeBands(bands, span) {
  const px = span / W
  const sorted = [...bands].sort((a, b) => a.from - b.from)
  const out = []
  for (const b of sorted) {
    const last = out.at(-1)
    if (last !== undefined && b.from - last.to < px) {
      last.to = Math.max(last.to, b.to)
      last.n++
      last.title = `${last.n} merged: ${last.first} … ${b.title}`
    } else out.push({ ...b, n: 1, first: b.title })
  }
  return out
}

const meanOf = (xs) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length)

function findingsHtml(findings) {
  return findings
    .map(
      (f, i) => `<section class="finding ${escape(f.severity)}" data-kind="${escape(f.kind)}">
<h3>${i === 0 ? '<span class="top">Diagnosis</span> ' : ''}<span class="sev">${escape(f.severity)}</span> ${escape(f.kind)}${f.pid != null ? ` <small>pid ${escape(f.pid)}${f.alsoIn ? `, also ${escape(f.alsoIn.join(', '))}` : ''}</small>` : ''}</h3>
<p>${escape(f.evidence)}</p>
${f.culprit ? `<p class="culprit">Culprit: <code>${escape(f.culprit.callee ? `${f.culprit.callee} in ` : '')}${escape(f.culprit.functionName)}</code>${f.culprit.where ? ` at <code>${escape(f.culprit.where)}</code>` : ''} (${escape(f.culprit.kind)}), ${escape(f.culprit.stalls)} stall(s), ${escape(Math.round(f.culprit.ms))} ms${f.culprit.calleeFrom === 'source' ? `; <code>${escape(f.culprit.callee)}</code> found in the function's source (the profile samples it inside its caller)` : ''}</p>` : ''}
<p class="advice">${code(f.advice)}</p>
</section>`,
    )
    .join('\n')
}

/** Text with `backticks` as <code>. */
function code(text) {
  return escape(text).replace(/`([^`]+)`/g, '<code>$1</code>')
}

function stallTable(report) {
  const rows = []
  for (const p of report.processes) {
    for (const s of p.stalls) rows.push({ p, s })
  }
  rows.sort((a, b) => a.s.startedAt - b.s.startedAt)
  if (rows.length === 0) return '<p>No stall of the main loop reached the threshold.</p>'
  const shown = rows.slice(-200)
  const body = shown
    .map(({ p, s }) => {
      const c = s.culprit
      const at = ((s.startedAt - report.startedAt) / 1000).toFixed(1)
      const what = c === null ? 'not named' : `${c.functionName}${c.url ? ` (${short(c.url, report.cwd)}:${c.line}:${c.column})` : ''} [${c.kind}]`
      const stack = (c?.frames ?? []).map((f) => `<li><code>${escape(f.functionName)}${f.url ? ` ${escape(short(f.url, report.cwd))}:${f.line}:${f.column}` : ''}</code></li>`).join('')
      return `<tr><td class="n">${at}s</td><td>${escape(pLabel(p))} ${escape(s.thread)}</td><td class="n">${Math.round(s.durationMs)}</td><td>${stack ? `<details><summary>${escape(what)}</summary><ol>${stack}</ol></details>` : escape(what)}</td></tr>`
    })
    .join('\n')
  return `${rows.length > shown.length ? `<p>The last ${shown.length} of ${rows.length} stalls.</p>` : ''}<table class="stalls"><thead><tr><th class="n">at</th><th>where</th><th class="n">ms</th><th>culprit (click for its stack)</th></tr></thead><tbody>
${body}
</tbody></table>`
}

function short(url, cwd) {
  let u = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url
  if (cwd && u.startsWith(`${cwd}/`)) u = u.slice(cwd.length + 1)
  return u
}

/**
 * The flame graph of the stalls: each stall's heaviest stacks (root at the
 * top), weighted by the ms their samples stood for inside the stall.
 */
function flameTree(report) {
  const root = { name: 'all stalls', ms: 0, children: new Map() }
  for (const p of report.processes) {
    for (const s of p.stalls) {
      for (const st of s.stacks ?? []) {
        const frames = [...st.frames].reverse()
        let node = root
        root.ms += st.ms
        for (const f of frames) {
          const key = `${f.functionName} ${f.url ? `${short(f.url, report.cwd)}:${f.line}` : ''}`.trim()
          let child = node.children.get(key)
          if (!child) node.children.set(key, (child = { name: key, ms: 0, children: new Map() }))
          child.ms += st.ms
          node = child
        }
      }
    }
  }
  return root
}

function flameGraph(report) {
  const root = flameTree(report)
  if (root.ms === 0) return '<div class="flame" data-chart="flame"><p>No stall stacks were recorded (no stall, or culprits were off).</p></div>'
  const FW = 900
  const ROW = 17
  const rects = []
  let depth = 0
  const walk = (node, x, width, d) => {
    depth = Math.max(depth, d)
    if (width < 0.5) return
    const hue = d === 0 ? 0 : 20 + ((node.name.length * 37) % 40)
    rects.push(
      `<g><rect x="${x.toFixed(1)}" y="${d * ROW}" width="${Math.max(0.5, width - 0.5).toFixed(1)}" height="${ROW - 1}" fill="hsl(${hue},85%,${d === 0 ? 80 : 62}%)"/>` +
        `<title>${escape(node.name)}: ${Math.round(node.ms)} ms (${Math.round((node.ms / root.ms) * 100)}%)</title>` +
        (width > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${d * ROW + 12}">${escape(node.name.slice(0, Math.floor(width / 6.5)))}</text>` : '') +
        '</g>',
    )
    let cx = x
    for (const c of [...node.children.values()].sort((a, b) => b.ms - a.ms)) {
      const cw = (c.ms / node.ms) * width
      walk(c, cx, cw, d + 1)
      cx += cw
    }
  }
  walk(root, 0, FW, 0)
  return `<div class="flame" data-chart="flame"><svg viewBox="0 0 ${FW} ${(depth + 1) * ROW}" width="100%" role="img" aria-label="flame graph of stall stacks">${rects.join('')}</svg>
<p class="note">Built from the heaviest three stacks of each stall (as the CPU profile running during the stall sampled them), each weighted by the ms its samples stood for; the root is at the top, callees below. Hover for names and times.</p></div>`
}

function renderHtml(report) {
  const exit = report.exit
  const how = exit.error ? `could not start (${exit.error})` : exit.signal ? `was ended by ${exit.signal}` : `exited with code ${exit.code}`
  const procs = report.processes.length
  const body = `<header>
<h1>nodeperf doctor</h1>
<p><code>${escape(report.command.join(' '))}</code> ${escape(how)} after ${(exit.afterMs / 1000).toFixed(1)} s (stopped by: ${escape(report.stoppedBy)}); ${procs} Node.js process${procs === 1 ? '' : 'es'} recorded; doctor exit code ${escape(exit.exitCode)}. ${escape(new Date(report.startedAt).toISOString())}, Node ${escape(report.processes[0]?.start?.node ?? report.node)}.</p>
</header>
<h2 id="findings">Findings</h2>
${findingsHtml(report.findings)}
${report.notes.length ? `<h2>Notes</h2><ul class="notes">${report.notes.map((n) => `<li>${escape(n)}</li>`).join('')}</ul>` : ''}
${report.stderrTail ? `<h2>The command's last stderr lines</h2><pre>${escape(report.stderrTail)}</pre>` : ''}
${report.load && report.load.latency ? `<p>Load: ${escape(report.load.rate)} req/s to <code>${escape(report.load.url)}</code>, ${escape(report.load.ok)} ok, ${escape(report.load.errors)} errors; latency p50 ${escape(report.load.latency.p50)} ms, p99 ${escape(report.load.latency.p99)} ms, max ${escape(report.load.latency.max)} ms.</p>` : ''}
<h2 id="charts">Time series</h2>
${charts(report)}
<h2 id="stalls">Stalls</h2>
${stallTable(report)}
<h2 id="flame">Flame graph of the stalls</h2>
${flameGraph(report)}
${processTable(report)}`
  return page(`nodeperf doctor: ${report.command.join(' ')}`, body)
}

function processTable(report) {
  if (report.processes.length === 0) return ''
  const rows = report.processes
    .map((p) => {
      const loops = p.ticks.length ? Math.max(...p.ticks.map((t) => t.loops.length)) : 0
      return `<tr><td>${escape(p.pid)}</td><td>${escape(p.ppid)}</td><td>${p.workerId ?? ''}</td><td class="n">${p.ticks.length}</td><td class="n">${loops}</td><td class="n">${p.stalls.length}</td><td>${p.exit ? escape(p.exit.code) : 'no exit record'}</td><td>${p.start.culprits ? 'on' : `off${p.start.culpritsOff ? `: ${escape(p.start.culpritsOff)}` : ''}`}</td></tr>`
    })
    .join('\n')
  return `<h2 id="processes">Processes</h2><table><thead><tr><th>pid</th><th>ppid</th><th>cluster worker</th><th class="n">seconds recorded</th><th class="n">loops</th><th class="n">stalls</th><th>exit code</th><th>culprits</th></tr></thead><tbody>${rows}</tbody></table>`
}

function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 960px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.finding { border-left: 6px solid #999; background: #fafafa; padding: 0.4em 0.9em; margin: 0.8em 0; }
.finding.critical { border-color: ${SEVERITY.critical}; } .finding.warning { border-color: ${SEVERITY.warning}; } .finding.info { border-color: ${SEVERITY.info}; }
.finding h3 { margin: 0.2em 0; font-size: 1.05em; } .sev { text-transform: uppercase; font-size: 0.8em; color: #fff; background: #666; padding: 0.1em 0.4em; border-radius: 3px; }
.critical .sev { background: ${SEVERITY.critical}; } .warning .sev { background: ${SEVERITY.warning}; } .info .sev { background: ${SEVERITY.info}; }
.top { font-weight: normal; color: #555; } .advice { font-weight: 500; }
figure.chart { margin: 0.6em 0 1.2em; break-inside: avoid; } figcaption { font-weight: 600; }
svg .plot { fill: #fcfcfc; stroke: #ccc; } svg .grid { stroke: #eee; } svg text { font-size: 11px; fill: #555; }
svg .ya { text-anchor: end; dominant-baseline: middle; } svg .xa { text-anchor: middle; }
.legend span { margin-right: 1em; font-size: 12px; white-space: nowrap; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
table { border-collapse: collapse; margin: 0.8em 0; width: 100%; } th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } details ol { margin: 0.3em 0; padding-left: 1.5em; }
.flame svg text { font-size: 11px; fill: #111; } .note { color: #555; font-size: 0.9em; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; font-size: 12px; }
code { font-size: 0.95em; }
@media print { body { max-width: none; margin: 0; } h2 { break-after: avoid; } .finding, figure, table { break-inside: avoid; } details { display: block; } details > ol { display: block; } }
</style>
</head>
<body>
${body}
</body>
</html>
`
}

module.exports = { renderHtml, downsample, flameTree }
