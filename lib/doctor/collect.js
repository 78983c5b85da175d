'use strict'
// Reads what the preload (lib/doctor/preload.js) wrote, one NDJSON file per
// process, into the run's data: processes with their ticks, stalls and exit,
// and the gaps where a process went silent (its main loop stuck, or it was
// stopped). Pure apart from reading the directory.

const fs = require('node:fs')
const path = require('node:path')

// A process is silent when no tick came for this long while it lived.
const SILENT_MS = 2500

function readDir(dir) {
  let names = []
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.ndjson'))
  } catch {
    return []
  }
  const out = []
  for (const n of names) {
    let text = ''
    try {
      text = fs.readFileSync(path.join(dir, n), 'utf8')
    } catch {
      continue
    }
    out.push(parseLines(text))
  }
  return out
}

/** One process's records (a torn last line, from a kill mid-write, is dropped). */
function parseLines(text) {
  const records = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    try {
      records.push(JSON.parse(line))
    } catch {}
  }
  return records
}

/** A process from its records: `{ pid, ppid, workerId, start, ticks, stalls, exit, silences }`. */
function processOf(records, endedAt) {
  const start = records.find((r) => r.type === 'start') ?? null
  const ticks = records.filter((r) => r.type === 'tick')
  const stalls = records.filter((r) => r.type === 'stall')
  const exit = records.find((r) => r.type === 'exit') ?? null
  const pid = start?.pid ?? null
  const silences = []
  let last = start?.t ?? ticks[0]?.t ?? null
  const end = exit?.t ?? endedAt
  for (const t of [...ticks.map((x) => x.t), end]) {
    if (last !== null && t - last >= SILENT_MS) silences.push({ from: last, to: t, ms: t - last, untilEnd: t === end && exit === null })
    last = t
  }
  return { pid, ppid: start?.ppid ?? null, workerId: start?.workerId ?? null, start, ticks, stalls, exit, silences }
}

/**
 * All processes of the run, the command's own first (the one whose parent
 * is the doctor), then by pid.
 */
function collect(dir, { doctorPid = process.pid, endedAt = Date.now() } = {}) {
  const procs = readDir(dir)
    .map((records) => processOf(records, endedAt))
    .filter((p) => p.start !== null)
  const rank = (p) => (p.ppid === doctorPid ? 0 : 1)
  procs.sort((a, b) => rank(a) - rank(b) || a.pid - b.pid)
  return procs
}

module.exports = { collect, processOf, parseLines, SILENT_MS }
