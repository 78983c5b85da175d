// Heap snapshots on request (lib/memory-snapshot.js): a valid snapshot is
// written; it is refused (ERR_NODEPERF_LOW_MEMORY) when the estimate is
// more than the memory available, unless forced; the sidecar's POST
// /debug/heap-snapshot does the same from its worker.
//
// The available-memory reading is injected through a spec-only hook
// (Symbol.for('nodeperf.memoryAvailable')), so the refusal does not depend
// on this machine's memory.
//
// Object ids: the sidecar's snapshots are written by the main thread with
// v8.writeHeapSnapshot, so an object keeps its id from one to the next and
// heap.diff by id works on them (an inspector HeapProfiler.takeHeapSnapshot
// in between would have renumbered every object).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { spawnSync } from 'node:child_process'
import { memory, heap, startSidecar } from '@nodeperf/native'

const require = createRequire(import.meta.url)
const snapshotModule = require('../lib/memory-snapshot.js')
const setAvailable = snapshotModule[Symbol.for('nodeperf.memoryAvailable')]

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-snapshot-spec-'))
after(() => {
  setAvailable(null)
  fs.rmSync(dir, { recursive: true, force: true })
})

const PLENTY = 2 ** 50
const TOO_LITTLE = 1024

/** Parses a snapshot file and checks its shape: the header and node table agree. */
function assertValidSnapshot(file) {
  const text = fs.readFileSync(file, 'utf8')
  assert.ok(text.startsWith('{"snapshot":{"meta":'), 'starts with the snapshot header')
  const snap = JSON.parse(text)
  const { meta, node_count: nodeCount, edge_count: edgeCount } = snap.snapshot
  assert.ok(meta.node_fields.includes('type') && meta.node_fields.includes('self_size'))
  assert.ok(nodeCount > 1000, `node_count ${nodeCount}`)
  assert.equal(snap.nodes.length, nodeCount * meta.node_fields.length)
  assert.equal(snap.edges.length, edgeCount * meta.edge_fields.length)
  assert.ok(snap.strings.length > 0)
}

test('writeHeapSnapshot writes a valid snapshot to the path given and returns it', () => {
  setAvailable(PLENTY)
  const file = path.join(dir, 'given.heapsnapshot')
  assert.equal(memory.writeHeapSnapshot(file), file)
  assertValidSnapshot(file)
  fs.rmSync(file)
})

test('with no path, Node names the file in the working directory; the path returned is absolute; the file is 0600', () => {
  setAvailable(PLENTY)
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    const name = memory.writeHeapSnapshot()
    assert.ok(path.isAbsolute(name), name)
    assert.equal(path.dirname(name), fs.realpathSync(dir))
    assert.match(path.basename(name), /^Heap\.\d{8}\.\d{6}\.\d+\.0\.\d+\.heapsnapshot$/)
    assert.ok(fs.statSync(name).size > 0)
    assert.equal(fs.statSync(name).mode & 0o777, 0o600)
    fs.rmSync(name)
    // A relative path comes back absolute too.
    const relative = memory.writeHeapSnapshot('relative.heapsnapshot')
    assert.equal(relative, path.join(fs.realpathSync(dir), 'relative.heapsnapshot'))
    fs.rmSync(relative)
  } finally {
    process.chdir(cwd)
  }
})

test('the options may come alone, in place of the path', () => {
  setAvailable(TOO_LITTLE)
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    assert.throws(() => memory.writeHeapSnapshot({}), { code: 'ERR_NODEPERF_LOW_MEMORY' })
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written')
    const name = memory.writeHeapSnapshot({ force: true })
    assert.ok(path.isAbsolute(name), name)
    assertValidSnapshot(name)
    fs.rmSync(name)
    assert.throws(() => memory.writeHeapSnapshot({ force: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => memory.writeHeapSnapshot({ path: 'x' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => memory.writeHeapSnapshot(null), { code: 'ERR_INVALID_ARG_TYPE' })
  } finally {
    process.chdir(cwd)
    setAvailable(null)
  }
})

test('refused with both figures when the estimate exceeds what is available; force writes it anyway', () => {
  setAvailable(TOO_LITTLE)
  const file = path.join(dir, 'refused.heapsnapshot')
  assert.throws(() => memory.writeHeapSnapshot(file), (e) => {
    assert.equal(e.code, 'ERR_NODEPERF_LOW_MEMORY')
    assert.ok(e instanceof Error)
    // The estimate in MiB, and what was available (1 KiB shows as 0.0 MiB).
    assert.match(e.message, /it would take about \d+\.\d MiB and 0\.0 MiB is available/)
    assert.match(e.message, /force: true/)
    return true
  })
  assert.equal(fs.existsSync(file), false, 'nothing written')
  assert.equal(memory.writeHeapSnapshot(file, { force: true }), file)
  assertValidSnapshot(file)
  fs.rmSync(file)
})

test('the estimate grows with the heap, and the system reading is a positive number', () => {
  const { estimateSnapshotBytes, availableMemory } = snapshotModule
  assert.ok(estimateSnapshotBytes(200 << 20) > estimateSnapshotBytes(100 << 20))
  assert.ok(estimateSnapshotBytes(100 << 20) > 100 << 20)
  setAvailable(null)
  const reading = availableMemory()
  assert.ok(reading.bytes > 0, JSON.stringify(reading))
  assert.match(reading.source, /MemAvailable|freemem/)
})

test('bad arguments are coded errors', () => {
  setAvailable(PLENTY)
  for (const [args, code] of [
    [[5], 'ERR_INVALID_ARG_TYPE'],
    [[[]], 'ERR_INVALID_ARG_TYPE'],
    [[{}, {}], 'ERR_INVALID_ARG_TYPE'],
    [[''], 'ERR_INVALID_ARG_VALUE'],
    [['a\0b'], 'ERR_INVALID_ARG_VALUE'],
    [[path.join(dir, 'x.heapsnapshot'), 5], 'ERR_INVALID_ARG_TYPE'],
    [[path.join(dir, 'x.heapsnapshot'), { force: 1 }], 'ERR_INVALID_ARG_TYPE'],
    [[path.join(dir, 'x.heapsnapshot'), { overwrite: true }], 'ERR_INVALID_ARG_VALUE'],
  ]) {
    assert.throws(() => memory.writeHeapSnapshot(...args), { code }, String(args))
  }
  assert.equal(fs.existsSync(path.join(dir, 'x.heapsnapshot')), false)
})

test('sidecar: POST /debug/heap-snapshot is 404 when off; writes into dir when on; refuses when short; force', async () => {
  const off = await startSidecar({ metrics: false })
  try {
    assert.equal((await fetch(`http://127.0.0.1:${off.port}/debug/heap-snapshot`, { method: 'POST' })).status, 404)
  } finally {
    await off.close()
  }

  setAvailable(PLENTY)
  const on = await startSidecar({ metrics: false, heapSnapshots: { dir } })
  try {
    const url = `http://127.0.0.1:${on.port}/debug/heap-snapshot`
    assert.equal((await fetch(url)).status, 405)
    const res = await fetch(url, { method: 'POST' })
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(path.dirname(body.path), path.resolve(dir))
    assert.equal(fs.statSync(body.path).size, body.bytes)
    assert.equal(fs.statSync(body.path).mode & 0o777, 0o600, 'readable by the owner only')
    assertValidSnapshot(body.path)
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.partial')), [], 'no partial file left')
    fs.rmSync(body.path)
  } finally {
    await on.close()
  }

  // The reading the sidecar's worker uses is the one in force when it started.
  setAvailable(TOO_LITTLE)
  const short = await startSidecar({ metrics: false, heapSnapshots: { dir } })
  try {
    const res = await fetch(`http://127.0.0.1:${short.port}/debug/heap-snapshot`, { method: 'POST' })
    assert.equal(res.status, 507)
    const body = await res.json()
    assert.equal(body.error.code, 'ERR_NODEPERF_LOW_MEMORY')
    assert.match(body.error.message, /MiB is available/)
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written')
  } finally {
    await short.close()
  }
  const forced = await startSidecar({ metrics: false, heapSnapshots: { dir, force: true } })
  try {
    const res = await fetch(`http://127.0.0.1:${forced.port}/debug/heap-snapshot`, { method: 'POST' })
    assert.equal(res.status, 200)
    const body = await res.json()
    assertValidSnapshot(body.path)
    fs.rmSync(body.path)
  } finally {
    await forced.close()
    setAvailable(null)
  }
})

test('sidecar: bad heapSnapshots options are coded errors', async () => {
  for (const [heapSnapshots, code] of [
    [true, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
    [{ dir: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ dir: path.join(dir, 'missing') }, 'ERR_INVALID_ARG_VALUE'],
    [{ dir: '' }, 'ERR_INVALID_ARG_VALUE'],
    [{ dir, force: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ dir, other: 1 }, 'ERR_INVALID_ARG_VALUE'],
  ]) {
    await assert.rejects(startSidecar({ metrics: false, heapSnapshots }), { code }, JSON.stringify(heapSnapshots))
  }
})

/** The ids of the objects (node type 'object') of constructor `name` in a snapshot file. */
function idsOf(file, name) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'))
  const { node_fields: fields, node_types: types } = snap.snapshot.meta
  const [typeAt, nameAt, idAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('id')]
  const object = types[typeAt].indexOf('object')
  const ids = []
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    if (snap.nodes[i + typeAt] === object && snap.strings[snap.nodes[i + nameAt]] === name) ids.push(snap.nodes[i + idAt])
  }
  return ids
}

class SidecarIdMarker {}
class SidecarIdGrowth {}

test('sidecar: two snapshots of one process keep an object\'s id, and heap.diff by id of them works', async () => {
  setAvailable(PLENTY)
  globalThis.sidecarIdMarker = new SidecarIdMarker()
  const sidecar = await startSidecar({ metrics: false, heapSnapshots: { dir } })
  const files = []
  try {
    const url = `http://127.0.0.1:${sidecar.port}/debug/heap-snapshot`
    const take = async () => {
      const res = await fetch(url, { method: 'POST' })
      const body = await res.json()
      assert.equal(res.status, 200, JSON.stringify(body))
      files.push(body.path)
      return body.path
    }
    const a = await take()
    globalThis.sidecarIdGrowth = Array.from({ length: 300 }, () => new SidecarIdGrowth())
    const b = await take()
    const [idA, idB] = [idsOf(a, 'SidecarIdMarker'), idsOf(b, 'SidecarIdMarker')]
    assert.equal(idA.length, 1)
    assert.deepEqual(idB, idA, 'the same object has the same id in both')
    const d = await heap.diff(a, b)
    assert.equal(d.by, 'id')
    const grown = d.constructors.find((c) => c.name === 'SidecarIdGrowth')
    assert.ok(grown, JSON.stringify(d.constructors.slice(0, 5)))
    assert.equal(grown.count, 300, 'exactly the objects allocated between the two')
    assert.equal(d.constructors.some((c) => c.name === 'SidecarIdMarker'), false, 'the marker is not new')
  } finally {
    await sidecar.close()
    for (const f of files) fs.rmSync(f, { force: true })
    delete globalThis.sidecarIdMarker
    delete globalThis.sidecarIdGrowth
    setAvailable(null)
  }
})

test('sidecar: the snapshot is written while the main loop is stuck', async () => {
  setAvailable(PLENTY)
  const sidecar = await startSidecar({ metrics: false, heapSnapshots: { dir } })
  // A worker makes the request and posts the answer into shared memory; this
  // thread spins, never returning to its loop, until it is there.
  const shared = new Int32Array(new SharedArrayBuffer(4 + 4096))
  const worker = new Worker(
    `const { workerData: { url, sab } } = require('node:worker_threads')
     const flag = new Int32Array(sab, 0, 1), out = new Uint8Array(sab, 4)
     fetch(url, { method: 'POST' }).then(async (r) => ({ status: r.status, body: await r.json() }), (e) => ({ error: String(e) }))
       .then((x) => { out.set(new TextEncoder().encode(JSON.stringify(x)).subarray(0, 4096)); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0) })`,
    { eval: true, workerData: { url: `http://127.0.0.1:${sidecar.port}/debug/heap-snapshot`, sab: shared.buffer } },
  )
  let answer
  try {
    // Stuck: synchronous waits only (bounded, so a failure cannot hang the run).
    for (let i = 0; i < 600 && Atomics.load(shared, 0) === 0; i++) Atomics.wait(shared, 0, 0, 100)
    assert.equal(Atomics.load(shared, 0), 1, 'the answer came while this loop was blocked')
    const bytes = new Uint8Array(shared.buffer, 4)
    answer = JSON.parse(new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0))))
    assert.equal(answer.status, 200, JSON.stringify(answer))
    assertValidSnapshot(answer.body.path)
  } finally {
    await worker.terminate()
    await sidecar.close()
    if (answer && answer.body && answer.body.path) fs.rmSync(answer.body.path, { force: true })
    setAvailable(null)
  }
})

test('sidecar: a second request while one runs is 409 busy; heap-growth reads between two snapshots keep the ids', async () => {
  setAvailable(PLENTY)
  globalThis.sidecarIdMarker = new SidecarIdMarker()
  const sidecar = await startSidecar({ metrics: false, heapGrowth: true, heapSnapshots: { dir } })
  const files = []
  try {
    const base = `http://127.0.0.1:${sidecar.port}`
    const post = () => fetch(`${base}/debug/heap-snapshot`, { method: 'POST' }).then(async (r) => ({ status: r.status, body: await r.json() }))
    // From a worker, as this thread is blocked while the main thread writes
    // the snapshot: one request, then others until one is refused or the
    // first is answered.
    const worker = new Worker(
      `const { workerData: { url }, parentPort } = require('node:worker_threads')
       const post = () => fetch(url, { method: 'POST' }).then(async (r) => ({ status: r.status, body: await r.json() }))
       ;(async () => {
         let firstDone = false
         const first = post().finally(() => { firstDone = true })
         const others = []
         while (!firstDone && !others.some((o) => o.status === 409)) others.push(await post())
         parentPort.postMessage([await first, ...others])
       })()`,
      { eval: true, workerData: { url: `${base}/debug/heap-snapshot` } },
    )
    const answers = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    for (const a of answers) if (a.status === 200) files.push(a.body.path)
    const busy = answers.find((a) => a.status === 409)
    assert.ok(busy, JSON.stringify(answers.map((a) => a.status)))
    assert.deepEqual(Object.keys(busy.body), ['error'])
    assert.equal(busy.body.error.code, 'busy')
    assert.match(busy.body.error.message, /heap snapshot request is running/)
    const ok = answers.find((a) => a.status === 200)
    assert.ok(ok, JSON.stringify(answers.map((a) => a.status)))

    const growth = await fetch(`${base}/debug/heap-growth`)
    assert.equal(growth.status, 200)
    await growth.json()
    const second = await post()
    assert.equal(second.status, 200, JSON.stringify(second.body))
    files.push(second.body.path)
    assert.deepEqual(idsOf(second.body.path, 'SidecarIdMarker'), idsOf(ok.body.path, 'SidecarIdMarker'))
  } finally {
    await sidecar.close()
    for (const f of files) fs.rmSync(f, { force: true })
    delete globalThis.sidecarIdMarker
    setAvailable(null)
  }
})

test('sidecar: snapshots of two sidecars in a row get their own files; none is written over', async () => {
  setAvailable(PLENTY)
  const paths = []
  try {
    for (let i = 0; i < 2; i++) {
      const sidecar = await startSidecar({ metrics: false, heapSnapshots: { dir } })
      try {
        const res = await fetch(`http://127.0.0.1:${sidecar.port}/debug/heap-snapshot`, { method: 'POST' })
        const body = await res.json()
        assert.equal(res.status, 200, JSON.stringify(body))
        paths.push(body)
      } finally {
        await sidecar.close()
      }
    }
    assert.notEqual(paths[0].path, paths[1].path)
    for (const { path: file, bytes } of paths) assert.equal(fs.statSync(file).size, bytes)
  } finally {
    for (const { path: file } of paths) fs.rmSync(file, { force: true })
    setAvailable(null)
  }
})

test('sidecar: a snapshot that cannot be written is 500 with the system\'s code, and leaves nothing behind', async () => {
  setAvailable(PLENTY)
  const gone = fs.mkdtempSync(path.join(dir, 'gone-'))
  const sidecar = await startSidecar({ metrics: false, heapSnapshots: { dir: gone } })
  try {
    fs.rmSync(gone, { recursive: true })
    const res = await fetch(`http://127.0.0.1:${sidecar.port}/debug/heap-snapshot`, { method: 'POST' })
    const body = await res.json()
    assert.equal(res.status, 500, JSON.stringify(body))
    assert.equal(body.error.code, 'ENOENT')
    assert.equal(fs.existsSync(gone), false)
    // The next one works once the directory is back.
    fs.mkdirSync(gone)
    const again = await fetch(`http://127.0.0.1:${sidecar.port}/debug/heap-snapshot`, { method: 'POST' })
    const ok = await again.json()
    assert.equal(again.status, 200, JSON.stringify(ok))
    assert.deepEqual(fs.readdirSync(gone), [path.basename(ok.path)])
  } finally {
    await sidecar.close()
    fs.rmSync(gone, { recursive: true, force: true })
    setAvailable(null)
  }
})

// Fresh processes: the warning is once per process, and the exit is the point.
const repo = path.join(path.dirname(new URL(import.meta.url).pathname), '..')
function runChild(code) {
  return spawnSync(process.execPath, ['-e', code], { cwd: repo, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SNAP_DIR: dir } })
}

test("a snapshot after a locator's stop() warns once (NODEPERF_SNAPSHOT_IDS); a locator read alone does not", () => {
  const r = runChild(`
    const path = require('node:path'), fs = require('node:fs')
    const { memory } = require('@nodeperf/native')
    const seen = []
    process.on('warning', (w) => { if (w.code === 'NODEPERF_SNAPSHOT_IDS') seen.push(w.message) })
    const snap = (n) => fs.rmSync(memory.writeHeapSnapshot(path.join(process.env.SNAP_DIR, n + '.heapsnapshot'), { force: true }))
    const tick = () => new Promise((resolve) => setImmediate(resolve))
    ;(async () => {
      const locator = memory.startLeakLocator()
      snap('w1')
      await locator.read()
      snap('w2')
      await tick()
      const afterRead = seen.length
      locator.stop()
      snap('w3')
      await tick()
      const afterStop = seen.length
      const again = memory.startLeakLocator()
      again.stop()
      snap('w4')
      await tick()
      console.log(JSON.stringify({ afterRead, afterStop, total: seen.length, message: seen[0] }))
    })()
  `)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.afterRead, 0, 'a read while the session stays open')
  assert.equal(out.afterStop, 1)
  assert.equal(out.total, 1, 'once per process')
  assert.match(out.message, /by: 'constructor'/)
})

test('sidecar: after a snapshot, the process exits on its own with no debugger wait', () => {
  const r = runChild(`
    const { startSidecar } = require('@nodeperf/native')
    ;(async () => {
      const s = await startSidecar({ metrics: false, heapSnapshots: { dir: process.env.SNAP_DIR, force: true } })
      const res = await fetch('http://127.0.0.1:' + s.port + '/debug/heap-snapshot', { method: 'POST' })
      const body = await res.json()
      require('node:fs').rmSync(body.path)
      console.log(res.status)
      // No close(): the loop empties and the process ends.
    })()
  `)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), '200')
  assert.doesNotMatch(r.stderr, /Waiting for the debugger/)
})
