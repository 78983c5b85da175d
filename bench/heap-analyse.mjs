// heap.summary against memlab and JSON.parse on the same snapshots.
//
// Makes snapshots of about 25, 100 and 300 MB of heap (child processes with
// room enough; kept in a cache folder), then, per file, runs each
// contender in a child process of its own, interleaved and repeated, and
// reports the time to a by-constructor summary with retained sizes, the
// child's peak RSS (VmHWM) and RSS / file size:
//
//   ours      heap.summary(file, { paths: 0 })
//   memlab    @memlab/core: getSnapshotFromFile, TraceFinder.
//             calculateAllNodesRetainedSizes, then the same summary from
//             memlab's own dominatorNode and retainedSize
//   json      readFileSync + JSON.parse + counts and self sizes (no
//             retained sizes); past V8's 512 MiB string limit it fails,
//             which is reported
//
// Then checks ours against memlab: counts and self sizes exact for every
// constructor, retained sizes of the top 20 within 1%.
//
//   node bench/heap-analyse.mjs [--sizes 25,100,300] [--runs 3]
//        [--only ours,memlab,json] [--cache DIR] [--memlab DIR]
//
// memlab is not a dependency of the package: it is looked up in the
// project, then in --memlab DIR (default: <cache>/memlab), where
//   PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix DIR @memlab/core
// puts it (see BENCHMARKS.md for why it is not a devDependency).
import { spawnSync, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)
const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}

// Objects of a few shapes, so that many constructors and real retention
// trees show up: records holding arrays and strings, maps, closures,
// linked chains.
const GENERATE = `
const v8 = require('node:v8')
const target = Number(process.argv[1]) * 2 ** 20
class Record { constructor(i) { this.id = i; this.values = new Array(8).fill(i); this.label = 'record-' + i; this.tags = [{ k: i }, { k: i + 1 }] } }
class Chain { constructor(next, i) { this.next = next; this.payload = { i, s: 'c' + (i % 1000) } } }
class Cache { constructor() { this.map = new Map() } }
globalThis.roots = { records: [], chains: [], caches: [], fns: [] }
let i = 0
while (process.memoryUsage().heapUsed < target) {
  for (let k = 0; k < 10000; k++, i++) {
    roots.records.push(new Record(i))
    if (i % 10 === 0) {
      let c = null
      for (let j = 0; j < 5; j++) c = new Chain(c, i + j)
      roots.chains.push(c)
    }
    if (i % 100 === 0) {
      const cache = new Cache()
      for (let j = 0; j < 20; j++) cache.map.set('k' + j, [i, j])
      roots.caches.push(cache)
    }
    if (i % 50 === 0) { const x = [i]; roots.fns.push(() => x) }
  }
}
v8.writeHeapSnapshot(process.argv[2])
`

// DevTools' class name; memlab's node.name already carries its "Detached "
// prefix, the JSON reader adds it from `detachedness`.
function className(type, name) {
  if (type === 'object' || type === 'native') return name
  if (type === 'hidden') return '(system)'
  if (type === 'code') return '(compiled code)'
  return `(${type})`
}

function peakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

// ---------------------------------------------------------------------------
// Contenders (each run in a child: `--contender NAME --file F`).

async function ours(file) {
  const { heap } = createRequire(self)('../index.js')
  const s = await heap.summary(file, { paths: 0 })
  return s.constructors
}

function findMemlab(dir) {
  for (const from of [self, join(dir, 'package.json')]) {
    try {
      return createRequire(from)('@memlab/core')
    } catch {}
  }
  return null
}

async function memlab(file, dir) {
  const core = findMemlab(dir)
  if (core === null) throw new Error(`@memlab/core not found in the project nor in ${dir}`)
  core.config.verbose = false
  core.config.muteConsole = true
  const snapshot = await core.utils.getSnapshotFromFile(file, { buildNodeIdIndex: false, verbose: false })
  new core.TraceFinder().calculateAllNodesRetainedSizes(snapshot)
  // The DevTools summary from memlab's own dominators and retained sizes.
  const n = snapshot.nodes.length
  const cls = new Array(n)
  const dom = new Uint32Array(n)
  const retained = new Float64Array(n)
  const self = new Float64Array(n)
  snapshot.nodes.forEach((node) => {
    const i = node.nodeIndex
    cls[i] = className(node.type, node.name)
    dom[i] = node.dominatorNode ? node.dominatorNode.nodeIndex : 0
    retained[i] = node.retainedSize
    self[i] = node.self_size
  })
  const start = new Uint32Array(n + 2)
  for (let i = 1; i < n; i++) start[dom[i] + 2]++
  for (let i = 2; i < start.length; i++) start[i] += start[i - 1]
  const kids = new Uint32Array(n)
  for (let i = 1; i < n; i++) kids[start[dom[i] + 1]++] = i
  const rows = new Map()
  const onPath = new Map()
  const enter = (i) => {
    let r = rows.get(cls[i])
    if (!r) rows.set(cls[i], (r = { name: cls[i], count: 0, selfSize: 0, retainedSize: 0 }))
    r.count++
    r.selfSize += self[i]
    const depth = onPath.get(cls[i]) ?? 0
    if (depth === 0) r.retainedSize += retained[i]
    onPath.set(cls[i], depth + 1)
  }
  enter(0)
  const stack = [0]
  const next = [start[0]]
  while (stack.length) {
    const top = stack.length - 1
    const v = stack[top]
    if (next[top] < start[v + 1]) {
      const c = kids[next[top]++]
      enter(c)
      stack.push(c)
      next.push(start[c])
    } else {
      stack.pop()
      next.pop()
      onPath.set(cls[v], onPath.get(cls[v]) - 1)
    }
  }
  return [...rows.values()].sort((a, b) => b.retainedSize - a.retainedSize)
}

function json(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const m = s.snapshot.meta
  const nf = m.node_fields.length
  const [t, nm, sz, det] = ['type', 'name', 'self_size', 'detachedness'].map((f) => m.node_fields.indexOf(f))
  const types = m.node_types[t]
  const rows = new Map()
  for (let i = 0; i < s.nodes.length; i += nf) {
    const detached = det >= 0 && s.nodes[i + det] === 2 ? 'Detached ' : ''
    const c = className(types[s.nodes[i + t]], detached + s.strings[s.nodes[i + nm]])
    let r = rows.get(c)
    if (!r) rows.set(c, (r = { name: c, count: 0, selfSize: 0 }))
    r.count++
    r.selfSize += s.nodes[i + sz]
  }
  return [...rows.values()].sort((a, b) => b.selfSize - a.selfSize)
}

async function child(name, file, out) {
  const started = performance.now()
  let rows = null
  let error = null
  try {
    if (name === 'ours') rows = await ours(file)
    else if (name === 'memlab') rows = await memlab(file, option('memlab'))
    else rows = json(file)
  } catch (e) {
    error = `${e.code ?? e.name}: ${String(e.message).slice(0, 200)}`
  }
  const ms = performance.now() - started
  writeFileSync(out, JSON.stringify({ ms, rss: peakRss(), rows, error }))
}

// ---------------------------------------------------------------------------
// The parent.

function generate(cache, mb) {
  const file = join(cache, `heap-v2-${mb}mb.heapsnapshot`)
  if (!existsSync(file)) {
    const t = performance.now()
    execFileSync(process.execPath, [`--max-old-space-size=${Math.max(1024, mb * 4)}`, '-e', GENERATE, String(mb), file], {
      stdio: 'inherit',
    })
    console.log(`made ${file} (${mb} MB of heap) in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  return file
}

function runChild(name, file, cache) {
  const out = join(cache, `result-${process.pid}.json`)
  const heapMb = name === 'ours' ? 512 : 16384
  const r = spawnSync(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, self, '--contender', name, '--file', file, '--out', out, '--memlab', option('memlab', join(cache, 'memlab'))],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  )
  if (r.status !== 0) {
    const tail = (r.stderr || '').trim().split('\n').slice(-2).join(' | ')
    return { ms: NaN, rss: NaN, rows: null, error: `exit ${r.status ?? r.signal}: ${tail.slice(0, 200)}` }
  }
  return JSON.parse(readFileSync(out, 'utf8'))
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return v.length ? v[v.length >> 1] : NaN
}
const mb = (b) => (b / 2 ** 20).toFixed(0)

function compare(ours, memlab) {
  const problems = []
  const theirs = new Map(memlab.map((r) => [r.name, r]))
  if (ours.length !== memlab.length) problems.push(`constructors: ours ${ours.length}, memlab ${memlab.length}`)
  for (const r of ours) {
    const m = theirs.get(r.name)
    if (!m) problems.push(`${r.name}: not in memlab's`)
    else if (m.count !== r.count || m.selfSize !== r.selfSize) {
      problems.push(`${r.name}: count/self ours ${r.count}/${r.selfSize}, memlab ${m.count}/${m.selfSize}`)
    }
  }
  const exact = ours.filter((r) => theirs.get(r.name)?.retainedSize === r.retainedSize).length
  console.log(`retained sizes identical to memlab's for ${exact} of ${ours.length} constructors`)
  for (const r of ours.slice(0, 20)) {
    const m = theirs.get(r.name)
    if (m && Math.abs(m.retainedSize - r.retainedSize) > 0.01 * Math.max(1, m.retainedSize)) {
      problems.push(`${r.name}: retained ours ${r.retainedSize}, memlab ${m.retainedSize}`)
    }
  }
  return problems
}

async function main() {
  if (args.includes('--contender')) return child(option('contender'), option('file'), option('out'))
  const cache = resolve(option('cache', join(tmpdir(), 'nodeperf-heap-bench')))
  mkdirSync(cache, { recursive: true })
  const sizes = option('sizes', '25,100,300').split(',').map(Number)
  const runs = Number(option('runs', '3'))
  const only = option('only', 'ours,memlab,json').split(',')
  if (only.includes('memlab') && findMemlab(option('memlab', join(cache, 'memlab'))) === null) {
    console.log(`memlab not found: PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix ${join(cache, 'memlab')} @memlab/core`)
    only.splice(only.indexOf('memlab'), 1)
  }
  console.log(`node ${process.version}, ${runs} runs per contender per file, interleaved; medians`)
  for (const size of sizes) {
    const file = generate(cache, size)
    const bytes = statSync(file).size
    const results = Object.fromEntries(only.map((n) => [n, []]))
    for (let run = 0; run < runs; run++) {
      for (const name of only) {
        // JSON.parse cannot read past V8's string limit: once is enough.
        if (name === 'json' && run > 0 && results.json[0].error) continue
        results[name].push(runChild(name, file, cache))
      }
    }
    console.log(`\n${size} MB of heap: ${file}, ${mb(bytes)} MB`)
    console.log('contender   time (s)   peak RSS (MB)   RSS / file')
    const summary = {}
    for (const name of only) {
      const rs = results[name]
      const failed = rs.find((r) => r.error)
      const ms = median(rs.map((r) => r.ms))
      const rss = median(rs.map((r) => r.rss))
      summary[name] = { ms, rss }
      if (failed) {
        console.log(`${name.padEnd(10)}  failed: ${failed.error}`)
        summary[name].ms = NaN
        continue
      }
      console.log(
        `${name.padEnd(10)}  ${(ms / 1000).toFixed(2).padStart(8)}   ${mb(rss).padStart(13)}   ${(rss / bytes).toFixed(2).padStart(10)}` +
          `   (runs: ${rs.map((r) => (r.ms / 1000).toFixed(2)).join(', ')} s)`,
      )
    }
    if (summary.ours && summary.memlab) {
      console.log(`memlab / ours time: ${(summary.memlab.ms / summary.ours.ms).toFixed(1)}x (bar >= 3x); ours RSS / file ${(summary.ours.rss / bytes).toFixed(2)} (bar <= 1.5)`)
      const a = results.ours.find((r) => r.rows)
      const b = results.memlab.find((r) => r.rows)
      if (a && b) {
        const problems = compare(a.rows, b.rows)
        console.log(
          problems.length === 0
            ? `equal to memlab: ${a.rows.length} constructors, counts and self sizes exact, top 20 retained within 1%`
            : `DIFFERS from memlab (${problems.length}):\n  ${problems.slice(0, 20).join('\n  ')}`,
        )
      }
    }
    if (summary.ours && summary.json && Number.isFinite(summary.json.ms)) {
      console.log(`json / ours time: ${(summary.json.ms / summary.ours.ms).toFixed(1)}x (json has no retained sizes)`)
    }
  }
}

await main()
