// The installed package from an ES module.
import { createRequire } from 'node:module'
import * as native from '@nodeperf/native'
import * as prom from '@nodeperf/native/prom'
import client from 'prom-client'
import checks from './checks.cjs'

await checks.check({ native, prom, client, moduleCache: createRequire(import.meta.url).cache, via: 'esm' })
