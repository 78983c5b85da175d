// The installed package from an ES module.
import * as native from '@nodeperf/native'
import * as prom from '@nodeperf/native/prom'
import client from 'prom-client'
import checks from './checks.cjs'

await checks.check({ native, prom, client, via: 'esm' })
