'use strict'
// Reserved for the prom-client integration (collectMetrics, metricNames),
// which is not in this version yet.
const err = new Error("@nodeperf/native/prom is not available in this version of @nodeperf/native")
err.code = 'ERR_NODEPERF_NOT_AVAILABLE'
throw err
