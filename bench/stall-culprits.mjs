// Stall culprits, accuracy: does `lag.onStall` name the user function that
// blocked the loop? Seven kinds of stall, each a distinctly named function
// called from a timer or setImmediate callback through two other user
// functions (onTimer/onImmediate → handleRequest → stallX):
//
//   stallJsLoop     a JS loop
//   stallRegex      catastrophic backtracking, /^(a+)+$/ on 'aaa…a!'
//   stallJsonParse  JSON.parse of a large document
//   stallPbkdf2     crypto.pbkdf2Sync
//   stallGzip       zlib.gzipSync
//   stallReadFile   fs.readFileSync of a large (page-cached) file
//   stallGcBurst    an allocation burst of retained class instances; GC
//                   takes most of it, and the right answer is kind 'gc'
//
// Sizes are calibrated at start so each stall lasts about --target ms
// (200) here. The kinds run interleaved in a seeded random order, each
// after 300–400 ms of idle loop, in alternating phases (ABBA by round):
//
//   ours    lag.configure({ culprits: true }) and lag.onStall(100, …);
//           right = culprit.functionName is the stall's function (for the
//           GC burst: culprit.kind === 'gc'); wrong = another answer;
//           none = culprit null or no stall event.
//   anchor  Sentry's ANR integration (stall-culprits-anchor.mjs): a worker
//           with an inspector session to the main thread watches a
//           heartbeat the main thread writes every 10 ms into a
//           SharedArrayBuffer; 50 ms stale, it sends Debugger.pause, takes
//           the first call frame whose url is neither empty nor node: and
//           resumes. The same right / wrong / none per stall (its capture
//           matched to the stall by the time the pause was asked for).
//
// Never both at once. Only stalls whose measured length (around the stall
// function's call) is at least 100 ms count. Prints per kind the stalls,
// right, wrong, none and % right for both, how long after the stall ours'
// callback came and how long after the stall's start the anchor's pause
// landed, and the stacks ours saw for every stall it got wrong.
//
// usage: node bench/stall-culprits.mjs [stallsPerKind=20] [--rounds 4]
//        [--seed 1] [--target 200] [--interval 10] [--kinds a,b]
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import inspector from 'node:inspector'
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { machine, median, option } from './common.mjs'

const require = createRequire(import.meta.url)
const { lag } = require('../index.js')

const args = process.argv.slice(2)
const opt = option
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
const PER_KIND = Number(positional[0] ?? 20)
const ROUNDS = Math.max(1, Math.min(PER_KIND, Number(opt('rounds', 4))))
const SEED = Number(opt('seed', 1))
const TARGET_MS = Number(opt('target', 200))
const INTERVAL_MS = Number(opt('interval', 10))
const ONLY = opt('kinds', null)?.split(',') ?? null
const STALL_MS = 100 // onStall threshold, and the shortest stall that counts
const ANCHOR_THRESHOLD_MS = 50
const HEARTBEAT_MS = 10

/** process.hrtime in ms: one clock for this thread, the worker and V8's profiles. */
const mono = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rng = mulberry32(SEED)

// ---- the stalls ---------------------------------------------------------
// Each does its work inline (no other user function below it), so the top
// user frame of every sample inside it is the function itself.
let sink = null

function stallJsLoop(n) {
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
  }
  sink = x
}

function stallRegex({ text, reps }) {
  let hits = 0
  for (let i = 0; i < reps; i++) if (/^(a+)+$/.test(text)) hits++
  sink = hits
}

function stallJsonParse(text) {
  sink = JSON.parse(text)
}

function stallPbkdf2(iterations) {
  sink = crypto.pbkdf2Sync('correct horse battery staple', 'salt', iterations, 64, 'sha512')
}

function stallGzip(buf) {
  sink = zlib.gzipSync(buf)
}

function stallReadFile(file) {
  sink = fs.readFileSync(file)
}

class Entry {
  constructor(next, id) {
    this.next = next
    this.id = id
  }
}

function stallGcBurst(n) {
  let head = null
  for (let i = 0; i < n; i++) head = new Entry(head, i)
  sink = head
}

// [0]: the anchor's heartbeat (mono ms); [1]: 1 while a stall function
// runs (plain stores, which take no interrupt: a pause that lands in the
// mono() after the call sees 0 here).
const shared = new Float64Array(new SharedArrayBuffer(16))

// Callers: the timer or immediate callback, then a dispatcher.
function handleRequest(job) {
  job.t0 = mono()
  shared[1] = 1
  job.fn(job.arg)
  shared[1] = 0
  job.t1 = mono()
  sink = null
  job.done()
}
function onTimer(job) {
  handleRequest(job)
}
function onImmediate(job) {
  handleRequest(job)
}

// ---- inputs and calibration --------------------------------------------
const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat'.split(' ')
function text(bytes) {
  const out = []
  let n = 0
  while (n < bytes) {
    const w = WORDS[Math.floor(rng() * WORDS.length)] + (rng() < 0.1 ? '.\n' : ' ')
    out.push(w)
    n += w.length
  }
  return out.join('').slice(0, bytes)
}
const chunk = Buffer.from(text(1 << 20))
const tmpFile = path.join(os.tmpdir(), `nodeperf-stall-culprits-${process.pid}.bin`)

function jsonDoc(records) {
  const rows = new Array(records)
  for (let i = 0; i < records; i++) {
    rows[i] = {
      id: i,
      name: `user${i}`,
      email: `user${i}@example.com`,
      active: i % 3 !== 0,
      score: Math.round(rng() * 1e6) / 100,
      tags: [WORDS[i % WORDS.length], WORDS[(i * 7) % WORDS.length]],
      address: { city: WORDS[(i * 3) % WORDS.length], zip: String(10000 + (i % 89999)) },
    }
  }
  return JSON.stringify(rows)
}

/** Smallest regex input whose one test takes ≥ 8 ms. */
function regexText() {
  for (let n = 16; n < 40; n++) {
    const t = 'a'.repeat(n) + '!'
    const t0 = mono()
    ;/^(a+)+$/.test(t)
    if (mono() - t0 >= 8) return t
  }
  return 'a'.repeat(40) + '!'
}
let REGEX_TEXT = null

// size → the stall function's argument. `size` scales the stall's length
// about linearly; `max` caps it (memory, disk).
const KINDS = [
  { name: 'stallJsLoop', fn: stallJsLoop, size: 2e7, max: 1e11, unit: 'iterations', build: (s) => Math.round(s) },
  {
    name: 'stallRegex',
    fn: stallRegex,
    size: 4,
    max: 1e5,
    unit: 'tests',
    build: (s) => ({ text: (REGEX_TEXT ??= regexText()), reps: Math.max(1, Math.round(s)) }),
    describe: (a) => `${a.reps} tests of ${a.text.length} chars`,
  },
  { name: 'stallJsonParse', fn: stallJsonParse, size: 2e4, max: 2e6, unit: 'records', build: (s) => jsonDoc(Math.round(s)), describe: (a) => `${(a.length / 1e6).toFixed(1)} MB` },
  { name: 'stallPbkdf2', fn: stallPbkdf2, size: 2e4, max: 1e8, unit: 'iterations (sha512)', build: (s) => Math.round(s) },
  {
    name: 'stallGzip',
    fn: stallGzip,
    size: 1 << 20,
    max: 1 << 30,
    unit: 'bytes of text',
    build: (s) => Buffer.concat(new Array(Math.max(1, Math.round(s / chunk.length))).fill(chunk)),
    describe: (a) => `${(a.length / 2 ** 20).toFixed(0)} MiB of text`,
  },
  {
    name: 'stallReadFile',
    fn: stallReadFile,
    size: 128 << 20,
    max: 2 * 2 ** 30,
    unit: 'bytes',
    build: (s) => {
      const bytes = Math.max(1, Math.round(s / 2 ** 20)) * 2 ** 20
      const fd = fs.openSync(tmpFile, 'w')
      for (let off = 0; off < bytes; off += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off))
      fs.closeSync(fd)
      fs.readFileSync(tmpFile) // into the page cache
      return tmpFile
    },
    describe: () => `${(fs.statSync(tmpFile).size / 2 ** 20).toFixed(0)} MiB file`,
  },
  { name: 'stallGcBurst', fn: stallGcBurst, size: 2e5, max: 1e8, unit: 'objects retained', build: (s) => Math.round(s) },
].filter((k) => ONLY === null || ONLY.includes(k.name))

function timed(kind, arg) {
  const t0 = mono()
  kind.fn(arg)
  const ms = mono() - t0
  sink = null
  return ms
}

function calibrate(kind) {
  let size = kind.size
  let arg = kind.build(size)
  timed(kind, arg) // warm-up
  for (let step = 0; step < 6; step++) {
    const ms = median([timed(kind, arg), timed(kind, arg), timed(kind, arg)])
    if (process.env.CALIBRATION_DEBUG) console.log(`    ${kind.name} size ${Math.round(size)}: ${ms.toFixed(1)} ms`)
    if (Math.abs(ms - TARGET_MS) < TARGET_MS * 0.2) break
    // At most 8× per step: small sizes time badly (caches, no page faults).
    size = Math.min(kind.max, size * Math.min(8, Math.max(1 / 8, TARGET_MS / Math.max(ms, 0.05))))
    arg = kind.build(size)
  }
  kind.arg = arg
  kind.calibrated = [timed(kind, arg), timed(kind, arg), timed(kind, arg)]
}

/**
 * A control, before either side runs: each stall once under a 1 ms V8 CPU
 * profile of this test's own (then disconnected), and GC's share of the
 * samples inside it. Shows the GC burst is GC's, and how much GC the
 * others carry.
 */
async function gcShares() {
  const session = new inspector.Session()
  session.connect()
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))))
  await post('Profiler.enable')
  await post('Profiler.setSamplingInterval', { interval: 1000 })
  for (const kind of KINDS) {
    await post('Profiler.start')
    const t0 = mono()
    kind.fn(kind.arg)
    const t1 = mono()
    sink = null
    const { profile } = await post('Profiler.stop')
    const gcIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(garbage collector)').map((n) => n.id))
    let t = profile.startTime
    let gc = 0
    let all = 0
    for (let i = 0; i < profile.samples.length; i++) {
      const prev = t
      t += profile.timeDeltas[i]
      const w = Math.min(t, t1 * 1000) - Math.max(prev, t0 * 1000)
      if (w <= 0) continue
      all += w
      if (gcIds.has(profile.samples[i])) gc += w
    }
    kind.gcShare = all > 0 ? gc / all : NaN
  }
  await post('Profiler.disable')
  session.disconnect()
}

// ---- the phases ---------------------------------------------------------
function jobsFor(round) {
  const jobs = []
  for (const kind of KINDS) {
    const n = Math.floor(PER_KIND / ROUNDS) + (round < PER_KIND % ROUNDS ? 1 : 0)
    for (let i = 0; i < n; i++) jobs.push({ kind: kind.name, fn: kind.fn, arg: kind.arg })
  }
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[jobs[i], jobs[j]] = [jobs[j], jobs[i]]
  }
  for (const job of jobs) {
    job.gapMs = 300 + Math.floor(rng() * 100)
    job.via = rng() < 0.5 ? 'timer' : 'immediate'
  }
  return jobs
}

async function runJobs(jobs) {
  const start = mono()
  for (const [i, job] of jobs.entries()) {
    job.index = i
    job.sincePhaseStart = mono() - start
    await new Promise((resolve) => {
      job.done = resolve
      if (job.via === 'timer') setTimeout(onTimer, job.gapMs, job)
      else setTimeout(() => setImmediate(onImmediate, job), job.gapMs)
    })
  }
}

const overlaps = (a0, a1, b0, b1) => a0 <= b1 + 5 && b0 <= a1 + 5

const configureMs = []
async function phaseOurs(jobs) {
  const c0 = mono()
  lag.configure({ culprits: { intervalMs: INTERVAL_MS } })
  configureMs.push(mono() - c0)
  const events = []
  const off = lag.onStall(STALL_MS, (info) => {
    const at = mono()
    events.push({ at, start: info.startedAt - (Date.now() - at), info })
  })
  await sleep(300)
  await runJobs(jobs)
  // Until every stall has its event (they come ~1 ms after), at most 3 s.
  const counted = jobs.filter((j) => j.t1 - j.t0 >= STALL_MS)
  const used = new Set()
  const match = () => {
    for (const job of jobs) {
      if (job.event !== undefined) continue
      const ev = events.find((e) => !used.has(e) && overlaps(e.start, e.start + e.info.durationMs, job.t0, job.t1))
      if (ev === undefined) continue
      used.add(ev)
      job.event = ev
      job.latencyMs = ev.at - job.t1
    }
    return counted.every((j) => j.event !== undefined)
  }
  const deadline = mono() + 3000
  await sleep(100)
  while (!match() && mono() < deadline) await sleep(50)
  await sleep(100)
  match()
  off()
  lag.configure({ culprits: false })
  return { stray: events.filter((e) => !used.has(e)).map((e) => e.info) }
}

async function phaseAnchor(jobs) {
  shared[0] = mono()
  const heartbeat = setInterval(() => {
    shared[0] = mono()
  }, HEARTBEAT_MS)
  const captures = []
  const errors = []
  let stopped = null
  let stoppedResolve
  const stoppedOrGone = new Promise((resolve) => (stoppedResolve = resolve))
  const worker = new Worker(new URL('./stall-culprits-anchor.mjs', import.meta.url), {
    workerData: { shared: shared.buffer, thresholdMs: ANCHOR_THRESHOLD_MS },
  })
  const exited = once(worker, 'exit')
  let readyResolve
  const ready = new Promise((resolve) => (readyResolve = resolve))
  worker.on('message', (m) => {
    if (m.type === 'ready') readyResolve()
    else if (m.type === 'capture') captures.push(m)
    else if (m.type === 'stopped') {
      stopped = m
      stoppedResolve()
    }
    else if (m.type === 'error') errors.push(m.message)
  })
  worker.on('error', (err) => {
    errors.push(String(err?.stack ?? err))
    readyResolve()
  })
  try {
    await ready
    await sleep(300)
    await runJobs(jobs)
    await sleep(300)
  } finally {
    worker.postMessage('stop')
    await Promise.race([stoppedOrGone, exited])
    // Let this thread drop its end of the session before the worker ends
    // (see the anchor's 'exit').
    await sleep(200)
    worker.postMessage('exit')
    await exited
    clearInterval(heartbeat)
  }
  const used = new Set()
  for (const job of jobs) {
    const c = captures.find((c) => !used.has(c) && c.reqAt !== null && c.reqAt >= job.t0 - 5 && c.reqAt <= job.t1 + 5)
    if (c === undefined) continue
    used.add(c)
    job.capture = c
    job.pauseMs = c.pausedAt - job.t0
    job.pausedAfterEnd = !c.inStall
  }
  return { stray: captures.filter((c) => !used.has(c)), errors, hung: stopped?.hung ?? null }
}

// ---- judging and printing ------------------------------------------------
const GC_KIND = 'stallGcBurst'
function judgeOurs(job) {
  const c = job.event?.info.culprit ?? null
  if (c === null || c === undefined) return { verdict: 'none', named: job.event ? 'culprit null' : 'no event' }
  const named = c.kind === 'gc' ? `gc (allocating in ${c.functionName})` : `${c.kind} ${c.functionName}`
  const right = job.kind === GC_KIND ? c.kind === 'gc' : c.kind !== 'gc' && c.functionName === job.kind
  return { verdict: right ? 'right' : 'wrong', named }
}
function judgeAnchor(job) {
  const top = job.capture?.top ?? null
  if (top === null) return { verdict: 'none', named: job.capture ? 'no user frame' : 'no pause' }
  // The anchor cannot say "GC": for the GC burst it is right only if it did.
  const right = job.kind !== GC_KIND && top.functionName === job.kind
  return { verdict: right ? 'right' : 'wrong', named: top.functionName }
}

const shortUrl = (url) => {
  if (url === '') return ''
  try {
    if (url.startsWith('file://')) return path.relative(process.cwd(), new URL(url).pathname)
  } catch {}
  return url
}
const frameText = (f) => (f.url ? `${f.functionName} (${shortUrl(f.url)}:${f.line})` : f.functionName)
const pct = (a, b) => (b === 0 ? '–' : `${((100 * a) / b).toFixed(1)} %`)
const ms = (x) => (x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1))

function tally(jobs, judge) {
  const t = { stalls: 0, right: 0, wrong: 0, none: 0, named: new Map(), short: 0 }
  for (const job of jobs) {
    if (job.t1 - job.t0 < STALL_MS) {
      t.short++
      continue
    }
    const { verdict, named } = judge(job)
    t.stalls++
    t[verdict]++
    if (verdict !== 'right') t.named.set(named, (t.named.get(named) ?? 0) + 1)
  }
  return t
}

async function main() {
  console.log(`stall culprits: ${PER_KIND} stalls per kind per side, ${ROUNDS} rounds (ABBA), seed ${SEED}, onStall(${STALL_MS}), ours at ${INTERVAL_MS} ms sampling, anchor at a ${ANCHOR_THRESHOLD_MS} ms heartbeat threshold`)
  console.log(`machine: ${machine()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  console.log(`calibrating each stall to ~${TARGET_MS} ms …`)
  for (const kind of KINDS) calibrate(kind)
  await gcShares()
  for (const kind of KINDS) {
    const what = kind.describe ? kind.describe(kind.arg) : `${kind.arg.toLocaleString('en-US')} ${kind.unit}`
    console.log(`  ${kind.name.padEnd(15)} ${what.padEnd(28)} ${kind.calibrated.map(ms).join(' / ')} ms; GC ${(100 * kind.gcShare).toFixed(0)} % of a 1 ms profile`)
  }

  const all = { ours: [], anchor: [] }
  const extras = { ours: [], anchor: [] }
  const phases = []
  for (let r = 0; r < ROUNDS; r++) phases.push(...(r % 2 === 0 ? ['ours', 'anchor'] : ['anchor', 'ours']))
  for (let p = 0; p < phases.length; p++) {
    const side = phases[p]
    const jobs = jobsFor(Math.floor(p / 2))
    const t0 = mono()
    const extra = side === 'ours' ? await phaseOurs(jobs) : await phaseAnchor(jobs)
    all[side].push(...jobs)
    extras[side].push(extra)
    const judge = side === 'ours' ? judgeOurs : judgeAnchor
    const right = jobs.filter((j) => j.t1 - j.t0 >= STALL_MS && judge(j).verdict === 'right').length
    console.log(`phase ${p + 1}/${phases.length} ${side.padEnd(6)} ${jobs.length} stalls, ${right} right, ${((mono() - t0) / 1000).toFixed(0)} s`)
    for (const e of extra.errors ?? []) console.log(`  anchor error: ${e}`)
    if (extra.hung) console.log('  anchor: a pause was still outstanding at stop (disconnected anyway)')
  }

  console.log('')
  console.log(`| kind | stalls | ours right | wrong | none | % right | anchor right | wrong | none | % right | anchor pause after start, p50 / max (ms) |`)
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |`)
  const total = { ours: { stalls: 0, right: 0, wrong: 0, none: 0 }, anchor: { stalls: 0, right: 0, wrong: 0, none: 0 } }
  const notes = []
  for (const kind of KINDS) {
    const o = tally(all.ours.filter((j) => j.kind === kind.name), judgeOurs)
    const a = tally(all.anchor.filter((j) => j.kind === kind.name), judgeAnchor)
    for (const [side, t] of [['ours', o], ['anchor', a]]) {
      for (const k of ['stalls', 'right', 'wrong', 'none']) total[side][k] += t[k]
      if (t.named.size) notes.push(`${side} on ${kind.name}: ${[...t.named].map(([n, c]) => `${n} ×${c}`).join(', ')}`)
      if (t.short) notes.push(`${side} on ${kind.name}: ${t.short} stalls under ${STALL_MS} ms not counted`)
    }
    const pauses = all.anchor.filter((j) => j.kind === kind.name && j.pauseMs !== undefined).map((j) => j.pauseMs)
    const late = all.anchor.filter((j) => j.kind === kind.name && j.pausedAfterEnd).length
    const stalls = o.stalls === a.stalls ? `${o.stalls}` : `${o.stalls} / ${a.stalls}`
    console.log(
      `| ${kind.name} | ${stalls} | ${o.right} | ${o.wrong} | ${o.none} | **${pct(o.right, o.stalls)}** | ${a.right} | ${a.wrong} | ${a.none} | ${pct(a.right, a.stalls)} | ${ms(median(pauses))} / ${ms(Math.max(...pauses))}${late ? ` (${late} after the function returned)` : ''} |`,
    )
  }
  const o = total.ours
  const a = total.anchor
  const stalls = o.stalls === a.stalls ? `${o.stalls}` : `${o.stalls} / ${a.stalls}`
  console.log(`| all | ${stalls} | ${o.right} | ${o.wrong} | ${o.none} | **${pct(o.right, o.stalls)}** | ${a.right} | ${a.wrong} | ${a.none} | ${pct(a.right, a.stalls)} | |`)
  console.log('')
  for (const n of notes) console.log(`named instead: ${n}`)

  console.log('')
  console.log('stall length (ms, measured around the call), p50 (min–max):')
  for (const kind of KINDS) {
    const d = (side) => {
      const xs = all[side].filter((j) => j.kind === kind.name).map((j) => j.t1 - j.t0)
      return `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`
    }
    console.log(`  ${kind.name.padEnd(15)} ours ${d('ours')}, anchor ${d('anchor')}`)
  }
  console.log(`load after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  const lat = all.ours.filter((j) => j.latencyMs !== undefined).map((j) => j.latencyMs)
  const pauses = all.anchor.filter((j) => j.pauseMs !== undefined).map((j) => j.pauseMs)
  console.log(`ours: onStall callback after the stall ended: p50 ${ms(median(lat))} ms, max ${ms(Math.max(...lat))} ms (${lat.length} callbacks)`)
  console.log(`anchor: pause landed after the stall started: p50 ${ms(median(pauses))} ms, max ${ms(Math.max(...pauses))} ms (${pauses.length} pauses; ${all.anchor.filter((j) => j.pausedAfterEnd).length} after the stall function had returned)`)
  console.log(`ours: lag.configure({ culprits }) at each phase start took ${configureMs.map(ms).join(', ')} ms (the loop blocked meanwhile)`)
  const strayOurs = extras.ours.flatMap((e) => e.stray)
  const strayAnchor = extras.anchor.flatMap((e) => e.stray)
  if (strayOurs.length) {
    console.log(`ours: ${strayOurs.length} stall events outside the stalls:`)
    for (const i of strayOurs) {
      const c = i.culprit
      console.log(`- ${ms(i.durationMs)} ms at ${new Date(i.startedAt).toISOString()}: culprit ${c ? `${c.kind} ${frameText(c)} share ${c.share}` : 'null'}; gcShare ${i.gcShare}, ${i.samples} samples`)
      for (const st of i.stacks ?? []) console.log(`    ${st.samples} samples ${st.ms} ms: ${st.frames.map(frameText).join(' < ')}`)
    }
  }
  if (strayAnchor.length) console.log(`anchor: ${strayAnchor.length} pauses outside the stalls: ${strayAnchor.map((c) => (c.top ? c.top.functionName : 'no user frame')).join(', ')}`)

  const wrong = all.ours.filter((j) => j.t1 - j.t0 >= STALL_MS && judgeOurs(j).verdict !== 'right')
  if (wrong.length) {
    console.log('')
    console.log(`ours, every stall not attributed right (${wrong.length}):`)
    for (const job of wrong) {
      const info = job.event?.info
      if (info === undefined) {
        console.log(`- ${job.kind} ${ms(job.t1 - job.t0)} ms (stall ${job.index + 1} of its phase, ${job.via}): no stall event`)
        continue
      }
      const c = info.culprit
      console.log(
        `- ${job.kind} ${ms(job.t1 - job.t0)} ms (stall ${job.index + 1} of its phase, ${job.via}; event ${ms(info.durationMs)} ms): culprit ${c ? `${c.kind} ${frameText(c)} share ${c.share}, ${c.samples} samples` : 'null'}; gcShare ${info.gcShare}, nativeShare ${info.nativeShare}, ${info.samples} samples`,
      )
      for (const s of info.stacks ?? []) console.log(`    ${s.samples} samples ${s.ms} ms: ${s.frames.map(frameText).join(' < ')}`)
    }
  }
  const wrongAnchor = all.anchor.filter((j) => j.t1 - j.t0 >= STALL_MS && judgeAnchor(j).verdict !== 'right' && j.capture)
  if (wrongAnchor.length) {
    console.log('')
    console.log('anchor, one paused stack per kind it got wrong:')
    const seen = new Set()
    for (const job of wrongAnchor) {
      if (seen.has(job.kind)) continue
      seen.add(job.kind)
      console.log(`- ${job.kind}: paused ${ms(job.pauseMs)} ms after the start (stall ${ms(job.t1 - job.t0)} ms): ${job.capture.frames.slice(0, 6).map(frameText).join(' < ')}`)
    }
  }
}

try {
  await main()
} finally {
  fs.rmSync(tmpFile, { force: true })
}
