// ESM entry: the same module instance as require('@nodeperf/native').
import { createRequire } from 'node:module'

const native = createRequire(import.meta.url)('./index.js')

export const { loopInfo, parseJson, parseJsonSync, validateJson } = native
export default native
