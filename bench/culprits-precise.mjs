// Precise mode's latency: how long after the watchdog could know of a stall
// (the loop busy `thresholdMs`) its stack is in hand, while the stall still
// runs. JS stalls (a loop, a regex) take the capture at their next interrupt
// check; a stall in one native call takes it only when the call returns.
//
//   node bench/culprits-precise.mjs [stalls=20] [thresholdMs=100]
import crypto from 'node:crypto'
import { lag, recentStalls } from '../index.js'

const n = Number(process.argv[2] ?? 20)
const threshold = Number(process.argv[3] ?? 100)
lag.configure({ culprits: { precise: true, thresholdMs: threshold } })

function preciseJsLoop() {
  let x = 0
  const end = Date.now() + 300
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}
function preciseRegex() {
  // Catastrophic backtracking, repeated for ~300 ms (V8 tiers the regex up
  // to native code after its first runs, so one test gets shorter).
  const end = Date.now() + 300
  let n = 0
  while (Date.now() < end) n += /^(a+)+$/.test(`${'a'.repeat(20)}!`) ? 1 : 0
  return n
}
function preciseOneNativeCall() {
  return crypto.pbkdf2Sync('pw', 'salt', 900_000, 32, 'sha512')
}
const kinds = [preciseJsLoop, preciseRegex, preciseOneNativeCall]
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const got = new Map(kinds.map((k) => [k.name, []]))

// Stall delivery does not keep the process alive; this does.
const alive = setInterval(() => {}, 1000)
await sleep(500) // the helper worker starts
for (let i = 0; i < n; i++) {
  for (const kind of kinds) {
    const info = await new Promise((resolve) => {
      const off = lag.onStall(threshold, (s) => {
        off()
        resolve(s)
      })
      setTimeout(kind, 5)
    })
    got.get(kind.name).push(info)
    await sleep(150)
  }
}
const q = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]
console.log(`precise mode: ${n} stalls per kind, thresholdMs ${threshold}, Node ${process.version}, ring entries ${recentStalls().length}`)
console.log('| kind | stalls | captured during the stall | named its function | after detection, p50 / max (ms) | stall p50 (ms) |')
console.log('| --- | ---: | ---: | ---: | --- | ---: |')
for (const [name, infos] of got) {
  const caught = infos.filter((s) => s.precise && s.precise.capturedAfterMs <= s.durationMs)
  const named = caught.filter((s) => s.precise.functionName === name)
  const after = caught.map((s) => s.precise.capturedAfterMs - threshold)
  const fmt = (x) => (x === undefined ? '–' : x.toFixed(1))
  console.log(`| ${name} | ${infos.length} | ${caught.length} | ${named.length} | ${fmt(q(after, 0.5))} / ${fmt(after.length ? Math.max(...after) : undefined)} | ${q(infos.map((s) => s.durationMs), 0.5).toFixed(0)} |`)
}
clearInterval(alive)
lag.configure({ culprits: false })
