// bench/shared-stress: issue 5's bar 3 and 4 — N rounds of each
// memory-safety case, each in its own child process; counts crashes.
//   node bench/shared-stress.mjs [rounds=200] [cases=owner-exit,transfer-exit,worker-1000,quarters]
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { machine } from './common.mjs'

const rounds = process.argv[2] ?? '200'
const cases = (process.argv[3] ?? 'owner-exit,transfer-exit,worker-1000,quarters').split(',')
const fixture = fileURLToPath(new URL('../__test__/fixtures/shared-stress.cjs', import.meta.url))
console.log(`# bench/shared-stress — ${machine()}; ${rounds} rounds per case`)
let failures = 0
for (const c of cases) {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [fixture, c, rounds], { encoding: 'utf8', timeout: 1_800_000 })
  const ok = r.status === 0 && r.signal === null
  if (!ok) failures++
  console.log(`| ${c} | ${rounds} | ${ok ? '0 crashes' : `FAILED: exit ${r.status} signal ${r.signal}`} | ${((performance.now() - t0) / 1000).toFixed(1)} s | ${r.stdout.trim()} ${ok ? '' : r.stderr.slice(-500)} |`)
}
process.exit(failures ? 1 : 0)
