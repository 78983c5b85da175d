// Types of lib/cluster.mjs, the ESM entry of `@nodeperf/native/cluster`:
// the same named exports as the CommonJS module (lib/cluster.d.ts), plus
// the default export lib/cluster.mjs has: the CommonJS module.exports,
// which has no `default` of its own.
import * as cluster from './cluster.js'

export * from './cluster.js'
declare const exports: Omit<typeof cluster, 'default'>
export default exports
