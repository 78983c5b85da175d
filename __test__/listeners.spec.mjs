// Listeners, counted, never timed: a throwing onStall listener does not
// silence the others; one AbortSignal shared by many tasks gets one
// 'abort' listener, not one per task; toggling logStalls during a stall
// does not make the watchdog report it from the start again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { getEventListeners } from 'node:events'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { createPool, pool, AbortError } = require('@nodeperf/native')
const testTask = Symbol.for('nodeperf.testTask')

/** Runs `code` in a child Node process (CommonJS); returns its result. */
function child(code) {
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  // A hang guard, not a timing assertion.
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env, timeout: 120_000 })
  assert.equal(r.signal, null, `killed by ${r.signal}\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return r
}

test('a throwing onStall listener: every listener still runs, each throw is one uncaughtException', () => {
  const r = child(`
    const { lag } = require('@nodeperf/native')
    const count = { first: 0, quiet: 0, second: 0, last: 0 }
    const thrown = []
    const uncaught = []
    process.on('uncaughtException', (err) => uncaught.push(err))
    const throwing = (name) => () => {
      count[name]++
      const err = new Error(name + ' ' + count[name])
      thrown.push(err)
      throw err
    }
    lag.onStall(20, throwing('first'))
    lag.onStall(20, () => count.quiet++)
    lag.onStall(20, throwing('second'))
    lag.onStall(20, () => count.last++)
    // Busy periods of 40 ms, each a stall over the 20 ms threshold, until
    // the first listener has been called 5 times (at most 200 tries).
    let tries = 0
    const step = () => {
      if (count.first >= 5 || ++tries > 200) return setImmediate(() => setImmediate(report))
      const end = performance.now() + 40
      while (performance.now() < end);
      setImmediate(step)
    }
    const report = () => {
      const once = thrown.every((e) => uncaught.filter((u) => u === e).length === 1)
      process.stdout.write(JSON.stringify({ count, uncaught: uncaught.length, once, foreign: uncaught.filter((u) => !thrown.includes(u)).length }))
    }
    setImmediate(step)
  `)
  const out = JSON.parse(r.stdout)
  const n = out.count.first
  assert.ok(n >= 5, `the first listener was called ${n} times: ${r.stdout}`)
  assert.deepEqual(out.count, { first: n, quiet: n, second: n, last: n }, 'every listener is called for every stall')
  assert.equal(out.uncaught, 2 * n, 'each throw is reported once')
  assert.equal(out.once, true, 'each thrown error reaches uncaughtException exactly once, unchanged')
  assert.equal(out.foreign, 0)
})

test('one AbortSignal shared by many tasks and parses: one abort listener, no MaxListenersExceededWarning', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const own = createPool({ threads: 1 })
  try {
    const ac = new AbortController()
    const { signal } = ac
    const pending = []
    // Queued behind each other on one thread: all pending at once.
    for (let i = 0; i < 30; i++) pending.push(own[testTask]('sleep', 60_000, { signal }))
    // offload: 'always', or small inputs settle inline before the abort.
    const always = { signal, offload: 'always' }
    for (let i = 0; i < 5; i++) pending.push(own.hash('sha256', 'x'.repeat(4096), 'hex', always))
    for (let i = 0; i < 5; i++) pending.push(own.parseJson(JSON.stringify(['y'.repeat(100_000)]), always))
    for (let i = 0; i < 5; i++) pending.push(pool.parseJson('[1]', always))
    assert.equal(getEventListeners(signal, 'abort').length, 1, 'one listener for 45 tasks and parses')

    const reason = new Error('stop')
    ac.abort(reason)
    const results = await Promise.allSettled(pending)
    for (const r of results) {
      assert.equal(r.status, 'rejected')
      assert.ok(r.reason instanceof AbortError)
      assert.equal(r.reason.code, 'ABORT_ERR')
      assert.equal(r.reason.cause, reason)
    }
    assert.equal(getEventListeners(signal, 'abort').length, 0, 'removed once the signal fired')

    // Tasks that settle by themselves: the listener goes with the last one.
    const shared = new AbortController().signal
    const quick = []
    for (let i = 0; i < 20; i++) quick.push(own[testTask]('sleep', 0, { signal: shared }))
    for (let i = 0; i < 3; i++) quick.push(own.parseJson('[2]', { signal: shared, offload: 'always' }))
    assert.equal(getEventListeners(shared, 'abort').length, 1)
    await Promise.all(quick)
    assert.equal(getEventListeners(shared, 'abort').length, 0, 'removed when the last task settled')
    // And added again for the next one, which an abort still reaches.
    const again = new AbortController()
    const t = own[testTask]('sleep', 60_000, { signal: again.signal })
    assert.equal(getEventListeners(again.signal, 'abort').length, 1)
    again.abort()
    await assert.rejects(t, { name: 'AbortError', code: 'ABORT_ERR' })
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    )
  } finally {
    process.off('warning', onWarning)
    await own.close()
  }
})

test('toggling logStalls during a stall adds no lines: one per doubling of the threshold', () => {
  // logStalls at 50 ms, then off for ~25 ms and on again every ~85 ms of a
  // 1.5 s stall. Each line says how long the stall had lasted; a line per
  // doubling means each line's floor(log2(ms / 50)) is above the last's,
  // whenever the watchdog happened to look.
  const r = child(`
    const { lag } = require('@nodeperf/native')
    const on = () => lag.configure({ logStalls: { thresholdMs: 50 } })
    const off = () => lag.configure({ logStalls: false })
    on()
    setTimeout(() => {
      process.stderr.write('block start\\n')
      const end = performance.now() + 1500
      let isOn = true
      let next = performance.now() + 60
      let toggles = 0
      while (performance.now() < end) {
        if (performance.now() >= next) {
          if (isOn) off()
          else on()
          isOn = !isOn
          toggles++
          next = performance.now() + (isOn ? 60 : 25)
        }
      }
      on()
      process.stderr.write('block over\\n')
      process.stdout.write(String(toggles))
    }, 200)
  `)
  const lines = r.stderr.split('\n')
  const from = lines.indexOf('block start')
  const to = lines.indexOf('block over')
  assert.ok(from >= 0 && to > from, r.stderr)
  const said = lines.slice(from + 1, to).filter((l) => l.startsWith('event loop of main blocked for'))
  const ms = said.map((l) => Number(/blocked for (\d+) ms$/.exec(l)[1]))
  assert.ok(Number(r.stdout) >= 10, `only ${r.stdout} toggles`)
  assert.ok(ms.length >= 1, `no line during the stall:\n${r.stderr}`)
  const level = (x) => Math.floor(Math.log2(x / 50))
  for (let i = 0; i < ms.length; i++) {
    assert.ok(ms[i] >= 50, `a line under the threshold: ${said[i]}`)
    if (i > 0) assert.ok(level(ms[i]) > level(ms[i - 1]), `a second line within one doubling: ${said.join(' | ')}`)
  }
})
