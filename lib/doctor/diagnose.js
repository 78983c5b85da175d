'use strict'
// The doctor's diagnosis: pure functions from the recorded run to findings
// `{ kind, severity, evidence, data, culprit?, advice, pid }`, sorted most
// severe first (the first is the diagnosis). The rules and their thresholds
// are written down in docs/doctor.md; RULES holds the numbers.

const { fileURLToPath } = require('node:url')
const { calleeInSource, calleeName, blockingAdvice, blockingAdviceUnknown } = require('./advice.js')

const RULES = Object.freeze({
  // event-loop-blocking: stalls (busy periods >= the stall threshold) on the main loop
  blockingMinStalls: 3,
  blockingMinShare: 0.02, // stalled time / observed time
  blockingCriticalShare: 0.1,
  blockingLongStallMs: 1000, // one stall this long is enough on its own
  gcStallShare: 0.5, // stalls whose culprits are mostly GC go to gc-pressure instead
  // memory-leak: heap after major GC rising
  leakMinPoints: 4,
  leakMinSlopeMiBPerMin: 1,
  leakCriticalSlopeMiBPerMin: 10,
  leakMinR2: 0.7,
  leakMinRise: 0.1, // rise over the points / first point
  envelopePoints: 8, // windows of the heap's lower envelope (fallback)
  envelopeMinR2: 0.8,
  envelopeMinRise: 0.2,
  envelopeMinRiseMiB: 8,
  // gc-pressure: GC pause time / wall time while the heap after GC stays flat
  gcMinShare: 0.05,
  gcCriticalShare: 0.15,
  // io-wait: an idle, cool process whose requests are slow
  ioMaxUtilization: 0.3,
  ioMaxCpuCores: 0.3,
  ioMinLatencyP50Ms: 50,
  ioCriticalLatencyP50Ms: 500,
  ioMinPending: 20, // without latency data: pending timers/requests on average
  // cpu-saturated
  cpuShareOfCores: 0.85, // process CPU / cores
  poolMinBusy: 0.9, // pool active / threads
  poolMinQueuePerThread: 2,
  loopMinUtilization: 0.9, // main loop busy nearly all the time, without stalls
  saturatedMinTickShare: 0.5, // of the ticks
})

const RANK = { critical: 3, warning: 2, info: 1 }

/**
 * Findings for a run: `run` is `{ processes, load, cwd, sources }` as the
 * doctor records it (processes from lib/doctor/collect.js; `load` the
 * built-in load's result or null; `sources` the text of the culprits'
 * files by URL, read by the caller, optional). Pure: same input, same
 * findings.
 */
function diagnose(run) {
  const findings = []
  const cwd = run.cwd ?? ''
  for (const p of run.processes) {
    const label = processLabel(p)
    const ctx = { p, label, cwd, sources: run.sources ?? {}, load: p.ppid === run.doctorPid || run.processes.length === 1 ? run.load : null }
    const leak = leakFinding(ctx)
    for (const f of [blockingFinding(ctx), leak, gcFinding(ctx, leak !== null), ioFinding(ctx), cpuFinding(ctx)]) {
      if (f !== null) findings.push({ ...f, pid: p.pid })
    }
  }
  // One finding per kind: the strongest, naming the other processes that showed it.
  const byKind = new Map()
  for (const f of findings) {
    const best = byKind.get(f.kind)
    if (best === undefined) byKind.set(f.kind, { ...f, alsoIn: [] })
    else if (order(f, best) < 0) byKind.set(f.kind, { ...f, alsoIn: [...best.alsoIn, best.pid] })
    else best.alsoIn.push(f.pid)
  }
  const out = [...byKind.values()].sort(order)
  for (const f of out) if (f.alsoIn.length === 0) delete f.alsoIn
  if (out.length === 0) out.push(healthyFinding(run))
  return out
}

function order(a, b) {
  return RANK[b.severity] - RANK[a.severity] || b.score - a.score
}

function processLabel(p) {
  return p.workerId != null ? `cluster worker ${p.workerId} (pid ${p.pid})` : `pid ${p.pid}`
}

/** The ticks after the first (which covers start-up), or all if that is all there is. */
function steady(p) {
  return p.ticks.length > 2 ? p.ticks.slice(1) : p.ticks
}

function mainLoop(tick) {
  return tick.loops.find((l) => l.thread === 'main') ?? null
}

function observedMs(p) {
  const first = p.start?.t ?? p.ticks[0]?.t
  const last = p.exit?.t ?? Math.max(p.ticks.at(-1)?.t ?? 0, ...p.silences.map((s) => s.to))
  return first === undefined ? 0 : Math.max(0, last - first)
}

const mean = (xs) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d

// ## event-loop-blocking

function blockingFinding({ p, label, cwd, sources }) {
  const obs = observedMs(p)
  if (obs === 0) return null
  // Stall records carry culprits; without them (culprits off) the ticks count stalls.
  let stalls = p.stalls.map((s) => ({ ms: s.durationMs, culprit: s.culprit, gcMs: s.gcMs }))
  if (stalls.length === 0) {
    for (const t of p.ticks) {
      const m = mainLoop(t)
      if (m !== null && m.stalls > 0) for (let i = 0; i < m.stalls; i++) stalls.push({ ms: m.stalledMs / m.stalls, culprit: null })
    }
  }
  // A silence that ends with no stall record covering it is a stall the
  // loop never got out of (or had not yet, when the run ended).
  const silent = p.silences.filter((s) => !p.stalls.some((x) => x.t >= s.to - 1000 && x.durationMs >= s.ms * 0.5))
  for (const s of silent) stalls.push({ ms: s.ms, culprit: null, silent: true })
  if (stalls.length === 0) return null
  const total = stalls.reduce((a, s) => a + s.ms, 0)
  const longest = Math.max(...stalls.map((s) => s.ms))
  const share = total / obs
  const strong = longest >= RULES.blockingLongStallMs
  if (!strong && !(stalls.length >= RULES.blockingMinStalls && share >= RULES.blockingMinShare)) return null
  // GC's share of the stalled time: the pauses inside each stall (gcMs)
  // where they were measured, else the stalls GC was the culprit of.
  const gcMs = stalls.reduce((a, s) => a + (s.gcMs != null ? Math.min(s.gcMs, s.ms) : s.culprit?.kind === 'gc' ? s.ms : 0), 0)
  if (gcMs / total >= RULES.gcStallShare) return null
  const groups = groupByCulprit(stalls.filter((s) => s.culprit))
  const top = groups[0] ?? null
  const shortest = Math.min(...stalls.map((s) => s.ms))
  const range = `${Math.round(shortest)}–${Math.round(longest)} ms`
  let evidence = `The main loop of ${label} stalled ${stalls.length} time${stalls.length === 1 ? '' : 's'} for ${range}, ${Math.round(total)} ms in all (${pct(share)} of ${secs(obs)})`
  if (silent.length > 0) evidence += `; it went silent ${silent.length} time${silent.length === 1 ? '' : 's'} (no record for ${silent.map((s) => secs(s.ms)).join(', ')}${silent.some((s) => s.untilEnd) ? ', until the end' : ''})`
  evidence += '.'
  const culprit = top === null ? null : culpritOf(top, cwd, sources)
  const advice = top === null ? blockingAdviceUnknown(p) : blockingAdvice(top, culprit, stalls.length)
  return {
    kind: 'event-loop-blocking',
    severity: strong || share >= RULES.blockingCriticalShare ? 'critical' : 'warning',
    score: share / RULES.blockingMinShare,
    evidence,
    data: { stalls: stalls.length, stalledMs: round(total), share: round(share, 4), longestMs: round(longest), shortestMs: round(shortest), silences: silent.length },
    ...(culprit === null ? {} : { culprit }),
    advice,
  }
}

function groupByCulprit(stalls) {
  const map = new Map()
  for (const s of stalls) {
    const c = s.culprit
    const key = `${c.functionName}\0${c.url}\0${c.line}`
    const g = map.get(key) ?? { culprit: c, count: 0, ms: 0, min: Infinity, max: 0 }
    g.count++
    g.ms += s.ms
    g.min = Math.min(g.min, s.ms)
    g.max = Math.max(g.max, s.ms)
    map.set(key, g)
  }
  return [...map.values()].sort((a, b) => b.ms - a.ms)
}

function place(url, line, cwd) {
  if (!url) return ''
  let file = url
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file)
    } catch {}
  }
  if (cwd && file.startsWith(cwd + '/')) file = file.slice(cwd.length + 1)
  return `${file}:${line}`
}

/** The culprit as the report shows it: function, place, kind, the leaf it ran, its stack. */
function culpritOf(group, cwd, sources = {}) {
  const c = group.culprit
  const frames = c.frames ?? []
  const leaf = frames[0] ?? null
  let callee = leaf !== null && (leaf.functionName !== c.functionName || leaf.url !== c.url) ? calleeName(leaf) : null
  let calleeFrom = callee === null ? null : 'profile'
  if (callee === null && sources[c.url] !== undefined) {
    callee = calleeInSource(sources[c.url], c.line)
    if (callee !== null) calleeFrom = 'source'
  }
  return {
    kind: c.kind,
    functionName: c.functionName,
    url: c.url,
    line: c.line,
    column: c.column,
    where: place(c.url, c.line, cwd),
    callee,
    calleeFrom,
    stalls: group.count,
    ms: round(group.ms),
    minMs: round(group.min),
    maxMs: round(group.max),
    stack: frames.map((f) => `${f.functionName}${f.url ? ` (${place(f.url, f.line, cwd)}:${f.column})` : ''}`),
  }
}

// ## memory-leak

/** Least squares fit of y on x: `{ slope, r2 }`. */
function fit(xs, ys) {
  const n = xs.length
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my)
    sxx += (xs[i] - mx) ** 2
    syy += (ys[i] - my) ** 2
  }
  if (sxx === 0) return { slope: 0, r2: 0 }
  const slope = sxy / sxx
  return { slope, r2: syy === 0 ? 0 : (sxy * sxy) / (sxx * syy) }
}

function heapPoints(p) {
  const out = []
  let majors = 0
  for (const t of p.ticks) {
    if (t.majorGcs > majors && t.heapAfterMajorGc != null) out.push({ t: t.t, y: t.heapAfterMajorGc })
    majors = t.majorGcs
  }
  return out
}

/**
 * The heap's lower envelope: the least heapUsed in each of up to
 * `envelopePoints` windows of ticks (at least one tick each).
 */
function envelope(p) {
  const ticks = steady(p)
  const w = Math.max(1, Math.floor(ticks.length / RULES.envelopePoints))
  const out = []
  for (let i = 0; i + w <= ticks.length; i += w) {
    let min = null
    for (const t of ticks.slice(i, i + w)) if (min === null || t.heapUsed < min.y) min = { t: t.t, y: t.heapUsed }
    out.push(min)
  }
  return out
}

function leakFinding({ p, label }) {
  const MiB = 2 ** 20
  const warned = p.ticks.some((t) => t.leakSuspected)
  let points = heapPoints(p)
  let source = 'heap after major GC'
  let minR2 = RULES.leakMinR2
  let minRise = RULES.leakMinRise
  let minRiseBytes = 0
  if (points.length < RULES.leakMinPoints) {
    points = envelope(p)
    source = 'lower envelope of the heap used (too few major GCs for the heap after GC)'
    minR2 = RULES.envelopeMinR2
    minRise = RULES.envelopeMinRise
    minRiseBytes = RULES.envelopeMinRiseMiB * MiB
  }
  let slope = 0
  let r2 = 0
  let rise = 0
  if (points.length >= RULES.leakMinPoints) {
    const f = fit(
      points.map((q) => q.t / 60_000),
      points.map((q) => q.y / MiB),
    )
    slope = f.slope
    r2 = f.r2
    rise = (points.at(-1).y - points[0].y) / points[0].y
  }
  const risenBytes = points.length > 0 ? points.at(-1).y - points[0].y : 0
  const byRule = points.length >= RULES.leakMinPoints && slope >= RULES.leakMinSlopeMiBPerMin && r2 >= minR2 && rise >= minRise && risenBytes >= minRiseBytes
  if (!byRule && !warned) return null
  const last = p.ticks.at(-1)
  const limit = last?.heapLimit ?? null
  const headroom = limit !== null && points.length > 0 ? (limit - points.at(-1).y) / MiB : null
  const eta = headroom !== null && slope > 0 ? headroom / slope : null
  let evidence = `In ${label}, the ${source} rose ${pct(rise)} over ${points.length} points (${mib(points[0]?.y)} → ${mib(points.at(-1)?.y)}), ${round(slope, 1)} MiB/min, R² ${round(r2, 2)}`
  if (warned) evidence += '; the leak warning (`memory.onLeakSuspected`) fired'
  evidence += '.'
  const advice =
    `Something keeps objects alive between requests (a cache without a bound, listeners never removed, a growing array or Map).` +
    (eta !== null && Number.isFinite(eta) ? ` At this rate the heap limit is ${eta >= 120 ? `${round(eta / 60, 1)} h` : `${Math.round(eta)} min`} away.` : '') +
    ' Find the allocation site with `memory.startLeakLocator()`, or take two heap snapshots a minute apart (`memory.writeHeapSnapshot()`) and run `nodeperf heap diff a b`; bound caches (an LRU with a maximum size) and remove listeners when done.'
  return {
    kind: 'memory-leak',
    severity: slope >= RULES.leakCriticalSlopeMiBPerMin || (eta !== null && eta < 60) ? 'critical' : 'warning',
    score: Math.max(1, slope / RULES.leakMinSlopeMiBPerMin),
    evidence,
    data: { points: points.length, slopeMiBPerMinute: round(slope, 3), r2: round(r2, 3), rise: round(rise, 4), leakWarning: warned, source },
    advice,
  }
}

// ## gc-pressure

function gcFinding({ p, label }, leaking) {
  const ticks = steady(p)
  const wall = ticks.reduce((a, t) => a + (t.wallMs ?? 1000), 0)
  if (wall === 0) return null
  const byKind = {}
  for (const t of ticks) for (const [k, ms] of Object.entries(t.gcPauseMs ?? {})) byKind[k] = (byKind[k] ?? 0) + ms
  const gcMs = Object.values(byKind).reduce((a, b) => a + b, 0)
  const share = gcMs / wall
  const gcStallMs = p.stalls.filter((s) => s.culprit?.kind === 'gc').reduce((a, s) => a + s.durationMs, 0)
  if (share < RULES.gcMinShare && gcStallMs === 0) return null
  if (share < RULES.gcMinShare && gcStallMs / wall < RULES.blockingMinShare) return null
  if (leaking) return null
  const kinds = Object.entries(byKind)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, ms]) => `${k} ${Math.round(ms)} ms`)
    .join(', ')
  const minor = (byKind.scavenge ?? 0) + (byKind.minor_mark_compact ?? 0)
  const major = (byKind.mark_compact ?? 0) + (byKind.incremental_marking ?? 0)
  const evidence = `In ${label}, GC paused the main thread ${Math.round(gcMs)} ms in ${secs(wall)} (${pct(share)}: ${kinds || 'none'})${gcStallMs > 0 ? `, and GC was the culprit of stalls totalling ${Math.round(gcStallMs)} ms` : ''}, while the heap after GC stayed flat.`
  const advice =
    (major > minor
      ? 'Objects live just long enough to be promoted to the old generation and then die, so major GCs run often: keep per-request data short-lived or reuse it (pools of buffers, fewer intermediate arrays), and avoid holding request data in structures that outlive a scavenge.'
      : 'The app allocates short-lived objects faster than the young generation absorbs them: allocate less per request (reuse buffers and objects, avoid building intermediate arrays and strings, stream large results).') +
    ' A larger young generation (`--max-semi-space-size=64`) reduces scavenge frequency at the cost of memory.'
  return {
    kind: 'gc-pressure',
    severity: share >= RULES.gcCriticalShare ? 'critical' : 'warning',
    score: Math.max(share, gcStallMs / wall) / RULES.gcMinShare,
    evidence,
    data: { gcMs: round(gcMs), share: round(share, 4), byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, round(v)])), gcStallMs: round(gcStallMs) },
    advice,
  }
}

// ## io-wait

const PENDING = /^(Timeout|FSReqCallback|FSReqPromise|GetAddrInfoReqWrap|TCPConnectWrap|QueryReqWrap|PipeConnectWrap|Immediate)$/

function usage(p) {
  const ticks = steady(p)
  const util = mean(ticks.map((t) => mainLoop(t)?.utilization ?? 0))
  const cpuCores = mean(ticks.map((t) => t.cpuMs / (t.wallMs || 1000)))
  return { ticks, util, cpuCores }
}

/**
 * The pool's busy share: the seconds in which its threads ran tasks at
 * least poolMinBusy of the time (from the run time of the tasks that
 * finished, where recorded; else all threads active at the tick).
 */
function poolBusy(ticks) {
  const withPool = ticks.filter((t) => t.pool && t.pool.threads > 0)
  if (withPool.length === 0) return null
  let busyTicks = 0
  let prev = null
  for (const t of withPool) {
    const { pool } = t
    let busy = pool.active >= RULES.poolMinBusy * pool.threads
    if (prev !== null && pool.runMs != null && prev.runMs != null) {
      busy = busy || (pool.runMs - prev.runMs) / ((t.wallMs || 1000) * pool.threads) >= RULES.poolMinBusy
    }
    if (busy) busyTicks++
    prev = pool
  }
  const busy = busyTicks / ticks.length
  const queue = mean(withPool.map((t) => t.pool.queued / t.pool.threads))
  return { busy, queue, threads: withPool.at(-1).pool.threads, queuedLast: withPool.at(-1).pool.queued }
}

function ioFinding({ p, label, load }) {
  const { ticks, util, cpuCores } = usage(p)
  if (ticks.length === 0) return null
  if (util >= RULES.ioMaxUtilization || cpuCores >= RULES.ioMaxCpuCores) return null
  const pool = poolBusy(ticks)
  if (pool !== null && pool.busy >= RULES.saturatedMinTickShare) return null
  const pending = mean(ticks.map((t) => Object.entries(t.handles ?? {}).reduce((a, [k, n]) => a + (PENDING.test(k) ? n : 0), 0)))
  const lat = load && load.latency && load.ok > 0 ? load.latency : null
  let slow = false
  let evidence = `${label}: the main loop was busy ${pct(util)} of the time and the process used ${round(cpuCores, 2)} cores`
  if (lat !== null) {
    slow = lat.p50 >= RULES.ioMinLatencyP50Ms
    evidence += `, yet responses took ${Math.round(lat.p50)} ms (p50) / ${Math.round(lat.p99)} ms (p99) under the doctor's load`
  } else {
    slow = pending >= RULES.ioMinPending
    evidence += `, with ${Math.round(pending)} timers and I/O requests pending on average`
  }
  if (!slow) return null
  evidence += ': requests wait on something outside the process.'
  return {
    kind: 'io-wait',
    severity: lat !== null && lat.p50 >= RULES.ioCriticalLatencyP50Ms ? 'critical' : 'warning',
    score: lat !== null ? lat.p50 / RULES.ioMinLatencyP50Ms : pending / RULES.ioMinPending,
    evidence,
    data: { utilization: round(util, 4), cpuCores: round(cpuCores, 3), pending: round(pending, 1), latency: lat },
    advice:
      'Time goes to waiting (a database, an HTTP service, disk, DNS or timers), not to this process: trace the slow dependency (per-call timing or OpenTelemetry spans), run independent calls concurrently (`Promise.all`) instead of one after another, cache what repeats, add timeouts, and check connection-pool limits (an HTTP agent\'s `maxSockets`, the database pool size).',
  }
}

// ## cpu-saturated

function cpuFinding({ p, label }) {
  const { ticks, util, cpuCores } = usage(p)
  if (ticks.length === 0) return null
  const cores = p.start?.cores ?? 1
  const pool = poolBusy(ticks)
  const loopHot = ticks.filter((t) => (mainLoop(t)?.utilization ?? 0) >= RULES.loopMinUtilization && (mainLoop(t)?.stalledMs ?? 0) < 200).length / ticks.length
  const reasons = []
  let severity = null
  let score = 0
  if (cpuCores >= RULES.cpuShareOfCores * cores) {
    reasons.push(`the process used ${round(cpuCores, 2)} of ${cores} cores`)
    severity = 'critical'
    score = Math.max(score, cpuCores / (RULES.cpuShareOfCores * cores))
  }
  if (pool !== null && pool.busy >= RULES.saturatedMinTickShare && pool.queue >= RULES.poolMinQueuePerThread) {
    reasons.push(`the native pool's ${pool.threads} thread${pool.threads === 1 ? ' was' : 's were'} all busy ${pct(pool.busy)} of the time with ${round(pool.queue * pool.threads, 1)} tasks queued on average (${pool.queuedLast} at the end)`)
    severity = 'critical'
    score = Math.max(score, pool.queue / RULES.poolMinQueuePerThread)
  }
  if (loopHot >= RULES.saturatedMinTickShare) {
    reasons.push(`the main loop was busy ≥ ${pct(RULES.loopMinUtilization)} in ${pct(loopHot)} of the seconds without long stalls (utilisation ${pct(util)} on average)`)
    severity ??= 'warning'
    score = Math.max(score, loopHot / RULES.saturatedMinTickShare)
  }
  if (reasons.length === 0) return null
  const poolSaturated = reasons.some((r) => r.includes('native pool'))
  return {
    kind: 'cpu-saturated',
    severity,
    score,
    evidence: `In ${label}, ${reasons.join('; ')}.`,
    data: { cpuCores: round(cpuCores, 3), cores, utilization: round(util, 4), loopHotShare: round(loopHot, 3), pool },
    advice: poolSaturated
      ? 'The CPU work handed to the pool arrives faster than its threads finish it, so tasks wait in the queue: give the pool more threads (`createPool({ threads })`) if cores are free, bound the queue (`maxQueue`) and shed load (503 with `underPressure()`), or do less work per request (cache results).'
      : 'The process has no CPU left: profile the hot path (`node --cpu-prof`), cache or precompute what repeats, run more processes (`node:cluster`, more replicas) or move CPU work off the main thread (`pool`, worker threads), and shed load with `underPressure()` before latency climbs.',
  }
}

// ## healthy

function healthyFinding(run) {
  const parts = []
  for (const p of run.processes) {
    const { util, cpuCores } = usage(p)
    const p99 = Math.max(0, ...steady(p).map((t) => mainLoop(t)?.p99 ?? 0))
    parts.push(`${processLabel(p)}: loop busy ${pct(util)}, worst per-second lag p99 ${round(p99, 1)} ms, ${round(cpuCores, 2)} cores`)
  }
  const lat = run.load && run.load.ok > 0 ? `; the doctor's load got p50 ${round(run.load.latency.p50, 1)} ms, p99 ${round(run.load.latency.p99, 1)} ms` : ''
  return {
    kind: 'healthy',
    severity: 'info',
    score: 0,
    evidence: parts.length === 0 ? 'No process reported any data.' : `No rule held. ${parts.join('; ')}${lat}.`,
    data: {},
    advice: parts.length === 0 ? 'The command ended before the recorder reported: run it for longer, or check that it is a Node.js program.' : 'Nothing to fix at this load: raise the load (--rate, --connections) to find where it stops being healthy.',
    pid: run.processes[0]?.pid ?? null,
  }
}

function pct(x) {
  if (!Number.isFinite(x)) return '–'
  return `${x < 0.1 && x > 0 ? round(x * 100, 1) : Math.round(x * 100)}%`
}
function secs(ms) {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${round(ms / 1000, 1)} s`
}
function mib(b) {
  return b == null ? '–' : `${round(b / 2 ** 20, 1)} MiB`
}

module.exports = { diagnose, RULES, fit, calleeInSource }
