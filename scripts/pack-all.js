'use strict'
// Writes the installable tarballs into dist/ (or the folder given with
// --out DIR), the napi-rs way:
//   - @nodeperf/native-linux-x64-gnu: the prebuilt binary (scripts/build.js --dist,
//     glibc 2.17), one .node file, the LICENSE and its README;
//   - @nodeperf/native: the JS, types, docs and the Rust sources (for a build
//     from source where no prebuilt package fits), the sidecar's worker in one
//     script for bundled apps (scripts/bundle-sidecar.js), with every prebuilt package
//     listed in optionalDependencies at this exact version, and no .node file.
// Each package is staged in a folder of its own first, so a binary built from
// source in this checkout never ends up in a tarball.
//
//   node scripts/pack-all.js [--out DIR] [--no-build]
//
// Prints the tarballs' paths as JSON on its last line.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { PREBUILT } = require('../lib/platform.js')

const root = path.join(__dirname, '..')
const argv = process.argv.slice(2)
let out = path.join(root, 'dist')
let build = true
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--out' && argv[i + 1]) out = path.resolve(argv[++i])
  else if (argv[i] === '--no-build') build = false
  else {
    console.error(`scripts/pack-all.js: unknown option ${argv[i]} (known: --out DIR, --no-build)`)
    process.exit(2)
  }
}

function run(cmd, args, options) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`)
  return r.stdout
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const main = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const stageRoot = path.join(out, '.stage')
fs.rmSync(stageRoot, { recursive: true, force: true })
fs.mkdirSync(stageRoot, { recursive: true })

/** npm pack of a staged folder; returns the tarball's path. */
function pack(folder) {
  const json = run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: folder })
  return path.join(out, JSON.parse(json)[0].filename)
}

// The fields a platform package shares with the main one.
const shared = ['version', 'description', 'license', 'author', 'homepage', 'repository', 'bugs', 'engines']

const tarballs = []
for (const name of PREBUILT) {
  if (build && name === 'linux-x64-gnu') {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'build.js'), '--dist'], { cwd: root, stdio: 'inherit' })
    if (r.status !== 0) process.exit(r.status ?? 1)
  }
  const src = path.join(root, 'npm', name)
  const manifest = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'))
  const binary = manifest.main
  if (!fs.existsSync(path.join(src, binary))) {
    throw new Error(`npm/${name}/${binary} is missing: run 'node scripts/build.js --dist' first`)
  }
  const stage = path.join(stageRoot, name)
  fs.mkdirSync(stage)
  for (const key of shared) if (main[key] !== undefined) manifest[key] = main[key]
  manifest.files = [binary]
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const f of [binary, 'README.md']) fs.copyFileSync(path.join(src, f), path.join(stage, f))
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(stage, 'LICENSE'))
  tarballs.push(pack(stage))
}

// The main package: the files npm would pack from this checkout, less any
// .node, with the sidecar's worker made self-contained for bundled apps.
{
  const r = spawnSync(process.execPath, [path.join(__dirname, 'bundle-sidecar.js')], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
const listed = JSON.parse(run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts']))[0].files.map((f) => f.path)
const stage = path.join(stageRoot, 'main')
for (const file of listed) {
  if (file.endsWith('.node') || file === 'package.json') continue
  fs.mkdirSync(path.join(stage, path.dirname(file)), { recursive: true })
  fs.copyFileSync(path.join(root, file), path.join(stage, file))
}
const manifest = { ...main }
manifest.optionalDependencies = Object.fromEntries(PREBUILT.map((n) => [`@nodeperf/native-${n}`, main.version]))
// What only a checkout needs: the build on install of a git dependency and
// the development tools.
delete manifest.devDependencies
manifest.scripts = { build: main.scripts.build }
fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
tarballs.unshift(pack(stage))

fs.rmSync(stageRoot, { recursive: true, force: true })
for (const t of tarballs) console.error(`wrote ${path.relative(process.cwd(), t)} (${(fs.statSync(t).size / 1024).toFixed(0)} KiB)`)
console.log(JSON.stringify(tarballs))
