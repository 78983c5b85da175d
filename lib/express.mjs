import { createRequire } from 'node:module'

const express = createRequire(import.meta.url)('./express.js')

export const { json, underPressure } = express
