// Runs one bench of this checkout and of another build of the project
// (a worktree of an earlier commit, built) alternately, in the same session,
// and prints each figure's median for both and their ratio (this / other).
// Bench output lines are paired by their shape (the line with its numbers
// taken out), so any bench's own report works unchanged.
//
//   git worktree add ../base <commit> && (cd ../base && npm run build)
//   node bench/versus.mjs ../base 3 pool.mjs 3 dispatch,sha1k
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [otherArg, roundsArg, script, ...args] = process.argv.slice(2)
if (!otherArg || !script) {
  console.error('usage: node bench/versus.mjs <other checkout> <rounds> <bench script> [args...]')
  process.exit(2)
}
const other = path.resolve(otherArg)
const rounds = Number(roundsArg)
const NUM = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi

/** shape -> figures per run: [[n0, n1, ...], ...] */
const seen = { this: new Map(), other: new Map() }
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ['this', 'other'] : ['other', 'this']
  for (const which of order) {
    const root = which === 'this' ? here : other
    const out = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'bench', script), ...args], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    })
    if (out.status !== 0) {
      console.error(out.stdout, out.stderr)
      throw new Error(`${which} run ${r} of ${script} failed (${out.status})`)
    }
    for (const line of out.stdout.split('\n')) {
      const nums = line.match(NUM)
      if (!nums) continue
      const shape = line.replace(NUM, '#').trim()
      const list = seen[which].get(shape) ?? []
      list.push(nums.map(Number))
      seen[which].set(shape, list)
    }
    process.stderr.write(`round ${r + 1}/${rounds}: ${which} done\n`)
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
console.log(`${script} ${args.join(' ')}: ${rounds} rounds each, alternating; this = ${here}, other = ${other}`)
for (const [shape, runs] of seen.this) {
  const theirs = seen.other.get(shape)
  if (!theirs) continue
  const cols = runs[0].length
  const parts = []
  for (let c = 0; c < cols; c++) {
    const a = median(runs.map((x) => x[c]))
    const b = median(theirs.map((x) => x[c]))
    if (a === b) continue
    parts.push(`#${c}: ${a} vs ${b} (${b === 0 ? 'n/a' : (a / b).toFixed(3)})`)
  }
  if (parts.length > 0) console.log(`${shape}\n    ${parts.join('  ')}`)
}
