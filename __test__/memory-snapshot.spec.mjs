// Heap snapshots on request (lib/memory-snapshot.js): a valid snapshot is
// written; it is refused (ERR_NODEPERF_LOW_MEMORY) when the estimate is
// more than the memory available, unless forced; the sidecar's POST
// /debug/heap-snapshot does the same from its worker.
//
// The available-memory reading is injected through a spec-only hook
// (Symbol.for('nodeperf.memoryAvailable')), so the refusal does not depend
// on this machine's memory.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { memory, startSidecar } from '@nodeperf/native'

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

test('with no path, Node names the file in the working directory', () => {
  setAvailable(PLENTY)
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    const name = memory.writeHeapSnapshot()
    assert.match(path.basename(name), /^Heap\.\d{8}\.\d{6}\.\d+\.0\.\d+\.heapsnapshot$/)
    assert.ok(fs.statSync(path.resolve(dir, name)).size > 0)
    fs.rmSync(path.resolve(dir, name))
  } finally {
    process.chdir(cwd)
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
