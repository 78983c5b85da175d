'use strict'
// The installed package is the product: this packs the tarballs and checks
// them as a user gets them.
//   1. contents: every file package.json and the README point at is in the
//      main tarball, which holds no .node; the platform tarball holds its .node;
//   2. the shipped .node needs no GLIBC_ symbol version above 2.17 (non-weak);
//   3. installed with npm into an empty folder, with no cargo or rustc on the
//      PATH, the package works from CJS and ESM on Node 20, 22 and 24, and
//      so does `npx nodeperf heap summary`;
//   4. so does an esbuild bundle of the same app (@nodeperf/native external, as
//      the README says), and bundles made with --loader:.node=copy and =file;
//   5. with the platform package hidden, require() throws a clear error, and the
//      one command it names builds the addon from source in the installed package;
//   6. (with 3) @nodeperf/native/otel says which peer to install without
//      @opentelemetry/api, and loads from CJS and ESM with it.
//
//   node scripts/test-package.js [--no-build] [--majors 20,22,24] [--skip-source-build]
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { nodeBinary } = require('./node-binaries.js')

const root = path.join(__dirname, '..')
const argv = process.argv.slice(2)
const opt = (name) => argv.includes(name)
const majorsAt = argv.indexOf('--majors')
const majors = majorsAt >= 0 ? argv[majorsAt + 1].split(',') : ['20', '22', '24']
const GLIBC_MAX = [2, 17]

let failures = 0
function ok(what) {
  console.log(`ok - ${what}`)
}
function fail(what, detail) {
  failures++
  console.log(`not ok - ${what}`)
  if (detail) console.log(String(detail).replace(/^/gm, '  # '))
}
function expect(cond, what, detail) {
  if (cond) ok(what)
  else fail(what, detail)
  return cond
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  return r
}
function mustRun(cmd, args, options) {
  const r = run(cmd, args, options)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

// ---- pack ---------------------------------------------------------------------

const packArgs = [path.join(__dirname, 'pack-all.js'), '--out', path.join(root, 'dist')]
if (opt('--no-build')) packArgs.push('--no-build')
const packed = mustRun(process.execPath, packArgs, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
const [mainTgz, ...platformTgzs] = JSON.parse(packed.trim().split('\n').pop())
const platformTgz = platformTgzs.find((t) => path.basename(t).includes('linux-x64-gnu'))
if (!platformTgz) throw new Error(`pack-all wrote no linux-x64-gnu tarball: ${packed}`)

// ---- 1. contents --------------------------------------------------------------

const listing = (tgz) => mustRun('tar', ['tzf', tgz]).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
const mainFiles = new Set(listing(mainTgz))
const platformFiles = new Set(listing(platformTgz))
const tarJson = (tgz, file) => JSON.parse(mustRun('tar', ['xzOf', tgz, `package/${file}`]))
const mainManifest = tarJson(mainTgz, 'package.json')
const platformManifest = tarJson(platformTgz, 'package.json')

function exportTargets(value, into = []) {
  if (typeof value === 'string') into.push(value)
  else if (value && typeof value === 'object') for (const v of Object.values(value)) exportTargets(v, into)
  return into
}
const wanted = new Set(['LICENSE', 'README.md', 'package.json', 'scripts/build.js', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs', 'lib/sidecar-worker.bundled.js'])
for (const target of [mainManifest.main, mainManifest.types, ...exportTargets(mainManifest.exports)]) {
  wanted.add(path.posix.normalize(target))
}
const missingMain = [...wanted].filter((f) => !mainFiles.has(f))
expect(missingMain.length === 0, `main tarball holds LICENSE, README, every exports/main/types target (${wanted.size} files)`, missingMain.join(', '))
const dts = [...mainFiles].filter((f) => f.endsWith('.d.ts'))
expect(dts.includes('index.d.ts') && dts.includes('lib/prom.d.ts') && dts.includes('lib/otel.d.ts'), `main tarball holds the type definitions (${dts.join(', ')})`)
const nodeInMain = [...mainFiles].filter((f) => f.endsWith('.node'))
expect(nodeInMain.length === 0, 'main tarball holds no .node (binaries live in the platform packages)', nodeInMain.join(', '))
expect(
  mainManifest.optionalDependencies?.[platformManifest.name] === mainManifest.version &&
    platformManifest.version === mainManifest.version,
  `main package lists ${platformManifest.name}@${mainManifest.version} in optionalDependencies`,
  JSON.stringify(mainManifest.optionalDependencies),
)
for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'license']) {
  expect(mainManifest[field] !== undefined, `main package.json has "${field}"`)
}
expect(
  platformFiles.has(platformManifest.main) && platformManifest.main.endsWith('.node') && platformFiles.has('LICENSE'),
  `platform tarball holds ${platformManifest.main} and LICENSE`,
  [...platformFiles].join(', '),
)

// Every relative link in the README must resolve inside the tarball.
const readme = mustRun('tar', ['xzOf', mainTgz, 'package/README.md'])
const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1])
const relative = links.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l) && !l.startsWith('#'))
const broken = relative.filter((l) => !mainFiles.has(path.posix.normalize(decodeURI(l.split('#')[0]))))
expect(broken.length === 0, `every README link resolves in the tarball (${relative.length} relative, ${links.length - relative.length} absolute)`, broken.join('\n'))

// ---- 2. glibc baseline --------------------------------------------------------

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-package-'))
mustRun('tar', ['xzf', platformTgz, '-C', scratch])
const shipped = path.join(scratch, 'package', platformManifest.main)
const symbols = mustRun('readelf', ['--dyn-syms', '--wide', shipped])
let highest = [0, 0]
const tooNew = []
for (const line of symbols.split('\n')) {
  const m = line.match(/^\s*\d+:\s+\S+\s+\d+\s+\S+\s+(\S+)\s+\S+\s+\S+\s+(\S+?)@+GLIBC_(\d+)\.(\d+)/)
  if (!m) continue
  const version = [Number(m[3]), Number(m[4])]
  const newer = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])
  if (m[1] === 'WEAK') continue
  if (newer(version, highest)) highest = version
  if (newer(version, GLIBC_MAX)) tooNew.push(`${m[2]}@GLIBC_${version.join('.')}`)
}
expect(
  tooNew.length === 0 && highest[0] > 0,
  `shipped .node needs glibc ${highest.join('.')} at most (bar: ${GLIBC_MAX.join('.')})`,
  tooNew.join('\n') || 'no GLIBC_ symbol versions found',
)

// A function imported without a version (one the glibc 2.17 stubs lack,
// e.g. memfd_create of 2.27) would link, and then end the process at its
// first call on an older glibc (Node loads addons lazily bound). Every
// unversioned import must be Node's own (napi_*, uv_*) or a weak one.
const unversioned = []
for (const line of symbols.split('\n')) {
  const m = line.match(/^\s*\d+:\s+0+\s+\d+\s+(FUNC|NOTYPE|OBJECT)\s+(GLOBAL|WEAK)\s+\S+\s+UND\s+([^\s@]+)\s*$/)
  if (!m || m[2] === 'WEAK') continue
  if (!/^(napi_|uv_|node_api_)/.test(m[3])) unversioned.push(m[3])
}
expect(unversioned.length === 0, "shipped .node imports no unversioned symbol but Node's own (napi_*, uv_*)", unversioned.join('\n'))

const needed = [...mustRun('readelf', ['-d', shipped]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
const system = /^(libc|libm|libdl|libpthread|librt|libgcc_s)\.so\.\d+$|^ld-linux-x86-64\.so\.2$/
expect(
  needed.length > 0 && needed.every((l) => system.test(l)),
  `shipped .node links only glibc's own libraries (${needed.join(', ')})`,
  needed.join(', '),
)

// ---- 3. install with no Rust on the PATH -------------------------------------

const hasRust = (dir) => ['cargo', 'rustc', 'rustup'].some((t) => fs.existsSync(path.join(dir, t)))
const noRustPath = (process.env.PATH || '').split(path.delimiter).filter((d) => d && !hasRust(d)).join(path.delimiter)
const nodes = Object.fromEntries(majors.map((m) => [m, nodeBinary(m)]))
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${noRustPath}` }
delete env.NODEPERF_NATIVE_PATH
for (const k of Object.keys(env)) if (k.startsWith('CARGO') || k.startsWith('RUSTUP')) delete env[k]
expect(run('sh', ['-c', 'command -v cargo || command -v rustc'], { env }).status !== 0, 'the app folder\'s PATH has no cargo or rustc')

const app = path.join(scratch, 'app')
fs.mkdirSync(app)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
mustRun(npm, ['init', '-y'], { cwd: app, env })
const install = run(npm, ['install', '--no-audit', '--no-fund', mainTgz, platformTgz, 'prom-client@15'], { cwd: app, env })
expect(install.status === 0, 'npm install <main.tgz> <linux-x64-gnu.tgz> prom-client in an empty folder', install.stderr)
for (const f of ['checks.cjs', 'smoke.cjs', 'smoke.mjs', 'missing.cjs']) {
  fs.copyFileSync(path.join(root, '__test__', 'package', f), path.join(app, f))
}

const platformDir = path.join(app, 'node_modules', platformManifest.name)
function smoke(major, entry, what, expectBinaryUnder, extraEnv = {}) {
  const r = run(nodes[major], [entry], { cwd: app, env: { ...env, ...extraEnv }, timeout: 60_000 })
  const last = (r.stdout || '').trim().split('\n').pop()
  let result = null
  try {
    result = JSON.parse(last)
  } catch {}
  const good = r.status === 0 && result && result.ok && result.binary.startsWith(expectBinaryUnder)
  expect(good, `Node ${major}: ${what} (lag.p99, pool.hash, pool.parseJson, collectMetrics, startSidecar)`, `${r.stdout}\n${r.stderr}`)
}
for (const major of majors) {
  smoke(major, 'smoke.cjs', 'the installed package from CJS', platformDir)
  smoke(major, 'smoke.mjs', 'the installed package from ESM', platformDir)
}

// @nodeperf/native/otel: a clear error while its optional peer
// @opentelemetry/api is not installed, and it loads from CJS and ESM and
// registers its instruments (on the API's global provider) once it is.
function otelRun(major) {
  const r = run(nodes[major], ['missing.cjs', 'otel'], { cwd: app, env, timeout: 60_000 })
  try {
    return { r, out: JSON.parse(r.stdout.trim().split('\n').pop()) }
  } catch {
    return { r, out: {} }
  }
}
// prom-client 15 depends on @opentelemetry/api itself: hide that copy for
// the check without the peer.
const otelApi = path.join(app, 'node_modules', '@opentelemetry', 'api')
const otelApiPresent = fs.existsSync(otelApi)
if (otelApiPresent) fs.renameSync(otelApi, `${otelApi}.hidden`)
for (const major of majors) {
  const { r, out } = otelRun(major)
  expect(
    r.status === 0 && out.loaded === false && out.code === 'ERR_NODEPERF_PEER_MISSING' && /npm install @opentelemetry\/api/.test(String(out.message)),
    `Node ${major}: @nodeperf/native/otel without @opentelemetry/api: ERR_NODEPERF_PEER_MISSING says what to install`,
    `${r.stdout}\n${r.stderr}`,
  )
}
if (otelApiPresent) fs.renameSync(`${otelApi}.hidden`, otelApi)
const otelInstall = run(npm, ['install', '--no-audit', '--no-fund', '@opentelemetry/api@1'], { cwd: app, env })
if (expect(otelInstall.status === 0, 'npm install @opentelemetry/api@1 in the app', otelInstall.stderr)) {
  for (const major of majors) {
    const { r, out } = otelRun(major)
    expect(
      r.status === 0 && out.loaded === true && out.sameFromEsm === true && Array.isArray(out.names) && out.names.includes('nodejs.eventloop.delay.p99'),
      `Node ${major}: with @opentelemetry/api installed, @nodeperf/native/otel loads from CJS and ESM and registers its instruments`,
      `${r.stdout}\n${r.stderr}`,
    )
  }
}

// The README's quick start, as pasted: the first js block under "## Quick start".
const quick = readme.slice(readme.indexOf('## Quick start')).match(/```js\n([\s\S]*?)```/)
if (expect(quick !== null, "the README has a quick start to run")) {
  fs.writeFileSync(path.join(app, 'quickstart.js'), quick[1])
  for (const major of majors) {
    const r = run(nodes[major], ['quickstart.js'], { cwd: app, env, timeout: 60_000 })
    expect(
      r.status === 0 && /300000 items, sha256 [0-9a-f]{16}/.test(r.stdout) && /lag p99 \d+\.\d ms/.test(r.stdout) && r.stderr === '',
      `Node ${major}: the README's quick start runs as pasted`,
      `${r.stdout}\n${r.stderr}`,
    )
  }
}

// The CLI as a user runs it: `npx nodeperf heap summary` on a snapshot of
// the installed package's own process, with each Node major first on the PATH.
mustRun(nodes[majors[0]], ['-e', "require('@nodeperf/native'); require('v8').writeHeapSnapshot('app.heapsnapshot')"], { cwd: app, env })
for (const major of majors) {
  const pathWith = `${path.dirname(nodes[major])}${path.delimiter}${env.PATH}`
  const r = run(npm, ['exec', '--no', '--', 'nodeperf', 'heap', 'summary', 'app.heapsnapshot', '--json'], { cwd: app, env: { ...env, PATH: pathWith }, timeout: 120_000 })
  let report = null
  try {
    report = JSON.parse(r.stdout)
  } catch {}
  expect(
    r.status === 0 && report && report.nodes > 1000 && report.constructors.some((c) => c.name === 'Object' && c.count > 0),
    `Node ${major}: npx nodeperf heap summary on a snapshot of the installed package's process`,
    `${(r.stdout || '').slice(0, 2000)}\n${r.stderr}`,
  )
}

// The doctor as a user runs it from the installed package: its preload must
// resolve inside node_modules, culprits included, on each Node major.
fs.writeFileSync(
  path.join(app, 'blocker.js'),
  'function blockHere() { const end = Date.now() + 150; while (Date.now() < end); }\nsetInterval(blockHere, 300)\n',
)
for (const major of majors) {
  const pathWith = `${path.dirname(nodes[major])}${path.delimiter}${env.PATH}`
  const json = `doctor-${major}.json`
  const r = run(npm, ['exec', '--no', '--', 'nodeperf', 'doctor', '--duration', '4', '--json', json, '--html', `doctor-${major}.html`, '--', 'node', 'blocker.js'], {
    cwd: app,
    env: { ...env, PATH: pathWith },
    timeout: 120_000,
  })
  let report = null
  try {
    report = JSON.parse(fs.readFileSync(path.join(app, json), 'utf8'))
  } catch {}
  const top = report && report.findings[0]
  expect(
    r.status === 130 && top && top.kind === 'event-loop-blocking' && top.culprit && top.culprit.functionName === 'blockHere',
    `Node ${major}: npx nodeperf doctor on an app that blocks names event-loop-blocking in blockHere (exit 130 on --duration)`,
    `exit ${r.status}\n${JSON.stringify(top)}\n${r.stdout}\n${r.stderr}`,
  )
}

// ---- 4. bundled apps ----------------------------------------------------------

const esbuild = require(path.join(root, 'node_modules', 'esbuild'))
const bundles = [
  ['external', 'bundled with esbuild --external:@nodeperf/native', { external: ['@nodeperf/native'] }, platformDir],
  ['copy', 'bundled with esbuild --loader:.node=copy', { loader: { '.node': 'copy' } }, path.join(app, 'copy')],
  ['file', 'bundled with esbuild --loader:.node=file', { loader: { '.node': 'file' } }, path.join(app, 'file')],
]
for (const [name, what, options, binaryUnder] of bundles) {
  const outdir = path.join(app, name)
  esbuild.buildSync({
    entryPoints: [path.join(app, 'smoke.cjs')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outdir,
    logLevel: 'error',
    absWorkingDir: app,
    ...options,
  })
  for (const major of majors) smoke(major, path.join(outdir, 'smoke.js'), what, binaryUnder, { SMOKE_VIA: name })
}

// ---- 5. no binary for this platform -------------------------------------------

const hidden = `${platformDir}.hidden`
fs.renameSync(platformDir, hidden)
try {
  for (const major of majors) {
    const r = run(nodes[major], ['missing.cjs'], { cwd: app, env })
    let out = {}
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop())
    } catch {}
    const m = String(out.message)
    expect(
      r.status === 0 &&
        out.loaded === false &&
        out.code === 'ERR_NODEPERF_NATIVE_MISSING' &&
        m.includes('linux-x64-gnu') &&
        /Node-API \d+, ABI \d+/.test(m) &&
        m.includes(path.join('@nodeperf', 'native', 'scripts', 'build.js')) &&
        m.includes('@nodeperf/native-linux-x64-gnu') &&
        !/package-lock/.test(m),
      `Node ${major}: platform package hidden: ERR_NODEPERF_NATIVE_MISSING names the platform, ABI, package and build command`,
      `${r.stdout}\n${r.stderr}`,
    )
  }
  const bare = run(nodes[majors[0]], ['-e', "require('@nodeperf/native')"], { cwd: app, env })
  expect(
    bare.status === 1 && bare.signal === null && bare.stderr.includes('ERR_NODEPERF_NATIVE_MISSING'),
    'an uncaught load error exits with status 1 and the message, not a crash',
    `status ${bare.status} signal ${bare.signal}\n${bare.stderr}`,
  )

  // The one command the error names, run in the installed package (needs cargo).
  if (!opt('--skip-source-build')) {
    const said = JSON.parse(run(nodes[majors[0]], ['missing.cjs'], { cwd: app, env }).stdout.trim().split('\n').pop()).message.match(/node "([^"]+build\.js)"/)
    expect(said !== null, 'the error names a build command', 'no `node "…build.js"` in the message')
    const built = said && run(process.execPath, [said[1]], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
    expect(built && built.status === 0, 'the build-from-source command in the error builds the addon in the installed package (cargo on the PATH)', built ? built.stderr.slice(-2000) : 'not run')
    smoke(majors[0], 'smoke.cjs', 'the installed package built from source', path.join(app, 'node_modules', '@nodeperf', 'native', 'nodeperf-native.linux-x64-gnu.node'))
    const leftover = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('nodeperf-build-'))
    expect(!fs.existsSync(path.join(app, 'node_modules', '@nodeperf', 'native', 'target')) && leftover.length === 0, 'the build from source left no target folder behind', leftover.join(', '))
  }
} finally {
  fs.renameSync(hidden, platformDir)
}

fs.rmSync(scratch, { recursive: true, force: true })
console.log(`\n${failures === 0 ? 'test:package passed' : `test:package: ${failures} check(s) failed`}`)
process.exit(failures === 0 ? 0 : 1)
