// Type test: uses the public types the way a user would. `tsc -p
// __test__/tsconfig.json` must accept the valid uses and reject the ones
// marked @ts-expect-error (an unused @ts-expect-error is itself an error).
import {
  overloaded,
  startSidecar,
  underPressure,
  yieldEvery,
  type Sidecar,
  lag,
  loopInfo,
  monitors,
  type LagSnapshot,
  type LoopInfo,
  type LoopMonitor,
  type NodeperfError,
  type StallInfo,
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

const isOver: boolean = overloaded({ maxLagMs: 50, windowMs: 5000 })
const mw = underPressure({ retryAfterS: 5 })
void [isOver, mw]
const processed: Promise<number> = yieldEvery([1, 2, 3], (n: number, i: number) => void (n + i), { budgetMs: 5 })
void processed
const side: Promise<Sidecar> = startSidecar({ port: 0, stallThresholdMs: 500 })
void side.then((s) => s.close())
// @ts-expect-error fn gets the item type
yieldEvery(['a'], (n: number) => n)
