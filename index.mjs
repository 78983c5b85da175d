// ESM entry: the same module instance as require('@nodeperf/native').
import { createRequire } from 'node:module'

const native = createRequire(import.meta.url)('./index.js')

export const {
  lag,
  monitors,
  loopInfo,
  recentStalls,
  readLag,
  readPool,
  pool,
  createPool,
  hashSync,
  hasher,
  shared,
  Pool,
  overloaded,
  underPressure,
  yieldEvery,
  startSidecar,
  memory,
  heap,
  group,
  parseJsonSync,
  AbortError,
} = native
export default native
