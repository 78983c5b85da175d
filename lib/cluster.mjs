import { createRequire } from 'node:module'

const cluster = createRequire(import.meta.url)('./cluster.js')

export const { supervise, drain, exitCodes } = cluster
export default cluster
