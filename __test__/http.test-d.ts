// Types of @nodeperf/native/express and /fastify, and underPressure's
// exclusions, as a TypeScript user writes them (strict, nodenext).
import http from 'node:http'
import Fastify, { type FastifyRequest } from 'fastify'
import { json, underPressure as expressUnderPressure, type JsonOptions } from '@nodeperf/native/express'
import { json as fastifyJson, underPressure as fastifyUnderPressure, type JsonPluginOptions } from '@nodeperf/native/fastify'
import { underPressure } from '@nodeperf/native'

// (Express has no types installed here: the middleware is used as an http one.)
const parse = json({ limit: '20mb', strict: false, type: ['application/json', 'application/*+json'], inflate: true, offload: 'auto' })
http.createServer((req, res) => parse(req, res, (err?: unknown) => res.end(String(err ?? ''))))
void json()
void json({ reviver: (key, value) => value, type: (req) => req.headers['x-json'] === '1', limit: 1 << 20 })
const options: JsonOptions = { offload: 'always' }
void options
// @ts-expect-error limit is a number or a string
json({ limit: true })
// @ts-expect-error offload is 'auto', 'always' or 'never'
json({ offload: 'sometimes' })
// @ts-expect-error verify is not supported
json({ verify: () => {} })

void underPressure({ exclude: ['/metrics', '/health/*'] })
void expressUnderPressure({ exclude: (req) => req.url === '/metrics', maxLagMs: 50 })
// @ts-expect-error exclude holds paths
underPressure({ exclude: [1] })

const f = Fastify()
void f.register(fastifyJson)
void f.register(fastifyJson, { offload: 'auto', onProtoPoisoning: 'remove', onConstructorPoisoning: 'ignore' })
const pluginOptions: JsonPluginOptions = { onProtoPoisoning: 'error' }
void pluginOptions
// @ts-expect-error onProtoPoisoning is 'error', 'remove' or 'ignore'
void f.register(fastifyJson, { onProtoPoisoning: 'drop' })
void f.register(fastifyUnderPressure, { maxLagMs: 50, exclude: ['/metrics'] })
void f.register(underPressure.fastify, { exclude: (request) => request.headers['x-probe'] === '1' })
void f.register(underPressure.fastify, { exclude: (request: FastifyRequest) => request.routeOptions.url === '/metrics' })
f.get('/health/ready', { config: { underPressure: false } }, async () => 'ok')
