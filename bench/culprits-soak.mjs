// Stall culprits soak: what the mechanism itself costs the loop and the RSS
// in an app with 5,000 loaded functions, a 150 ms stall every 10 s and light
// background work (bench/culprits-app.cjs), culprits on against the same app
// with culprits off, one arm after the other (sequential, not sharing the
// 2 CPUs).
//
// Bars: "no busy period caused by the mechanism (rotation, capture,
// serialisation) exceeds 5 ms p99 / 20 ms max over a 10-minute run with a
// stall every 10 s", and "RSS growth from the mechanism <= 10 MB over one
// hour" (least-squares slope after a warm-up minute, extrapolated).
//
//   node bench/culprits-soak.mjs [minutes=10] [--arms on,off] [--stall-every-s 10]
//        [--warmup-s 120] [--save DIR] [--from FILE...]
// --save: each arm's raw result as JSON in DIR (default: the temp dir);
// --from: summarise saved results instead of running.
//
// Arms: `on` (culprits: true), `off` (culprits: false), `on+block`
// (culprits: true with SIGPROF blocked during libuv's poll, through
// bench/block-sigprof.c preloaded: a diagnostic for the phantom busy periods
// this bench found, see BENCHMARKS.md).
import { spawn, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'
import fs from 'node:fs'
import { machine, median, option } from './common.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const opt = option
const minutes = Number(args[0] && !args[0].startsWith('--') ? args[0] : 10)
const arms = opt('arms', 'on,off').split(',')
const stallEveryS = Number(opt('stall-every-s', 10))
// V8's heap settles in the first ~90 s here (the RSS rises ~5 MB, then
// drops back at 80-100 s in every arm), so the fit starts at 120 s.
const WARMUP_S = Number(opt('warmup-s', 120))

/** nearest-rank percentile */
const pct = (xs, q) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))]
}
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—')

export function blockSigprofLib() {
  const out = path.join(os.tmpdir(), `nodeperf-block-sigprof-${process.pid}.so`)
  if (!fs.existsSync(out)) {
    execFileSync('cc', ['-shared', '-fPIC', '-o', out, path.join(here, 'block-sigprof.c'), '-Wl,--unresolved-symbols=ignore-all'])
  }
  return out
}

export async function runApp(arm, cfg, { stderr = 'inherit', onStderrLine } = {}) {
  const env = { ...process.env }
  if (arm === 'on+block') env.LD_PRELOAD = blockSigprofLib()
  const p = spawn(process.execPath, [path.join(here, 'culprits-app.cjs'), JSON.stringify({ ...cfg, culprits: arm !== 'off' })], {
    stdio: ['ignore', 'pipe', onStderrLine ? 'pipe' : stderr],
    env,
  })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  if (onStderrLine) {
    let buf = ''
    p.stderr.on('data', (d) => {
      const now = Date.now()
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        onStderrLine(buf.slice(0, i), now)
        buf = buf.slice(i + 1)
      }
    })
  }
  const [code] = await once(p, 'exit')
  if (code !== 0) throw new Error(`culprits-app (${arm}) exited with ${code}`)
  return JSON.parse(out)
}

/** Least-squares slope (y per x) and intercept. */
function fit(points) {
  const n = points.length
  const mx = points.reduce((a, p) => a + p[0], 0) / n
  const my = points.reduce((a, p) => a + p[1], 0) / n
  let sxy = 0
  let sxx = 0
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my)
    sxx += (x - mx) ** 2
  }
  const slope = sxy / sxx
  let ss = 0
  for (const [x, y] of points) ss += (y - (my + slope * (x - mx))) ** 2
  // standard error of the slope
  const se = Math.sqrt(ss / Math.max(1, n - 2) / sxx)
  return { slope, se, intercept: my - slope * mx }
}

/** Expands a {bins: [[ms, count]]} histogram into summary numbers over `total` busy periods. */
function histStats(h, total) {
  let n = 0
  let n5 = 0
  let n20 = 0
  for (const [ms, c] of h.bins) {
    n += c
    if (ms >= 5) n5 += c
    if (ms >= 20) n20 += c
  }
  // p99 over all `total` busy periods: the ones under 1 ms are not listed.
  const rank = Math.ceil(0.99 * total)
  const below = total - n
  let p99 = '< 1'
  if (rank > below) {
    let acc = below
    for (const [ms, c] of h.bins) {
      acc += c
      if (acc >= rank) {
        p99 = ms.toFixed(1)
        break
      }
    }
  }
  return { n, n5, n20, p99, max: h.max }
}

function buckets(h) {
  const edges = [1, 2, 5, 10, 20, 50, Infinity]
  const out = new Array(edges.length - 1).fill(0)
  for (const [ms, c] of h.bins) for (let i = 0; i < out.length; i++) if (ms >= edges[i] && ms < edges[i + 1]) out[i] += c
  return out
}

export function summarize(arm, r) {
  const s = r.stalls
  const stallEnds = s.ends
  const rot = r.rotations.start.map((t, i) => ({ t, ms: r.rotations.ms[i] }))
  const isDispatch = (t) => stallEnds.some((e) => t >= e - 1 && t <= e + 20)
  const dispatchRot = rot.filter((x) => isDispatch(x.t)).map((x) => x.ms)
  const periodicRot = rot.filter((x) => !isDispatch(x.t)).map((x) => x.ms)
  // The dispatch busy period: the monitor's value when >= 1 ms (it reports
  // no shorter ones to our listener), else at least the callback latency.
  const dispatch = s.dispatch.map((d, i) => (d >= 0 ? d : null))
  const dispatchVals = dispatch.map((d, i) => (d === null ? Math.min(1, s.latency[i]) : d))
  const total = r.busyPeriods - s.n
  return {
    arm,
    enableMs: r.enableMs,
    enableBusy: r.classHist.enable.max,
    loadMs: r.loadMs,
    stalls: s.n,
    seen: s.seen,
    named: s.named.reduce((a, b) => a + b, 0),
    samplesMedian: median(s.samples),
    latency: { p50: pct(s.latency, 50), p99: pct(s.latency, 99), max: Math.max(...s.latency), n: s.latency.length },
    dispatch: { all: dispatchVals, over1: dispatch.filter((d) => d !== null).length, p50: pct(dispatchVals, 50), p99: pct(dispatchVals, 99), max: Math.max(...dispatchVals) },
    dispatchRot: { n: dispatchRot.length, p50: pct(dispatchRot, 50), p99: pct(dispatchRot, 99), max: Math.max(...dispatchRot) },
    periodicRot: { all: [...periodicRot].sort((a, b) => a - b), n: periodicRot.length, p50: pct(periodicRot, 50), p99: pct(periodicRot, 99), max: periodicRot.length ? Math.max(...periodicRot) : NaN },
    rotationBusy: { over1: r.rotationBusy.length, max: r.rotationBusy.length ? Math.max(...r.rotationBusy.map((x) => x[0])) : NaN, detail: r.rotationBusy },
    other: histStats(r.classHist.other, total),
    harness: histStats(r.classHist['dispatch-of-other'], total),
    busyPeriods: r.busyPeriods,
    lagP99: r.lagP99,
    lagMax: r.lagMax,
    utilization: r.utilization,
    cpuMs: r.cpuMs,
    monitorStalls: r.monitorStalls,
    otherCulprits: r.otherCulprits,
    top: r.top.slice(0, 5).map((x) => x[1]),
    // the largest other busy periods: [ms, GC ms inside, ms waiting for a CPU, ms on a CPU] (scheduler counts, coarse)
    topDetail: r.top.slice(0, 8).map((x) => x.slice(1)),
    // dispatch busy periods of 2 ms and more: [ms, GC ms, waiting for a CPU, on a CPU]
    dispatchDetail: s.dispatch.map((d, i) => [d, s.dispatchGc[i], s.dispatchWait[i], s.dispatchCpu[i]]).filter((x) => x[0] >= 2),
    otherBuckets: buckets(r.classHist.other),
    gcTotalMs: r.gcTotalMs,
    rss: r.rss,
  }
}

function rssFit(rss) {
  const tEnable = rss[0][0]
  const pts = rss.filter((x) => x[0] - tEnable >= WARMUP_S)
  const mb = (i) => pts.map((x) => [(x[0] - tEnable) / 3600, x[i] / 1e6])
  return { n: pts.length, rss: fit(mb(1)), heap: fit(mb(2)), ext: fit(mb(3)), first: pts[0]?.[1] / 1e6, last: pts.at(-1)?.[1] / 1e6 }
}

async function main() {
  const cfg = { seconds: minutes * 60, stallEveryMs: stallEveryS * 1000 }
  console.log(`culprits soak: ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  console.log(`app: 5,000 functions, stall 150 ms every ${stallEveryS} s, background work every 5 ms; ${minutes} min per arm; arms ${arms.join(', ')}, one after the other`)
  const results = []
  const from = args.includes('--from') ? args.slice(args.indexOf('--from') + 1).filter((a) => !a.startsWith('--')) : null
  const saveDir = opt('save', os.tmpdir())
  for (const arm of from ?? arms) {
    let r
    let started = new Date().toISOString()
    let armName = arm
    if (from) {
      const saved = JSON.parse(fs.readFileSync(arm, 'utf8'))
      r = saved.result
      armName = saved.arm
      started = `${saved.started} (saved in ${arm})`
    } else {
      r = await runApp(arm, cfg)
      const file = path.join(saveDir, `culprits-soak-${arm}-${Date.now()}.json`)
      fs.writeFileSync(file, JSON.stringify({ arm, started, ended: new Date().toISOString(), load: os.loadavg(), result: r }))
      console.log(`\n(raw result: ${file})`)
    }
    const sum = summarize(armName, r)
    results.push(sum)
    console.log(`\n[${armName}] ${started} .. ${new Date().toISOString()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
    console.log(`  5,000 functions loaded in ${f(sum.loadMs, 0)} ms; lag.configure() took ${f(sum.enableMs)} ms (its busy period ${f(sum.enableBusy)} ms)`)
    console.log(`  stalls ${sum.stalls}, reported ${sum.seen}, culprit named deliberateStall in ${sum.named} (median ${sum.samplesMedian} samples each)`)
    console.log(`  stall end -> onStall callback: p50 ${f(sum.latency.p50)} / p99 ${f(sum.latency.p99)} / max ${f(sum.latency.max)} ms`)
    console.log(`  busy period after each stall (dispatch: rotate + attribute + record + listeners): ${sum.dispatch.over1} of ${sum.stalls} >= 1 ms; p50 ${f(sum.dispatch.p50)} / p99 ${f(sum.dispatch.p99)} / max ${f(sum.dispatch.max)} ms (under 1 ms: the callback latency)`)
    console.log(`  rotation (profile + profileEnd, wall): after a stall n=${sum.dispatchRot.n} p50 ${f(sum.dispatchRot.p50)} / p99 ${f(sum.dispatchRot.p99)} / max ${f(sum.dispatchRot.max)} ms; periodic n=${sum.periodicRot.n} p50 ${f(sum.periodicRot.p50)} / p99 ${f(sum.periodicRot.p99)} / max ${f(sum.periodicRot.max)} ms; busy periods holding a periodic rotation >= 1 ms: ${sum.rotationBusy.over1}, max ${f(sum.rotationBusy.max)} ms`)
    console.log(`  other busy periods (${sum.busyPeriods} in all): >= 1 ms ${sum.other.n}, >= 5 ms ${sum.other.n5}, >= 20 ms ${sum.other.n20}; p99 ${sum.other.p99} ms, max ${f(sum.other.max)} ms (largest ${sum.top.map((x) => f(x, 1)).join(', ')})`)
    console.log(`  other busy periods by length: 1-2 ms ${sum.otherBuckets[0]}, 2-5 ${sum.otherBuckets[1]}, 5-10 ${sum.otherBuckets[2]}, 10-20 ${sum.otherBuckets[3]}, 20-50 ${sum.otherBuckets[4]}, >= 50 ${sum.otherBuckets[5]}`)
    console.log(`  largest other busy periods [ms, GC ms in it, ms waiting for a CPU, ms on a CPU]: ${sum.topDetail.map((x) => `[${x.map((y) => f(y, 1)).join(', ')}]`).join(' ')}`)
    if (sum.dispatchDetail.length) console.log(`  dispatch busy periods >= 2 ms [ms, GC ms, waiting for a CPU, on a CPU]: ${sum.dispatchDetail.map((x) => `[${x.map((y) => f(y, 1)).join(', ')}]`).join(' ')}`)
    console.log(`  GC in all: ${f(sum.gcTotalMs / 1000, 2)} s`)
    console.log(`  of which our listener's own dispatch (harness): >= 1 ms ${sum.harness.n}, max ${f(sum.harness.max)} ms`)
    if (Object.keys(sum.otherCulprits).length) console.log(`  stalls >= 100 ms outside the deliberate ones, by culprit: ${JSON.stringify(sum.otherCulprits)}`)
    if (sum.rotationBusy.over1) console.log(`  busy periods holding a periodic rotation >= 1 ms [ms, GC ms, waiting for a CPU, on a CPU]: ${sum.rotationBusy.detail.map((x) => `[${x.map((y) => f(y, 1)).join(', ')}]`).join(' ')}`)
    console.log(`  the monitor's own figures over the run: lag p99 ${f(sum.lagP99)} ms, max ${f(sum.lagMax)} ms (the deliberate stalls included)`)
    console.log(`  utilisation ${f(sum.utilization, 3)}, CPU ${f(sum.cpuMs / 1000, 1)} s, monitor stalls ${sum.monitorStalls}`)
    const fitr = rssFit(sum.rss)
    sum.fit = fitr
    console.log(`  RSS every 10 s (MB): ${sum.rss.map((x) => f(x[1] / 1e6, 1)).join(' ')}`)
    console.log(
      `  after ${WARMUP_S} s warm-up (${fitr.n} samples, ${f(fitr.first, 1)} -> ${f(fitr.last, 1)} MB): RSS slope ${f(fitr.rss.slope, 2)} ± ${f(fitr.rss.se, 2)} MB/h, heapUsed ${f(fitr.heap.slope, 2)} MB/h, external ${f(fitr.ext.slope, 2)} MB/h`,
    )
  }
  const on = results.find((x) => x.arm === 'on')
  const off = results.find((x) => x.arm === 'off')
  if (on && off) {
    console.log(`\nsummary (on vs off)`)
    // The mechanism's busy periods: one per stall (dispatch) and one per
    // periodic rotation (the monitor's value when >= 1 ms, else the
    // rotation's wall time).
    const periodic = [...on.rotationBusy.detail.map((x) => x[0]), ...on.periodicRot.all.slice(0, Math.max(0, on.periodicRot.n - on.rotationBusy.over1))]
    const mechAll = [...on.dispatch.all, ...periodic]
    const mech = [Math.max(...mechAll)]
    console.log(`  the mechanism's busy periods together (${mechAll.length}): p99 ${f(pct(mechAll, 99))} ms, max ${f(Math.max(...mechAll))} ms`)
    console.log(`  first enable (5,000 functions loaded): ${f(on.enableMs)} ms, one time`)
    console.log(`  mechanism's busy periods: after each stall p99 ${f(on.dispatch.p99)} / max ${f(on.dispatch.max)} ms; periodic rotation max ${f(on.periodicRot.max)} ms wall (busy periods holding one: ${on.rotationBusy.over1} of ${on.periodicRot.n} >= 1 ms${on.rotationBusy.over1 ? `, max ${f(on.rotationBusy.max)} ms` : ''})`)
    console.log(`  the monitor's lag p99 over the run: on ${f(on.lagP99)} ms, off ${f(off.lagP99)} ms; utilisation on ${f(on.utilization, 3)}, off ${f(off.utilization, 3)}`)
    console.log(`  bar "never the cause" (p99 <= 5 ms, max <= 20 ms) on the mechanism's own busy periods: ${pct(mechAll, 99) <= 5 && Math.max(...mech) <= 20 ? 'met' : 'NOT MET'}`)
    console.log(`  other busy periods >= 5 ms: on ${on.other.n5}, off ${off.other.n5}; >= 20 ms: on ${on.other.n20}, off ${off.other.n20}; max on ${f(on.other.max)} / off ${f(off.other.max)} ms; >= 1 ms: on ${on.other.n} / off ${off.other.n}`)
    const d = on.fit.rss.slope - off.fit.rss.slope
    console.log(`  RSS slope: on ${f(on.fit.rss.slope)} MB/h, off ${f(off.fit.rss.slope)} MB/h; on - off ${f(d)} MB/h (bar <= 10 MB/h: ${d <= 10 ? 'met' : 'NOT MET'})`)
    console.log(`  CPU: on ${f(on.cpuMs / 1000, 1)} s, off ${f(off.cpuMs / 1000, 1)} s (${f((on.cpuMs - off.cpuMs) / (minutes * 60 * 10), 2)} % of a core)`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
