// moduleResolution bundler with module preserve: an import declaration
// takes the `import` condition (.d.mts, with a default export), `import x =
// require()` the `require` condition (.d.ts, without one), as bundlers do.
import native, { lag } from '@nodeperf/native'
import prom, { collectMetrics } from '@nodeperf/native/prom'
import nativeCjs = require('@nodeperf/native')
import promCjs = require('@nodeperf/native/prom')

const p99: number = lag.p99() + native.lag.p50() + nativeCjs.lag.p90()
const names: string[] = collectMetrics({ compat: true })
const fromDefault: readonly string[] = prom.metricNames
const fromRequire: readonly string[] = promCjs.metricNames
void [p99, names, fromDefault, fromRequire]
// @ts-expect-error require() gets module.exports, which has no default
void promCjs.default

// The other subpaths, both ways.
import otel, { createMetricProducer } from '@nodeperf/native/otel'
import { json } from '@nodeperf/native/express'
import otelCjs = require('@nodeperf/native/otel')
import fastifyCjs = require('@nodeperf/native/fastify')
void [otel.metricNames, createMetricProducer(), json(), otelCjs.metricNames, fastifyCjs.json]

// The cluster subpath, both ways.
import clusterEsm, { drain } from '@nodeperf/native/cluster'
import clusterCjs = require('@nodeperf/native/cluster')
void [clusterEsm.supervise, drain, clusterCjs.exitCodes.forced]
// @ts-expect-error require() gets module.exports, which has no default
void clusterCjs.default
