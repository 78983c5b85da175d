// Stall culprits: lag.configure({ culprits }) names the code a stall ran.
// Every assertion is on what was named (function, file, kind, counters),
// never on how long anything took.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import inspector from 'node:inspector'
import { Worker } from 'node:worker_threads'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import client from 'prom-client'
import { lag, recentStalls } from '@nodeperf/native'
import { collectMetrics } from '@nodeperf/native/prom'

const indexPath = fileURLToPath(new URL('../index.js', import.meta.url))
const here = fileURLToPath(import.meta.url)

// On from the start, as an app would turn it on at startup: code V8
// optimised while no profile ran lacks the positions of the functions it
// inlined, and its samples name the caller (src/lag/CULPRITS.md). Tests that
// turn it off or change it turn it back on.
lag.configure({ culprits: true })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const lineOf = (text) => fs.readFileSync(here, 'utf8').split('\n').findIndex((l) => l.startsWith(text)) + 1

/**
 * The info of the next stall of at least `ms` on this thread. (Stall
 * delivery does not keep the loop alive: a timer does, until it comes.)
 */
function nextStall(ms = 100) {
  return new Promise((resolve) => {
    const alive = setInterval(() => {}, 1000)
    const off = lag.onStall(ms, (info) => {
      off()
      clearInterval(alive)
      resolve(info)
    })
  })
}

// Named stalls: each keeps the loop busy for at least 250 ms, whatever the
// machine's speed, inside a function of its own.
function spinInJs() {
  let x = 0
  const end = Date.now() + 250
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}
function hashPasswords() {
  const end = Date.now() + 250
  let n = 0
  while (Date.now() < end) n += crypto.pbkdf2Sync('pw', 'salt', 20_000, 32, 'sha512').length
  return n
}
function allocateLots() {
  const end = Date.now() + 250
  let keep = []
  while (Date.now() < end) {
    for (let i = 0; i < 10_000; i++) keep.push({ i, s: `v${i}`, a: [i, i] })
    if (keep.length > 2_000_000) keep = []
  }
  return keep.length
}
function handler(work) {
  return work()
}

/**
 * Runs `work` from a timer (through `via` if given) and returns the stall's info.
 * First lets the busy period in progress (and the delivery of any stall
 * before it) pass, so the info is this stall's.
 */
async function stallWith(work, via = null) {
  await sleep(30)
  const info = nextStall(100)
  setTimeout(via === null ? work : () => via(work), 5)
  return info
}

test('culprits are off by default, and configure says so', () => {
  const r = child(`process.stdout.write(JSON.stringify(np.lag.configure({}).culprits))`)
  assert.equal(r.stdout, 'false', r.stderr)
})

test('a JS loop, a native call and an allocation burst are each named by their function', async (t) => {
  const config = lag.configure({ culprits: true })
  t.after(() => lag.configure({ culprits: true }))
  assert.deepEqual(config.culprits, { intervalMs: 10, thresholdMs: 100, rotateMs: 30_000, precise: false })

  const js = await stallWith(spinInJs, handler)
  assert.equal(js.culprit.functionName, 'spinInJs', JSON.stringify(js.stacks))
  assert.equal(js.culprit.kind, 'js')
  assert.equal(fileURLToPath(js.culprit.url), here)
  assert.equal(js.culprit.line, lineOf('function spinInJs'))
  assert.ok(js.culprit.samples > 0 && js.culprit.share > 0.5, JSON.stringify(js.culprit))
  assert.equal(js.culprit.frames[0].functionName, 'spinInJs')
  assert.ok(js.culprit.frames.some((f) => f.functionName === 'handler'), 'the caller is in the frames')
  assert.equal(js.thread, 'main')

  const native = await stallWith(hashPasswords, handler)
  assert.equal(native.culprit.functionName, 'hashPasswords', JSON.stringify(native.stacks))
  assert.equal(native.culprit.kind, 'native')
  assert.ok(native.nativeShare > 0.5, `nativeShare ${native.nativeShare}`)
  assert.ok(native.culprit.frames.some((f) => f.functionName === 'pbkdf2Sync'), JSON.stringify(native.culprit.frames))

  // Mostly GC: named as GC, or (when GC took less than the function) by the
  // function that allocated.
  const gc = await stallWith(allocateLots, handler)
  assert.ok(gc.culprit.kind === 'gc' || gc.culprit.functionName === 'allocateLots', JSON.stringify(gc))
  assert.ok(gc.gcShare > 0, `gcShare ${gc.gcShare}`)
})

test('stalls land in the ring (readable from a worker) and in the per-culprit counter', async (t) => {
  lag.configure({ culprits: true })
  t.after(() => lag.configure({ culprits: true }))
  const before = recentStalls().length
  const info = await stallWith(spinInJs)
  const ring = recentStalls()
  assert.ok(ring.length > before || ring.length === 64, 'the ring grew')
  const last = ring.at(-1)
  assert.equal(info.culprit.functionName, 'spinInJs', JSON.stringify(info.stacks))
  assert.equal(last.culprit.functionName, 'spinInJs', JSON.stringify(last))
  assert.equal(last.startedAt, info.startedAt)

  const seen = await new Promise((resolve, reject) => {
    const w = new Worker(
      `const { recentStalls } = require(${JSON.stringify(indexPath)});
       require('node:worker_threads').parentPort.postMessage(recentStalls().map((s) => [s.thread, s.culprit && s.culprit.functionName]))`,
      { eval: true },
    )
    w.once('message', resolve)
    w.once('error', reject)
  })
  assert.ok(seen.some(([thread, fn]) => thread === 'main' && fn === 'spinInJs'), JSON.stringify(seen))

  const register = new client.Registry()
  collectMetrics({ register })
  const text = await register.metrics()
  const line = text.split('\n').find((l) => l.startsWith('nodeperf_eventloop_stall_culprits_total{') && l.includes(`culprit="spinInJs (__test__/culprits.spec.mjs:${lineOf('function spinInJs')})"`))
  assert.ok(line, text.split('\n').filter((l) => l.includes('culprits_total')).join('\n'))
  assert.match(line, /thread="main"/)
  assert.match(line, /kind="js"/)
  assert.ok(Number(line.split(' ').at(-1)) >= 1)
})

test("a worker's stalls are named on its own thread and seen from the main thread", async () => {
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker(
      `const { lag } = require(${JSON.stringify(indexPath)});
       const { parentPort } = require('node:worker_threads')
       lag.configure({ culprits: true })
       lag.onStall(100, (info) => parentPort.postMessage(info))
       function workerSpin() { let x = 0; const end = Date.now() + 250; while (Date.now() < end) x++; return x }
       setTimeout(workerSpin, 5)
       setInterval(() => {}, 1000)`,
      { eval: true },
    )
    w.once('message', (info) => {
      w.terminate()
      resolve(info)
    })
    w.once('error', reject)
  })
  assert.equal(fromWorker.culprit.functionName, 'workerSpin')
  assert.match(fromWorker.thread, /^worker-\d+$/)
  assert.ok(recentStalls().some((s) => s.thread === fromWorker.thread && s.culprit && s.culprit.functionName === 'workerSpin'))
})

test("the profiler's signals do not make an idle loop look busy", async () => {
  // SIGPROF (100 a second) used to wake the loop's poll, and libuv restarts
  // its idle clock at each wakeup: a loop waiting on a timer showed stalls.
  await sleep(50)
  lag.reset()
  await sleep(1200)
  assert.equal(lag.snapshot().stalls, 0, `stalls while idle; longest busy period ${lag.max()} ms`)
})

test('bad culprit options are refused with Node-style codes, and change nothing', () => {
  const cases = [
    [{ culprits: { intervalMs: 0 } }, 'ERR_OUT_OF_RANGE', /options\.culprits\.intervalMs/],
    [{ culprits: { intervalMs: -5 } }, 'ERR_OUT_OF_RANGE', /options\.culprits\.intervalMs/],
    [{ culprits: { intervalMs: NaN } }, 'ERR_OUT_OF_RANGE', /options\.culprits\.intervalMs/],
    [{ culprits: { intervalMs: '10' } }, 'ERR_INVALID_ARG_TYPE', /options\.culprits\.intervalMs/],
    [{ culprits: { thresholdMs: 0 } }, 'ERR_OUT_OF_RANGE', /options\.culprits\.thresholdMs/],
    [{ culprits: { rotateMs: 10 } }, 'ERR_OUT_OF_RANGE', /options\.culprits\.rotateMs/],
    [{ culprits: { sampleRate: 10 } }, 'ERR_INVALID_ARG_VALUE', /unknown field 'sampleRate'/],
    [{ culprits: 'yes' }, 'ERR_INVALID_ARG_TYPE', /options\.culprits/],
    [{ culprits: 1 }, 'ERR_INVALID_ARG_TYPE', /options\.culprits/],
    [{ stallThresholdMs: 50, culprits: { intervalMs: 0 } }, 'ERR_OUT_OF_RANGE', /intervalMs/],
    [{ stallThresholdMs: -1, culprits: true }, 'ERR_OUT_OF_RANGE', /stallThresholdMs/],
  ]
  const before = lag.configure({})
  for (const [options, code, message] of cases) {
    assert.throws(() => lag.configure(options), (e) => e.code === code && message.test(e.message), JSON.stringify(options))
    assert.throws(() => lag.start(options), (e) => e.code === code, JSON.stringify(options))
  }
  assert.deepEqual(lag.configure({}), before, 'a refused call changed nothing')
})

test("the user's own inspector session, before and after, works beside ours", async (t) => {
  const mine = new inspector.Session()
  mine.connect()
  const post = (method, params) => new Promise((resolve, reject) => mine.post(method, params, (e, r) => (e ? reject(e) : resolve(r))))
  await post('Profiler.enable')
  await post('Profiler.start')
  lag.configure({ culprits: true })
  t.after(() => lag.configure({ culprits: true }))
  const info = await stallWith(spinInJs)
  assert.equal(info.culprit.functionName, 'spinInJs')
  const { profile } = await post('Profiler.stop')
  assert.ok(profile.samples.length > 0, 'the user got their own profile')
  mine.disconnect()

  const again = await stallWith(hashPasswords)
  assert.equal(again.culprit.functionName, 'hashPasswords')
  const later = new inspector.Session()
  later.connect()
  await new Promise((resolve, reject) => later.post('Runtime.evaluate', { expression: '1 + 1' }, (e, r) => (e ? reject(e) : resolve(r))))
  later.disconnect()
  assert.equal((await stallWith(spinInJs)).culprit.functionName, 'spinInJs')
})


// In a child: turning culprits off and on restarts V8's profiler, and code
// optimised before a restart names inlined callees as their callers
// (src/lag/CULPRITS.md); this process keeps one profile from load to end.
test('turned off, stalls carry no culprit and the profile is gone', () => {
  const r = child(`np.lag.configure({ culprits: true })
    const off = np.lag.configure({ culprits: false }).culprits
    ${SPIN}
    setTimeout(() => {
      np.lag.onStall(100, (info) => { process.stdout.write(JSON.stringify([off, Object.keys(info).sort()])); process.exit() })
      setTimeout(spinChild, 5)
    }, 50)
    setInterval(() => {}, 1000)`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, '[false,["durationMs","startedAt"]]')
})

/** Runs `code` in a fresh node with the module as `np`; returns the result. */
function child(code, args = []) {
  const r = spawnSync(process.execPath, [...args, '-e', `const np = require(${JSON.stringify(indexPath)});\n${code}`], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

const SPIN = 'function spinChild() { let x = 0; const end = Date.now() + 250; while (Date.now() < end) x++; return x }'

test('logStalls names the culprit once the stall is over', () => {
  const r = child(`np.lag.configure({ culprits: true, logStalls: { thresholdMs: 100 } })
    ${SPIN}
    setTimeout(spinChild, 5); setTimeout(() => {}, 100)`)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /event loop of main blocked for \d+ ms in spinChild \(\[eval\]:3:\d+\)/)
})

test('with the inspector open (--inspect), culprits step aside with one warning', () => {
  const r = child(
    `const c = np.lag.configure({ culprits: true }); np.lag.configure({ culprits: true })
     process.stdout.write(JSON.stringify(c.culprits))`,
    ['--inspect=127.0.0.1:0'],
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'false')
  assert.equal(r.stderr.match(/NODEPERF_CULPRITS_OFF/g)?.length, 1, r.stderr)
  assert.match(r.stderr, /stall culprits are off on this thread: the inspector is open/)
})

test('a second copy of the module on the same thread steps aside; the first keeps working', () => {
  const r = child(`np.lag.configure({ culprits: true })
    for (const k of Object.keys(require.cache)) if (!k.endsWith('.node')) delete require.cache[k]
    const other = require(${JSON.stringify(indexPath)})
    if (other.lag === np.lag) throw new Error('not a second copy')
    const c = other.lag.configure({ culprits: true })
    ${SPIN}
    // After startup's own busy period (long on a loaded machine) is over.
    setTimeout(() => {
      np.lag.onStall(100, (info) => { process.stdout.write(JSON.stringify([c.culprits, info.culprit && info.culprit.functionName])); process.exit() })
      setTimeout(spinChild, 5)
    }, 50)
    setInterval(() => {}, 1000)`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, '[false,"spinChild"]')
  assert.match(r.stderr, /another copy of @nodeperf\/native already captures stall culprits/)
})

test('process.exit() right after a stall, inside onStall, exits at once and quietly', () => {
  const r = child(`np.lag.configure({ culprits: true })
    ${SPIN}
    np.lag.onStall(100, () => process.exit(7))
    setTimeout(spinChild, 5); setInterval(() => {}, 1000)`)
  assert.equal(r.status, 7, r.stderr)
  assert.doesNotMatch(r.stderr, /debugger/i)
  assert.equal(r.stderr, '')
})

test('50 workers with culprits on, terminated while they stall: no crash, the main thread still names its stalls', async (t) => {
  lag.configure({ culprits: true })
  t.after(() => lag.configure({ culprits: true }))
  const code = `const { lag } = require(${JSON.stringify(indexPath)});
    const { parentPort } = require('node:worker_threads')
    lag.configure({ culprits: { intervalMs: 1, thresholdMs: 5 } })
    function workerStall() { const end = Date.now() + 20; let x = 0; while (Date.now() < end) x++; return x }
    lag.onStall(5, () => parentPort.postMessage('stall'))
    setInterval(workerStall, 1)
    parentPort.postMessage('up')`
  let stalls = 0
  const workers = Array.from({ length: 50 }, () => new Worker(code, { eval: true }))
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          w.on('message', (m) => {
            if (m === 'stall') stalls++
            else resolve()
          })
          w.once('error', reject)
        }),
    ),
  )
  // Terminate them at staggered moments, most of them mid-stall.
  await Promise.all(workers.map((w, i) => sleep(i % 10).then(() => w.terminate())))
  assert.ok(stalls > 0, 'the workers did stall')
  assert.equal((await stallWith(spinInJs)).culprit.functionName, 'spinInJs')
  assert.ok(Array.isArray(recentStalls()))
})

test('the sidecar serves /debug/stalls only when asked to', async (t) => {
  const { startSidecar } = await import('@nodeperf/native')
  lag.configure({ culprits: true })
  t.after(() => lag.configure({ culprits: true }))
  await stallWith(spinInJs)
  const off = await startSidecar({ metrics: false })
  const on = await startSidecar({ metrics: false, stalls: true })
  t.after(() => Promise.all([off.close(), on.close()]))
  assert.equal((await fetch(`http://127.0.0.1:${off.port}/debug/stalls`)).status, 404)
  const res = await fetch(`http://127.0.0.1:${on.port}/debug/stalls`)
  assert.equal(res.status, 200)
  const { stalls } = await res.json()
  assert.ok(stalls.some((s) => s.thread === 'main' && s.culprit && s.culprit.functionName === 'spinInJs'), JSON.stringify(stalls).slice(0, 500))
  await assert.rejects(startSidecar({ stalls: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
})

// ## Precise mode: the stack taken while the loop is still stuck.

const culpritsModule = createRequire(import.meta.url)('../lib/culprits.js')
const helperOf = culpritsModule[Symbol.for('nodeperf.culpritsHelper')]

/** Spins until this thread's stuck stack was captured (or 5 s), in its own function. */
function spinUntilCaptured() {
  const end = Date.now() + 5000
  for (;;) {
    if (Date.now() > end) return
    for (const s of recentStalls()) {
      if (s.inProgress && s.thread === 'main' && s.precise.functionName === 'spinUntilCaptured') return
    }
  }
}

test('precise mode takes the stack while the stall runs, and other threads see it then', async (t) => {
  lag.configure({ culprits: { precise: true } })
  t.after(() => lag.configure({ culprits: true }))
  assert.ok(helperOf() !== null, 'the helper worker started')
  // A worker watches the ring while the main thread is stuck.
  const watcher = new Worker(
    `const { recentStalls } = require(${JSON.stringify(indexPath)});
     const { parentPort } = require('node:worker_threads')
     const t = setInterval(() => {
       const s = recentStalls().find((s) => s.inProgress && s.thread === 'main' && s.precise.functionName === 'spinUntilCaptured')
       if (s) { clearInterval(t); parentPort.postMessage(s) }
     }, 5)
     parentPort.postMessage('up')`,
    { eval: true },
  )
  t.after(() => watcher.terminate())
  const seen = new Promise((resolve) => watcher.on('message', (m) => m !== 'up' && resolve(m)))
  await new Promise((resolve) => watcher.once('message', resolve))
  await sleep(200) // the helper is up
  const info = await stallWith(spinUntilCaptured, handler)
  assert.ok(info.culprit, 'the profile named a culprit too')
  assert.ok(info.precise, 'the stall has a precise capture')
  assert.equal(info.precise.functionName, 'spinUntilCaptured', JSON.stringify(info.precise.frames))
  assert.equal(fileURLToPath(info.precise.url), here)
  assert.ok(info.precise.frames.some((f) => f.functionName === 'handler'))
  assert.ok(info.precise.capturedAfterMs <= info.durationMs, 'captured before the stall ended')
  const live = await seen
  assert.equal(live.precise.functionName, 'spinUntilCaptured')
  assert.ok(!recentStalls().some((s) => s.inProgress && s.thread === 'main'), 'the in-progress entry is gone once the stall is recorded')
})

test('precise mode: a killed helper leaves nothing paused; culprits carry on from the profile', async (t) => {
  lag.configure({ culprits: { precise: true } })
  t.after(() => lag.configure({ culprits: true }))
  const helper = helperOf()
  await sleep(200)
  await helper.terminate()
  assert.equal(helperOf(), null)
  const info = await stallWith(spinInJs)
  assert.equal(info.culprit.functionName, 'spinInJs')
  assert.equal(info.precise, undefined)
  // Turning it on again starts a new helper.
  lag.configure({ culprits: { precise: false } })
  lag.configure({ culprits: { precise: true } })
  assert.ok(helperOf() !== null && helperOf() !== helper)
})

test('precise mode is refused on a worker thread, with a reason', async () => {
  const err = await new Promise((resolve, reject) => {
    const w = new Worker(
      `const { lag } = require(${JSON.stringify(indexPath)});
       try { lag.configure({ culprits: { precise: true } }) } catch (e) { require('node:worker_threads').parentPort.postMessage({ code: e.code, message: e.message }) }`,
      { eval: true },
    )
    w.once('message', resolve)
    w.once('error', reject)
  })
  assert.equal(err.code, 'ERR_INVALID_ARG_VALUE')
  assert.match(err.message, /main thread only/)
  assert.throws(() => lag.configure({ culprits: { precise: 'yes' } }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('process.exit() just after a precise capture exits with no "Waiting for the debugger"', () => {
  for (let k = 0; k < 5; k++) {
    const r = child(`np.lag.configure({ culprits: { precise: true } })
      function stuckThenExit() { while (!np.recentStalls().some((s) => s.inProgress)) {} process.exit(3) }
      setTimeout(stuckThenExit, 300); setInterval(() => {}, 1000)`)
    assert.equal(r.status, 3, r.stderr)
    assert.equal(r.stderr, '', `run ${k}`)
  }
})

// In a child, for the same reason as the off test.
test('a console.profileEnd() of the user that ends our profile: profiling starts over, the next stall has a culprit', () => {
  const r = child(`np.lag.configure({ culprits: true })
    require('node:inspector').console.profileEnd()
    ${SPIN}
    let n = 0
    setTimeout(() => {
      np.lag.onStall(100, (info) => {
        // Code optimised before the restart may name spinChild's caller
        // (inlining positions are lost): a culprit, not necessarily spinChild.
        if (++n === 2) { process.stdout.write(String(info.culprit !== null && info.samples > 0)); process.exit() }
        setTimeout(spinChild, 50)
      })
      setTimeout(spinChild, 5)
    }, 50)
    setInterval(() => {}, 1000)`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'true')
})
