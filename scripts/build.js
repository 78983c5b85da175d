'use strict'
// Builds the native addon with cargo and puts the .node file where the
// loader (lib/binding.js) looks for it.
//
//   node scripts/build.js             release build for this machine, from source:
//                                     ./nodeperf-native.<platform>.node
//   node scripts/build.js --if-stale  the same, skipped when that file is newer
//                                     than every source (npm's prepare, npm test)
//   node scripts/build.js --debug     a debug build instead
//   node scripts/build.js --dist      the shipped linux-x64-gnu binary, built with
//                                     cargo-zigbuild against glibc 2.17, into
//                                     npm/linux-x64-gnu/ (needs zig and cargo-zigbuild)
//
// Needs Rust's cargo on the PATH (https://rustup.rs). Run from an installed
// package (node_modules/@nodeperf/native) it builds in a temporary folder and
// removes it afterwards.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { platformName } = require('../lib/platform.js')

const root = path.join(__dirname, '..')
const args = new Set(process.argv.slice(2))
for (const a of args) {
  if (!['--if-stale', '--debug', '--dist'].includes(a)) {
    console.error(`scripts/build.js: unknown option ${a} (known: --if-stale, --debug, --dist)`)
    process.exit(2)
  }
}
const dist = args.has('--dist')
const profile = args.has('--debug') ? 'debug' : 'release'
// The glibc the shipped binary is linked against: any glibc Linux from 2.17 loads it.
const DIST_TARGET = 'x86_64-unknown-linux-gnu'
const DIST_GLIBC = '2.17'

function newestMtime(entry) {
  const stat = fs.statSync(entry)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)))
  return newest
}

function run(cmd, argv, options) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...options })
  if (r.error) {
    console.error(`scripts/build.js: could not run ${cmd}: ${r.error.message}`)
    process.exit(1)
  }
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status)
}

function cdylibName() {
  if (process.platform === 'win32') return 'nodeperf_native.dll'
  if (process.platform === 'darwin') return 'libnodeperf_native.dylib'
  return 'libnodeperf_native.so'
}

const name = dist ? 'linux-x64-gnu' : platformName()
const out = dist
  ? path.join(root, 'npm', name, `nodeperf-native.${name}.node`)
  : path.join(root, `nodeperf-native.${name}.node`)

if (args.has('--if-stale') && fs.existsSync(out)) {
  const sources = ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs'].map((f) => path.join(root, f))
  const sourcesAt = Math.max(...sources.filter((f) => fs.existsSync(f)).map(newestMtime))
  if (fs.statSync(out).mtimeMs >= sourcesAt) process.exit(0)
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
if (cargo.status !== 0) {
  console.error(
    '@nodeperf/native: building from source needs Rust (cargo) on the PATH: https://rustup.rs\n' +
      (cargo.error ? String(cargo.error.message) : cargo.stderr),
  )
  process.exit(1)
}

const installed = root.split(path.sep).includes('node_modules')
// The shipped build has a target folder of its own: its linker (zig) differs.
const targetDir = dist
  ? path.join(root, 'target', 'dist')
  : installed
    ? fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-build-'))
    : path.join(root, 'target')
const cargoArgs = ['--lib', '--locked', '--target-dir', targetDir]
if (profile === 'release') cargoArgs.push('--release')
let built
if (dist) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`scripts/build.js --dist builds ${DIST_TARGET} on linux x64 only, not on ${process.platform} ${process.arch}`)
    process.exit(1)
  }
  const zb = spawnSync('cargo-zigbuild', ['--version'], { encoding: 'utf8' })
  if (zb.status !== 0) {
    console.error("scripts/build.js --dist needs cargo-zigbuild and zig: 'cargo install cargo-zigbuild' and 'pip install ziglang'")
    process.exit(1)
  }
  console.error(`@nodeperf/native: building ${name} (${profile}, glibc ${DIST_GLIBC}, cargo-zigbuild)…`)
  run('cargo', ['zigbuild', ...cargoArgs, '--target', `${DIST_TARGET}.${DIST_GLIBC}`])
  built = path.join(targetDir, DIST_TARGET, profile, cdylibName())
} else {
  console.error(`@nodeperf/native: building the native addon for ${name} (${profile})…`)
  run('cargo', ['build', ...cargoArgs])
  built = path.join(targetDir, profile, cdylibName())
}

// Copied next to, then renamed over, the old file: a process that has the
// old one loaded keeps its mapping, and no reader sees half a file.
const tmp = `${out}.${process.pid}.tmp`
fs.copyFileSync(built, tmp)
fs.renameSync(tmp, out)
if (installed && !dist) fs.rmSync(targetDir, { recursive: true, force: true })
console.error(`@nodeperf/native: wrote ${path.relative(process.cwd(), out) || out}`)
