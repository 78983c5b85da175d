// The process group under hostile conditions: writers killed with SIGKILL
// while they publish, a reader killed and replaced, two groups in one
// directory, tampered markers and segments, a directory with the wrong
// owner or mode, and (as root) another user trying to open a segment.
// None of them may crash a reader or return another process's data.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateDir, groupChild, spawnLines, sleep, until } from './group-helpers.mjs'

const dir = privateDir()
const { group } = await import('@nodeperf/native')
const native = (await import('../lib/native.js')).default
const root = new URL('..', import.meta.url).pathname
const children = []
after(() => {
  for (const c of children) c.child.kill('SIGKILL')
})
const spawnChild = async (...args) => {
  const c = await groupChild(...args)
  children.push(c)
  return c
}
const markers = () => fs.readdirSync(dir)

test('writers killed with SIGKILL while publishing every 10 ms: the others still come back, the dead are reclaimed', async () => {
  const survivor = await spawnChild('killed', 10)
  for (let round = 0; round < 4; round++) {
    const victim = await spawnChild('killed', 10)
    await until(() => group.processes({ name: 'killed' }), (ps) => ps.some((p) => p.pid === victim.pid))
    // Load: keep the victim's main loop busy while it publishes, and read
    // in a tight loop here until the kill lands at some point of a publish.
    victim.send('block 3000')
    await victim.next((v) => v.blocking !== undefined)
    const killAt = Date.now() + 50 + round * 37
    let reads = 0
    while (Date.now() < killAt) {
      group.processes({ name: 'killed' })
      reads++
    }
    victim.child.kill('SIGKILL')
    await new Promise((r) => victim.child.once('exit', r))
    for (let k = 0; k < 20; k++) {
      const ps = group.processes({ name: 'killed' })
      assert.ok(ps.some((p) => p.pid === survivor.pid && p.error === null), JSON.stringify(ps))
      assert.ok(!ps.some((p) => p.pid === victim.pid), `the dead writer ${victim.pid} is still listed`)
    }
    assert.ok(reads > 0)
    assert.ok(!markers().includes(`nkilled.${victim.pid}`), `marker of ${victim.pid} not reclaimed: ${markers()}`)
  }
  survivor.send('exit')
})

test('a reader killed with SIGKILL mid-reading; a new reader reads the group', async () => {
  const writer = await spawnChild('readers', 10)
  const readerSrc = `
    const { group } = require(${JSON.stringify(root)})
    let n = 0
    for (;;) { n += group.processes({ name: 'readers' }).length; if (n === 50) require('fs').writeSync(1, JSON.stringify({ reading: true }) + '\\n') }
  `
  const r1 = spawnLines(['-e', readerSrc])
  await r1.next((v) => v.reading)
  r1.child.kill('SIGKILL')
  await new Promise((r) => r1.child.once('exit', r))
  const r2 = spawnSync(process.execPath, ['-e', `const { group } = require(${JSON.stringify(root)}); console.log(JSON.stringify(group.processes({ name: 'readers' })))`], {
    encoding: 'utf8',
    timeout: 30000,
  })
  assert.equal(r2.status, 0, r2.stderr)
  const ps = JSON.parse(r2.stdout)
  assert.equal(ps.length, 1)
  assert.equal(ps[0].pid, writer.pid)
  assert.equal(ps[0].error, null)
  assert.ok(ps[0].loops.length >= 1)
  writer.send('exit')
})

test('a deleted marker is put back by its writer; a stopped writer is reported stale, not extrapolated', async () => {
  const c = await spawnChild('restore', 20)
  const marker = join(dir, `nrestore.${c.pid}`)
  fs.rmSync(marker)
  assert.deepEqual(group.processes({ name: 'restore' }), [])
  // The publisher checks its marker every ~2 s (a hang guard bounds the wait).
  await until(() => group.processes({ name: 'restore' }), (ps) => ps.length === 1 && ps[0].pid === c.pid)
  assert.ok(fs.existsSync(marker))

  // Busy, then SIGSTOPped: the publisher stops too. Once its last publish
  // is older than 3 intervals, stalledFor stays at the published value
  // while ageMs keeps growing.
  c.send('block 4000')
  await c.next((v) => v.blocking !== undefined)
  const main = () => group.processes({ name: 'restore' })[0]
  await until(main, (p) => p.loops[0].stalledFor > 200)
  c.child.kill('SIGSTOP')
  try {
    const stale = await until(main, (p) => p.ageMs > 200)
    await sleep(300)
    const later = main()
    assert.ok(later.ageMs > stale.ageMs, `${stale.ageMs} then ${later.ageMs}`)
    assert.equal(later.loops[0].stalledFor, stale.loops[0].stalledFor)
    assert.equal(later.publishedAt, stale.publishedAt)
    assert.equal(later.error, null)
  } finally {
    c.child.kill('SIGCONT')
  }
  c.child.kill('SIGKILL')
})

test('two groups in one directory do not see each other', async () => {
  const a = await spawnChild('left', 20)
  const b = await spawnChild('right', 20)
  assert.deepEqual(group.processes({ name: 'left' }).map((p) => p.pid), [a.pid])
  assert.deepEqual(group.processes({ name: 'right' }).map((p) => p.pid), [b.pid])
  assert.deepEqual(group.processes({ name: 'lef' }), [])
  a.send('exit')
  b.send('exit')
})

/** The 48-byte marker record, as src/group/segment.rs writes it. */
function markerBytes({ magic = 'NPGMARK1', version = 1n, pid, start, fd, size }) {
  const b = Buffer.alloc(48)
  b.write(magic, 0, 'latin1')
  b.writeBigUInt64LE(version, 8)
  b.writeBigUInt64LE(BigInt(pid), 16)
  b.writeBigUInt64LE(BigInt(start), 24)
  b.writeBigUInt64LE(BigInt(fd), 32)
  b.writeBigUInt64LE(BigInt(size), 40)
  return b
}

test('tampered markers and segments: that process comes back with error.code, the others still do', async () => {
  const real = await spawnChild('tamper', 20)
  const realMarker = fs.readFileSync(join(dir, `ntamper.${real.pid}`))
  const size = realMarker.readBigUInt64LE(40)
  const fakePath = join(dir, `ntamper.${process.pid}`)
  const start = native.groupStartTime(process.pid)
  const other = join(dir, '..', `nodeperf-group-other-${process.pid}`)
  fs.writeFileSync(other, Buffer.alloc(Number(size)), { mode: 0o600 })
  const otherFd = fs.openSync(other, 'r')
  const cases = {
    garbage: () => fs.writeFileSync(fakePath, Buffer.from('this is not a marker record, not at all!!!!!!!!'), { mode: 0o600 }),
    truncated: () => fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: 3, size }).subarray(0, 20), { mode: 0o600 }),
    'wrong magic': () => fs.writeFileSync(fakePath, markerBytes({ magic: 'XXXXXXXX', pid: process.pid, start, fd: 3, size }), { mode: 0o600 }),
    'huge size': () => fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: 3, size: 1n << 50n }), { mode: 0o600 }),
    'fd of another file': () => fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: otherFd, size }), { mode: 0o600 }),
    'fd of a pipe or device': () => fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: 1, size }), { mode: 0o600 }),
    'fd not open': () => fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: 999999, size }), { mode: 0o600 }),
    'another process named inside': () => fs.writeFileSync(fakePath, markerBytes({ pid: real.pid, start, fd: 3, size }), { mode: 0o600 }),
    'open to others': () => {
      fs.writeFileSync(fakePath, markerBytes({ pid: process.pid, start, fd: otherFd, size }), { mode: 0o600 })
      fs.chmodSync(fakePath, 0o644)
    },
    symlink: () => fs.symlinkSync(join(dir, `ntamper.${real.pid}`), fakePath),
  }
  const seen = {}
  for (const [name, make] of Object.entries(cases)) {
    fs.rmSync(fakePath, { force: true })
    make()
    const ps = group.processes({ name: 'tamper' })
    const fake = ps.find((p) => p.pid === process.pid)
    assert.ok(fake, `${name}: the tampered marker's process is listed`)
    assert.equal(typeof fake.error?.code, 'string', `${name}: ${JSON.stringify(fake)}`)
    assert.deepEqual(fake.loops, [])
    seen[name] = fake.error.code
    const good = ps.find((p) => p.pid === real.pid)
    assert.equal(good.error, null, `${name}: the real process still reads`)
  }
  assert.equal(seen.symlink, 'ELOOP')
  assert.equal(seen['fd not open'], 'ENOENT')
  for (const name of ['garbage', 'truncated', 'wrong magic', 'huge size', 'fd of another file', 'fd of a pipe or device', 'another process named inside', 'open to others']) {
    assert.equal(seen[name], 'ERR_NODEPERF_GROUP_SEGMENT', `${name}: ${seen[name]}`)
  }
  fs.rmSync(fakePath, { force: true })
  fs.closeSync(otherFd)
  fs.rmSync(other)

  // The real segment scribbled over (same user: it can open the memfd for
  // writing through /proc): a clear error for it, no crash. The writer is
  // stopped first, or its next publish (every 20 ms) could make the slots
  // whole again before the read.
  real.child.kill('SIGSTOP')
  const fd = Number(realMarker.readBigUInt64LE(32))
  const w = fs.openSync(`/proc/${real.pid}/fd/${fd}`, 'r+')
  fs.writeSync(w, Buffer.from('GARBAGE!'), 0, 8, 0)
  let ps = group.processes({ name: 'tamper' })
  assert.equal(ps[0].error?.code, 'ERR_NODEPERF_GROUP_SEGMENT', JSON.stringify(ps))
  assert.match(ps[0].error.message, /magic/)
  // Every word of the first slots set to all ones: lengths past their
  // capacity, an odd sequence everywhere.
  fs.writeSync(w, Buffer.from('NPGROUP1'), 0, 8, 0)
  const junk = Buffer.alloc(4096, 0xff)
  for (let off = 16 * 8; off < 64 * 1024; off += junk.length) fs.writeSync(w, junk, 0, junk.length, off)
  ps = group.processes({ name: 'tamper' })
  assert.equal(typeof ps[0].error?.code, 'string', JSON.stringify(ps))
  fs.closeSync(w)
  real.child.kill('SIGKILL')
})

test('a group directory with the wrong mode, owner or a symlink is refused with a clear error', () => {
  const saved = process.env.NODEPERF_GROUP_DIR
  try {
    const open = fs.mkdtempSync(join(tmpdir(), 'nodeperf-group-open-'))
    fs.chmodSync(open, 0o755)
    process.env.NODEPERF_GROUP_DIR = open
    assert.throws(() => group.processes({ name: 'x' }), { code: 'ERR_NODEPERF_GROUP_DIR', message: /mode is 755/ })
    assert.throws(() => group.join('x'), { code: 'ERR_NODEPERF_GROUP_DIR' })
    const link = `${open}-link`
    fs.chmodSync(open, 0o700)
    fs.symlinkSync(open, link)
    process.env.NODEPERF_GROUP_DIR = link
    assert.throws(() => group.processes({ name: 'x' }), { code: 'ERR_NODEPERF_GROUP_DIR', message: /symbolic link/ })
    if (process.getuid() === 0) {
      const theirs = fs.mkdtempSync(join(tmpdir(), 'nodeperf-group-theirs-'))
      fs.chownSync(theirs, 65534, 65534)
      process.env.NODEPERF_GROUP_DIR = theirs
      assert.throws(() => group.processes({ name: 'x' }), { code: 'ERR_NODEPERF_GROUP_DIR', message: /belongs to uid 65534/ })
    }
  } finally {
    process.env.NODEPERF_GROUP_DIR = saved
  }
  assert.equal(group.current(), null)
})

test('another user (nobody) cannot open a segment: EACCES', { skip: process.getuid() !== 0 && 'needs root to run a child as uid 65534' }, async () => {
  const real = await spawnChild('private', 20)
  const marker = fs.readFileSync(join(dir, `nprivate.${real.pid}`)).toString('hex')
  // nobody's own directory and a copy of the real marker in it: the only
  // thing between it and the segment is the segment's own permissions.
  const src = `
    const fs = require('fs'), path = require('path'), os = require('os')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-group-nobody-'))
    process.env.NODEPERF_GROUP_DIR = dir
    fs.writeFileSync(path.join(dir, 'nprivate.${real.pid}'), Buffer.from('${marker}', 'hex'), { mode: 0o600 })
    const { group } = require(${JSON.stringify(root)})
    console.log(JSON.stringify({ uid: process.getuid(), ps: group.processes({ name: 'private' }) }))
    fs.rmSync(dir, { recursive: true })
  `
  const r = spawnSync(process.execPath, ['-e', src], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 30000, env: { ...process.env, NODEPERF_GROUP_DIR: '' } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.equal(out.uid, 65534)
  assert.equal(out.ps.length, 1)
  assert.equal(out.ps[0].error?.code, 'EACCES', JSON.stringify(out.ps[0]))
  assert.deepEqual(out.ps[0].loops, [])
  real.send('exit')
})
