'use strict'
// `nodeperf doctor`'s recorder: preloaded into every process of the command
// (`--require` in NODE_OPTIONS, so cluster workers and child processes get
// it too, and Node runs it in each worker thread). It needs no help from
// the app: each process appends NDJSON records to its own file in the
// directory NODEPERF_DOCTOR_DIR names.
//
//   start  once: pid, ppid, cluster worker id, Node version, argv, whether
//          stall culprits could start (the inspector may be taken)
//   tick   every second (an unref'd timer on the main thread): per loop of
//          the process (monitors(): main and every worker thread) the lag
//          p50/p99/max and utilisation of the last second, stalls; process
//          and per-thread CPU; RSS, heap, heap after major GC, GC pause
//          seconds by kind; pool stats; active resources by type
//   stall  after each main-thread stall (lag.onStall, culprits on), with
//          its culprit and heaviest stacks
//   exit   at process exit
//
// A stuck main loop cannot write its tick: the doctor sees the gap (a
// process that went silent) and the stall record that follows it.
// In a worker thread this only loads the addon, so that monitors() lists
// the thread's loop; culprits and GC stats run on the main thread only.

const { isMainThread } = require('node:worker_threads')

const dir = process.env.NODEPERF_DOCTOR_DIR

if (dir && isMainThread) start()
else if (dir) require('../../index.js')

function start() {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const inspector = require('node:inspector')
  const native = require('../../index.js')
  const { lag, monitors, readLag, readPool, memory } = native

  const file = path.join(dir, `p-${process.pid}.ndjson`)
  const stallMs = Number(process.env.NODEPERF_DOCTOR_STALL_MS) || 100
  const write = (rec) => {
    try {
      fs.appendFileSync(file, `${JSON.stringify(rec)}\n`)
    } catch {
      // The doctor's directory is gone (it has finished): nothing to report to.
    }
  }

  let workerId = null
  try {
    const cluster = require('node:cluster')
    if (cluster.isWorker) workerId = cluster.worker.id
  } catch {}

  // The inspector taken (--inspect): culprits step aside (they would show up
  // in the debugger); the report says so.
  const inspectorUrl = inspector.url()
  let culprits = false
  let culpritsOff = null
  if (process.env.NODEPERF_DOCTOR_CULPRITS === '0') culpritsOff = 'turned off with --no-culprits'
  else if (inspectorUrl !== undefined) culpritsOff = 'the inspector is open (--inspect): stall culprits step aside so as not to show up in the debugger'
  else {
    const onWarning = (w) => {
      if (w && w.code === 'NODEPERF_CULPRITS_OFF') culpritsOff = w.message
    }
    process.on('warning', onWarning)
    try {
      culprits = lag.configure({ stallThresholdMs: stallMs, culprits: { thresholdMs: stallMs } }).culprits !== false
    } catch (err) {
      culpritsOff = err.message
    }
    process.nextTick(() => process.off('warning', onWarning))
  }
  if (!culprits) lag.configure({ stallThresholdMs: stallMs })
  memory.startGcStats()

  write({
    type: 'start',
    t: Date.now(),
    pid: process.pid,
    ppid: process.ppid,
    workerId,
    node: process.version,
    argv: process.argv.slice(1),
    cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    culprits,
    culpritsOff,
    inspector: inspectorUrl !== undefined,
  })

  lag.onStall(stallMs, (info) => {
    write({
      type: 'stall',
      t: Date.now(),
      thread: info.thread ?? 'main',
      durationMs: round(info.durationMs),
      startedAt: info.startedAt,
      culprit: info.culprit ?? null,
      stacks: info.stacks ?? [],
      gcShare: info.gcShare ?? null,
      gcMs: info.gcMs ?? null,
    })
  })

  // Deltas of cumulative counters between ticks.
  let lastCpu = process.cpuUsage()
  let lastAt = performance.now()
  const lastStalls = new Map()
  let lastPauses = null
  let lastTasks = readThreads(fs)

  function tick() {
    const now = performance.now()
    const wallMs = now - lastAt
    lastAt = now
    const cpu = process.cpuUsage(lastCpu)
    lastCpu = process.cpuUsage()

    const loops = []
    for (const m of monitors()) {
      const r = readLag(m, { windowMs: 1000 })
      if (r === null) continue
      const prev = lastStalls.get(r.thread) ?? { n: 0, ms: 0 }
      lastStalls.set(r.thread, { n: r.stallsTotal, ms: r.stalledMsTotal })
      loops.push({
        thread: r.thread,
        p50: round(r.window.p50),
        p99: round(r.window.p99),
        max: round(r.window.max),
        utilization: round(r.window.utilization, 4),
        stalls: r.stallsTotal - prev.n,
        stalledMs: round(r.stalledMsTotal - prev.ms),
      })
    }

    const mem = process.memoryUsage()
    const gc = memory.gcStats()
    const pauses = {}
    for (const [kind, p] of Object.entries(gc.pauses)) {
      pauses[kind] = round((p.seconds - (lastPauses?.[kind] ?? 0)) * 1000, 3)
    }
    lastPauses = Object.fromEntries(Object.entries(gc.pauses).map(([k, p]) => [k, p.seconds]))

    let pool = null
    const rp = readPool()
    if (rp !== null) {
      let done = 0
      let runMs = 0
      for (const op of Object.values(rp.ops)) {
        done += op.tasks.ok + op.tasks.error + op.tasks.aborted
        runMs += op.run.sum
      }
      // runMs: cumulative run time of finished tasks, for the pool's busy share.
      pool = { threads: rp.threads, queued: rp.queued, active: rp.active, done, runMs: round(runMs) }
    }

    const handles = {}
    if (typeof process.getActiveResourcesInfo === 'function') {
      for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1
    }

    // Per-thread CPU (Linux /proc), ms in this tick, summed by thread name.
    const tasks = readThreads(fs)
    let threads = null
    if (tasks !== null && lastTasks !== null) {
      threads = {}
      for (const [tid, t] of tasks) {
        const before = lastTasks.get(tid)
        const ms = t.ms - (before ? before.ms : 0)
        if (ms > 0) threads[t.name] = round((threads[t.name] ?? 0) + ms)
      }
    }
    lastTasks = tasks

    write({
      type: 'tick',
      t: Date.now(),
      wallMs: round(wallMs),
      loops,
      cpuMs: round((cpu.user + cpu.system) / 1000),
      threads,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      heapLimit: gc.heapSizeLimit,
      heapAfterMajorGc: gc.heapUsedAfterMajorGc,
      majorGcs: gc.majorGcs,
      minorGcs: gc.minorGcs,
      gcPauseMs: pauses,
      leakSuspected: memory.leakStatus().suspected === true,
      pool,
      handles,
    })
  }

  // Reading starts the windows now, so the first tick covers a full second.
  for (const m of monitors()) readLag(m, { windowMs: 1000 })
  const timer = setInterval(tick, 1000)
  timer.unref()
  process.on('exit', (code) => {
    write({ type: 'exit', t: Date.now(), code })
  })
}

/** Linux: every thread's CPU time (ms) and name from /proc/self/task; else null. */
function readThreads(fs) {
  if (process.platform !== 'linux') return null
  let tids
  try {
    tids = fs.readdirSync('/proc/self/task')
  } catch {
    return null
  }
  const out = new Map()
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      const name = stat.slice(stat.indexOf('(') + 1, close)
      const fields = stat.slice(close + 2).split(' ')
      // utime and stime are fields 14 and 15 (1-based), in clock ticks (100/s on Linux).
      const ticks = Number(fields[11]) + Number(fields[12])
      out.set(tid, { name, ms: ticks * 10 })
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out
}

function round(x, digits = 2) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}
