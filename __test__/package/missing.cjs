'use strict'
// Loads the package (or, with `otel`, the @nodeperf/native/otel subpath
// from CJS and ESM, and calls its collectMetrics); prints what it threw, or
// what loaded, as one JSON line.
async function main() {
  if (process.argv[2] === 'otel') {
    const otel = require('@nodeperf/native/otel')
    const esm = await import('@nodeperf/native/otel')
    const names = otel.collectMetrics()
    return { loaded: true, names, sameFromEsm: esm.collectMetrics === otel.collectMetrics }
  }
  require('@nodeperf/native')
  return { loaded: true }
}
main().then(
  (out) => console.log(JSON.stringify(out)),
  (e) => console.log(JSON.stringify({ loaded: false, name: e.name, code: e.code, message: e.message })),
)
