// Shared by the group specs: a private group directory, children that join
// a group (fixtures/group-child.cjs), and reading their output by lines.
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CHILD = fileURLToPath(new URL('./fixtures/group-child.cjs', import.meta.url))

/** A fresh 0700 directory, set as this process's NODEPERF_GROUP_DIR. */
export function privateDir() {
  const dir = mkdtempSync(join(tmpdir(), 'nodeperf-group-'))
  process.env.NODEPERF_GROUP_DIR = dir
  return dir
}

/** A child process with its stdout split in JSON lines, awaited one by one. */
export function spawnLines(args, options = {}) {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options })
  const lines = []
  const waiters = []
  let buf = ''
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.on('data', (d) => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      let v
      try {
        v = JSON.parse(line)
      } catch {
        continue
      }
      lines.push(v)
      for (const w of waiters.splice(0)) w()
    }
  })
  /** The next line matching `pred` (after those already taken). */
  let taken = 0
  async function next(pred = () => true, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      while (taken < lines.length) {
        const v = lines[taken++]
        if (pred(v)) return v
      }
      if (child.exitCode !== null) throw new Error(`child exited ${child.exitCode}: ${stderr}`)
      if (Date.now() > deadline) throw new Error(`no line in ${timeoutMs} ms (a hang guard); stderr: ${stderr}`)
      await new Promise((r) => {
        waiters.push(r)
        setTimeout(r, 100)
      })
    }
  }
  return { child, next, stderr: () => stderr }
}

/** A child that joined group `name`, once it is ready. */
export async function groupChild(name, intervalMs = 20, mode = 'idle', env = {}) {
  const c = spawnLines([CHILD, name, String(intervalMs), mode], { env: { ...process.env, ...env } })
  const { ready } = await c.next((v) => v.ready !== undefined)
  return { ...c, pid: ready, send: (line) => c.child.stdin.write(line + '\n') }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `read` until `pred` holds (a hang guard bounds it, not a timing assertion). */
export async function until(read, pred, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  let v
  for (;;) {
    v = read()
    if (pred(v)) return v
    if (Date.now() > deadline) throw new Error(`condition never held; last value: ${JSON.stringify(v)}`)
    await sleep(25)
  }
}
