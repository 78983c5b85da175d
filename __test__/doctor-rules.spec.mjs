// The doctor's diagnosis rules (lib/doctor/diagnose.js) on synthetic
// recordings: each rule fires on the data it is written for and not on a
// healthy recording; findings are ordered by severity; the advice names the
// culprit. Also the command-line parsing (usage errors) and the
// NODE_OPTIONS quoting.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { diagnose, RULES, fit, calleeInSource } = require('../lib/doctor/diagnose.js')
const { parseCommandLine, nodeOptions } = require('../lib/cli/doctor.js')
const { processOf } = require('../lib/doctor/collect.js')
const { renderHtml, downsample, flameTree } = require('../lib/doctor/report.js')

const T0 = 1_700_000_000_000
const MiB = 2 ** 20

/** A process recording of `seconds` ticks; `f(i)` overrides fields of tick i. */
function proc(seconds, f = () => ({}), extra = {}) {
  const records = [{ type: 'start', t: T0, pid: 100, ppid: 1, workerId: null, node: 'v20', cores: 2, culprits: true, culpritsOff: null }]
  for (let i = 0; i < seconds; i++) {
    const o = f(i)
    records.push({
      type: 'tick',
      t: T0 + (i + 1) * 1000,
      wallMs: 1000,
      loops: [{ thread: 'main', p50: 0.05, p99: 1, max: 2, utilization: o.util ?? 0.05, stalls: 0, stalledMs: 0 }],
      cpuMs: o.cpuMs ?? 40,
      threads: { node: o.cpuMs ?? 40 },
      rss: 80 * MiB,
      heapUsed: o.heapUsed ?? 20 * MiB + (i % 3) * MiB,
      heapTotal: 40 * MiB,
      heapLimit: 4096 * MiB,
      heapAfterMajorGc: o.heapAfterMajorGc ?? 15 * MiB,
      majorGcs: o.majorGcs ?? 1,
      minorGcs: i,
      gcPauseMs: o.gcPauseMs ?? { scavenge: 2, mark_compact: 0 },
      leakSuspected: false,
      pool: o.pool ?? null,
      handles: o.handles ?? { TCPServerWrap: 1, Timeout: 1 },
    })
  }
  for (const s of extra.stalls ?? []) records.push({ type: 'stall', ...s })
  records.push({ type: 'exit', t: T0 + (seconds + 0.5) * 1000, code: 0 })
  return processOf(records, T0 + (seconds + 1) * 1000)
}

const run = (p, load = null) => diagnose({ processes: [p], load, cwd: '/srv/app', doctorPid: 1 })

const culprit = (functionName, line, frames) => ({
  kind: 'js',
  functionName,
  url: 'file:///srv/app/routes/upload.js',
  line,
  column: 5,
  frames: frames ?? [{ functionName, url: 'file:///srv/app/routes/upload.js', line, column: 5 }],
  samples: 10,
  share: 0.9,
})

test('healthy: no rule holds on a quiet recording', () => {
  const f = run(proc(20))
  assert.equal(f.length, 1)
  assert.equal(f[0].kind, 'healthy')
  assert.equal(f[0].severity, 'info')
})

test('event-loop-blocking: stalls name the culprit, its place, count and range in the advice', () => {
  const stalls = [120, 400, 900, 300].map((ms, i) => ({ t: T0 + (i + 2) * 3000, thread: 'main', durationMs: ms, startedAt: T0 + (i + 2) * 3000 - ms, culprit: culprit('parseUploadedManifest', 42), stacks: [] }))
  const g = run(proc(20, () => ({}), { stalls }))
  assert.equal(g[0].kind, 'event-loop-blocking')
  // 1720 ms of 20.5 s: over blockingMinShare (2%), under blockingCriticalShare (10%), no stall of 1 s.
  assert.equal(g[0].severity, 'warning')
  assert.equal(g[0].culprit.functionName, 'parseUploadedManifest')
  assert.equal(g[0].culprit.where, 'routes/upload.js:42')
  assert.match(g[0].advice, /`parseUploadedManifest` \(routes\/upload\.js:42\) blocked the loop 4 times for 120–900 ms/)
  assert.equal(g[0].data.stalls, 4)
})

test('event-loop-blocking: under the thresholds it does not fire; JSON.parse as the leaf gets the pool advice', () => {
  const two = [150, 150].map((ms, i) => ({ t: T0 + (i + 2) * 3000, durationMs: ms, startedAt: T0, culprit: culprit('handler', 9), stacks: [] }))
  assert.equal(run(proc(20, () => ({}), { stalls: two }))[0].kind, 'healthy') // fewer than blockingMinStalls
  const frames = [
    { functionName: 'parse', url: '', line: 0, column: 0 },
    { functionName: 'parseUploadedManifest', url: 'file:///srv/app/routes/upload.js', line: 42, column: 5 },
  ]
  const stalls = [200, 250, 300].map((ms, i) => ({ t: T0 + (i + 2) * 3000, durationMs: ms, startedAt: T0, culprit: { ...culprit('parseUploadedManifest', 42, frames), kind: 'native' }, stacks: [] }))
  const f = run(proc(20, () => ({}), { stalls }))
  assert.equal(f[0].kind, 'event-loop-blocking')
  assert.equal(f[0].severity, 'warning')
  assert.match(f[0].advice, /^`JSON\.parse` in `parseUploadedManifest` \(routes\/upload\.js:42\) blocked the loop 3 times for 200–300 ms: .*pool\.parseJson/)
})

test('event-loop-blocking: a process that went silent counts, and stalls that are mostly GC go to gc-pressure', () => {
  // Ticks stop after 5 s, the process exits at 20 s: 15 s without a record.
  const records = [{ type: 'start', t: T0, pid: 7, ppid: 1, cores: 2, culprits: true }]
  for (let i = 1; i <= 5; i++) records.push({ ...proc(1).ticks[0], t: T0 + i * 1000 })
  records.push({ type: 'exit', t: T0 + 20_000, code: 0 })
  const silent = processOf(records, T0 + 20_000)
  assert.equal(silent.silences.length, 1)
  const f = run(silent)
  assert.equal(f[0].kind, 'event-loop-blocking')
  assert.equal(f[0].severity, 'critical')
  assert.match(f[0].evidence, /went silent 1 time/)

  const gcStalls = [300, 300, 300, 300].map((ms, i) => ({ t: T0 + (i + 2) * 3000, durationMs: ms, startedAt: T0, gcMs: ms * 0.8, culprit: { ...culprit('buildRows', 3), kind: 'gc' }, stacks: [] }))
  const g = run(proc(20, () => ({ gcPauseMs: { scavenge: 30 } }), { stalls: gcStalls }))
  assert.deepEqual(
    g.map((x) => x.kind),
    ['gc-pressure'],
  )
})

test('memory-leak: heap after major GC rising steadily, by slope and R²', () => {
  const p = proc(30, (i) => ({ majorGcs: 1 + Math.floor(i / 3), heapAfterMajorGc: (20 + 4 * Math.floor(i / 3)) * MiB }))
  const f = run(p)
  assert.equal(f[0].kind, 'memory-leak')
  assert.ok(f[0].data.slopeMiBPerMinute > 70 && f[0].data.slopeMiBPerMinute < 90, String(f[0].data.slopeMiBPerMinute))
  assert.equal(f[0].data.source, 'heap after major GC')
  assert.equal(f[0].severity, 'critical')
  // The same points, flat: no leak.
  assert.equal(run(proc(30, (i) => ({ majorGcs: 1 + Math.floor(i / 3), heapAfterMajorGc: (20 + (i % 2)) * MiB })))[0].kind, 'healthy')
})

test('memory-leak: without major GCs, the lower envelope of the heap used', () => {
  const p = proc(12, (i) => ({ majorGcs: 0, heapAfterMajorGc: null, heapUsed: (10 + 2.5 * i + (i % 2) * 3) * MiB }))
  const f = run(p)
  assert.equal(f[0].kind, 'memory-leak')
  assert.match(f[0].data.source, /lower envelope/)
  // A sawtooth around a flat level does not count.
  assert.equal(run(proc(12, (i) => ({ majorGcs: 0, heapAfterMajorGc: null, heapUsed: (10 + (i % 4) * 5) * MiB })))[0].kind, 'healthy')
})

test('gc-pressure: GC time over the share with a flat heap; scavenge-heavy advice', () => {
  const f = run(proc(20, () => ({ util: 0.5, cpuMs: 500, gcPauseMs: { scavenge: 90, mark_compact: 10 } })))
  assert.equal(f[0].kind, 'gc-pressure')
  assert.equal(f[0].severity, 'warning')
  assert.equal(f[0].data.share, 0.1)
  assert.match(f[0].advice, /short-lived/)
  const crit = run(proc(20, () => ({ util: 0.5, cpuMs: 500, gcPauseMs: { mark_compact: 200 } })))
  assert.equal(crit[0].severity, 'critical')
  assert.match(crit[0].advice, /promoted/)
})

test('io-wait: idle loop, cool CPU, slow responses under the load; not without the load or pending work', () => {
  const load = { ok: 500, latency: { p50: 210, p99: 260 } }
  const f = run(proc(20), load)
  assert.equal(f[0].kind, 'io-wait')
  assert.equal(f[0].data.latency.p50, 210)
  assert.equal(run(proc(20), { ok: 500, latency: { p50: 3, p99: 9 } })[0].kind, 'healthy')
  // No load: many pending timers and requests on average.
  const pending = run(proc(20, () => ({ handles: { Timeout: 30, TCPConnectWrap: 5 } })))
  assert.equal(pending[0].kind, 'io-wait')
  // A hot process is not waiting.
  assert.notEqual(run(proc(20, () => ({ cpuMs: 900, util: 0.95 })), load)[0].kind, 'io-wait')
})

test('cpu-saturated: a pool whose threads are all busy with a queue; a process using all cores', () => {
  const pool = (i) => ({ pool: { threads: 1, queued: 5 + i, active: 1, done: i * 10 }, cpuMs: 1100, util: 0.1 })
  const f = run(proc(20, pool), { ok: 100, latency: { p50: 900, p99: 2000 } })
  assert.equal(f[0].kind, 'cpu-saturated')
  assert.match(f[0].evidence, /native pool's 1 thread was all busy/)
  assert.ok(!f.some((x) => x.kind === 'io-wait'))
  const hot = run(proc(20, () => ({ cpuMs: 1900, util: 0.97 })))
  assert.equal(hot[0].kind, 'cpu-saturated')
  assert.equal(hot[0].severity, 'critical')
  assert.equal(run(proc(20, () => ({ pool: { threads: 2, queued: 0, active: 1, done: 0 } })))[0].kind, 'healthy')
})

test('ordering: critical before warning, one finding per kind across processes', () => {
  const a = proc(20, () => ({ cpuMs: 950, util: 0.95 })) // warning: hot loop (0.95 of 2 cores is not all cores)
  const stalls = [1500].map((ms) => ({ t: T0 + 5000, durationMs: ms, startedAt: T0 + 3500, culprit: culprit('render', 7), stacks: [] }))
  const b = { ...proc(20, () => ({}), { stalls }), pid: 200 }
  const f = diagnose({ processes: [a, b], load: null, cwd: '/srv/app', doctorPid: 1 })
  assert.deepEqual(
    f.map((x) => [x.kind, x.severity]),
    [
      ['event-loop-blocking', 'critical'],
      ['cpu-saturated', 'warning'],
    ],
  )
  assert.equal(f[0].pid, 200)
})

test('fit, downsample and the flame tree', () => {
  const { slope, r2 } = fit([0, 1, 2, 3], [1, 3, 5, 7])
  assert.equal(slope, 2)
  assert.equal(r2, 1)
  const pts = Array.from({ length: 2000 }, (_, i) => ({ t: i, y: i === 1234 ? 99 : 1 }))
  const d = downsample(pts, 100)
  assert.equal(d.length, 100)
  assert.ok(d.some((p) => p.y === 99), 'a peak survives downsampling')
  const frames = [
    { functionName: 'leaf', url: 'file:///srv/app/a.js', line: 2 },
    { functionName: 'root', url: 'file:///srv/app/a.js', line: 1 },
  ]
  const tree = flameTree({ cwd: '/srv/app', processes: [{ stalls: [{ stacks: [{ frames, ms: 30 }] }, { stacks: [{ frames, ms: 10 }] }] }] })
  assert.equal(tree.ms, 40)
  const root = [...tree.children.values()][0]
  assert.equal(root.name, 'root a.js:1')
  assert.equal([...root.children.values()][0].ms, 40)
})

test('the HTML escapes what the app controls and holds every chart', () => {
  const stalls = [200, 200, 200].map((ms, i) => ({ t: T0 + (i + 2) * 3000, thread: 'main', durationMs: ms, startedAt: T0 + i * 3000, culprit: culprit('<script>alert(1)</script>', 3), stacks: [{ frames: [{ functionName: '<img src=x>', url: '', line: 0, column: 0 }], ms: 150 }] }))
  const p = proc(10, () => ({}), { stalls })
  const report = {
    command: ['node', '<evil>.js'],
    cwd: '/srv/app',
    startedAt: T0,
    endedAt: T0 + 11_000,
    stoppedBy: 'x',
    exit: { code: 0, signal: null, exitCode: 0, afterMs: 11_000, error: null },
    stderrTail: '',
    load: null,
    notes: ['<b>note</b>'],
    processes: [p],
    findings: run(p),
  }
  const html = renderHtml(report)
  assert.ok(!html.includes('<script'), 'no script, and app text escaped')
  assert.ok(!html.includes('<img src=x>'))
  assert.ok(html.includes('&lt;evil&gt;.js'))
  for (const id of ['lag', 'utilization', 'cpu', 'memory', 'gc', 'flame']) assert.ok(html.includes(`data-chart="${id}"`), id)
  assert.ok(!/\b(src|href)=["']?(https?:)?\/\//.test(html), 'no external reference')
})

test('command line: usage errors, defaults, quoting', () => {
  const code = (argv) => {
    try {
      parseCommandLine(argv)
      return null
    } catch (err) {
      return [err.code, err.message]
    }
  }
  assert.deepEqual(code(['--duration', '5'])[0], 'ERR_NODEPERF_USAGE')
  assert.match(code(['--duration', '5'])[1], /no command given/)
  assert.match(code(['--duration', '-1', '--', 'node', 'a.js'])[1], /--duration must be a positive number/)
  assert.match(code(['--rate', 'x', '--', 'node'])[1], /--rate/)
  assert.match(code(['--http', 'ftp://x', '--', 'node'])[1], /http: or https:/)
  assert.match(code(['--http', 'http://127.0.0.1:1/', '--load', 'x', '--', 'node'])[1], /choose one/)
  assert.match(code(['app.js'])[1], /after '--'/)
  const o = parseCommandLine(['--http', 'http://127.0.0.1:3999/x', '--', 'node', 'app.js', '--flag'])
  assert.deepEqual(o.command, ['node', 'app.js', '--flag'])
  assert.equal(o.port, 3999)
  assert.equal(o.json, 'nodeperf-doctor.json')
  assert.equal(o.html, 'nodeperf-doctor.html')
  assert.equal(nodeOptions('--max-old-space-size=100', '/a b/"q"\\p.js'), '--max-old-space-size=100 --require "/a b/\\"q\\"\\\\p.js"')
  assert.equal(RULES.blockingMinStalls, 3)
})

test('a 5-minute report of a busy 4-process cluster stays under 2 MB', () => {
  const frames = Array.from({ length: 12 }, (_, k) => ({ functionName: `layer${k}`, url: `file:///srv/app/lib/layer${k}.js`, line: k + 1, column: 3 }))
  const processes = [0, 1, 2, 3].map((w) => {
    const stalls = Array.from({ length: 1000 }, (_, i) => ({ t: T0 + i * 300 + 150, thread: 'main', durationMs: 120, startedAt: T0 + i * 300, culprit: culprit('layer0', 1, frames), stacks: [{ frames, ms: 100 }, { frames: frames.slice(2), ms: 10 }, { frames: frames.slice(4), ms: 5 }] }))
    const p = proc(300, () => ({ util: 0.5, cpuMs: 500, handles: { TCPSocketWrap: 40, Timeout: 3 } }), { stalls })
    return { ...p, pid: 100 + w, workerId: w === 0 ? null : w }
  })
  for (const p of processes) for (const t of p.ticks) t.loops.push(...Array.from({ length: 8 }, (_, k) => ({ thread: `worker-${k + 1}`, p50: 0.1, p99: 2, max: 5, utilization: 0.2, stalls: 0, stalledMs: 0 })))
  const report = {
    command: ['node', 'server.js'],
    cwd: '/srv/app',
    startedAt: T0,
    endedAt: T0 + 301_000,
    stoppedBy: '--duration 300 s',
    exit: { code: null, signal: 'SIGINT', exitCode: 130, afterMs: 301_000, error: null },
    stderrTail: '',
    load: { url: 'http://127.0.0.1:3000/', rate: 100, ok: 30000, errors: 0, latency: { p50: 5, p99: 130, max: 200 }, perSecond: Array.from({ length: 300 }, (_, i) => ({ t: T0 + i * 1000, ok: 100, errors: 0, p99: 130 })) },
    notes: [],
    processes,
    findings: diagnose({ processes, load: null, cwd: '/srv/app', doctorPid: 1 }),
  }
  const bytes = Buffer.byteLength(renderHtml(report))
  assert.ok(bytes < 2 * 2 ** 20, `${bytes} bytes`)
  if (process.env.NODEPERF_PRINT_SIZE) console.log(`5-minute report: ${bytes} bytes`)
  assert.equal(report.findings[0].kind, 'event-loop-blocking')
})

test('the callee from the culprit function\'s source when the profile has no frame for it', () => {
  const text = ['function small() {', '  return 1', '}', 'function parseUploadedManifest(body) {', '  const doc = JSON.parse(body)', '  return doc.items', '}', 'function other() { return readFileSync("a") }'].join('\n')
  assert.equal(calleeInSource(text, 4), 'JSON.parse')
  assert.equal(calleeInSource(text, 1), null) // its body ends before parseUploadedManifest
  assert.equal(calleeInSource(text, 8), 'readFileSync')
  assert.equal(calleeInSource(text, 99), null)
  const stalls = [150, 200, 250].map((ms, i) => ({ t: T0 + (i + 2) * 3000, durationMs: ms, startedAt: T0, culprit: culprit('parseUploadedManifest', 4), stacks: [] }))
  const p = proc(20, () => ({}), { stalls })
  const f = diagnose({ processes: [p], load: null, cwd: '/srv/app', doctorPid: 1, sources: { 'file:///srv/app/routes/upload.js': text } })
  assert.equal(f[0].culprit.callee, 'JSON.parse')
  assert.equal(f[0].culprit.calleeFrom, 'source')
  assert.match(f[0].advice, /^`JSON\.parse` in `parseUploadedManifest` \(routes\/upload\.js:4\) blocked the loop 3 times for 150–250 ms: parse the body off the loop with `pool\.parseJson`/)
})
