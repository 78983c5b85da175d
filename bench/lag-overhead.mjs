// What the always-on monitor costs, against perf_hooks.monitorEventLoopDelay:
//  1. idle: CPU time and loop wakeups over N seconds (child processes, side
//     by side): no monitor, monitorEventLoopDelay (default 10 ms), ours;
//  2. busy loop: a chain of setImmediate hops, ns added per loop iteration;
//  3. a hello-world http server under autocannon load: throughput with our
//     monitor vs none (rounds alternate, medians compared).
//
// usage: node bench/lag-overhead.mjs [--idle-seconds 10] [--http-seconds 5] [--rounds 3]
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const IDLE_S = opt('idle-seconds', 10)
const HTTP_S = opt('http-seconds', 5)
const ROUNDS = opt('rounds', 3)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function child(code, extraArgs = []) {
  const p = spawn(process.execPath, [...extraArgs, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  return { p, done: once(p, 'exit').then(() => out) }
}

// ---- 1. idle -------------------------------------------------------------------
const idleCode = (mode) => `
  const { lag, loopInfo } = require('@nodeperf/native')
  const { monitorEventLoopDelay } = require('node:perf_hooks')
  if (${JSON.stringify(mode)} !== 'ours') lag.stop()
  let h
  if (${JSON.stringify(mode)} === 'eld') { h = monitorEventLoopDelay(); h.enable() }
  setTimeout(() => {
    const cpu0 = process.cpuUsage(), it0 = loopInfo().iterations, ru0 = process.resourceUsage()
    setTimeout(() => {
      const cpu = process.cpuUsage(cpu0), ru = process.resourceUsage()
      console.log(JSON.stringify({
        cpuMs: (cpu.user + cpu.system) / 1000,
        iterations: loopInfo().iterations - it0,
        ctxSwitches: ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches,
      }))
    }, ${IDLE_S * 1000})
  }, 500)`

console.log(`lag overhead: Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0].model}`)
console.log(`\n1. idle for ${IDLE_S} s (child processes run side by side)`)
const modes = ['none', 'eld', 'ours']
const idle = await Promise.all(modes.map((m) => child(idleCode(m)).done.then((out) => JSON.parse(out))))
for (const [i, m] of modes.entries()) {
  const r = idle[i]
  const label = { none: 'no monitor', eld: 'monitorEventLoopDelay(10 ms)', ours: '@nodeperf/native lag' }[m]
  console.log(`  ${label.padEnd(30)} CPU ${r.cpuMs.toFixed(2).padStart(7)} ms   loop wakeups ${String(r.iterations).padStart(5)}   voluntary ctx switches ${r.ctxSwitches}`)
}
const [none, eld, ours] = idle
console.log(
  `  bar (ours no higher than ELD): CPU ${ours.cpuMs <= eld.cpuMs ? 'met' : 'MISSED'} (${(ours.cpuMs / eld.cpuMs).toFixed(2)}x ELD), ` +
    `wakeups ${ours.iterations <= eld.iterations ? 'met' : 'MISSED'} (${ours.iterations} vs ${eld.iterations}; none ${none.iterations})`,
)

// ---- 2. busy loop --------------------------------------------------------------
const { lag } = require('@nodeperf/native')
const HOPS = 1_000_000
function hops() {
  return new Promise((resolve) => {
    let n = 0
    const t0 = process.hrtime.bigint()
    const hop = () => (++n < HOPS ? setImmediate(hop) : resolve(Number(process.hrtime.bigint() - t0) / HOPS))
    setImmediate(hop)
  })
}
console.log(`\n2. busy loop: ${HOPS.toLocaleString()} setImmediate hops (one loop iteration each), ${ROUNDS * 2} alternating rounds`)
const off = []
const on = []
await hops() // warm-up
for (let r = 0; r < ROUNDS * 2; r++) {
  lag.stop()
  off.push(await hops())
  lag.start()
  on.push(await hops())
}
const added = median(on) - median(off)
console.log(`  ns per iteration: monitor off ${median(off).toFixed(1)}, on ${median(on).toFixed(1)}; added ${added.toFixed(1)} ns`)
console.log(`  bar (<= 500 ns added per iteration): ${added <= 500 ? 'met' : 'MISSED'}`)

// ---- 3. http --------------------------------------------------------------------
const serverCode = (mode) => `
  const { lag } = require('@nodeperf/native')
  if (${JSON.stringify(mode)} !== 'ours') lag.stop()
  const server = require('node:http').createServer((req, res) => res.end('hello world'))
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))`

async function httpRound(mode) {
  const c = child(serverCode(mode))
  const [portData] = await once(c.p.stdout, 'data')
  const port = Number(String(portData).trim())
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 50, duration: HTTP_S })
  c.p.kill()
  await c.done
  return result.requests.average
}
console.log(`\n3. http hello world, autocannon 50 connections, ${HTTP_S} s per round, ${ROUNDS} rounds each, alternating`)
const rps = { none: [], ours: [] }
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of r % 2 ? ['ours', 'none'] : ['none', 'ours']) rps[mode].push(await httpRound(mode))
}
const ratio = median(rps.ours) / median(rps.none)
console.log(`  req/s no monitor: ${rps.none.map((x) => x.toFixed(0)).join(', ')} (median ${median(rps.none).toFixed(0)})`)
console.log(`  req/s ours:       ${rps.ours.map((x) => x.toFixed(0)).join(', ')} (median ${median(rps.ours).toFixed(0)})`)
console.log(`  bar (ours >= 99% of no monitor): ${ratio >= 0.99 ? 'met' : 'MISSED'} (${(ratio * 100).toFixed(1)}%)`)
