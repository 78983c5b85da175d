// Where does handing a parse to the pool pay? A sweep over document sizes
// (1 KiB … 64 MiB), two document kinds (ASCII records; records of many
// short non-ASCII strings), string and Buffer input: JSON.parse (for a
// Buffer, JSON.parse(buf.toString())) against pool.parseJson with
// `offload: 'always'` (the pool even for small documents) and with the
// default `offload: 'auto'`. Per cell: the longest main-thread stall (the
// longest gap between turns of a setImmediate chain) and the time to the
// value, medians over interleaved rounds in one process.
//
//   node --expose-gc --max-old-space-size=8192 bench/json-crossover.mjs
//        [--rounds 5] [--sizes 1k,4k,…,64m] [--kinds ascii,intl] [--inputs string,buffer]
//        [--methods parse,always,auto] [--json out.json]
//
// Per parse: the longest gap between turns of a setImmediate chain from the
// call until two turns after the value, and the time to the value. Small
// documents are parsed several times per round (at least 1 MiB of text;
// each parse in its own turn), methods interleaved parse by parse in a
// rotating order; a round's cell is the median parse's stall and the mean
// time to value; the table shows medians over rounds. With --expose-gc a
// full GC runs before every parse of a document over 1 MiB (every 16th
// parse below), so one parse's garbage does not land in the next one's.
// The first round is a warm-up (and checks every value deep-equal to
// JSON.parse's); it is not counted.

import { createRequire } from 'node:module'
import { execSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import { isDeepStrictEqual } from 'node:util'
import { performance } from 'node:perf_hooks'
import { median, machine, option } from './common.mjs'
import { records, intlRecords } from './json-docs.mjs'

const require = createRequire(import.meta.url)
const { pool } = require('../index.js')

const KiB = 1024
const MiB = 1024 * KiB
const parseSize = (s) => {
  const m = /^(\d+(?:\.\d+)?)([kmKM]?)(b?)$/.exec(s)
  if (!m) throw new Error(`bad size ${s}`)
  const n = Number(m[1])
  return Math.round(m[2].toLowerCase() === 'k' ? n * KiB : m[2].toLowerCase() === 'm' ? n * (m[3] ? 1e6 : MiB) : n)
}
const label = (n) => (n === 20e6 ? '20 MB' : n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`)

const SIZES = option('sizes', '1k,4k,16k,32k,64k,128k,256k,512k,1m,2m,4m,16m,20mb,64m').split(',').map(parseSize)
const KINDS = option('kinds', 'ascii,intl').split(',')
const INPUTS = option('inputs', 'string,buffer').split(',')
const METHODS = option('methods', 'parse,always,auto').split(',')
const ROUNDS = Number(option('rounds', '5'))
const PER_MEASUREMENT = Number(option('per-measurement', String(MiB)))
const gc = globalThis.gc ?? (() => {})

// One large document per kind, cut at record boundaries for each size.
const GEN = { ascii: records, intl: intlRecords }
const maxSize = Math.max(...SIZES)
const docs = {}
for (const kind of KINDS) {
  const whole = GEN[kind](maxSize + 4 * KiB, kind === 'ascii' ? 21 : 25)
  const bytes = Buffer.from(whole)
  docs[kind] = {}
  for (const size of SIZES) {
    // The last record start at or before `size` bytes (byte offsets: the
    // Buffer's), then the same prefix as a string.
    let cut = bytes.lastIndexOf(',{"id":', size - 1)
    if (cut < 0) cut = bytes.indexOf(',{"id":') // at least one record
    const buf = Buffer.concat([bytes.subarray(0, cut), Buffer.from(']')])
    const text = buf.toString()
    docs[kind][size] = { text, buf }
  }
}

const RUN = {
  parse: (d, input) => (input === 'string' ? JSON.parse(d.text) : JSON.parse(d.buf.toString())),
  always: (d, input) => pool.parseJson(input === 'string' ? d.text : d.buf, { offload: 'always' }),
  auto: (d, input) => pool.parseJson(input === 'string' ? d.text : d.buf),
}

const turn = () => new Promise((r) => setImmediate(r))

// The probe: a setImmediate chain recording the longest gap between its
// turns since `gap.reset()`.
const gap = {
  max: 0,
  last: 0,
  on: false,
  tick() {
    const t = performance.now()
    if (t - gap.last > gap.max) gap.max = t - gap.last
    gap.last = t
    if (gap.on) setImmediate(gap.tick)
  },
  reset() {
    gap.max = 0
    gap.last = performance.now()
  },
}

/** One parse: the longest loop gap from the call until two turns after the value, and ms to the value. */
async function once(method, d, input) {
  await turn()
  gap.reset()
  const t0 = performance.now()
  const value = await RUN[method](d, input)
  const ms = performance.now() - t0
  await turn()
  await turn()
  return { stall: gap.max, ms, value }
}

const cells = {} // key → { stall: [], ms: [] }, one entry per round
const key = (size, kind, input, method) => `${size}|${kind}|${input}|${method}`
const loadStart = os.loadavg()
const t0 = Date.now()
gap.on = true
setImmediate(gap.tick)
for (let round = 0; round <= ROUNDS; round++) {
  for (const size of SIZES) {
    for (const kind of KINDS) {
      const d = docs[kind][size]
      const reps = round === 0 ? 2 : Math.max(1, Math.min(256, Math.ceil(PER_MEASUREMENT / d.buf.length)))
      for (const input of INPUTS) {
        // Methods interleaved parse by parse (the order rotating), so each
        // sees the same moments of the machine's noise.
        const got = Object.fromEntries(METHODS.map((m) => [m, { stall: [], ms: [] }]))
        for (let i = 0; i < reps; i++) {
          for (let j = 0; j < METHODS.length; j++) {
            const method = METHODS[(i + j + round) % METHODS.length]
            if (reps === 1 || i % 16 === 0) gc()
            const r = await once(method, d, input)
            if (round === 0 && i === 0 && method !== 'parse' && !isDeepStrictEqual(r.value, JSON.parse(d.text))) {
              throw new Error(`${method} ${kind} ${input} ${label(size)}: value differs from JSON.parse`)
            }
            got[method].stall.push(r.stall)
            got[method].ms.push(r.ms)
          }
        }
        if (round === 0) continue // warm-up
        for (const method of METHODS) {
          const k = key(size, kind, input, method)
          cells[k] ??= { stall: [], ms: [] }
          // Per round: the median parse's longest stall, the mean time to value.
          cells[k].stall.push(median(got[method].stall))
          cells[k].ms.push(got[method].ms.reduce((x, y) => x + y, 0) / reps)
        }
      }
    }
  }
  if (round > 0) process.stderr.write(`round ${round}/${ROUNDS} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`)
}
gap.on = false
const loadEnd = os.loadavg()

let commit = ''
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
} catch {}
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–')
console.log(`# bench/json-crossover.mjs — ${new Date().toISOString()}, commit ${commit}`)
console.log(`machine: ${machine()}; load ${loadStart.map((x) => x.toFixed(1)).join(' ')} at start, ${loadEnd.map((x) => x.toFixed(1)).join(' ')} at end`)
console.log(`${ROUNDS} rounds (+1 warm-up), medians; ≥ ${label(PER_MEASUREMENT)} of text per cell and round; gc between parses: ${globalThis.gc ? 'yes' : 'no (run with --expose-gc)'}; pool threads ${pool.threads}\n`)

const ours = METHODS.filter((m) => m !== 'parse')
const header = ['size', 'kind', 'input', 'JSON.parse stall / time (ms)']
for (const m of ours) header.push(`${m}: stall / time (ms)`, `${m}: × stall`, `${m}: × time`)
console.log(`| ${header.join(' | ')} |`)
console.log(`| ${header.map((_, i) => (i < 3 ? '---' : '---:')).join(' | ')} |`)
const bars = { stall: 0, time: 0, stall20: null, where: {} }
const summary = []
for (const size of SIZES) {
  for (const kind of KINDS) {
    for (const input of INPUTS) {
      const base = cells[key(size, kind, input, 'parse')]
      const bs = median(base.stall)
      const bt = median(base.ms)
      const row = [label(size), kind, input, `${f(bs)} / ${f(bt)}`]
      const entry = { size, kind, input, parse: { stall: bs, ms: bt } }
      for (const m of ours) {
        const c = cells[key(size, kind, input, m)]
        const s = median(c.stall)
        const t = median(c.ms)
        row.push(`${f(s)} / ${f(t)}`, f(s / bs), f(t / bt))
        entry[m] = { stall: s, ms: t, stallRatio: s / bs, timeRatio: t / bt }
        if (m === 'auto') {
          if (s / bs > bars.stall) (bars.stall = s / bs), (bars.where.stall = `${label(size)} ${kind} ${input}`)
          if (t / bt > bars.time) (bars.time = t / bt), (bars.where.time = `${label(size)} ${kind} ${input}`)
          if (size === 20e6) bars.stall20 = Math.max(bars.stall20 ?? 0, s / bs)
        }
      }
      console.log(`| ${row.join(' | ')} |`)
      summary.push(entry)
    }
  }
}
if (METHODS.includes('auto')) {
  console.log('\n| bar (auto, every size, kind and input) | worst | where | met? |')
  console.log('| --- | ---: | --- | --- |')
  console.log(`| longest stall ≤ 1.0× JSON.parse's | ${f(bars.stall)}× | ${bars.where.stall} | ${bars.stall <= 1 ? 'yes' : 'no'} |`)
  console.log(`| time to value ≤ 1.25× JSON.parse's | ${f(bars.time)}× | ${bars.where.time} | ${bars.time <= 1.25 ? 'yes' : 'no'} |`)
  if (bars.stall20 !== null) console.log(`| 20 MB: longest stall ≤ 1/8 of JSON.parse's | ${f(bars.stall20, 3)}× | | ${bars.stall20 <= 0.125 ? 'yes' : 'no'} |`)
}
const out = option('json', '')
if (out) fs.writeFileSync(out, JSON.stringify({ machine: machine(), commit, loadStart, loadEnd, rounds: ROUNDS, cells, summary }, null, 1))
