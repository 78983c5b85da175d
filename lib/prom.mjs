import { createRequire } from 'node:module'

const prom = createRequire(import.meta.url)('./prom.js')

export const { collectMetrics, metricNames, compatMetricNames, DEFAULT_BUCKETS, DEFAULT_POOL_BUCKETS } = prom
export default prom
