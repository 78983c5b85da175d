// Types of index.mjs, the ESM entry of `@nodeperf/native`: the same named
// exports as the CommonJS entry (index.d.ts), plus the default export
// index.mjs has: the CommonJS module.exports, which has no `default` of its
// own (hence the Omit: TypeScript gives the namespace of a CommonJS module
// imported from ESM a synthetic one).
import * as native from './index.js'

export * from './index.js'
declare const exports: Omit<typeof native, 'default'>
export default exports
