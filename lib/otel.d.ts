import type { Attributes, HrTime, Meter, MeterProvider, ValueType } from '@opentelemetry/api'
import type { Pool } from '../index.js'

/** Options of {@link collectMetrics} and {@link createMetricProducer} (one object can serve both). */
export interface OtelOptions {
  /** Added to every data point (not `nodejs.thread`, `nodeperf.pool.name`, `nodeperf.pool.op`, `nodeperf.pool.outcome`). */
  attributes?: Record<string, string | number | boolean>
  /** Every loop in `monitors()`, or only the calling thread's. @default 'all' */
  threads?: 'all' | 'self'
  /** Sliding window of the `nodejs.eventloop.*` gauges, ms. @default 60000 */
  windowMs?: number
  /**
   * Pools made by `createPool()` to export next to the default pool, by
   * name: their data points carry `nodeperf.pool.name`. Not the default `pool`.
   */
  pools?: Record<string, Pool>
  /** Lag histogram bucket bounds in seconds, increasing (the producer's). @default 50 µs … 10 s (17, 1-2.5-5 steps) */
  buckets?: number[]
  /** Pool task wait/run histogram bounds in seconds, increasing (the producer's). @default 10 µs … 10 s (13) */
  poolBuckets?: number[]
}

/** Options of {@link collectMetrics}: where to register, plus {@link OtelOptions}. Give `meter` or `meterProvider`, not both. */
export interface CollectMetricsOptions extends OtelOptions {
  /** Instruments go on its Meter `@nodeperf/native`. @default the global provider, `metrics.getMeterProvider()` */
  meterProvider?: MeterProvider
  /** A Meter of your own instead. */
  meter?: Meter
}

/**
 * Registers observable instruments on a Meter: `nodejs.eventloop.delay.*`
 * (s) and `nodejs.eventloop.utilization` (1) per loop (attribute
 * `nodejs.thread`), `nodeperf.eventloop.stalls` / `.stall.time`, and the
 * pool's threads, queue depth, active tasks and task counts. Returns the
 * names registered. A second call for the same Meter changes nothing.
 * The histograms come from {@link createMetricProducer}.
 */
export declare function collectMetrics(options?: CollectMetricsOptions): string[]

/** A histogram data point as sdk-metrics' `HistogramMetricData` holds it. */
export interface NodeperfHistogramPoint {
  readonly attributes: Attributes
  readonly startTime: HrTime
  readonly endTime: HrTime
  readonly value: {
    /** `counts` per bucket: `boundaries.length + 1` of them. */
    buckets: { boundaries: number[]; counts: number[] }
    sum?: number
    count: number
    min?: number
    max?: number
  }
}

/** What the producer's `collect()` resolves to: sdk-metrics' `CollectionResult`, histograms only. */
export interface NodeperfCollectionResult {
  resourceMetrics: {
    /** Ignored: a reader uses the SDK's own resource for a producer's data. */
    resource: any
    scopeMetrics: Array<{
      scope: { name: string; version?: string; schemaUrl?: string }
      metrics: Array<{
        readonly descriptor: { readonly name: string; readonly description: string; readonly unit: string; readonly valueType: ValueType }
        /** AggregationTemporality.CUMULATIVE */
        readonly aggregationTemporality: 1
        /** DataPointType.HISTOGRAM */
        readonly dataPointType: 0
        readonly dataPoints: NodeperfHistogramPoint[]
      }>
    }>
  }
  errors: unknown[]
}

/** A `MetricProducer` (sdk-metrics) for a reader's `metricProducers` option. */
export interface NodeperfMetricProducer {
  collect(options?: { timeoutMillis?: number }): Promise<NodeperfCollectionResult>
}

/**
 * A `MetricProducer` for `new PeriodicExportingMetricReader({ exporter,
 * metricProducers: [producer] })`, `new PrometheusExporter({ metricProducers })`
 * or any MetricReader: each collection gets `nodeperf.eventloop.lag` per
 * loop and `nodeperf.pool.task.wait.duration` / `.run.duration` per op,
 * as cumulative explicit-bucket histograms in seconds.
 */
export declare function createMetricProducer(options?: OtelOptions): NodeperfMetricProducer

/** Every name, instruments then histograms. */
export declare const metricNames: readonly string[]
/** The names `collectMetrics` registers. */
export declare const instrumentNames: readonly string[]
/** The names `createMetricProducer` produces. */
export declare const histogramNames: readonly string[]
/** The default lag histogram buckets, seconds. */
export declare const DEFAULT_BUCKETS: readonly number[]
/** The default pool task time buckets, seconds. */
export declare const DEFAULT_POOL_BUCKETS: readonly number[]
