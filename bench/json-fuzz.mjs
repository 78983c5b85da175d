// Differential fuzzing of parseJson / validateJson / parseJsonSync against
// JSON.parse (see __test__/json-fuzz.mjs for what is generated and how
// results and errors are compared).
//
//   node bench/json-fuzz.mjs [--count 100000] [--seed 1] [--concurrency 8] [--json]
//
// Exits 1 on any difference.
import { createRequire } from 'node:module'
import { runFuzz } from '../__test__/json-fuzz.mjs'

const args = process.argv.slice(2)
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : def
}
const count = opt('count', 100000)
const seed = opt('seed', 1)
const concurrency = opt('concurrency', 8)
const asJson = args.includes('--json')

const native = createRequire(import.meta.url)('../index.js')
const t0 = performance.now()
const r = await runFuzz(native, {
  count,
  seed,
  concurrency,
  onProgress: asJson ? undefined : (done, bad) => console.error(`${done} cases, ${bad} differences`),
})
const ms = performance.now() - t0
const summary = { cases: r.cases, valid: r.valid, invalid: r.invalid, failures: r.failures.length, unstable: r.unstable.length, ms, node: process.version }
for (const f of r.failures.slice(0, 20)) console.error(`DIFFERENCE ${f}`)
for (const u of r.unstable) console.error(`JSON.parse UNSTABLE ${u}`)
if (asJson) console.log(JSON.stringify(summary))
else console.log(summary)
process.exitCode = r.failures.length === 0 ? 0 : 1
