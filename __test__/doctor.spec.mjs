// `nodeperf doctor` end to end, as a user runs it (bin/nodeperf.js in a
// child process): the exit code is the command's in every case (a crash at
// start, an error exit, a command that ignores SIGINT, a signal), the JSON
// report is written with what the doctor saw (stderr tail, processes,
// stalls and their culprits), CJS and ESM apps, a cluster (every worker
// recorded, none left running), 50 worker threads, and --inspect.
// No assertion on timing: the apps' own stalls are far above the threshold.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const bin = join(import.meta.dirname, '..', 'bin', 'nodeperf.js')
let dir

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodeperf doctor spec '))
})
after(() => rmSync(dir, { recursive: true, force: true }))

function app(name, text) {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

/** Runs the doctor; returns its exit code, stderr and the JSON report (or null). */
function doctor(args, command, env = {}) {
  const json = join(dir, `report-${Math.random().toString(36).slice(2)}.json`)
  const r = spawnSync(process.execPath, [bin, 'doctor', '--json', json, ...args, '--', ...command], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, ...env },
    timeout: 60_000,
  })
  assert.equal(r.error, undefined, `the doctor did not finish: ${r.error}`)
  return { code: r.status, err: r.stderr, report: existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : null }
}

/** Whether `pid` still runs: exists and is no zombie (an exited child its new parent has not reaped yet). */
const alive = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z'
  } catch {
    return false
  }
}

test('a command that crashes at start: its exit code, and the report says so with its stderr', () => {
  const file = app('crash.cjs', "throw new Error('boom at start')\n")
  const { code, report } = doctor([], [process.execPath, file])
  assert.equal(code, 1)
  assert.equal(report.exit.code, 1)
  assert.match(report.stderrTail, /boom at start/)
  assert.ok(report.findings.length >= 1)
})

test('a command that cannot be started: 127 and a report', () => {
  const { code, report } = doctor([], [join(dir, 'no-such-command')])
  assert.equal(code, 127)
  assert.match(report.exit.error, /ENOENT/)
  assert.equal(report.processes.length, 0)
})

test('CJS app: blocks its loop in a named function, exits with 3; stalls with culprits, the exit code passed through', () => {
  const file = app(
    'block.cjs',
    `function crunchNumbers(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x }
let n = 0
const t = setInterval(() => { crunchNumbers(250); if (++n === 4) { clearInterval(t); setTimeout(() => process.exit(3), 1200) } }, 300)
`,
  )
  const { code, report } = doctor([], [process.execPath, file])
  assert.equal(code, 3)
  assert.equal(report.exit.code, 3)
  const [p] = report.processes
  assert.equal(p.exit.code, 3)
  assert.ok(p.stalls.length >= 3, `stalls: ${p.stalls.length}`)
  assert.ok(p.ticks.length >= 1)
  assert.equal(report.findings[0].kind, 'event-loop-blocking')
  assert.equal(report.findings[0].culprit.functionName, 'crunchNumbers')
  assert.match(report.findings[0].advice, /crunchNumbers/)
})

test('ESM app, stopped by --duration: 128 + SIGINT, culprit named in the ESM file', () => {
  const file = app(
    'block.mjs',
    `export function hashAll(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x++; return x }
setInterval(() => hashAll(200), 250)
`,
  )
  const { code, report } = doctor(['--duration', '2.5'], [process.execPath, file])
  assert.equal(code, 130)
  assert.equal(report.exit.signal, 'SIGINT')
  assert.match(report.stoppedBy, /--duration/)
  const blocking = report.findings.find((f) => f.kind === 'event-loop-blocking')
  assert.ok(blocking, JSON.stringify(report.findings.map((f) => f.kind)))
  assert.equal(blocking.culprit.functionName, 'hashAll')
  assert.match(blocking.culprit.url, /block\.mjs$/)
})

test('a command that ignores SIGINT gets SIGTERM after the grace period, and the report says so', () => {
  const file = app('stubborn.cjs', "process.on('SIGINT', () => {}); setInterval(() => {}, 1000)\n")
  const { code, report } = doctor(['--duration', '1', '--grace', '0.5'], [process.execPath, file])
  assert.equal(code, 143)
  assert.equal(report.exit.signal, 'SIGTERM')
  assert.ok(report.notes.some((n) => /did not stop on SIGINT: the doctor sent SIGTERM/.test(n)), report.notes.join('\n'))
})

test('a cluster: the primary and each worker recorded, labelled; no worker left running', () => {
  const file = app(
    'cluster.cjs',
    `const cluster = require('node:cluster')
if (cluster.isPrimary) { cluster.fork(); cluster.fork(); setInterval(() => {}, 1000) }
else { process.on('SIGINT', () => {}); setInterval(() => {}, 1000) }
`,
  )
  const { code, report } = doctor(['--duration', '2.5', '--grace', '0.5'], [process.execPath, file])
  assert.equal(code, 130)
  const workers = report.processes.filter((p) => p.workerId !== null)
  assert.deepEqual(workers.map((p) => p.workerId).sort(), [1, 2])
  assert.equal(report.processes.length, 3)
  for (const p of report.processes) assert.equal(alive(p.pid), false, `pid ${p.pid} still runs`)
})

test('50 worker threads: every loop is recorded in the process', () => {
  const file = app(
    'threads.cjs',
    // Exits 2.2 s (two records) after the last of the 50 threads runs its code.
    `const { Worker } = require('node:worker_threads')
const ws = []
let up = 0
for (let i = 0; i < 50; i++) {
  const w = new Worker("require('node:worker_threads').parentPort.postMessage('up'); setInterval(() => {}, 1000)", { eval: true })
  w.once('message', () => { if (++up === 50) setTimeout(() => { for (const w of ws) w.terminate(); setTimeout(() => process.exit(0), 200) }, 2200) })
  ws.push(w)
}
`,
  )
  const { code, report } = doctor([], [process.execPath, file])
  assert.equal(code, 0)
  const [p] = report.processes
  const most = Math.max(...p.ticks.map((t) => t.loops.length))
  assert.equal(most, 51)
})

test('--inspect: culprits step aside, with a note', () => {
  const file = app('inspect.cjs', 'setTimeout(() => {}, 1500)\n')
  const { code, report } = doctor([], [process.execPath, '--inspect=127.0.0.1:0', file])
  assert.equal(code, 0)
  assert.equal(report.processes[0].start.inspector, true)
  assert.equal(report.processes[0].start.culprits, false)
  assert.ok(report.notes.some((n) => /inspector/.test(n)), report.notes.join('\n'))
})

test('--load runs once the port is up; the app is stopped when it ends', () => {
  const file = app('server.cjs', "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')\n")
  const port = String(20000 + Math.floor(Math.random() * 20000))
  const load = `"${process.execPath}" -e "Promise.all([1, 2, 3].map(() => fetch('http://127.0.0.1:${port}/').then((r) => r.text()))).then((a) => console.log('load got', a.join(',')))"`
  const { code, err, report } = doctor(['--load', load, '--port', port], [process.execPath, file], { PORT: port })
  assert.equal(code, 130)
  assert.match(err, /load got ok,ok,ok/)
  assert.equal(report.stoppedBy, 'the --load command ended')
  assert.deepEqual(report.load.exit, { code: 0, signal: null })
})

test('a command that exits during --warmup does not keep the doctor waiting', () => {
  const { code, report } = doctor(['--load', 'sleep 30', '--warmup', '30'], [process.execPath, '-e', 'process.exitCode = 4'])
  assert.equal(code, 4)
  assert.equal(report.load.exit, null)
})

test('usage errors exit 2 with the usage', () => {
  const r = spawnSync(process.execPath, [bin, 'doctor', '--duration', 'soon', '--', 'node'], { encoding: 'utf8' })
  assert.equal(r.status, 2)
  assert.match(r.stderr, /--duration must be a positive number, got 'soon'/)
  assert.match(r.stderr, /Usage:/)
})
