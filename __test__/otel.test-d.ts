// Type test for @nodeperf/native/otel and the public reads (readLag,
// readPool): `tsc -p __test__/tsconfig.json` accepts the valid uses and
// rejects the ones marked @ts-expect-error.
import { lag, monitors, pool, readLag, readPool, type LagRead, type PoolRead, type ReadHistogram } from '@nodeperf/native'
import { collectMetrics, createMetricProducer, metricNames, DEFAULT_BUCKETS } from '@nodeperf/native/otel'
import { metrics } from '@opentelemetry/api'
import { MeterProvider, MetricReader, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality, type MetricProducer } from '@opentelemetry/sdk-metrics'

const read: LagRead | null = readLag()
if (read !== null) {
  const h: ReadHistogram = read.histogram
  const n: number = h.counts[0] + h.count + h.sum + h.bounds[0] + read.window.p99 + read.window.utilization + read.stallsTotal + read.stalledMsTotal
  const t: string = read.thread
  void [n, t]
}
for (const m of monitors()) readLag(m, { bounds: [1, 10], windowMs: 10_000 })
readLag(lag, {})
// @ts-expect-error bounds are numbers
readLag(lag, { bounds: ['1'] })
// @ts-expect-error a monitor, not a string
readLag('main')

const p: PoolRead | null = readPool(pool, { bounds: [0.1, 1] })
if (p !== null) {
  const ok: number = p.ops.hash.tasks.ok + p.ops.hash.run.count + p.ops['json.parse'].wait.counts[0] + p.threads
  void ok
}
// @ts-expect-error a Pool, not options
readPool({ bounds: [1] })

const producer = createMetricProducer({ buckets: [0.001, 0.01], poolBuckets: [0.001], threads: 'all', attributes: { service: 'api' } })
// The producer is what sdk-metrics' readers take.
const asSdk: MetricProducer = producer
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter, metricProducers: [producer] })
const meterProvider = new MeterProvider({ readers: [reader] })
const names: string[] = collectMetrics({ meterProvider, windowMs: 10_000 })
collectMetrics({ meter: meterProvider.getMeter('app') })
collectMetrics({ meterProvider: metrics.getMeterProvider() })
collectMetrics()
void [asSdk, names, metricNames[0], DEFAULT_BUCKETS[0], MetricReader]

// @ts-expect-error threads is 'all' or 'self'
createMetricProducer({ threads: 'some' })
// @ts-expect-error attribute values are strings, numbers or booleans
collectMetrics({ attributes: { service: null } })
// @ts-expect-error not a MeterProvider
collectMetrics({ meterProvider: {} })
