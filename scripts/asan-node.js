'use strict'
// The JS specs and the quick stress scripts on an AddressSanitizer build of
// the addon (the second half of `npm run test:asan`, after the Rust unit
// tests; see scripts/asan.sh).
//
//   node scripts/asan-node.js [spec files...]     (default: every __test__/*.spec.mjs but JS_ONLY's)
//   node scripts/asan-node.js --reports DIR       only step 4, on the asan.* files in DIR
//
// 1. Builds the cdylib with the nightly toolchain, -Zsanitizer=address
//    (recoverable, so a report does not end the process) and
//    --cfg nodeperf_asan (the system allocator instead of mimalloc,
//    src/alloc.rs), into target/asan/, and copies it to
//    target/asan/nodeperf-native.asan.node.
// 2. Gets ASan's runtime as a shared library to preload into Node (which is
//    not instrumented): the toolchain's own if it ships one, otherwise
//    target/asan/asan-rt/libasan-rt.so linked with `cc` from the static
//    runtime it ships (librustc-nightly_rt.asan.a), so the runtime always
//    matches the compiler.
// 3. Runs `node --test` over the specs, bench/shared-stress.mjs (every
//    case, including the three that break the contract on purpose) and a
//    short bench/pool-soak.mjs, each with NODEPERF_NATIVE_PATH at that build,
//    LD_PRELOAD of the runtime and ASAN_OPTIONS that log every report to
//    target/asan/reports/asan.<pid> and go on (halt_on_error=0). Child
//    processes inherit all of it. NODEPERF_ASAN=1 tells specs to skip their
//    RSS bars (ASan's quarantine holds freed memory).
//    detect_leaks=0: V8 leaks by design. handle_segv=0/handle_sigbus=0:
//    the fault guard (src/shared/fault.rs) and Node's handlers are what the
//    specs test, and a real SIGSEGV must end the process by the signal.
// 4. Reads every report. Each must match an entry of scripts/asan-allow.txt
//    (the contract broken on purpose); any other report is printed and
//    fails the run. Every task of the stress run's contract-breaking cases
//    must have ended in ERR_NODEPERF_DETACHED.
//
// Exits 0 when the specs and stress scripts passed and every report is
// allowed; 1 otherwise. ~3.5 min on 2 cores from clean (build ~65 s, specs
// ~135 s, stress ~20 s).
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

/**
 * Specs left out of the default ASan run: what they test is JS (process
 * supervision, the doctor, the HTTP frameworks' parsers and load shedding,
 * the exposition formats, the README's examples, the CLI's argument
 * handling, the inspector-driven leak locator), and every native call they
 * make is made by other specs that do run under ASan (json*, pool, lag*,
 * heap, prom, group*, shared, hostile). Under ASan they would only add
 * minutes to CI, most of them spawning many Node processes.
 */
const JS_ONLY = [
  /^cluster-supervisor\.spec\.mjs$/,
  /^cluster\.spec\.mjs$/,
  /^doctor.*\.spec\.mjs$/,
  /^http-json\.spec\.mjs$/,
  /^pressure(-routes)?\.spec\.mjs$/,
  /^openmetrics\.spec\.mjs$/,
  /^otel\.spec\.mjs$/,
  /^readme\.spec\.mjs$/,
  /^cli\.spec\.mjs$/,
  /^memory-locator\.spec\.mjs$/,
]

const root = path.join(__dirname, '..')
const targetDir = path.join(root, 'target', 'asan')
const reportsDir = path.join(targetDir, 'reports')
const addon = path.join(targetDir, 'nodeperf-native.asan.node')
const allowFile = path.join(__dirname, 'asan-allow.txt')

// Small enough to keep the whole of test:asan within ~6 min on 2 cores.
const STRESS_ROUNDS = '10'
const STRESS_CASES = ['owner-exit', 'transfer-exit', 'worker-1000', 'quarters', 'transfer-broken', 'json-transfer-broken', 'freed-under-read']
// The cases that break the contract: every task must end in this error.
const CONTRACT_BROKEN = ['transfer-broken', 'json-transfer-broken', 'freed-under-read']
const SOAK_TASKS = '300000'
const SOAK_INFLIGHT = '64'

const rel = (f) => path.relative(root, f) || '.'
const section = (s) => console.log(`\n---- test:asan: ${s}`)

function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...options })
  if (r.error) throw new Error(`could not run ${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status ?? r.signal})`)
  return r
}

function capture(cmd, argv) {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr || r.error}`)
  return r.stdout.trim()
}

/** The instrumented addon, at target/asan/nodeperf-native.asan.node. */
function buildAddon(host) {
  const env = {
    ...process.env,
    RUSTFLAGS: '-Zsanitizer=address -Zsanitizer-recover=address -Cforce-frame-pointers=yes --cfg nodeperf_asan',
    // The release profile without its slow parts (LTO, one codegen unit),
    // with line tables so reports name files and lines.
    CARGO_PROFILE_RELEASE_LTO: 'false',
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS: '16',
    CARGO_PROFILE_RELEASE_STRIP: 'none',
    CARGO_PROFILE_RELEASE_DEBUG: 'line-tables-only',
  }
  // --target: RUSTFLAGS then leave build scripts and proc macros alone.
  run('cargo', ['+nightly', 'build', '--lib', '--release', '--locked', '--target', host, '--target-dir', targetDir], { env })
  const built = path.join(targetDir, host, 'release', 'libnodeperf_native.so')
  fs.copyFileSync(built, `${addon}.tmp`)
  fs.renameSync(`${addon}.tmp`, addon)
}

/** A shared ASan runtime to preload, from the nightly toolchain. */
function asanRuntime(host) {
  const sysroot = capture('rustc', ['+nightly', '--print', 'sysroot'])
  const libDir = path.join(sysroot, 'lib', 'rustlib', host, 'lib')
  const shipped = path.join(libDir, 'librustc-nightly_rt.asan.so')
  if (fs.existsSync(shipped)) return shipped
  const archive = path.join(libDir, 'librustc-nightly_rt.asan.a')
  if (!fs.existsSync(archive)) throw new Error(`no ASan runtime in the nightly toolchain (${archive})`)
  const dir = path.join(targetDir, 'asan-rt')
  const so = path.join(dir, 'libasan-rt.so')
  if (fs.existsSync(so) && fs.statSync(so).mtimeMs >= fs.statSync(archive).mtimeMs) return so
  const objects = path.join(dir, 'objects')
  fs.rmSync(objects, { recursive: true, force: true })
  fs.mkdirSync(objects, { recursive: true })
  run('ar', ['x', archive], { cwd: objects })
  // asan_preinit puts __asan_init in .preinit_array, which only an
  // executable may have; LD_PRELOAD runs the runtime's constructor instead.
  fs.rmSync(path.join(objects, 'asan_preinit.cpp.o'), { force: true })
  const members = fs.readdirSync(objects).filter((f) => f.endsWith('.o'))
  run('cc', ['-shared', '-o', so, ...members, '-lpthread', '-ldl', '-lm', '-lrt', '-Wl,-z,defs'], { cwd: objects })
  fs.rmSync(objects, { recursive: true, force: true })
  return so
}

/** Runs one command under ASan; resolves to its exit and what it printed. */
function runUnder(env, label, cmd, argv, { timeoutSeconds, echo }) {
  console.log(`$ ${[cmd === process.execPath ? 'node' : cmd, ...argv].join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (echo) process.stdout.write(d)
    })
    child.stderr.on('data', (d) => {
      out += d
      if (echo) process.stderr.write(d)
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutSeconds * 1000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (!echo) process.stdout.write(out)
      resolve({ label, code, signal, timedOut, out })
    })
  })
}

// ---- the allow list and the reports

function parseAllowList(text) {
  const entries = []
  let entry = null
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const where = `${rel(allowFile)}:${i + 1}`
    const head = /^\[(.+)\]$/.exec(line)
    if (head) {
      entry = { name: head[1], frames: [], where, seen: 0 }
      entries.push(entry)
      return
    }
    const kv = /^(\w+):\s*(.*)$/.exec(line)
    if (!kv || !entry) throw new Error(`${where}: expected [name] or key: value, not ${JSON.stringify(line)}`)
    const [, key, value] = kv
    if (key === 'frame') entry.frames.push(new RegExp(value))
    else if (key === 'command') entry.command = new RegExp(value)
    else if (key === 'error') entry.error = value.trim()
    else if (key === 'specs' || key === 'why') entry[key] = value
    else throw new Error(`${where}: unknown key ${key}`)
  })
  for (const e of entries) {
    for (const key of ['command', 'error', 'why']) if (!e[key]) throw new Error(`${e.where}: entry [${e.name}] has no ${key}`)
    if (e.frames.length === 0) throw new Error(`${e.where}: entry [${e.name}] has no frame`)
  }
  return entries
}

/** The reports in one ASan log file (one process). */
function parseReports(file) {
  const text = fs.readFileSync(file, 'utf8')
  const chunks = text.split(/^=+\n/m).filter((c) => c.trim() !== '')
  return chunks.map((chunk) => {
    const lines = chunk.split('\n')
    const head = /==\d+==ERROR: AddressSanitizer: (\S+)/.exec(chunk)
    const access = /^(READ|WRITE) of size \d+ at \S+ thread (\S+)/m.exec(chunk)
    const command = /^Command: (.*)$/m.exec(chunk)
    // The access stack: the first run of "#N" frames.
    const start = lines.findIndex((l) => /^\s+#0 /.test(l))
    const frames = []
    if (start >= 0) {
      for (let i = start; i < lines.length && /^\s+#\d+ /.test(lines[i]); i++) {
        frames.push(lines[i].trim().split(`${root}${path.sep}`).join(''))
      }
    }
    return {
      file,
      text: chunk,
      error: head ? `${head[1]}${access ? ` ${access[1]}` : ''}` : null,
      thread: access ? access[2] : null,
      command: command ? command[1].trim() : '',
      frames,
    }
  })
}

function allowedBy(report, entries) {
  if (!report.error) return null
  return (
    entries.find(
      (e) =>
        e.error === report.error &&
        e.command.test(report.command) &&
        e.frames.every((re) => report.frames.some((f) => re.test(f))),
    ) ?? null
  )
}

function shortReport(r) {
  const lines = r.text.split('\n')
  const keep = []
  let frames = 0
  for (const l of lines) {
    if (/^Shadow bytes around/.test(l)) break
    if (/^\s+#\d+ /.test(l) && ++frames > 40) continue
    if (!/^\s+#\d+ /.test(l)) frames = 0
    keep.push(l)
  }
  return `${keep.join('\n').trim()}\nCommand: ${r.command}\n(${rel(r.file)})`
}

/** Matches every report in `dir` against the allow list; prints the rest. */
function checkReports(dir, entries, problems) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('asan.'))
    .map((f) => path.join(dir, f))
  const reports = files.flatMap(parseReports)
  const unallowed = []
  for (const r of reports) {
    const e = allowedBy(r, entries)
    if (e) e.seen++
    else unallowed.push(r)
  }
  for (const e of entries) console.log(`allowed [${e.name}]: ${e.seen} report(s)`)
  // The first few in full (one bug often reports at several sites).
  unallowed.forEach((r, i) => {
    if (i < 5) console.log(`\nNOT ALLOWED (no entry of ${rel(allowFile)} matches):\n${shortReport(r)}`)
    problems.push(`an ASan report that no allow-list entry matches: ${r.error ?? 'unparsed'} in ${r.command || rel(r.file)} (${rel(r.file)})`)
  })
  return { files, reports, unallowed }
}

async function main() {
  const t0 = Date.now()
  if (process.argv[2] === '--reports') {
    if (!process.argv[3]) throw new Error('--reports needs a folder')
    const problems = []
    const { reports, unallowed } = checkReports(process.argv[3], parseAllowList(fs.readFileSync(allowFile, 'utf8')), problems)
    console.log(`test:asan: ${reports.length} report(s), ${reports.length - unallowed.length} allowed`)
    return problems.length > 0 ? 1 : 0
  }
  const specs =
    process.argv.length > 2
      ? process.argv.slice(2)
      : fs
          .readdirSync(path.join(root, '__test__'))
          .filter((f) => f.endsWith('.spec.mjs') && !JS_ONLY.some((re) => re.test(f)))
          .sort()
          .map((f) => path.join('__test__', f))
  const entries = parseAllowList(fs.readFileSync(allowFile, 'utf8'))

  section('build the addon with -Zsanitizer=address (nightly)')
  const host = capture('rustc', ['+nightly', '-vV']).match(/^host: (.*)$/m)[1]
  buildAddon(host)
  const runtime = asanRuntime(host)
  console.log(`addon ${rel(addon)}, ASan runtime ${runtime.startsWith(root) ? rel(runtime) : runtime}`)
  const tBuilt = Date.now()

  fs.rmSync(reportsDir, { recursive: true, force: true })
  fs.mkdirSync(reportsDir, { recursive: true })
  const env = {
    ...process.env,
    NODEPERF_NATIVE_PATH: addon,
    NODEPERF_ASAN: '1',
    LD_PRELOAD: [runtime, process.env.LD_PRELOAD].filter(Boolean).join(':'),
    ASAN_OPTIONS: [
      `log_path=${path.join(reportsDir, 'asan')}`,
      'halt_on_error=0',
      'detect_leaks=0',
      'handle_segv=0',
      'handle_sigbus=0',
      'print_cmdline=1',
      // Where llvm-symbolizer is missing, binutils' addr2line names frames.
      'allow_addr2line=1',
    ].join(':'),
  }
  delete env.NODE_TEST_CONTEXT

  section(`node --test ${specs.length} spec files`)
  const results = []
  results.push(await runUnder(env, 'specs', process.execPath, ['--test', '--test-reporter=spec', ...specs], { timeoutSeconds: 900, echo: true }))
  const tSpecs = Date.now()

  section('stress scripts')
  const stress = await runUnder(env, 'bench/shared-stress.mjs', process.execPath, ['bench/shared-stress.mjs', STRESS_ROUNDS, STRESS_CASES.join(',')], { timeoutSeconds: 600 })
  results.push(stress)
  const soak = await runUnder(env, 'bench/pool-soak.mjs', process.execPath, ['--expose-gc', 'bench/pool-soak.mjs', SOAK_TASKS, SOAK_INFLIGHT], { timeoutSeconds: 600 })
  // Its RSS bar means nothing under ASan (quarantine): judged on settling.
  const soakLine = soak.out.split('\n').find((l) => l.startsWith('{'))
  const soakStats = soakLine ? JSON.parse(soakLine) : null
  const soakOk =
    soakStats !== null &&
    soakStats.resolved + soakStats.rejected === soakStats.accepted &&
    soakStats.doubles === 0 &&
    soakStats.unsettled === 0 &&
    soak.signal === null &&
    !soak.timedOut
  results.push({ ...soak, code: soakOk ? 0 : soak.code || 1, why: soakOk ? null : 'not every task settled exactly once' })
  const tStress = Date.now()

  const problems = []
  for (const r of results) {
    if (r.code !== 0 || r.signal !== null || r.timedOut) {
      problems.push(`${r.label} failed: ${r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`}${r.why ? ` (${r.why})` : ''}`)
    }
  }
  // Every contract-breaking task ended in ERR_NODEPERF_DETACHED.
  for (const c of CONTRACT_BROKEN) {
    const row = stress.out.split('\n').find((l) => l.startsWith(`| ${c} |`))
    const json = row && /\{.*\}/.exec(row)
    if (!json) {
      problems.push(`bench/shared-stress.mjs printed no result for ${c}`)
      continue
    }
    const { outcomes } = JSON.parse(json[0])
    const keys = Object.keys(outcomes)
    if (keys.length !== 1 || keys[0] !== 'ERR_NODEPERF_DETACHED' || outcomes.ERR_NODEPERF_DETACHED !== Number(STRESS_ROUNDS)) {
      problems.push(`${c}: every task must end in ERR_NODEPERF_DETACHED, got ${JSON.stringify(outcomes)}`)
    }
  }

  section('AddressSanitizer reports')
  const { files, reports, unallowed } = checkReports(reportsDir, entries, problems)

  const s = (a, b) => `${((b - a) / 1000).toFixed(0)} s`
  console.log(
    `\ntest:asan: ${reports.length} report(s) in ${files.length} process(es), ${reports.length - unallowed.length} allowed; ` +
      `build ${s(t0, tBuilt)}, specs ${s(tBuilt, tSpecs)}, stress ${s(tSpecs, tStress)}, total ${s(t0, Date.now())}; reports in ${rel(reportsDir)}`,
  )
  if (problems.length > 0) {
    console.log(`\ntest:asan FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    return 1
  }
  console.log('test:asan: the specs and stress scripts passed under AddressSanitizer; every report is an allowed one')
  return 0
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`test:asan: ${e.message}`)
    process.exit(1)
  },
)
