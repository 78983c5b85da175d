'use strict'
// `nodeperf doctor [options] -- <command…>`: runs the command with the
// recorder preloaded (lib/doctor/preload.js through NODE_OPTIONS, so every
// Node process and worker thread it starts records itself), optionally
// drives load, stops it after --duration, when it exits or on Ctrl-C, then
// diagnoses what was recorded (lib/doctor/diagnose.js) and writes the JSON
// and HTML reports. Exits with the command's exit code (a signal: 128 + n).
// Rules and thresholds: docs/doctor.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { spawn } = require('node:child_process')
const { fileURLToPath } = require('node:url')
const { UsageError, parse } = require('./io.js')
const { collect } = require('../doctor/collect.js')
const { diagnose } = require('../doctor/diagnose.js')
const { renderHtml } = require('../doctor/report.js')
const { startLoad } = require('../doctor/load.js')

const PRELOAD = path.join(__dirname, '..', 'doctor', 'preload.js')

const USAGE = `Usage:
  nodeperf doctor [options] -- <command> [args…]

  Runs <command> (e.g. \`node server.js\`, \`npm start\`) with the recorder
  preloaded in every Node.js process and thread it starts, then writes a
  diagnosis: findings (event-loop-blocking, memory-leak, gc-pressure,
  io-wait, cpu-saturated or healthy) with the evidence and advice, and
  time series of lag, utilisation, CPU, memory and GC, stalls with their
  culprits and a flame graph of the stalls.

Options:
  --json <file>        write the report as JSON
  --html <file>        write the report as one self-contained HTML page
                       (with neither, both go to nodeperf-doctor.json/.html)
  --duration <s>       stop the command after this many seconds (default:
                       when it exits, when --load ends, or on Ctrl-C)
  --http <url>         built-in load: keep-alive GET requests to <url>
  --rate <n>           built-in load: requests per second (default 100)
  --connections <n>    built-in load: most sockets at once (default 20)
  --load '<command>'   run a shell command as load once the app is up
                       (e.g. 'autocannon -c 50 -d 20 http://127.0.0.1:3000')
  --port <n>           the app is up once 127.0.0.1:<n> accepts connections
                       (default: the --http URL's port)
  --warmup <s>         wait this long before the load when no port is
                       known (default 1)
  --stall-ms <n>       a busy period this long is a stall (default 100)
  --no-culprits        do not name the code that blocked the loop
  --grace <s>          stopping: SIGINT, then SIGTERM after <s>, then
                       SIGKILL after <s> more (default 5)
  -h, --help           this help

Exit code: the command's (a signal: 128 + its number); 2 for a usage error.
`

const OPTIONS = {
  json: { type: 'string' },
  html: { type: 'string' },
  duration: { type: 'string' },
  http: { type: 'string' },
  rate: { type: 'string' },
  connections: { type: 'string' },
  load: { type: 'string' },
  port: { type: 'string' },
  warmup: { type: 'string' },
  'stall-ms': { type: 'string' },
  'no-culprits': { type: 'boolean' },
  grace: { type: 'string' },
}

function positive(value, name, fallback, { integer = false, max = Infinity } = {}) {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)) || n > max) {
    throw usageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}${max < Infinity ? ` up to ${max}` : ''}, got '${value}'`)
  }
  return n
}

function usageError(message) {
  const err = new UsageError(message, USAGE)
  err.code = 'ERR_NODEPERF_USAGE'
  return err
}

/** Parses argv into options and the command (everything after `--`). */
function parseCommandLine(argv) {
  const dash = argv.indexOf('--')
  const own = dash === -1 ? argv : argv.slice(0, dash)
  const command = dash === -1 ? [] : argv.slice(dash + 1)
  const { values, positionals } = parse(own, OPTIONS, USAGE)
  if (values.help) return { help: true }
  if (positionals.length > 0) throw usageError(`unexpected '${positionals[0]}': put the command after '--' (nodeperf doctor [options] -- node app.js)`)
  if (command.length === 0) throw usageError("no command given: put it after '--' (nodeperf doctor -- node app.js)")
  let http = null
  if (values.http !== undefined) {
    try {
      http = new URL(values.http)
    } catch {
      throw usageError(`--http must be a URL, got '${values.http}'`)
    }
    if (http.protocol !== 'http:' && http.protocol !== 'https:') throw usageError(`--http must be an http: or https: URL, got '${values.http}'`)
  }
  if (http !== null && values.load !== undefined) throw usageError('--http and --load: choose one')
  const port = positive(values.port, 'port', http ? Number(http.port || (http.protocol === 'https:' ? 443 : 80)) : null, { integer: true, max: 65535 })
  const noReport = values.json === undefined && values.html === undefined
  return {
    command,
    json: noReport ? 'nodeperf-doctor.json' : values.json,
    html: noReport ? 'nodeperf-doctor.html' : values.html,
    durationMs: values.duration === undefined ? null : positive(values.duration, 'duration') * 1000,
    http: http === null ? null : http.href,
    rate: positive(values.rate, 'rate', 100, { max: 100_000 }),
    connections: positive(values.connections, 'connections', 20, { integer: true, max: 10_000 }),
    load: values.load ?? null,
    port,
    warmupMs: positive(values.warmup, 'warmup', 1) * 1000,
    stallMs: positive(values['stall-ms'], 'stall-ms', 100, { max: 3_600_000 }),
    culprits: !values['no-culprits'],
    graceMs: positive(values.grace, 'grace', 5) * 1000,
  }
}

/** NODE_OPTIONS with our preload added (a path with spaces or quotes quoted as Node reads it). */
function nodeOptions(existing, file) {
  const quoted = `"${file.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  return `${existing ? `${existing} ` : ''}--require ${quoted}`
}

/** Whether the command or NODE_OPTIONS turn on the inspector. */
function inspectorAsked(command, existing) {
  const re = /^--inspect(-brk|-wait)?(=|$)/
  return command.some((a) => re.test(a)) || (existing ?? '').split(/\s+/).some((a) => re.test(a))
}

function signalCode(signal) {
  const n = os.constants.signals[signal]
  return n === undefined ? 1 : 128 + n
}

function waitForPort(port, isDone) {
  return new Promise((resolve) => {
    const attempt = () => {
      if (isDone()) return resolve(false)
      const s = net.connect({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => {
        s.destroy()
        setTimeout(attempt, 100)
      })
    }
    attempt()
  })
}

async function run(argv, io) {
  const opts = parseCommandLine(argv)
  if (opts.help) return io.out(USAGE), 0
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-doctor-'))
  try {
    return await doctor(opts, dir, io)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function doctor(opts, dir, io) {
  const startedAt = Date.now()
  const notes = []
  const existing = process.env.NODE_OPTIONS
  if (inspectorAsked(opts.command, existing)) {
    notes.push('The command runs with the inspector on (--inspect): stall culprits step aside in the processes where the inspector is open, so stalls are counted but their code is not named.')
  }
  const env = {
    ...process.env,
    NODE_OPTIONS: nodeOptions(existing, PRELOAD),
    NODEPERF_DOCTOR_DIR: dir,
    NODEPERF_DOCTOR_STALL_MS: String(opts.stallMs),
    NODEPERF_DOCTOR_CULPRITS: opts.culprits ? '1' : '0',
  }

  let stderrTail = ''
  const child = spawn(opts.command[0], opts.command.slice(1), { stdio: ['inherit', 'inherit', 'pipe'], env, detached: true })
  child.stderr.on('data', (chunk) => {
    process.stderr.write(chunk)
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000)
  })

  let exited = null
  let spawnError = null
  const exitPromise = new Promise((resolve) => {
    child.once('error', (err) => {
      spawnError = err
      exited = { code: 127, signal: null, at: Date.now() }
      resolve()
    })
    child.once('exit', (code, signal) => {
      exited = { code, signal, at: Date.now() }
      resolve()
    })
  })

  // Stopping: SIGINT to the command's process group, then SIGTERM, then SIGKILL.
  let stopReason = null
  const timers = []
  const killGroup = (signal) => {
    if (child.pid === undefined) return false
    try {
      process.kill(-child.pid, signal)
      return true
    } catch {
      try {
        if (exited === null) child.kill(signal)
      } catch {}
      return false
    }
  }
  const escalated = []
  function stop(reason) {
    if (stopReason !== null || exited !== null) return
    stopReason = reason
    killGroup('SIGINT')
    timers.push(
      setTimeout(() => {
        if (exited === null) {
          escalated.push('SIGTERM')
          killGroup('SIGTERM')
        }
      }, opts.graceMs),
      setTimeout(() => {
        if (exited === null) {
          escalated.push('SIGKILL')
          killGroup('SIGKILL')
        }
      }, 2 * opts.graceMs),
    )
  }
  let interrupts = 0
  const onSignal = (sig) => {
    interrupts++
    if (interrupts > 1) {
      escalated.push('SIGKILL')
      killGroup('SIGKILL')
    } else stop(sig === 'SIGINT' ? 'Ctrl-C' : sig)
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  if (opts.durationMs !== null) timers.push(setTimeout(() => stop(`--duration ${opts.durationMs / 1000} s`), opts.durationMs))

  // Load, once the app is up.
  let load = null
  let loadCommand = null
  let loadResult = null
  let loadExit = null
  const startLoadWhenUp = async () => {
    if (opts.http === null && opts.load === null) return
    let up = true
    if (opts.port !== null) up = await waitForPort(opts.port, () => exited !== null || stopReason !== null)
    else {
      // Not one long timer: the wait ends as soon as the command does.
      const until = Date.now() + opts.warmupMs
      while (Date.now() < until && exited === null && stopReason === null) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())))
    }
    if (!up || exited !== null || stopReason !== null) return
    if (opts.http !== null) load = startLoad({ url: opts.http, rate: opts.rate, connections: opts.connections })
    else {
      loadCommand = spawn('/bin/sh', ['-c', opts.load], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      loadCommand.stdout.on('data', (c) => process.stderr.write(c))
      loadCommand.stderr.on('data', (c) => process.stderr.write(c))
      loadCommand.once('exit', (code, signal) => {
        loadExit = { code, signal }
        if (opts.durationMs === null) stop('the --load command ended')
      })
    }
  }
  const loadStarted = startLoadWhenUp()

  // Progress on stderr: a line rewritten each second on a terminal, a line every 5 s otherwise.
  const tty = process.stderr.isTTY === true
  let lastPrinted = 0
  const progress = setInterval(() => {
    const elapsed = Date.now() - startedAt
    if (!tty && elapsed - lastPrinted < 5000) return
    lastPrinted = elapsed
    const line = progressLine(dir, elapsed, child.pid)
    io.err(tty ? `\r\x1b[K${line}` : `${line}\n`)
  }, 1000)
  progress.unref()

  await exitPromise
  for (const t of timers) clearTimeout(t)
  clearInterval(progress)
  if (tty) io.err('\r\x1b[K')
  await loadStarted
  if (load !== null) loadResult = load.stop()
  if (loadCommand !== null && loadExit === null) {
    try {
      process.kill(-loadCommand.pid, 'SIGTERM')
    } catch {}
  }
  // What the command left behind (cluster workers, grandchildren) goes too.
  const leftovers = await reapGroup(child.pid, opts.graceMs)
  for (const s of signals) process.off(s, onSignal)

  const endedAt = Date.now()
  const processes = collect(dir, { doctorPid: process.pid, endedAt })
  const code = exited.signal ? signalCode(exited.signal) : (exited.code ?? 1)
  const culpritsOff = processes.filter((p) => p.start.culpritsOff)
  if (culpritsOff.length > 0) notes.push(`Stall culprits were off in ${culpritsOff.length} of ${processes.length} process${processes.length === 1 ? '' : 'es'}: ${culpritsOff[0].start.culpritsOff}.`)
  if (processes.length === 0) notes.push('No Node.js process of the command reported: it ended before the recorder started, or it is not Node.js.')
  for (const p of processes) {
    for (const s of p.silences) notes.push(`pid ${p.pid} went silent for ${Math.round(s.ms / 100) / 10} s (no per-second record: its main loop was stuck${s.untilEnd ? ', until it ended' : ''}).`)
  }
  if (escalated.length > 0) notes.push(`The command did not stop on SIGINT: the doctor sent ${escalated.join(' then ')}.`)
  if (leftovers > 0) notes.push(`${leftovers} process${leftovers === 1 ? '' : 'es'} of the command outlived it and were stopped.`)

  const report = {
    tool: 'nodeperf doctor',
    version: require('../../package.json').version,
    command: opts.command,
    cwd: process.cwd(),
    node: process.version,
    startedAt,
    endedAt,
    durationMs: endedAt - startedAt,
    stoppedBy: stopReason ?? 'the command exited',
    exit: {
      code: exited.code,
      signal: exited.signal,
      exitCode: code,
      afterMs: exited.at - startedAt,
      error: spawnError ? `${spawnError.code ?? ''} ${spawnError.message}`.trim() : null,
    },
    stderrTail: code !== 0 || spawnError ? stderrTail.split('\n').slice(-30).join('\n') : '',
    settings: { stallMs: opts.stallMs, culprits: opts.culprits, durationMs: opts.durationMs },
    load: loadResult ?? (opts.load !== null ? { command: opts.load, exit: loadExit } : null),
    notes,
    findings: [],
    processes,
  }
  report.findings = diagnose({ processes, load: loadResult, cwd: report.cwd, doctorPid: process.pid, sources: culpritSources(processes) }).map(({ score, ...f }) => f)

  if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify(report)}\n`)
  if (opts.html) fs.writeFileSync(opts.html, renderHtml(report))
  io.err(summaryText(report, opts))
  return code
}

/** The text of the files stall culprits point into (file: URLs, up to 1 MiB each), by URL. */
function culpritSources(processes) {
  const out = {}
  for (const p of processes) {
    for (const s of p.stalls) {
      const url = s.culprit?.url
      if (typeof url !== 'string' || !url.startsWith('file:') || url in out) continue
      out[url] = undefined
      try {
        const file = fileURLToPath(url)
        if (fs.statSync(file).size <= 2 ** 20) out[url] = fs.readFileSync(file, 'utf8')
      } catch {}
    }
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k]
  return out
}

/** Sends SIGTERM then SIGKILL to what is left of the command's process group; returns how many were left. */
async function reapGroup(pgid, graceMs) {
  if (pgid === undefined) return 0
  // Zombies (exited, not yet reaped by their new parent) do not count.
  const alive = () => {
    const n = countGroup(pgid)
    if (n !== null) return n > 0
    try {
      process.kill(-pgid, 0)
      return true
    } catch {
      return false
    }
  }
  if (!alive()) return 0
  const left = countGroup(pgid) ?? 1
  try {
    process.kill(-pgid, 'SIGTERM')
  } catch {}
  const until = Date.now() + Math.min(graceMs, 2000)
  while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  if (alive()) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {}
    const hard = Date.now() + 1000
    while (alive() && Date.now() < hard) await new Promise((r) => setTimeout(r, 50))
  }
  return left
}

/** Live (not zombie) processes in a process group, from Linux /proc; null without /proc. */
function countGroup(pgid) {
  try {
    let n = 0
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        if (Number(fields[2]) === pgid && fields[0] !== 'Z') n++
      } catch {}
    }
    return n
  } catch {
    return null
  }
}

function progressLine(dir, elapsedMs, pid) {
  let procs = 0
  let last = null
  try {
    for (const n of fs.readdirSync(dir)) {
      procs++
      if (n === `p-${pid}.ndjson`) last = lastTick(path.join(dir, n))
    }
  } catch {}
  let line = `nodeperf doctor: ${Math.round(elapsedMs / 1000)} s, ${procs} process${procs === 1 ? '' : 'es'}`
  if (last !== null) {
    const m = last.loops.find((l) => l.thread === 'main')
    if (m) line += `, lag p99 ${m.p99.toFixed(1)} ms, loop ${Math.round(m.utilization * 100)}% busy`
    line += `, CPU ${Math.round(last.cpuMs / 10)}%, heap ${Math.round(last.heapUsed / 2 ** 20)} MiB`
  }
  return line
}

function lastTick(file) {
  const size = fs.statSync(file).size
  const fd = fs.openSync(file, 'r')
  try {
    const len = Math.min(size, 16384)
    const buf = Buffer.alloc(len)
    fs.readSync(fd, buf, 0, len, size - len)
    const lines = buf.toString('utf8').split('\n').reverse()
    for (const l of lines) {
      if (!l.includes('"type":"tick"')) continue
      try {
        return JSON.parse(l)
      } catch {}
    }
  } finally {
    fs.closeSync(fd)
  }
  return null
}

function summaryText(report, opts) {
  const lines = [`nodeperf doctor: ${report.command.join(' ')} ${report.exit.signal ? `ended by ${report.exit.signal}` : `exited with code ${report.exit.code}`} after ${(report.exit.afterMs / 1000).toFixed(1)} s`]
  for (const f of report.findings) lines.push(`  [${f.severity}] ${f.kind}: ${f.evidence}`)
  for (const n of report.notes) lines.push(`  note: ${n}`)
  const files = [opts.json, opts.html].filter(Boolean)
  if (files.length > 0) lines.push(`  report: ${files.join(', ')}`)
  return `${lines.join('\n')}\n`
}

module.exports = { name: 'doctor', summary: 'run a command and diagnose its event loop, CPU and memory (nodeperf doctor --help)', usage: USAGE, run, parseCommandLine, nodeOptions }
