// Diagnosis accuracy of `nodeperf doctor` (issue #22, bar 1): runs each app
// in bench/doctor/ under the doctor with its built-in load, --runs times
// (interleaved: app 1..6, then again), and counts how often the top
// finding's kind is the expected one and, for the blocking app, whether the
// culprit names the blocking function. With --clinic, also runs clinic
// doctor (if `clinic` is installed: node_modules/.bin/clinic, or the path
// in CLINIC) on the same apps in the same rounds, with autocannon at the
// same rate, and reads its verdict.
//
//   node bench/doctor/accuracy.mjs [--runs 10] [--duration 10] [--rate 50] [--clinic] [--only app,app]
//
// clinic is not a devDependency (its ~700 packages would reshuffle the lock
// file for one comparison); install it apart and point CLINIC at it:
//   npm install --prefix /tmp/clinic-tool clinic@13.0.0
//   CLINIC=/tmp/clinic-tool/node_modules/.bin/clinic node bench/doctor/accuracy.mjs --clinic
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..', '..')
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    clinic: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
})
const runs = Number(values.runs)
const duration = Number(values.duration)
const rate = Number(values.rate)

const APPS = [
  { app: 'blocking.cjs', expected: 'event-loop-blocking', culprit: 'parseUploadedManifest', rate: 20 },
  { app: 'leak.cjs', expected: 'memory-leak' },
  { app: 'gc-churn.cjs', expected: 'gc-pressure' },
  { app: 'io-wait.cjs', expected: 'io-wait' },
  { app: 'pool-saturated.cjs', expected: 'cpu-saturated' },
  { app: 'healthy.cjs', expected: 'healthy' },
].filter((a) => values.only === undefined || values.only.split(',').some((o) => a.app.startsWith(o)))

const clinicBin = process.env.CLINIC ?? path.join(root, 'node_modules', '.bin', 'clinic')
const useClinic = values.clinic && fs.existsSync(clinicBin)
if (values.clinic && !useClinic) console.log(`clinic not found at ${clinicBin}: its column is left out`)

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doctor-accuracy-'))
const missed = path.join(os.tmpdir(), `doctor-accuracy-misses-${process.pid}`)
let port = 3400 + Math.floor(Math.random() * 500)
const results = new Map(APPS.map((a) => [a.app, { kinds: {}, culprit: 0, clinic: {}, seconds: [] }]))

for (let r = 0; r < runs; r++) {
  for (const a of APPS) {
    const res = results.get(a.app)
    port++
    const json = path.join(tmp, `${a.app}-${r}.json`)
    const started = Date.now()
    const out = spawnSync(
      process.execPath,
      [path.join(root, 'bin', 'nodeperf.js'), 'doctor', '--duration', String(duration), '--http', `http://127.0.0.1:${port}/`, '--rate', String(a.rate ?? rate), '--json', json, '--', process.execPath, path.join(here, a.app)],
      { env: { ...process.env, PORT: String(port) }, encoding: 'utf8', timeout: (duration + 60) * 1000 },
    )
    res.seconds.push((Date.now() - started) / 1000)
    let kind = 'no report'
    try {
      const report = JSON.parse(fs.readFileSync(json, 'utf8'))
      const top = report.findings[0]
      kind = top.kind
      if (kind !== a.expected) {
        // Kept for a look at why: the report of every miss.
        fs.mkdirSync(missed, { recursive: true })
        fs.copyFileSync(json, path.join(missed, path.basename(json)))
      }
      if (a.culprit && report.findings.some((f) => f.kind === 'event-loop-blocking' && f.culprit && f.culprit.functionName === a.culprit)) res.culprit++
    } catch {
      kind = `no report (exit ${out.status})`
    }
    res.kinds[kind] = (res.kinds[kind] ?? 0) + 1
    if (useClinic) {
      port++
      const verdict = clinicRun(a, port)
      res.clinic[verdict] = (res.clinic[verdict] ?? 0) + 1
    }
    console.log(`run ${r + 1}/${runs} ${a.app}: ${kind}`)
  }
}

/**
 * clinic doctor with its own autocannon at the same rate; its verdict is
 * read from the HTML it writes (the recommendation it shows first).
 */
function clinicRun(a, p) {
  const dir = fs.mkdtempSync(path.join(tmp, 'clinic-'))
  const autocannon = path.join(root, 'node_modules', '.bin', 'autocannon')
  const out = spawnSync(
    clinicBin,
    ['doctor', '--no-open', '--on-port', `${autocannon} -R ${a.rate ?? rate} -c 20 -d ${duration} http://127.0.0.1:$PORT/ > /dev/null 2>&1`, '--', process.execPath, path.join(here, a.app)],
    { cwd: dir, env: { ...process.env, PORT: String(p), NO_INSIGHT: '1' }, encoding: 'utf8', timeout: (duration + 120) * 1000 },
  )
  const clinicDir = path.join(dir, '.clinic')
  const html = fs.existsSync(clinicDir) ? fs.readdirSync(clinicDir).find((f) => f.endsWith('.html')) : undefined
  if (html === undefined) return `failed (exit ${out.status}${out.error ? `, ${out.error.code}` : ''})`
  const verdict = clinicVerdict(fs.readFileSync(path.join(clinicDir, html), 'utf8'))
  fs.rmSync(dir, { recursive: true, force: true })
  return verdict
}

/**
 * clinic doctor's verdict: the `issueCategory` its analysis embeds in the
 * page (`event-loop`, `gc`, `io`, `none`, `data`, `unknown`), and whether
 * it matches the app's kind as far as its categories go (`gc` for both
 * memory kinds; clinic has no CPU-saturation category).
 */
function clinicVerdict(html) {
  const m = html.match(/"issueCategory"\s*:\s*"([a-z-]+)"/)
  return m ? m[1] : 'unreadable'
}
const CLINIC_MATCH = { 'event-loop-blocking': ['event-loop'], 'memory-leak': ['gc'], 'gc-pressure': ['gc'], 'io-wait': ['io'], 'cpu-saturated': [], healthy: ['none'] }

const rows = APPS.map((a) => {
  const res = results.get(a.app)
  const hits = res.kinds[a.expected] ?? 0
  const others = Object.entries(res.kinds)
    .filter(([k]) => k !== a.expected)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ')
  return [
    a.app,
    a.expected,
    `${hits}/${runs}`,
    others || '–',
    a.culprit ? `${res.culprit}/${runs} (${a.culprit})` : '–',
    useClinic ? `${Object.entries(res.clinic).map(([k, n]) => `${k} ×${n}`).join(', ')} (matches: ${CLINIC_MATCH[a.expected].reduce((x, k) => x + (res.clinic[k] ?? 0), 0)}/${runs})` : 'not run',
    (res.seconds.reduce((x, y) => x + y, 0) / res.seconds.length).toFixed(1),
  ]
})
const head = ['app', 'expected', 'doctor top = expected', 'other top findings', 'culprit named', 'clinic doctor', 's/run']
console.log(`\nNode ${process.version}, ${os.availableParallelism()} cores, ${runs} run(s) per app, --duration ${duration} s, built-in load ${rate} req/s (blocking app ${APPS.find((a) => a.rate)?.rate ?? rate})\n`)
console.log(`| ${head.join(' | ')} |\n| ${head.map(() => '---').join(' | ')} |`)
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
fs.rmSync(tmp, { recursive: true, force: true })
if (fs.existsSync(missed)) console.log(`\nreports of the misses: ${missed}`)
