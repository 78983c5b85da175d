// The process group (lib/group.js, src/group/): processes publish their
// loops' state into shared memory, and another process reads it with no
// IPC: values present, worker threads listed, a stuck process seen stuck
// while it is, a cluster primary seeing its workers while one is blocked,
// and the group's export read equal to the process's own.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { privateDir, groupChild, sleep, until } from './group-helpers.mjs'

const dir = privateDir()
const indexPath = fileURLToPath(new URL('../index.js', import.meta.url))
const { group } = await import('@nodeperf/native')
const { readGroupExport } = await import('../lib/group.js').then((m) => m.default ?? m)
const children = []
after(() => {
  for (const c of children) c.child.kill('SIGKILL')
})

test('a named group is read by another process: loops (a worker thread too), pool, heap', async () => {
  const c = await groupChild('values', 20)
  children.push(c)
  const procs = await until(
    () => group.processes({ name: 'values' }),
    (ps) => ps.length === 1 && ps[0].loops.length >= 2,
  )
  const p = procs[0]
  assert.equal(p.pid, c.pid)
  assert.equal(p.error, null)
  assert.equal(p.workerId, null)
  assert.equal(typeof p.publishedAt, 'number')
  assert.ok(p.ageMs >= 0, `ageMs ${p.ageMs}`)
  const threads = p.loops.map((l) => l.thread)
  assert.equal(threads[0], 'main')
  assert.ok(threads.some((t) => /^worker-\d+$/.test(t)), threads.join())
  for (const l of p.loops) {
    assert.equal(l.running, true)
    for (const k of ['stalledFor', 'utilization', 'stalls', 'stalledMs', 'p50', 'p90', 'p99', 'p999', 'max']) {
      assert.equal(typeof l[k], 'number', k)
      assert.ok(l[k] >= 0, `${k} ${l[k]}`)
    }
    assert.ok(l.utilization <= 1)
    assert.equal(l.culprit, null)
  }
  assert.ok(p.pool !== null, 'the child ran a task on its default pool')
  assert.ok(p.pool.threads >= 1)
  assert.ok(p.pool.completed >= 1, JSON.stringify(p.pool))
  assert.ok(p.heap.used > 0 && p.heap.limit > p.heap.used, JSON.stringify(p.heap))
  assert.ok(Math.abs(p.heap.ratio - p.heap.used / p.heap.limit) < 1e-12)
  // Its marker is the only file of the group, named <key>.<pid>.
  assert.ok(readdirSync(dir).includes(`nvalues.${c.pid}`), readdirSync(dir).join())
  c.send('exit')
  await new Promise((r) => c.child.once('exit', r))
  // It left: its marker went with it.
  assert.deepEqual(group.processes({ name: 'values' }), [])
})

test('a blocked process: its stalledFor grows while it is stuck, then it counts a stall', async () => {
  const c = await groupChild('stuck', 20)
  children.push(c)
  const main = () => group.processes({ name: 'stuck' })[0]?.loops.find((l) => l.thread === 'main')
  await until(main, (l) => l !== undefined)
  c.send('block 1500')
  await c.next((v) => v.blocking !== undefined)
  // Seen stuck while stuck: more than a third of the block, read from here.
  const first = await until(main, (l) => l.stalledFor > 500)
  await sleep(200)
  const second = main()
  assert.ok(second.stalledFor > first.stalledFor, `${first.stalledFor} then ${second.stalledFor}`)
  await c.next((v) => v.unblocked !== undefined)
  const afterwards = await until(main, (l) => l.stalls >= 1)
  assert.ok(afterwards.stalledMs >= 1000, `stalledMs ${afterwards.stalledMs}`)
  assert.ok(afterwards.max >= 1000, `window max ${afterwards.max}`)
  assert.ok(afterwards.stalledFor < 1000, `stalledFor after the block ${afterwards.stalledFor}`)
  c.send('exit')
})

test('stall culprits: the group read names the code that ran the last stall', async () => {
  const c = await groupChild('culprit', 20, 'idle', { GROUP_CHILD_CULPRITS: '1' })
  children.push(c)
  const main = () => group.processes({ name: 'culprit' })[0]?.loops.find((l) => l.thread === 'main')
  assert.equal((await until(main, (l) => l !== undefined)).culprit, null)
  c.send('block 600')
  await c.next((v) => v.unblocked !== undefined)
  const l = await until(main, (x) => x.culprit !== null)
  assert.match(l.culprit, /spinInGroupChild/)
  assert.ok(Buffer.byteLength(l.culprit) <= 256)
  c.send('exit')
})

test('stall culprits, precise mode: the group read names the code of the stall still in progress', async () => {
  const c = await groupChild('precise', 20, 'idle', { GROUP_CHILD_CULPRITS: 'precise' })
  children.push(c)
  const main = () => group.processes({ name: 'precise' })[0]?.loops.find((l) => l.thread === 'main')
  assert.equal((await until(main, (l) => l !== undefined)).culprit, null)
  c.send('block 4000')
  await c.next((v) => v.blocking !== undefined)
  // Seen while the loop is still stuck in it (stalledFor still growing).
  const l = await until(main, (x) => x.culprit !== null)
  assert.match(l.culprit, /spinInGroupChild/)
  assert.ok(l.stalledFor > 0, JSON.stringify(l))
  assert.equal(l.stalls, 0, 'the stall has not ended yet')
  await c.next((v) => v.unblocked !== undefined)
  c.send('exit')
})

test('export equality: the group read of an idle process equals its own readExport, buckets and sum, pool too', async () => {
  const c = await groupChild('export', 20, 'export')
  children.push(c)
  const BOUNDS = [0.00001, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]
  const POOL_BOUNDS = [0.00001, 0.0001, 0.001, 0.01, 0.1, 1]
  // A trial counts when the child's own reads before and after the group
  // read agree (its main loop did nothing in between) and a publish fell
  // between the first of them and the group read (3 intervals later).
  let compared = 0
  for (let trial = 0; trial < 40 && compared < 3; trial++) {
    const a = await c.next((v) => v.t !== undefined)
    while (process.hrtime.bigint() < BigInt(a.t) + 80_000_000n) await sleep(5)
    const read = readGroupExport(BOUNDS, POOL_BOUNDS, 60000, { name: 'export' })
    const readEnd = process.hrtime.bigint()
    const b = await c.next((v) => v.t !== undefined)
    if (BigInt(b.t) <= readEnd) continue
    if (JSON.stringify([a.buckets, a.sum, a.pool]) !== JSON.stringify([b.buckets, b.sum, b.pool])) continue
    assert.equal(read.length, 1)
    const p = read[0]
    assert.equal(p.error, null)
    const x = p.loops.find((l) => l.thread === 'main').x
    assert.deepEqual(Array.from(x.buckets), a.buckets)
    assert.equal(x.sum, a.sum)
    assert.equal(x.stallsTotal, a.stallsTotal)
    assert.ok(p.pool instanceof Float64Array)
    assert.deepEqual(Array.from(p.pool), a.pool)
    compared++
  }
  assert.ok(compared >= 1, 'no trial where the child stayed idle around the read')
  assert.throws(() => readGroupExport(BOUNDS, POOL_BOUNDS, 30000, { name: 'export' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => readGroupExport('x', POOL_BOUNDS, 60000, { name: 'export' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => readGroupExport([1, 0.5], POOL_BOUNDS, 60000, { name: 'export' }), { code: 'ERR_INVALID_ARG_VALUE' })
  c.send('exit')
})

test('cluster: the primary sees both workers through shared memory while one is blocked in a busy loop', () => {
  const fixture = fileURLToPath(new URL('./fixtures/group-cluster.cjs', import.meta.url))
  // A hang guard, not a timing assertion.
  const r = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODEPERF_GROUP: '' } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.equal(out.procs.length, 2, JSON.stringify(out))
  assert.deepEqual(out.procs.map((p) => p.workerId).sort(), [1, 2])
  const blocked = out.procs.find((p) => p.workerId === out.blockedId)
  const other = out.procs.find((p) => p.workerId !== out.blockedId)
  assert.ok(blocked.loops[0].stalledFor > 500, JSON.stringify(blocked.loops[0]))
  assert.ok(other.loops[0].stalledFor < blocked.loops[0].stalledFor, JSON.stringify(other.loops[0]))
  assert.equal(out.messagesDuringRead, 0, 'no IPC message arrived from the workers during the read')
  assert.match(out.current.key, /^c\d+-\d+$/)
})

test('argument errors carry codes', async () => {
  assert.throws(() => group.join(3), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => group.join('no spaces'), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => group.join('x'.repeat(65)), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => group.join('ok', { intervalMs: 5 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => group.join('ok', { intervalMs: 10001 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => group.join('ok', { intervalMs: '100' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => group.join('ok', { bogus: 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => group.processes(), { code: 'ERR_NODEPERF_NO_GROUP' })
  assert.throws(() => group.processes({ name: 'a b' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.equal(group.current(), null)
  // A worker thread does not join (the process's publisher covers its loop).
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); const { group } = require(${JSON.stringify(indexPath)}); try { group.join('w') } catch (e) { parentPort.postMessage([e.code, group.current()]) }`, { eval: true })
    w.once('message', resolve)
    w.once('error', reject)
  })
  assert.deepEqual(fromWorker, ['ERR_INVALID_ARG_VALUE', null])
  assert.deepEqual(group.join('mine', { intervalMs: 50 }), { key: 'nmine', pid: process.pid })
  assert.deepEqual(group.current(), { key: 'nmine', name: 'mine', cluster: false, intervalMs: 50 })
  assert.throws(() => group.join('theirs'), { code: 'ERR_NODEPERF_GROUP_JOINED' })
  // The default group is the one joined; this process reads itself.
  assert.equal(group.processes()[0].pid, process.pid)
  group.leave()
  assert.equal(group.current(), null)
})
