'use strict'
// Builds the addon from source (release mode) unless an up-to-date build is
// already there. Runs on `npm install` / `npm ci` (the `prepare` script) and
// before `npm test`. Needs cargo (https://rustup.rs) on the PATH.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

function newestMtime(entry) {
  const stat = fs.statSync(entry)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)))
  return newest
}

function builtAt() {
  const binaries = fs.readdirSync(root).filter((f) => /^nodeperf-native\..+\.node$/.test(f))
  if (binaries.length === 0 || !fs.existsSync(path.join(root, 'binding.js'))) return 0
  return Math.min(...binaries.map((f) => fs.statSync(path.join(root, f)).mtimeMs))
}

const sources = ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs'].map((f) => path.join(root, f))
const sourcesAt = Math.max(...sources.filter((f) => fs.existsSync(f)).map(newestMtime))

if (process.env.NODEPERF_FORCE_BUILD !== '1' && builtAt() >= sourcesAt) {
  process.exit(0)
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
if (cargo.status !== 0) {
  console.error(
    '@nodeperf/native: building from source needs Rust (cargo) on the PATH: https://rustup.rs\n' +
      (cargo.error ? String(cargo.error.message) : cargo.stderr),
  )
  process.exit(1)
}

console.error('@nodeperf/native: building the native addon (release)…')
const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
const build = spawnSync(
  process.execPath,
  [napi, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'],
  { cwd: root, stdio: 'inherit' },
)
process.exit(build.status === null ? 1 : build.status)
