// Every subpath required from CommonJS (`import x = require()`, which is
// `require()`): under node16 and nodenext this resolves through the
// `require` condition to the .d.ts files, which declare no default export
// (module.exports has none).
import native = require('@nodeperf/native')
import prom = require('@nodeperf/native/prom')
import { Registry } from 'prom-client'

const p99: number = native.lag.p99()
const stuckFor: number | undefined = native.group.processes({ name: 'api' })[0]?.loops[0]?.stalledFor
void stuckFor
const names: string[] = prom.collectMetrics({ register: new Registry(), labels: { service: 'api' }, processes: true })
const listed: readonly string[] = prom.metricNames
void [p99, names, listed]
// @ts-expect-error module.exports of the CommonJS entry has no default
void prom.default
// @ts-expect-error nor has the package's main entry
void native.default

// The other subpaths from CommonJS.
import otel = require('@nodeperf/native/otel')
import express = require('@nodeperf/native/express')
import fastify = require('@nodeperf/native/fastify')
void [otel.collectMetrics({ threads: 'self' }), otel.createMetricProducer(), express.json({ strict: true }), fastify.json]
// @ts-expect-error module.exports of the otel entry has no default
void otel.default

// The cluster supervisor from CommonJS.
import clusterCjs = require('@nodeperf/native/cluster')
const sup = clusterCjs.supervise({ signals: false, exit: false, shutdownMs: 1000 })
void [sup.forks, sup.state, clusterCjs.exitCodes.crashLoop, clusterCjs.drain]
// @ts-expect-error module.exports of the cluster entry has no default
void clusterCjs.default
