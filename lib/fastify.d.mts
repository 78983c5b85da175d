// Types of lib/fastify.mjs, the ESM entry of `@nodeperf/native/fastify`: the same
// named exports as the CommonJS module (lib/fastify.d.ts); lib/fastify.mjs has no
// default export.
export * from './fastify.js'
