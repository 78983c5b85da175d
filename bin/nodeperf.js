#!/usr/bin/env node
'use strict'
// The `nodeperf` command. Each command lives in lib/cli/<name>.js; this file
// only runs the dispatcher and exits with its code.

const { main } = require('../lib/cli/index.js')

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`nodeperf: internal error: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  },
)
