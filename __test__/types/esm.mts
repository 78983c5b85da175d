// Every subpath imported as ESM (`import`): under node16 and nodenext this
// resolves through the `import` condition to the .d.mts files, which have
// the default export the .mjs entries have. scripts/test-types.js compiles
// it with tsc --strict under each moduleResolution.
import native, { group, lag, pool, type GroupProcess, type LagSnapshot } from '@nodeperf/native'
import prom, {
  collectMetrics,
  compatMetricNames,
  DEFAULT_BUCKETS,
  DEFAULT_POOL_BUCKETS,
  metricNames,
  type CollectMetricsOptions,
} from '@nodeperf/native/prom'
import { Registry } from 'prom-client'

const p99: number = lag.p99()
const snap: LagSnapshot = native.lag.snapshot()
const same: typeof pool = native.pool
const options: CollectMetricsOptions = { register: new Registry(), prefix: 'app_' }
const names: string[] = collectMetrics(options)
const viaDefault: readonly string[] = prom.metricNames
const fn: typeof collectMetrics = prom.collectMetrics
const all: readonly string[][] = [[...metricNames], [...compatMetricNames]]
const bounds: readonly number[] = [...DEFAULT_BUCKETS, ...DEFAULT_POOL_BUCKETS]
const procs: GroupProcess[] = group.processes({ name: 'api' })
const sameGroup: typeof group = native.group
void [p99, snap, same, names, viaDefault, fn, all, bounds, procs, sameGroup]
// @ts-expect-error threads is 'all' or 'self'
collectMetrics({ threads: 'every' })
// @ts-expect-error the ESM default export is module.exports, which has no default of its own
void prom.default
// @ts-expect-error nor has the main entry's
void native.default
collectMetrics({ worker: process.pid, compat: { prefix: 'app_' } })
collectMetrics({ worker: false, compat: true })
// @ts-expect-error worker is a label value or false
collectMetrics({ worker: true })

// The other subpaths as ESM.
import otel, { collectMetrics as otelMetrics, createMetricProducer } from '@nodeperf/native/otel'
import { json as expressJson, underPressure as expressPressure } from '@nodeperf/native/express'
import { json as fastifyJson } from '@nodeperf/native/fastify'
const otelNames: string[] = otelMetrics({ threads: 'self' })
const producer = createMetricProducer({ buckets: [0.001, 0.01] })
const otelListed: readonly string[] = otel.metricNames
void [otelNames, producer, otelListed, expressJson({ limit: '1mb' }), expressPressure({ exclude: ['/metrics'] }), fastifyJson]

// The cluster supervisor as ESM.
import clusterDefault, { supervise, drain, exitCodes, type SupervisorEvent } from '@nodeperf/native/cluster'
import { createServer } from 'node:http'
const supervisor = supervise({ workers: 2, stuckMs: 5000, backoff: { initialMs: 100 }, crashLoop: { crashes: 5, windowMs: 60_000 }, log: false })
supervisor.on('stuck', (e: SupervisorEvent) => void [e.id, e.stalledFor, e.culprit?.length])
const replaced: Promise<number> = supervisor.restart()
const code: Promise<number> = supervisor.shutdown().then((r) => r.code)
const clean: 0 = exitCodes.clean
const server = drain(createServer())
void [replaced, code, clean, server.listen, clusterDefault.supervise, supervisor.workers.map((w) => w.id)]
// @ts-expect-error log is a function or false
supervise({ log: true })
// @ts-expect-error the ESM default export is module.exports, which has no default of its own
void clusterDefault.default
