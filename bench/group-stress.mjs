// The group seqlock across two real processes: a writer process publishes
// one loop slot of its sealed memfd as fast as it can (self-checking
// payloads: every word derived from the sequence number, plus a checksum),
// a reader process maps the same memfd through /proc/<pid>/fd/<n> and reads
// it in a tight loop. Prints writes/s, reads, retries (copies thrown away
// because the sequence was odd or changed), fallbacks to the previous
// buffer, unstable reads (neither buffer stable within the tries) and torn
// copies returned, which must be 0.
//
// usage: node bench/group-stress.mjs [--seconds 10] [--readers 1]
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, existsSync, rmSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const SECONDS = opt('seconds', 10)
const READERS = opt('readers', 1)
const native = fileURLToPath(new URL('../lib/native.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'nodeperf-group-stress-'))
const env = { ...process.env, NODEPERF_GROUP_DIR: dir, NODEPERF_GROUP: 'off' }

function run(code) {
  const p = spawn(process.execPath, ['-e', code], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  return { p, done: once(p, 'exit').then(([status]) => {
    if (status !== 0) throw new Error(`child exited ${status}`)
    return JSON.parse(out)
  }) }
}

console.log(`group seqlock stress: Node ${process.version}, ${cpus().length} x ${cpus()[0].model}, ${SECONDS} s, ${READERS} reader process(es)`)
const writeMs = (SECONDS + 1) * 1000
const writer = run(`const n = require(${JSON.stringify(native)}); const t0 = process.hrtime.bigint(); const r = n.__groupStressWrite(${writeMs}); r.seconds = Number(process.hrtime.bigint() - t0) / 1e9; console.log(JSON.stringify(r))`)
const marker = join(dir, `stress.${writer.p.pid}`)
while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 5))
const readers = Array.from({ length: READERS }, () => run(`const n = require(${JSON.stringify(native)}); console.log(JSON.stringify(n.__groupStressRead(${writer.p.pid}, ${SECONDS * 1000})))`))
const w = await writer.done
const rs = await Promise.all(readers.map((r) => r.done))
const sum = (k) => rs.reduce((a, r) => a + r[k], 0)
console.log(`  writer: ${w.writes.toLocaleString()} writes in ${w.seconds.toFixed(2)} s = ${(w.writes / w.seconds / 1e6).toFixed(2)} M writes/s`)
console.log(`  readers: ${sum('reads').toLocaleString()} reads, ${sum('retries').toLocaleString()} retries, ${sum('fallbacks').toLocaleString()} fallbacks, ${sum('unstable').toLocaleString()} unstable, ${sum('torn')} torn returned`)
rmSync(dir, { recursive: true, force: true })
if (sum('torn') !== 0) {
  console.log('  FAILED: a torn copy was returned')
  process.exit(1)
}
