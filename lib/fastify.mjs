import { createRequire } from 'node:module'

const fastify = createRequire(import.meta.url)('./fastify.js')

export const { json, underPressure } = fastify
