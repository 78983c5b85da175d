// Issue 6's bars, in one run: for each document (a) 20 MB records, (b)
// 20 MB flat array of numbers, (c) 20 MB long strings with escapes and
// non-ASCII, (d) 2 MB nested 5,000 levels deep, side by side: JSON.parse,
// piscina (a worker parses and returns the object), and ours (parseJson on
// the same string, and on the same text as a Buffer).
//
// Every measurement runs in a fresh child process (the heap left by one
// parse must not slow the next), methods interleaved across repetitions;
// medians are reported, and every ratio compares numbers from the same run.
//
//   node bench/json.mjs [--runs 5] [--docs a,b,c,d] [--fuzz 100000] [--no-fuzz] [--no-concurrent]
//                       [--node-flags=--max-semi-space-size=1] [--json out.json]
//
// Before it is measured, each method parses one 1 MB document of the same
// kind (DOCS[k].warm), as a server that has been running would have.
//
// Per measurement: time to the resolved value; the longest main-thread
// stall seen by a 1 ms setInterval probe (the longest gap between its
// ticks) and by perf_hooks.monitorEventLoopDelay({ resolution: 1 }) (max);
// peak RSS (the process's maxRSS). The child checks that the value is
// deep-equal to JSON.parse's before it reports.

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { DOCS } from './json-docs.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

const METHODS = {
  'JSON.parse': 'parse',
  // What a server with a Buffer body does: JSON.parse calls buffer.toString()
  // (UTF-8 decode) first. The anchor for "ours (Buffer)".
  'JSON.parse(buffer)': 'parse-buffer',
  piscina: 'piscina',
  'ours (string)': 'ours',
  'ours (Buffer)': 'ours-buffer',
}

// ------------------------------------------------------------------ child

async function child(method, file, extra) {
  const text = fs.readFileSync(file, 'utf8') // a flat string, as from a Buffer
  const bytes = method === 'ours-buffer' || method === 'parse-buffer' || method === 'ours-8x-buffer' ? fs.readFileSync(file) : null
  const native = require('../index.js')
  let Piscina
  let pool
  if (method.startsWith('piscina')) {
    Piscina = (await import('piscina')).Piscina
    pool = new Piscina({ filename: path.join(here, 'json-piscina-worker.mjs'), maxThreads: os.availableParallelism() })
    await pool.run('[1]') // the worker exists before the measurement, as in a server
  }
  // Warm-up: each method parses one 1 MB document of the same kind first
  // (JIT-compiled paths, started threads), as in a server that has been
  // running; piscina's worker likewise exists and has parsed before.
  const kind = path.basename(file, '.json')
  const warmText = DOCS[kind] ? DOCS[kind].warm() : '[1]'
  const warmBytes = Buffer.from(warmText)
  if (method.startsWith('piscina')) await pool.run(warmText)
  else if (method.startsWith('ours')) await native.pool.parseJson(method.endsWith('buffer') ? warmBytes : warmText)
  else JSON.parse(method === 'parse-buffer' ? warmBytes : warmText)

  const docs = method.endsWith('8x') || method.endsWith('8x-buffer') ? extra.split(',').map((f) => fs.readFileSync(f, 'utf8')) : null
  const docBytes = method === 'ours-8x-buffer' ? extra.split(',').map((f) => fs.readFileSync(f)) : null

  const run = {
    parse: () => JSON.parse(text),
    'parse-buffer': () => JSON.parse(bytes),
    piscina: () => pool.run(text),
    ours: () => native.pool.parseJson(text),
    'ours-buffer': () => native.pool.parseJson(bytes),
    'parse-8x': () => docs.map((d) => JSON.parse(d)),
    'piscina-8x': () => Promise.all(docs.map((d) => pool.run(d))),
    'ours-8x': () => Promise.all(docs.map((d) => native.pool.parseJson(d))),
    'ours-8x-buffer': () => Promise.all(docBytes.map((d) => native.pool.parseJson(d))),
  }[method]

  const eld = monitorEventLoopDelay({ resolution: 1 })
  let last = performance.now()
  let maxGap = 0
  let peakRss = process.memoryUsage.rss()
  const probe = setInterval(() => {
    const t = performance.now()
    if (t - last > maxGap) maxGap = t - last
    last = t
    const rss = process.memoryUsage.rss()
    if (rss > peakRss) peakRss = rss
  }, 1)
  await new Promise((r) => setTimeout(r, 100))
  // GC pauses inside the window: what of the stall is V8's collector.
  let measuring = false
  let gcMax = 0
  let gcTotal = 0
  let minorMax = 0
  let majorMax = 0
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!measuring) continue
      gcTotal += e.duration
      if (e.duration > gcMax) gcMax = e.duration
      // perf_hooks.constants: NODE_PERFORMANCE_GC_MINOR 1, _MAJOR 4.
      const kind = e.detail ? e.detail.kind : e.kind
      if (kind === 1 && e.duration > minorMax) minorMax = e.duration
      if (kind === 4 && e.duration > majorMax) majorMax = e.duration
    }
  })
  gcObserver.observe({ entryTypes: ['gc'] })
  measuring = true
  eld.enable()
  last = performance.now()
  maxGap = 0
  const rssBefore = process.memoryUsage.rss()
  const t0 = performance.now()
  const value = await run()
  const elapsed = performance.now() - t0
  // A few more turns of the loop, so both probes see a stall that ended
  // just as the value arrived (monitorEventLoopDelay records a delay when
  // its next tick runs).
  await new Promise((r) => setTimeout(r, 25))
  measuring = false
  gcObserver.disconnect()
  eld.disable()
  clearInterval(probe)
  if (pool) await pool.destroy()
  const maxRss = process.resourceUsage().maxRSS * 1024

  // Correctness, after the clock stopped.
  const { sameValue } = await import('../__test__/json-fuzz.mjs')
  let check = 'skipped'
  if (method !== 'parse' && method !== 'parse-buffer' && method !== 'parse-8x') {
    const refs = docs ? docs.map((d) => JSON.parse(d)) : [JSON.parse(text)]
    const got = docs ? value : [value]
    const diffs = refs.map((r, i) => sameValue(got[i], r)).filter(Boolean)
    check = diffs.length === 0 ? 'equal' : `DIFFERENT: ${diffs[0]}`
  }
  process.stdout.write(
    JSON.stringify({
      method,
      elapsed,
      maxGap,
      eldMax: eld.max / 1e6,
      gcMax,
      gcTotal,
      minorMax,
      majorMax,
      rssBefore,
      peakRss: Math.max(peakRss, maxRss),
      resolved: docs ? value.length : 1,
      check,
    }) + '\n',
  )
}

// ----------------------------------------------------------------- parent

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const CHILD_TIMEOUT_MS = 30_000

let nodeFlags = []

function measure(method, file, extra = '') {
  const argv = [...nodeFlags, '--max-old-space-size=8192', fileURLToPath(import.meta.url), '--child', method, file, extra]
  const r = spawnSync(process.execPath, argv, {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    timeout: CHILD_TIMEOUT_MS,
  })
  const line = r.stdout.trim().split('\n').pop()
  if (r.status !== 0 || !line) {
    const why = r.signal ? `no value within ${CHILD_TIMEOUT_MS / 1000} s` : `exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`
    return { method, elapsed: NaN, maxGap: NaN, eldMax: NaN, peakRss: NaN, resolved: 0, check: `FAILED (${why})` }
  }
  return JSON.parse(line)
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–')
const mb = (x) => (x / 1e6).toFixed(0)

async function parent(args) {
  const runs = Number(args.runs ?? 5)
  nodeFlags = typeof args['node-flags'] === 'string' ? args['node-flags'].split(' ').filter(Boolean) : []
  const docs = (args.docs ?? 'a,b,c,d').split(',')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-json-bench-'))
  const files = {}
  for (const k of docs) {
    files[k] = path.join(dir, `${k}.json`)
    fs.writeFileSync(files[k], DOCS[k].make())
  }
  const machine = `${os.cpus()[0].model}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
  console.log(`# bench/json.mjs — ${new Date().toISOString()}`)
  console.log(`machine: ${machine}; load average at start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  console.log(`runs: ${runs} per cell (each in a fresh process, methods interleaved), medians shown${nodeFlags.length ? `; node flags: ${nodeFlags.join(' ')}` : ''}\n`)
  const results = { machine, runs, docs: {}, concurrent: null, fuzz: null, loadStart: os.loadavg() }

  for (const k of docs) {
    const size = fs.statSync(files[k]).size
    const cells = Object.fromEntries(Object.values(METHODS).map((m) => [m, []]))
    for (let r = 0; r < runs; r++) {
      for (const m of Object.values(METHODS)) cells[m].push(measure(m, files[k]))
    }
    results.docs[k] = { name: DOCS[k].name, bytes: size, cells }
    const base = median(cells.parse.map((x) => x.elapsed))
    const baseRss = median(cells.parse.map((x) => x.peakRss))
    // Same input: Buffer rows against JSON.parse(buffer), the rest against JSON.parse(string).
    const baseBuffer = median(cells['parse-buffer'].map((x) => x.elapsed))
    const sameInput = (m) => (m === 'ours-buffer' || m === 'parse-buffer' ? baseBuffer : base)
    console.log(`## (${k}) ${DOCS[k].name}, ${(size / 1e6).toFixed(1)} MB`)
    console.log('| method | time to value (ms) | × JSON.parse | × JSON.parse, same input | longest stall, 1 ms probe (ms) | longest stall, monitorEventLoopDelay (ms) | longest GC pause (ms): scavenge / mark-compact | GC total (ms) | peak RSS (MB) | × JSON.parse | value |')
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    for (const [label, m] of Object.entries(METHODS)) {
      const c = cells[m]
      const t = median(c.map((x) => x.elapsed))
      const rss = median(c.map((x) => x.peakRss))
      const checks = [...new Set(c.map((x) => x.check))].join(', ')
      console.log(
        `| ${label} | ${fmt(t)} | ${fmt(t / base, 2)} | ${fmt(t / sameInput(m), 2)} | ${fmt(median(c.map((x) => x.maxGap)))} | ${fmt(median(c.map((x) => x.eldMax)))} | ${fmt(median(c.map((x) => x.minorMax)))} / ${fmt(median(c.map((x) => x.majorMax)))} | ${fmt(median(c.map((x) => x.gcTotal)), 0)} | ${mb(rss)} | ${fmt(rss / baseRss, 2)} | ${checks} |`,
      )
    }
    console.log('')
  }

  if (!args['no-concurrent']) {
    const mix = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b'].filter((k) => files[k])
    if (mix.length === 8) {
      const extra = mix.map((k) => files[k]).join(',')
      const cells = { 'parse-8x': [], 'piscina-8x': [], 'ours-8x': [], 'ours-8x-buffer': [] }
      for (let r = 0; r < runs; r++) for (const m of Object.keys(cells)) cells[m].push(measure(m, files.a, extra))
      results.concurrent = cells
      console.log(`## 8 concurrent parses of 20 MB documents (${mix.join(', ')})`)
      console.log('| method | all resolved | time to all values (ms) | longest stall, 1 ms probe (ms) | longest stall, monitorEventLoopDelay (ms) | longest GC pause (ms) | peak RSS (MB) | values |')
      console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |')
      const labels = { 'parse-8x': 'JSON.parse, one after another', 'piscina-8x': 'piscina, 8 at once', 'ours-8x': 'ours (string), 8 at once', 'ours-8x-buffer': 'ours (Buffer), 8 at once' }
      for (const [m, c] of Object.entries(cells)) {
        console.log(
          `| ${labels[m]} | ${c.every((x) => x.resolved === 8) ? 'yes' : 'NO'} | ${fmt(median(c.map((x) => x.elapsed)))} | ${fmt(median(c.map((x) => x.maxGap)))} | ${fmt(median(c.map((x) => x.eldMax)))} | ${fmt(median(c.map((x) => x.gcMax)))} | ${mb(median(c.map((x) => x.peakRss)))} | ${[...new Set(c.map((x) => x.check))].join(', ')} |`,
        )
      }
      console.log('')
    }
  }

  if (!args['no-fuzz']) {
    const count = Number(args.fuzz ?? 100000)
    const r = spawnSync(process.execPath, [path.join(here, 'json-fuzz.mjs'), '--count', String(count), '--json'], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    })
    const line = r.stdout.trim().split('\n').pop()
    results.fuzz = line ? JSON.parse(line) : { error: r.stderr }
    const f = results.fuzz
    console.log(`## Differential fuzzing against JSON.parse`)
    console.log(`${f.cases} cases (${f.valid} valid, ${f.invalid} invalid; strings and bytes; parseJson, validateJson, parseJsonSync; slice sizes 1..65536): ${f.failures} differences; ${f.unstable} where this process's JSON.parse disagreed with a fresh process's; ${fmt(f.ms / 1000)} s\n`)
  }
  results.loadEnd = os.loadavg()
  console.log(`load average at end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 1))
  fs.rmSync(dir, { recursive: true, force: true })
}

function parseArgs(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1)
      continue
    }
    const key = a.slice(2)
    const next = argv[i + 1]
    if (next === undefined || next.startsWith('--')) out[key] = true
    else out[key] = argv[++i]
  }
  return out
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5])
} else {
  await parent(parseArgs(process.argv.slice(2)))
}
