// Counters in both of prom-client's exposition formats: the Prometheus text
// format (`new Registry()`) and OpenMetrics
// (`new Registry(Registry.OPENMETRICS_CONTENT_TYPE)`). Every counter we
// register must expose samples with exactly one `_total`, under the same
// series names in both formats, so the dashboard's queries find them
// whichever format a job scrapes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import client from 'prom-client'
import { createPool, pool } from '@nodeperf/native'
import { collectMetrics, metricNames } from '@nodeperf/native/prom'

const require = createRequire(import.meta.url)
const culprits = require('../lib/culprits.js')
const hasPromtool = spawnSync('promtool', ['--version']).status === 0
const noPromtool = !hasPromtool && 'promtool not installed (CI installs it)'

const OM = client.Registry.OPENMETRICS_CONTENT_TYPE
const COUNTERS = metricNames.filter((n) => n.endsWith('_total'))

/** `{ types: { family: type }, samples: Set(sample names) }` of an exposition. */
function shape(text) {
  const types = {}
  const samples = new Set()
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (t) types[t[1]] = t[2]
    else if (line && !line.startsWith('#')) samples.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)[0])
  }
  return { types, samples }
}

let extra = null
/** Both registries with every collector we have, and a sample in every counter. */
async function expositions(prefix = '') {
  if (extra === null) {
    extra = createPool({ threads: 1 })
    await extra.hash('sha1', 'x', 'hex', { offload: 'always' })
    await pool.hash('sha1', 'x', 'hex', { offload: 'always' })
    // One stall with its culprit counted, as lag.configure({ culprits }) records
    // them, so nodeperf_eventloop_stall_culprits_total has a series.
    culprits.record('main', 1, Date.now(), { culprit: null }, null)
  }
  const text = new client.Registry()
  const om = new client.Registry(OM)
  for (const register of [text, om]) {
    client.collectDefaultMetrics({ register, prefix })
    collectMetrics({ register, prefix, pools: { extra }, compat: true, labels: { service: 'api' } })
  }
  return { text: await text.metrics(), om: await om.metrics(), omRegistry: om, textRegistry: text }
}

test('every counter has exactly one _total in the text and the OpenMetrics exposition, under the same series names', async () => {
  for (const prefix of ['', 'app_']) {
    const { text, om } = await expositions(prefix)
    const t = shape(text)
    const o = shape(om)
    assert.doesNotMatch(text, /_total_total/)
    assert.doesNotMatch(om, /_total_total/)
    for (const name of COUNTERS.map((c) => prefix + c)) {
      const family = name.slice(0, -'_total'.length)
      // Text: the family is the sample name; OpenMetrics: the family drops `_total`.
      assert.equal(t.types[name], 'counter', `text # TYPE ${name}`)
      assert.equal(o.types[family], 'counter', `OpenMetrics # TYPE ${family}`)
      assert.equal(o.types[name], undefined, `OpenMetrics has no family ${name}`)
      assert.ok(t.samples.has(name) && o.samples.has(name), `${name} samples in both formats`)
    }
    // The same `…_total` series in both formats, ours and prom-client's own.
    // (Only these: a gauge such as the heap after a scavenge has a series
    // once there was one, which may happen between the two scrapes.)
    const totals = (s) => [...s.samples].filter((n) => n.endsWith('_total')).sort()
    assert.deepEqual(totals(o), totals(t))
  }
})

test("the dashboard's series exist in both formats", async () => {
  const dashboard = readFileSync(new URL('../examples/grafana-dashboard.json', import.meta.url), 'utf8')
  const queried = [...new Set(dashboard.match(/\bnodeperf_[a-z_]+/g))]
  assert.ok(queried.length >= 10, `found ${queried.length} series names in the dashboard`)
  const { text, om } = await expositions()
  const t = shape(text).samples
  const o = shape(om).samples
  const missing = queried.filter((q) => !t.has(q) || !o.has(q))
  assert.deepEqual(missing, [])
})

test('a second scrape in OpenMetrics, and a text scrape after it, keep the names', async () => {
  const { omRegistry } = await expositions()
  await omRegistry.metrics()
  assert.equal(shape(await omRegistry.metrics()).types.nodeperf_eventloop_stalls, 'counter')
  // getMetricsAsJSON (what AggregatorRegistry sums) keeps the full name.
  const json = await omRegistry.getMetricsAsJSON()
  assert.ok(json.some((m) => m.name === 'nodeperf_eventloop_stalls_total' && m.type === 'counter'))
  omRegistry.setContentType(client.Registry.PROMETHEUS_CONTENT_TYPE)
  const back = shape(await omRegistry.metrics())
  assert.equal(back.types.nodeperf_eventloop_stalls_total, 'counter')
  assert.ok(back.samples.has('nodeperf_eventloop_stalls_total'))
})

test('promtool check metrics: the text exposition is clean', { skip: noPromtool }, async () => {
  const register = new client.Registry()
  collectMetrics({ register, pools: { extra: await extraPool() }, compat: true, labels: { service: 'api' } })
  const check = spawnSync('promtool', ['check', 'metrics'], { input: await register.metrics(), encoding: 'utf8' })
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`)
  assert.equal(`${check.stdout}${check.stderr}`.trim(), '')
})

// `promtool check metrics` lints with the Prometheus text-format parser,
// which reads an OpenMetrics counter (`# TYPE x counter`, samples `x_total`)
// as an untyped `x_total` without HELP: every correct OpenMetrics counter,
// prom-client's own included, gets "no help text" and nothing else. So the
// OpenMetrics check is: exactly that finding for each counter and no other,
// as for a prom-client Counter, and the exposition loaded by Prometheus's
// own OpenMetrics parser (promtool tsdb create-blocks-from openmetrics)
// stores the text format's series names.
test('promtool check metrics: the OpenMetrics exposition has no finding but the text parser\'s counter HELP', { skip: noPromtool }, async () => {
  const lint = (text) => spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  const reference = new client.Registry(OM)
  new client.Counter({ name: 'reference_requests_total', help: 'A prom-client counter', registers: [reference] }).inc()
  const ref = lint(await reference.metrics())
  assert.equal(`${ref.stdout}${ref.stderr}`.trim(), 'reference_requests_total no help text', 'promtool on a prom-client OpenMetrics counter')

  const register = new client.Registry(OM)
  collectMetrics({ register, pools: { extra: await extraPool() }, compat: true, labels: { service: 'api' } })
  const text = await register.metrics()
  const r = lint(text)
  const found = `${r.stdout}${r.stderr}`.trim().split('\n').filter(Boolean).sort()
  const counters = [...shape(text).samples].filter((s) => COUNTERS.includes(s))
  assert.equal(counters.length, COUNTERS.length)
  assert.deepEqual(found, counters.map((c) => `${c} no help text`).sort())
})

test("Prometheus's OpenMetrics parser stores the text format's series names", { skip: noPromtool }, async () => {
  const { text, om } = await expositions()
  // Backfilling needs a timestamp on every sample (seconds in OpenMetrics).
  const stamped = om
    .split('\n')
    .map((l) => (l && !l.startsWith('#') ? `${l} 1700000000` : l))
    .join('\n')
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeperf-om-'))
  try {
    writeFileSync(path.join(dir, 'in.om'), stamped)
    const made = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', path.join(dir, 'in.om'), path.join(dir, 'db')], { encoding: 'utf8' })
    assert.equal(made.status, 0, `${made.stdout}${made.stderr}`)
    mkdirSync(path.join(dir, 'db', 'wal'), { recursive: true })
    const dump = spawnSync('promtool', ['tsdb', 'dump', path.join(dir, 'db')], { encoding: 'utf8', maxBuffer: 64 << 20 })
    assert.equal(dump.status, 0, dump.stderr)
    const stored = new Set([...dump.stdout.matchAll(/__name__="([^"]+)"/g)].map((m) => m[1]))
    for (const c of COUNTERS) assert.ok(stored.has(c), `stored ${c}`)
    assert.deepEqual([...stored].filter((n) => n.includes('_total_total')), [])
    const totals = (names) => [...names].filter((n) => n.endsWith('_total')).sort()
    assert.deepEqual(totals(stored), totals(shape(text).samples))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

async function extraPool() {
  if (extra === null) await expositions()
  return extra
}

test.after(async () => {
  if (extra !== null) await extra.close()
})
