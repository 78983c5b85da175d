'use strict'
// The installed package from CommonJS (and, bundled, from an esbuild bundle).
const { check } = require('./checks.cjs')

check({
  native: require('@nodeperf/native'),
  prom: require('@nodeperf/native/prom'),
  client: require('prom-client'),
  via: process.env.SMOKE_VIA || 'cjs',
}).catch((e) => {
  console.error(e)
  process.exit(1)
})
