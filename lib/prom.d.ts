// Types of lib/prom.js, the CommonJS module (`require('@nodeperf/native/prom')`):
// named exports only, as its module.exports has no `default`. The ESM entry's
// types, with the default export lib/prom.mjs adds, are lib/prom.d.mts.
import type { Registry } from 'prom-client'
import type { Pool } from '../index.js'

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** The registry. @default prom-client's global `register` */
  register?: Registry
  /** Prepended to every metric name. @default '' */
  prefix?: string
  /**
   * Static labels added to every series (not `thread`, `le`, `quantile`,
   * `culprit`, `kind`). A `worker` label here stands in for the cluster
   * worker label (see `worker`).
   */
  labels?: Record<string, string | number>
  /**
   * The value of a `worker` label on every series but the `compat` gauges,
   * which keeps cluster workers apart after prom-client's
   * `AggregatorRegistry` merges them; `false` for none. Not together with
   * `labels.worker`.
   * @default `cluster.worker.id` on a cluster worker's main thread (unless `labels.worker` is set), else none
   */
  worker?: string | number | false
  /** Lag histogram bucket bounds in seconds, increasing. @default 50 µs … 10 s (17, 1-2.5-5 steps) */
  buckets?: number[]
  /** Pool task wait/run histogram bounds in seconds, increasing. @default 10 µs … 10 s (13) */
  poolBuckets?: number[]
  /**
   * Pools made by `createPool()` to export next to the default pool, by name:
   * their series carry the label `pool="<name>"` (the default pool's have no
   * `pool` label). Not the default `pool` itself.
   */
  pools?: Record<string, Pool>
  /** Every loop in `monitors()`, or only the calling thread's. @default 'all' */
  threads?: 'all' | 'self'
  /**
   * Also fill prom-client's `nodejs_eventloop_lag_*_seconds` gauges with our
   * values, replacing prom-client's own on this registry (call it after
   * `collectDefaultMetrics`). `{ prefix }`: the prefix given to
   * `collectDefaultMetrics`, when it is not `prefix`; a registry holding
   * prom-client's gauges under another prefix throws `ERR_INVALID_ARG_VALUE`.
   * @default false
   */
  compat?: boolean | { prefix?: string }
  /** Sliding window of the gauges, ms. @default 60000 */
  windowMs?: number
  /**
   * The calling thread's GC pause histogram (`nodeperf_gc_pause_seconds`),
   * heap after GC and leak gauges; starts `memory.startGcStats()`. @default true
   */
  gc?: boolean
  /**
   * Also export every other process of this process's group (in a cluster
   * primary: its workers) from shared memory, labelled `worker`; throws
   * `ERR_NODEPERF_NO_GROUP` when there is no group to read. @default false
   */
  processes?: boolean
  /** Where the heap gauge reads from. @default v8.getHeapStatistics of the collecting thread */
  heapStatistics?: () => { used_heap_size: number; heap_size_limit: number } | null
}

/**
 * Registers read-only collectors for event-loop lag (a cumulative histogram
 * per loop), window gauges, stall counters and heap utilisation on a
 * prom-client registry. Returns the metric names registered. A second call
 * for the same registry with the same options changes nothing and returns
 * the same names; with other options it throws `ERR_INVALID_ARG_VALUE` (a
 * second set, e.g. under another prefix, needs a registry of its own).
 */
export declare function collectMetrics(options?: CollectMetricsOptions): string[]

/** Every metric name `collectMetrics` registers (before `prefix`). */
export declare const metricNames: readonly string[]

/** prom-client's lag gauge names that `compat: true` fills. */
export declare const compatMetricNames: readonly string[]

/** The default lag histogram buckets, seconds. */
export declare const DEFAULT_BUCKETS: readonly number[]

/** The default pool task time buckets, seconds. */
export declare const DEFAULT_POOL_BUCKETS: readonly number[]
