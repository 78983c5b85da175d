// Types of lib/prom.mjs, the ESM entry of `@nodeperf/native/prom`: the same
// named exports as the CommonJS module (lib/prom.d.ts), plus the default
// export lib/prom.mjs has: the CommonJS module.exports, which has no
// `default` of its own (hence the Omit: TypeScript gives the namespace of
// a CommonJS module imported from ESM a synthetic one).
import * as prom from './prom.js'

export * from './prom.js'
declare const exports: Omit<typeof prom, 'default'>
export default exports
