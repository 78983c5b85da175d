'use strict'
// @nodeperf/native: the table of contents. Each capability lives in its own
// module under lib/ (mirroring src/lib.rs for the native side); none of them
// requires this file.
//
// - lib/native.js   the addon (loaded by lib/binding.js), attached to this thread
// - lib/lag.js      event-loop lag: `lag`, `monitors`, `loopInfo`, `recentStalls`
// - lib/culprits.js which code a stall ran (a rotated CPU profile per thread)
// - lib/pool.js     the native thread pool: `pool`, `createPool`, `hashSync`, `hasher`
// - lib/stage.js    how pool tasks become Promises (settling, the stage)
// - lib/abort.js    one 'abort' listener per AbortSignal, shared by its tasks
// - lib/json.js     JSON parsed off the main thread, built in slices
// - lib/shared.js   SharedArrayBuffer helpers
// - lib/pressure.js load shedding and `yieldEvery`
// - lib/sidecar.js  health and metrics served from a worker thread
// - lib/memory.js   GC metrics, leak warning, leak locator, heap snapshots
// - lib/heap.js     heap-snapshot analysis (summary, diff) on the pool
// - lib/read.js     what exporters read: `readLag`, `readPool` (cumulative, never reset)
// - lib/prom.js     prom-client metrics (`@nodeperf/native/prom`)
// - lib/otel.js     OpenTelemetry metrics (`@nodeperf/native/otel`)
// - lib/group.js    cross-process registry in shared memory: `group`
// - lib/errors.js, lib/validate.js   the one error and argument-check kit

const { lag, monitors, loopInfo, recentStalls } = require('./lib/lag.js')
const { Pool, pool, createPool, hashSync, hasher } = require('./lib/pool.js')
const { parseJsonSync } = require('./lib/json.js')
const { shared } = require('./lib/shared.js')
const { overloaded, underPressure, yieldEvery } = require('./lib/pressure.js')
const { startSidecar } = require('./lib/sidecar.js')
const { AbortError } = require('./lib/errors.js')
const { memory } = require('./lib/memory.js')
const { heap } = require('./lib/heap.js')
const { readLag, readPool } = require('./lib/read.js')
const { group } = require('./lib/group.js')

module.exports = {
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
  parseJsonSync,
  overloaded,
  underPressure,
  yieldEvery,
  startSidecar,
  memory,
  heap,
  group,
  AbortError,
}
