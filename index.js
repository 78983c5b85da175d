'use strict'
// The hand-written face of @nodeperf/native. The generated loader
// (binding.js) finds the native addon for this platform; this file attaches
// it to the calling thread's event loop and gives the public API its
// JS-friendly shapes and argument checks.

const { isMainThread, threadId } = require('node:worker_threads')
const binding = require('./binding.js')
const { parseJson, parseJsonSync, validateJson } = require('./lib/json.js')

// One native state per thread (main or worker): hooks on this thread's loop,
// torn down with the thread.
binding.attach(threadId, isMainThread)

/**
 * What this thread's event loop is, seen from the addon.
 * @returns {{ libuv: string, napi: number, thread: string, iterations: number }}
 */
function loopInfo() {
  return binding.loopInfo()
}

module.exports = {
  loopInfo,
  parseJson,
  parseJsonSync,
  validateJson,
}
