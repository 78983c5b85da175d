// bench/prebuilt: is the shipped binary (cargo-zigbuild, glibc 2.17) as fast
// as one built from source on this machine (plain cargo, the system's linker
// and glibc)? Both are release builds with LTO; the bar is within 5 %.
//   node bench/prebuilt.mjs [rounds=6] [fromSource.node] [shipped.node]
// Defaults: ./nodeperf-native.linux-x64-gnu.node (npm ci / npm run build) and
// npm/linux-x64-gnu/nodeperf-native.linux-x64-gnu.node (npm run build:dist).
// Each round runs one fresh process per binary, in alternating order, each
// measuring the same workloads; prints every round and the median ratios.
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
  const xxh = () => pool.hash('xxh3', tiny)
  const sha = () => pool.hash('sha256', kib)
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

console.log(`# bench/prebuilt — ${machine()}; ${rounds} rounds, one process per binary per round, alternating order`)
console.log(`# A from source: ${path.relative(root, fromSource)} (${(fs.statSync(fromSource).size / 1024).toFixed(0)} KiB)`)
console.log(`# B shipped:     ${path.relative(root, shipped)} (${(fs.statSync(shipped).size / 1024).toFixed(0)} KiB)`)
const ratios = Object.fromEntries(WORKLOADS.map(([name]) => [name, []]))
const values = { a: Object.fromEntries(WORKLOADS.map(([n]) => [n, []])), b: Object.fromEntries(WORKLOADS.map(([n]) => [n, []])) }
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ['a', 'b'] : ['b', 'a']
  const got = {}
  for (const which of order) got[which] = child(which === 'a' ? fromSource : shipped)
  for (const [name, , higher] of WORKLOADS) {
    values.a[name].push(got.a[name])
    values.b[name].push(got.b[name])
    // > 1 means the shipped binary is faster (or cheaper) in that round.
    ratios[name].push(higher ? got.b[name] / got.a[name] : got.a[name] / got.b[name])
  }
  console.log(`round ${r + 1} (${order.join(' then ')}): ${WORKLOADS.map(([n]) => `${n.split(',')[0]} ${fmt(ratios[n][r], 3)}`).join('; ')}`)
}

console.log('\n| workload | from source (A) | shipped (B) | B vs A, median of rounds (range) | bar |')
console.log('| --- | ---: | ---: | ---: | --- |')
for (const [name, unit] of WORKLOADS) {
  const q = ratios[name]
  const m = median(q)
  console.log(
    `| ${name} | ${fmt(median(values.a[name]), unit === 'µs' ? 3 : 0)} ${unit} | ${fmt(median(values.b[name]), unit === 'µs' ? 3 : 0)} ${unit} | ` +
      `${fmt(m, 3)} (${fmt(Math.min(...q), 3)}–${fmt(Math.max(...q), 3)}) | ${m >= 0.95 ? 'met' : 'not met'} (>= 0.95) |`,
  )
}
