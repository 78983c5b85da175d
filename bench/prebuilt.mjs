// bench/prebuilt: is the shipped binary (cargo-zigbuild, glibc 2.17) as fast
// as one built from source on this machine (plain cargo, the system's linker
// and glibc)? Both are release builds with LTO; the bar is within 5 %.
//   node bench/prebuilt.mjs [rounds=6] [fromSource.node] [shipped.node]
// Defaults: ./nodeperf-native.linux-x64-gnu.node (npm ci / npm run build) and
// npm/linux-x64-gnu/nodeperf-native.linux-x64-gnu.node (npm run build:dist).
// Each round runs one fresh process per binary, in rotating order, each
// measuring the same workloads, plus a control: a second process on a copy
// of the from-source binary (A'), whose ratio to A is this machine's noise
// floor in the same run. Prints every round and the median ratios.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, machine, inFlight, allAtOnce, busy, fmt } from './common.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')

const WORKLOADS = [
  // [name, unit, higher is better]
  ['xxh3 16 B × 100k, 64 in flight', 'tasks/s', true],
  ['xxh3 16 B × 100k, all at once', 'tasks/s', true],
  ['main-thread busy per task, 64 in flight', 'µs', false],
  ['sha256 1 KiB × 100k, 64 in flight', 'tasks/s', true],
  ['hashSync sha256 1 MiB', 'MB/s', true],
  ['hashSync blake3 1 MiB', 'MB/s', true],
]

if (process.argv[2] === '--child') {
  const { pool, hashSync } = await import('../index.mjs')
  const N = 100_000
  const tiny = Buffer.from('0123456789abcdef')
  const kib = crypto.randomBytes(1024)
  const mib = crypto.randomBytes(1 << 20)
  const xxh = () => pool.hash('xxh3', tiny, 'hex', { offload: 'always' })
  const sha = () => pool.hash('sha256', kib, 'hex', { offload: 'always' })
  await inFlight(20_000, 64, xxh) // warm-up
  await inFlight(20_000, 64, sha)
  const reps = 3
  const out = Object.fromEntries(WORKLOADS.map(([name]) => [name, []]))
  for (let r = 0; r < reps; r++) {
    const { result: ms, busyMs } = await busy(() => inFlight(N, 64, xxh))
    out[WORKLOADS[0][0]].push((N / ms) * 1000)
    out[WORKLOADS[2][0]].push((busyMs * 1000) / N)
    out[WORKLOADS[1][0]].push((N / (await allAtOnce(N, xxh))) * 1000)
    out[WORKLOADS[3][0]].push((N / (await inFlight(N, 64, sha))) * 1000)
    for (const [alg, name] of [['sha256', WORKLOADS[4][0]], ['blake3', WORKLOADS[5][0]]]) {
      const t0 = performance.now()
      for (let i = 0; i < 64; i++) hashSync(alg, mib)
      out[name].push(64 / ((performance.now() - t0) / 1000))
    }
  }
  console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v)]))))
  process.exit(0)
}

const rounds = Number(process.argv[2] ?? 6)
const fromSource = path.resolve(process.argv[3] ?? path.join(root, 'nodeperf-native.linux-x64-gnu.node'))
const shipped = path.resolve(process.argv[4] ?? path.join(root, 'npm', 'linux-x64-gnu', 'nodeperf-native.linux-x64-gnu.node'))
for (const f of [fromSource, shipped]) {
  if (!fs.existsSync(f)) {
    console.error(`bench/prebuilt: ${f} is missing (npm run build / npm run build:dist)`)
    process.exit(1)
  }
}

function child(binary) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
    encoding: 'utf8',
    env: { ...process.env, NODEPERF_NATIVE_PATH: binary },
  })
  if (r.status !== 0) throw new Error(`child for ${binary} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const control = path.join(fs.mkdtempSync(path.join(root, 'target', 'bench-prebuilt-')), 'control.node')
fs.copyFileSync(fromSource, control)
const binaries = { a: fromSource, b: shipped, c: control }

console.log(`# bench/prebuilt — ${machine()}; ${rounds} rounds, one process per binary per round, rotating order`)
console.log(`# A  from source: ${path.relative(root, fromSource)} (${(fs.statSync(fromSource).size / 1024).toFixed(0)} KiB)`)
console.log(`# B  shipped:     ${path.relative(root, shipped)} (${(fs.statSync(shipped).size / 1024).toFixed(0)} KiB)`)
console.log("# A' control:     a copy of A (A' vs A is the noise floor)")
const ratio = (name, higher, x, y) => (higher ? x[name] / y[name] : y[name] / x[name])
const empty = () => Object.fromEntries(WORKLOADS.map(([n]) => [n, []]))
const ratios = { b: empty(), c: empty() }
const values = { a: empty(), b: empty(), c: empty() }
const orders = [['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b'], ['a', 'c', 'b'], ['c', 'b', 'a'], ['b', 'a', 'c']]
for (let r = 0; r < rounds; r++) {
  const order = orders[r % orders.length]
  const got = {}
  for (const which of order) got[which] = child(binaries[which])
  for (const [name, , higher] of WORKLOADS) {
    for (const w of ['a', 'b', 'c']) values[w][name].push(got[w][name])
    // > 1 means faster (or cheaper) than A in that round.
    ratios.b[name].push(ratio(name, higher, got.b, got.a))
    ratios.c[name].push(ratio(name, higher, got.c, got.a))
  }
  console.log(
    `round ${r + 1} (${order.join(' ').replace('c', "a'")}): ` +
      WORKLOADS.map(([n]) => `${n.split(',')[0]} B ${fmt(ratios.b[n][r], 3)} A' ${fmt(ratios.c[n][r], 3)}`).join('; '),
  )
}
fs.rmSync(path.dirname(control), { recursive: true, force: true })

const range = (q) => `${fmt(median(q), 3)} (${fmt(Math.min(...q), 3)}–${fmt(Math.max(...q), 3)})`
console.log("\n| workload | A from source | B shipped | B vs A, median (range) | control A' vs A, median (range) | bar >= 0.95 |")
console.log('| --- | ---: | ---: | ---: | ---: | --- |')
for (const [name, unit] of WORKLOADS) {
  const d = unit === 'µs' ? 3 : 0
  const m = median(ratios.b[name])
  console.log(
    `| ${name} | ${fmt(median(values.a[name]), d)} ${unit} | ${fmt(median(values.b[name]), d)} ${unit} | ` +
      `${range(ratios.b[name])} | ${range(ratios.c[name])} | ${m >= 0.95 ? 'met' : 'not met'} |`,
  )
}
