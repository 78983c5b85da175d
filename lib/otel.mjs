import { createRequire } from 'node:module'

const otel = createRequire(import.meta.url)('./otel.js')

export const { collectMetrics, createMetricProducer, metricNames, instrumentNames, histogramNames, DEFAULT_BUCKETS, DEFAULT_POOL_BUCKETS } = otel
export default otel
