// moduleResolution node10 (TypeScript's `node`): no `exports`, so the
// subpaths resolve through `typesVersions` (and `types` for the main entry).
// Both ways: an import declaration and `import x = require()`.
import { lag } from '@nodeperf/native'
import { collectMetrics, metricNames } from '@nodeperf/native/prom'
import native = require('@nodeperf/native')
import prom = require('@nodeperf/native/prom')

const p99: number = lag.p99()
const p50: number = native.lag.p50()
const names: string[] = collectMetrics({ prefix: 'app_' })
const same: readonly string[] = prom.metricNames === metricNames ? prom.metricNames : metricNames
void [p99, p50, names, same]
// @ts-expect-error the CommonJS module has no default export
void prom.default

// The other subpaths through typesVersions, both ways.
import { createMetricProducer } from '@nodeperf/native/otel'
import { json } from '@nodeperf/native/express'
import otel = require('@nodeperf/native/otel')
import fastify = require('@nodeperf/native/fastify')
void [createMetricProducer(), json(), otel.metricNames, fastify.underPressure]

// The cluster subpath through typesVersions, both ways.
import { supervise } from '@nodeperf/native/cluster'
import clusterCjs = require('@nodeperf/native/cluster')
void [supervise({ workers: 1 }).restart(), clusterCjs.exitCodes.deadline]
