// What `nodeperf doctor` costs a server (issue #22, bar 2: keep >= 95% of
// the throughput): a hello-world node:http server driven to its limit by
// autocannon (closed loop, -c 50), interleaved rounds of
//   A  the server alone,
//   B  the same server under `nodeperf doctor` (recorder preloaded, culprits
//      on, GC stats on; the doctor drives no load of its own),
//   A' the server alone again (the A/A control: how much two identical
//      runs differ on this machine),
// then the median ratio B/A and A'/A over the rounds, and B against the
// mean of the A and A' around it (which cancels a drift within a round).
//
//   node bench/doctor/overhead.mjs [--pairs 5] [--seconds 5] [--connections 50]
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..', '..')
const { values } = parseArgs({ options: { pairs: { type: 'string', default: '5' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' } } })
const pairs = Number(values.pairs)
const seconds = Number(values.seconds)
const connections = Number(values.connections)
const app = path.join(here, 'healthy.cjs')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doctor-overhead-'))
let port = 4100 + Math.floor(Math.random() * 500)

function up(p) {
  return new Promise((resolve) => {
    const attempt = () => {
      const s = net.connect(p, '127.0.0.1')
      s.once('connect', () => (s.destroy(), resolve()))
      s.once('error', () => (s.destroy(), setTimeout(attempt, 50)))
    }
    attempt()
  })
}

async function measure(withDoctor) {
  port++
  const env = { ...process.env, PORT: String(port) }
  const args = withDoctor
    ? [path.join(root, 'bin', 'nodeperf.js'), 'doctor', '--json', path.join(tmp, `r-${port}.json`), '--', process.execPath, app]
    : [app]
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((r) => child.once('exit', r))
  await up(port)
  const url = `http://127.0.0.1:${port}/`
  await autocannon({ url, connections, duration: 1 }) // warm-up
  const r = await autocannon({ url, connections, duration: seconds })
  child.kill('SIGINT')
  await exited
  if (withDoctor && !fs.existsSync(path.join(tmp, `r-${port}.json`))) throw new Error(`the doctor wrote no report: ${stderr}`)
  return r.requests.average
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const rows = []
for (let i = 0; i < pairs; i++) {
  const a = await measure(false)
  const b = await measure(true)
  const a2 = await measure(false)
  rows.push({ a, b, a2, ratio: b / a, control: a2 / a, bracket: b / ((a + a2) / 2) })
  console.log(`round ${i + 1}: alone ${Math.round(a)} req/s, under doctor ${Math.round(b)} req/s (${(b / a).toFixed(3)}), alone again ${Math.round(a2)} req/s (${(a2 / a).toFixed(3)})`)
}
console.log(`\nNode ${process.version}, ${os.availableParallelism()} cores, autocannon -c ${connections} -d ${seconds}, ${pairs} interleaved rounds`)
console.log(`median under doctor / alone: ${median(rows.map((r) => r.ratio)).toFixed(3)} (range ${Math.min(...rows.map((r) => r.ratio)).toFixed(3)}–${Math.max(...rows.map((r) => r.ratio)).toFixed(3)})`)
console.log(`median A/A control:          ${median(rows.map((r) => r.control)).toFixed(3)} (range ${Math.min(...rows.map((r) => r.control)).toFixed(3)}–${Math.max(...rows.map((r) => r.control)).toFixed(3)})`)
console.log(`median under doctor / mean of the two alone runs around it: ${median(rows.map((r) => r.bracket)).toFixed(3)} (range ${Math.min(...rows.map((r) => r.bracket)).toFixed(3)}–${Math.max(...rows.map((r) => r.bracket)).toFixed(3)})`)
fs.rmSync(tmp, { recursive: true, force: true })
