// Helpers shared by the bench scripts.
import { performance } from 'node:perf_hooks'
import fs from 'node:fs'
import os from 'node:os'
import { spawn } from 'node:child_process'

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export function machine() {
  const cpus = os.cpus()
  return `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}, ${os.platform()} ${os.release()}`
}

/** Longest gap between loop turns (ms) while `fn` runs: a setImmediate chain. */
export async function longestStall(fn) {
  let max = 0
  let last = performance.now()
  let on = true
  const tick = () => {
    const now = performance.now()
    if (now - last > max) max = now - last
    last = now
    if (on) setImmediate(tick)
  }
  setImmediate(tick)
  // Let the chain settle before timing starts.
  await new Promise((r) => setTimeout(r, 5))
  max = 0
  last = performance.now()
  const result = await fn()
  on = false
  return { result, stallMs: max }
}

/** Runs `n` tasks from `make()` keeping `inflight` pending; returns ms. */
export function inFlight(n, inflight, make) {
  return new Promise((resolve, reject) => {
    let sent = 0
    let done = 0
    const t0 = performance.now()
    const next = () => {
      if (++done === n) return resolve(performance.now() - t0)
      if (sent < n) {
        sent++
        make().then(next, reject)
      }
    }
    for (; sent < Math.min(inflight, n); sent++) make().then(next, reject)
  })
}

/** Submits all `n` at once; returns ms until all settled. */
export async function allAtOnce(n, make) {
  const t0 = performance.now()
  const ps = new Array(n)
  for (let i = 0; i < n; i++) ps[i] = make()
  await Promise.all(ps)
  return performance.now() - t0
}

/**
 * The calling thread's time on a CPU and waiting in the run queue for one,
 * in ms (Linux: /proc/thread-self/schedstat); null elsewhere.
 */
function schedstat() {
  try {
    const [cpu, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number)
    return { cpu: cpu / 1e6, wait: wait / 1e6 }
  } catch {
    return null
  }
}

/**
 * Event-loop busy ms while `fn` runs (ELU active time), and of it the
 * thread's own CPU time and its wait for a CPU (where the OS tells): on a
 * machine with fewer cores than busy threads, ELU counts the second as busy.
 */
export async function busy(fn) {
  const s0 = schedstat()
  const e0 = performance.eventLoopUtilization()
  const result = await fn()
  const e = performance.eventLoopUtilization(e0)
  const s1 = schedstat()
  const cpuMs = s0 && s1 ? s1.cpu - s0.cpu : null
  const runQueueMs = s0 && s1 ? s1.wait - s0.wait : null
  return { result, busyMs: e.active, cpuMs, runQueueMs }
}

export const fmt = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : String(x))

/**
 * Control for scaling bars: how much two threads of *independent* work get
 * done on this machine right now, relative to one (2.0 on two idle cores).
 * Runs `n` whole-buffer SHA-256 tasks on a 1-thread and a 2-thread pool.
 */
export async function twoThreadCapacity(createPool, data, n = 4) {
  const p1 = createPool({ threads: 1 })
  const p2 = createPool({ threads: 2 })
  const run = async (p) => {
    const t0 = performance.now()
    await Promise.all(Array.from({ length: n }, () => p.hash('sha256', data)))
    return performance.now() - t0
  }
  const ms1 = await run(p1)
  const ms2 = await run(p2)
  await Promise.all([p1.close(), p2.close()])
  return ms1 / ms2
}

/** Control for stall bars: the longest loop gap over `ms` with nothing running. */
export async function idleStall(ms) {
  const { stallMs } = await longestStall(() => new Promise((r) => setTimeout(r, ms)))
  return stallMs
}

/**
 * Control for stall bars: the longest loop gap over `ms` while *another
 * process* keeps one core busy (no code of ours anywhere). On a 2-core
 * machine this shows what the OS scheduler alone does to the loop.
 */
export async function busyNeighbourStall(ms) {
  const child = spawn(process.execPath, ['-e', `const t = Date.now(); while (Date.now() - t < ${Math.ceil(ms) + 200}) {}`], { stdio: 'ignore' })
  await new Promise((r) => setTimeout(r, 100))
  const { stallMs } = await longestStall(() => new Promise((r) => setTimeout(r, ms)))
  await new Promise((r) => child.once('exit', r))
  return stallMs
}

/** The value after `--name` on the command line, or `fallback`. */
export function option(name, fallback) {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
