// Types of lib/express.mjs, the ESM entry of `@nodeperf/native/express`: the same
// named exports as the CommonJS module (lib/express.d.ts); lib/express.mjs has no
// default export.
export * from './express.js'
