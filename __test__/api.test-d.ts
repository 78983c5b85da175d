// Type test: uses the public types the way a user would. `tsc -p
// __test__/tsconfig.json` must accept the valid uses and reject the ones
// marked @ts-expect-error (an unused @ts-expect-error is itself an error).
import {
  AbortError,
  group,
  type GroupProcess,
  heap,
  type HeapSummary,
  type HeapDiffById,
  overloaded,
  startSidecar,
  underPressure,
  yieldEvery,
  type Sidecar,
  lag,
  loopInfo,
  monitors,
  recentStalls,
  type RecentStall,
  type LagSnapshot,
  type LoopInfo,
  type LoopMonitor,
  type NodeperfError,
  type StallInfo,
  memory,
  type AllocationSite,
  type AllocationFunction,
  type LeakLocator,
  type LeakLocatorRead,
} from '@nodeperf/native'

const info: LoopInfo = loopInfo()
const libuv: string = info.libuv
const napi: number = info.napi
const iterations: number = info.iterations
const thread: 'main' | `worker-${number}` = info.thread
void [libuv, napi, iterations, thread]

// @ts-expect-error loopInfo takes no arguments
loopInfo(1)
// @ts-expect-error iterations is a number
const wrong: string = info.iterations
void wrong

function handle(err: NodeperfError): string {
  return err.code + err.message
}
void handle

const p99: number = lag.p99()
const q: number = lag.percentile(99.9)
const snap: LagSnapshot = lag.snapshot()
const since: number = snap.since
void [p99, q, since]
lag.start({ stallThresholdMs: 50, logStalls: { thresholdMs: 1000 } })
lag.configure({ logStalls: false })
const off: () => void = lag.onStall(100, (info: StallInfo) => {
  const d: number = info.durationMs + info.startedAt
  void d
})
off()
const all: LoopMonitor[] = monitors()
const label: string = all[0].thread
const alive: boolean = all[0].alive
void [label, alive]
// @ts-expect-error percentile needs a number
lag.percentile('99')
// @ts-expect-error onStall needs a callback
lag.onStall(100)
// @ts-expect-error other threads' monitors have no start()
all[0].start()
// @ts-expect-error logStalls takes an object with thresholdMs
lag.configure({ logStalls: true })

import { collectMetrics, metricNames } from '@nodeperf/native/prom'
import { Registry } from 'prom-client'

const registered: string[] = collectMetrics({ register: new Registry(), prefix: 'app_', labels: { service: 'api' }, threads: 'all', compat: true })
const firstName: string = metricNames[0]
void [registered, firstName]
// @ts-expect-error threads is 'all' or 'self'
collectMetrics({ threads: 'every' })
// @ts-expect-error buckets are numbers
collectMetrics({ buckets: ['0.1'] })
collectMetrics({ pools: { images: createPool({ threads: 2 }) } })
// @ts-expect-error pools maps names to pools
collectMetrics({ pools: [createPool()] })

const isOver: boolean = overloaded({ maxLagMs: 50, windowMs: 5000 })
const mw = underPressure({ retryAfterS: 5 })
void [isOver, mw]
import Fastify from 'fastify'
void Fastify().register(underPressure.fastify, { maxLagMs: 50, retryAfterS: 2 })
// @ts-expect-error maxLagMs is a number
void Fastify().register(underPressure.fastify, { maxLagMs: '50' })
const processed: Promise<number> = yieldEvery([1, 2, 3], (n: number, i: number) => void (n + i), { budgetMs: 5 })
void processed
const side: Promise<Sidecar> = startSidecar({ port: 0, stallThresholdMs: 500 })
void side.then((s) => s.close())
void startSidecar({ host: process.env.POD_IP, allowRemote: true, maxConnections: 64, headersTimeoutMs: 2000 })
void startSidecar({ requestTimeoutMs: 4000, keepAliveTimeoutMs: 1000, idleTimeoutMs: 5000 }).then((s) => {
  const cap: number = s.maxConnections
  return cap
})
// @ts-expect-error allowRemote is a boolean
void startSidecar({ allowRemote: 'yes' })
// @ts-expect-error fn gets the item type
yieldEvery(['a'], (n: number) => n)
// The pool.
import { pool, createPool, hashSync, hasher, shared, type Pool, type PoolStats, type Hasher } from '@nodeperf/native'

async function usePool(): Promise<void> {
  const hex: string = await pool.hash('sha256', 'abc')
  const buf: Buffer = await pool.hash('blake3', new Uint8Array(4), 'buffer')
  const viaRun: string = await pool.run({ op: 'hash', algorithm: 'xxh3', data: Buffer.from('x') })
  const raw: Buffer = await pool.run({ op: 'hash', algorithm: 'md5', data: 'x', encoding: 'buffer' })
  const out = shared.alloc(32 * 4)
  const chunks: number = await pool.run({ op: 'hash', algorithm: 'sha256', data: out, chunkSize: 65536, out })
  const ac = new AbortController()
  await pool.hash('crc32', new ArrayBuffer(8), 'base64', { signal: ac.signal })
  await pool.hash('sha256', 'x', 'hex', { offload: 'never' })
  await pool.run({ op: 'hash', algorithm: 'md5', data: 'x' }, { offload: 'always' })
  // @ts-expect-error offload is 'auto' | 'always' | 'never'
  await pool.hash('sha256', 'x', 'hex', { offload: 'sometimes' })
  const p: Pool = createPool({ threads: 2, maxQueue: 1000 })
  const s: PoolStats = p.stats()
  const p99: number = s.waitTime.p99 + s.inline
  const n: number = p.threads + p.queueSize + p.maxQueue
  await p.close()
  const many: Buffer = await pool.hashMany('sha256', ['a', Buffer.from('b'), new ArrayBuffer(2)])
  const manyHex: string[] = await pool.hashMany('xxh3', ['a'], { encoding: 'hex', signal: ac.signal })
  const manyOut: Uint8Array = await createPool().hashMany('md5', ['a'], { out: new Uint8Array(new SharedArrayBuffer(16)) })
  const manyRun: string[] = await pool.run({ op: 'hash.many', algorithm: 'sha1', inputs: ['a'], encoding: 'base64' })
  const manyRunBuf: Buffer = await pool.run({ op: 'hash.many', algorithm: 'sha1', inputs: ['a'] })
  const sync: string = hashSync('sha1', 'x')
  const syncBuf: Buffer = hashSync('sha1', 'x', 'buffer')
  const isShared: boolean = shared.isShared(out)
  void [hex, buf, viaRun, raw, chunks, p99, n, sync, syncBuf, isShared, many, manyHex, manyOut, manyRun, manyRunBuf]
  // @ts-expect-error inputs is an array
  await pool.hashMany('sha256', 'abc')
  // @ts-expect-error not an algorithm
  await pool.hash('sha3', 'x')
  // @ts-expect-error not an op
  await pool.run({ op: 'zip', data: 'x' })
  // @ts-expect-error threads is a number
  createPool({ threads: '2' })
  // @ts-expect-error a hex digest is a string
  const notBuf: Buffer = await pool.hash('md5', 'x')
  void notBuf
  // Numeric digests where they fit.
  const crcN: number = hashSync('crc32', 'x', 'number')
  const xxB: bigint = hashSync('xxh3', new Uint8Array(3), 'bigint')
  const crcP: number = await pool.hash('crc32', 'x', 'number')
  const xxP: bigint = await pool.run({ op: 'hash', algorithm: 'xxh3', data: 'x', encoding: 'bigint' })
  const h: Hasher<number> = hasher('crc32', 'number')
  const hn: number = h(Buffer.from('x'))
  const hx: bigint = hasher('xxh3', 'bigint')(new DataView(new ArrayBuffer(2)))
  const hs: string = hasher('sha256')('x')
  const hb: Buffer = hasher('blake3', 'buffer')(new SharedArrayBuffer(4))
  void [crcN, xxB, crcP, xxP, hn, hx, hs, hb]
  // @ts-expect-error a SHA-256 digest does not fit a number
  hashSync('sha256', 'x', 'number')
  // @ts-expect-error xxh3 needs 'bigint', not 'number'
  hasher('xxh3', 'number')
  // @ts-expect-error a crc32 'number' hasher returns a number
  const notStr: string = hasher('crc32', 'number')('x')
  void notStr
}
void usePool
// JSON
import { pool as jsonPool, parseJsonSync, type JsonOptions, type JsonSyntaxError } from '@nodeperf/native'

async function json(): Promise<void> {
  const fromString: unknown = await jsonPool.parseJson('[1]')
  const fromBytes: unknown = await jsonPool.parseJson(Buffer.from('[1]'), { signal: AbortSignal.timeout(100), sliceSize: 1024 })
  const fromShared: unknown = await jsonPool.run({ op: 'json.parse', data: new SharedArrayBuffer(2) })
  const ok: true = await jsonPool.run({ op: 'json.validate', data: new Uint8Array(2) })
  const sync: unknown = parseJsonSync(new DataView(new ArrayBuffer(2)))
  const options: JsonOptions = { sliceSize: 10, offload: 'never' }
  await jsonPool.parseJson('[1]', { offload: 'always' })
  await jsonPool.run({ op: 'json.validate', data: '[1]' }, { offload: 'auto' })
  // @ts-expect-error offload is 'auto', 'always' or 'never'
  await jsonPool.parseJson('1', { offload: 'sometimes' })
  void [fromString, fromBytes, fromShared, ok, sync, options]
  // @ts-expect-error data must be a string or binary
  await jsonPool.parseJson(42)
  // @ts-expect-error sliceSize is a number
  await jsonPool.parseJson('1', { sliceSize: '10' })
  // @ts-expect-error json.validate resolves to true, not a value
  const notValue: string = await jsonPool.run({ op: 'json.validate', data: '1' })
  void notValue
}
void json

function onError(err: JsonSyntaxError): number {
  return err.position + err.code.length
}
void onError

// Every abort rejects with the package's AbortError.
const aborted: AbortError = new AbortError(undefined, { cause: 'stop' })
const abortCode: 'ABORT_ERR' = aborted.code
void abortCode
// @ts-expect-error the code is fixed
const wrongCode: 'ERR_X' = aborted.code
void wrongCode

// Stall culprits.
const culpritConfig = lag.configure({ culprits: { intervalMs: 10, thresholdMs: 200 } }).culprits
if (culpritConfig !== false) {
  const interval: number = culpritConfig.intervalMs
  void interval
}
lag.configure({ culprits: true })
lag.configure({ culprits: null })
// @ts-expect-error culprits takes a boolean, null or options
lag.configure({ culprits: 'on' })
// @ts-expect-error there is no such culprit option
lag.configure({ culprits: { sampleRate: 10 } })
lag.onStall(100, (s) => {
  const fn: string | undefined = s.culprit?.functionName
  const kind: 'js' | 'native' | 'gc' | undefined = s.culprit?.kind
  const gc: number | undefined = s.gcShare
  void [fn, kind, gc]
})
const ring: RecentStall[] = recentStalls()
const firstLine: number | undefined = ring[0]?.culprit?.frames[0]?.line
void firstLine
startSidecar({ stalls: true })

// Memory: the leak locator and heap snapshots.
const locator: LeakLocator = memory.startLeakLocator({ samplingIntervalBytes: 65536, top: 5 })
void locator.read().then((r: LeakLocatorRead) => {
  const top: AllocationSite | undefined = r.sites[0]
  const grew: number = top ? top.growthBytes + top.liveBytes + top.line + top.frames.length : r.totalLiveBytes
  void [grew, r.read, r.samplingIntervalBytes]
  const fn: AllocationFunction | undefined = r.functions[0]
  const perFunction: number = fn ? fn.growthBytes + fn.liveBytes + fn.sites + fn.line : 0
  void perFunction
})
const on: boolean = locator.running
void on
locator.stop()
// @ts-expect-error samplingIntervalBytes is a number
memory.startLeakLocator({ samplingIntervalBytes: '32k' })
const file: string = memory.writeHeapSnapshot('/tmp/app.heapsnapshot', { force: true })
void file
void memory.writeHeapSnapshot()
const forced: string = memory.writeHeapSnapshot({ force: true })
void forced
// @ts-expect-error options alone take force only
memory.writeHeapSnapshot({ path: 'x' })
// @ts-expect-error unknown sidecar options are refused
void startSidecar({ heapsnapshots: { dir: '/var/tmp' } })
// @ts-expect-error force is a boolean
memory.writeHeapSnapshot(undefined, { force: 'yes' })
void startSidecar({ heapGrowth: true, heapSnapshots: { dir: '/var/tmp' } })
void startSidecar({ heapGrowth: { samplingIntervalBytes: 65536 }, heapSnapshots: false })
// @ts-expect-error heapSnapshots needs a dir
void startSidecar({ heapSnapshots: true })
// Heap snapshots.
async function heapTypes(): Promise<void> {
  const s: HeapSummary = await heap.summary('a.heapsnapshot', { top: 10, paths: 2, signal: AbortSignal.timeout(1000) })
  const biggest: string | undefined = s.constructors[0]?.name
  const step: string | number | undefined = s.retainerPaths[0]?.path[0]?.edge.name
  void [biggest, step]
  const d: HeapDiffById = await heap.diff('a.heapsnapshot', new URL('file:///b.heapsnapshot'))
  const added: number = d.added.count
  const pathTo: number = d.retainerPaths[0]!.node.id
  await heap.diff('a', 'b', { paths: 2 })
  void pathTo
  const c = await heap.diff('a', 'b', { by: 'constructor' })
  const before: number = c.constructors[0]!.before.count
  void [added, before]
  // @ts-expect-error by is 'id' or 'constructor'
  await heap.diff('a', 'b', { by: 'name' })
  // @ts-expect-error a summary takes no 'by'
  await heap.summary('a', { by: 'id' })
}
void heapTypes
// memory (GC part)
import { type GcStats, type LeakInfo, type LeakStatus } from '@nodeperf/native'
const started: boolean = memory.startGcStats()
const gcs: GcStats = memory.gcStats()
const markCompact: number = gcs.pauses.mark_compact.count
const afterMajor: number | null = gcs.heapUsedAfterMajorGc
void [started, markCompact, afterMajor]
const offLeak: () => void = memory.onLeakSuspected((i: LeakInfo) => {
  const perMin: number = i.slopeBytesPerMinute
  const firstAt: number | undefined = i.points[0]?.at
  void [perMin, firstAt]
}, { window: 30, minPoints: 10 })
offLeak()
const leak: LeakStatus = memory.leakStatus()
const suspected: boolean = leak.suspected
void suspected
// @ts-expect-error an unknown leak option
memory.onLeakSuspected(() => {}, { windw: 30 })
// @ts-expect-error no such GC kind
void gcs.pauses.major
lag.onStall(100, (s) => {
  const gcMs: number | undefined = s.gcMs
  void gcMs
})
collectMetrics({ gc: false })
const stopped: boolean = memory.stopGcStats()
void stopped

// The process group.
const joinedGroup: { key: string; pid: number } = group.join('api', { intervalMs: 50 })
void joinedGroup
const seen: GroupProcess[] = group.processes({ name: 'api' })
const stuckMs: number = seen[0].loops[0].stalledFor
const culpritText: string | null = seen[0].loops[0].culprit
void [stuckMs, culpritText]
const inGroup = group.current()
if (inGroup !== null) void (inGroup.name satisfies string | null)
group.leave()
// @ts-expect-error intervalMs is a number
group.join('api', { intervalMs: '50' })
