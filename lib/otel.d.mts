// Types of lib/otel.mjs, the ESM entry of `@nodeperf/native/otel`: the same
// named exports as the CommonJS module (lib/otel.d.ts), plus the default
// export lib/otel.mjs has: the CommonJS module.exports, which has no
// `default` of its own (hence the Omit: TypeScript gives the namespace of
// a CommonJS module imported from ESM a synthetic one).
import * as otel from './otel.js'

export * from './otel.js'
declare const exports: Omit<typeof otel, 'default'>
export default exports
