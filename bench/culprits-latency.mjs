// How soon after a stall ends its culprit is available: in an onStall
// listener, in the ring (recentStalls(), polled every 1 ms from a worker
// thread of the app) and in the log (the `logStalls` line on stderr, read by
// this process). The app is bench/culprits-app.cjs (5,000 loaded functions,
// background work every 5 ms) with culprits on and a 150 ms stall every 1 s.
// The stall's end is the monitor's: `startedAt + durationMs` (epoch ms);
// listener and ring times are the app's `performance.timeOrigin +
// performance.now()`, the log's this process's `Date.now()` when the line
// arrives (1 ms resolution, and it includes the pipe).
// Bar: the culprit is available in all three <= 50 ms after the stall ends.
//
//   node bench/culprits-latency.mjs [stalls=120] [--arm on]
import os from 'node:os'
import { machine } from './common.mjs'
import { runApp } from './culprits-soak.mjs'

const args = process.argv.slice(2)
const stalls = Number(args[0] && !args[0].startsWith('--') ? args[0] : 120)
const ai = args.indexOf('--arm')
const arm = ai >= 0 ? args[ai + 1] : 'on'
const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))]
}
const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—')

console.log(`culprits latency: ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${new Date().toISOString()}`)
console.log(`app: 5,000 functions, a 150 ms stall every 1 s, ${stalls} stalls, arm ${arm}, logStalls at 100 ms, the ring polled every 1 ms from a worker`)
const lines = []
const r = await runApp(arm, { seconds: stalls + 1.5, stallEveryMs: 1000, ringWatch: true, logStalls: true }, {
  onStderrLine: (line, at) => lines.push([line, at]),
})
const ends = r.stalls.endsMonitor.filter((e) => e > 0)
const listener = r.stalls.latency.slice(0, ends.length)
const ring = (r.ringSeen ?? []).filter((x) => x[2] === 'deliberateStall').map((x) => x[1])
const culpritLines = lines.filter(([l]) => / ms in /.test(l))
const log = []
for (const [, at] of culpritLines) {
  // the latest stall that ended before the line arrived
  let best = null
  for (const e of ends) if (e <= at + 1 && (best === null || e > best)) best = e
  if (best !== null) log.push(at - best)
}
console.log(`stalls reported ${ends.length} (named deliberateStall: ${r.stalls.named.reduce((a, b) => a + b, 0)}); ring entries seen ${ring.length}; culprit log lines ${culpritLines.length}`)
console.log(`\n| where | n | p50 | p99 | max | bar <= 50 ms |`)
console.log(`| --- | --- | --- | --- | --- | --- |`)
for (const [name, xs] of [
  ['onStall listener', listener],
  ['ring (worker polling 1 ms)', ring],
  ['log line (stderr, read here)', log],
]) {
  const max = Math.max(...xs)
  console.log(`| ${name} | ${xs.length} | ${f(pct(xs, 50))} ms | ${f(pct(xs, 99))} ms | ${f(max)} ms | ${max <= 50 ? 'met' : 'NOT MET'} |`)
}
const other = lines.filter(([l]) => !/ ms in /.test(l) && !/blocked for/.test(l))
if (other.length) console.log(`\nother stderr lines: ${other.length}, e.g. ${other.slice(0, 3).map((x) => x[0]).join(' | ')}`)
