// An idle app with stall culprits on: what the monitor reports, how often
// the loop wakes, the CPU it takes, and what lands in the ring and the log,
// against the same app with culprits off (child processes, one after the
// other, `--seconds` each). The app does nothing but wait for a timer at the
// end; any busy period it reports is not the app's.
//
//   node bench/culprits-idle.mjs [--seconds 10] [--arms off,on,on+block]
//
// `on+block`: culprits on, with SIGPROF blocked in libuv's poll
// (bench/block-sigprof.c preloaded), the fix this bench points at.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'
import { machine, option } from './common.mjs'
import { blockSigprofLib } from './culprits-soak.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const indexPath = path.join(here, '..', 'index.js')
const opt = option
const SECONDS = Number(opt('seconds', 10))
const ARMS = opt('arms', 'off,on,on+block').split(',')

const code = (arm) => `
  const { lag, loopInfo, recentStalls } = require(${JSON.stringify(indexPath)})
  lag.configure({ culprits: ${arm !== 'off'}, logStalls: { thresholdMs: 100 } })
  let calls = 0
  const durations = []
  lag.onStall(100, (i) => { calls++; durations.push(i.durationMs) })
  setTimeout(() => {
    lag.reset()
    const cpu0 = process.cpuUsage(), it0 = loopInfo().iterations
    setTimeout(() => {
      const cpu = process.cpuUsage(cpu0), s = lag.snapshot()
      const ring = ${arm !== 'off'} ? recentStalls() : []
      const kinds = {}
      for (const r of ring) { const k = r.culprit ? r.culprit.kind + ':' + r.culprit.functionName : 'null'; kinds[k] = (kinds[k] || 0) + 1 }
      console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, iterations: loopInfo().iterations - it0,
        max: s.max, p99: s.p99, utilization: s.utilization, stalls: s.stalls, calls, longest: Math.max(0, ...durations), ring: ring.length, kinds }))
    }, ${SECONDS * 1000})
  }, 500)`

console.log(`culprits idle: ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${new Date().toISOString()}`)
console.log(`an app that only waits for a ${SECONDS} s timer, logStalls { thresholdMs: 100 } and onStall(100) on; arms one after the other\n`)
console.log('| arm | CPU | loop wakeups | lag max | lag p99 | utilisation | stalls >= 100 ms (onStall calls; longest) | ring entries: culprits | log lines |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const arm of ARMS) {
  const env = { ...process.env }
  if (arm === 'on+block') env.LD_PRELOAD = blockSigprofLib()
  const p = spawn(process.execPath, ['-e', code(arm)], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let out = ''
  let err = ''
  p.stdout.on('data', (d) => (out += d))
  p.stderr.on('data', (d) => (err += d))
  await once(p, 'exit')
  const r = JSON.parse(out)
  const logLines = err.split('\n').filter((l) => l.startsWith('event loop of')).length
  const kinds = Object.entries(r.kinds).map(([k, n]) => `${n} × ${k}`).join(', ') || '—'
  console.log(
    `| ${arm} | ${r.cpuMs.toFixed(1)} ms | ${r.iterations} | ${r.max.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.utilization.toFixed(3)} | ${r.stalls} (${r.calls}; ${r.longest.toFixed(0)} ms) | ${r.ring}: ${kinds} | ${logLines} |`,
  )
}
