'use strict'
// Stall culprits' precise mode, the helper worker (started by
// lib/culprits.js on the main thread). When the native watchdog says the
// main loop has been stuck past the threshold, it asks the main isolate for
// the stack it is running, through an inspector session connected for that
// one request: `Runtime.evaluate` of a function lib/culprits.js installed,
// which V8 runs at the running JavaScript's next interrupt check. Nothing
// is ever paused, so nothing can be left paused: the session is gone once
// the answer is in, or after WAIT_MS if it never comes (a stall inside a
// native call runs no interrupt check until the call returns; the rotated
// profile still names such stalls once they end).

const inspector = require('node:inspector')
const { parentPort, workerData } = require('node:worker_threads')
const binding = require('./native.js')

/** 1 while a session to the main thread is connected (read at its exit). */
const connected = new Int32Array(workerData.connected)
const WAIT_MS = workerData.waitMs
const EXPRESSION = `globalThis[Symbol.for('@nodeperf/native.captureStack')]?.()`

let session = null
let stopping = false
// A worker that exits right after disconnecting a session to the main
// thread can abort the process (Node 20): leave a gap before going.
const EXIT_GAP_MS = 200

function capture() {
  if (session !== null || stopping) return
  const s = new inspector.Session()
  session = s
  Atomics.store(connected, 0, 1)
  let timer = null
  const done = () => {
    if (session !== s) return
    session = null
    clearTimeout(timer)
    s.disconnect()
    Atomics.store(connected, 0, 0)
    Atomics.notify(connected, 0)
    if (stopping) setTimeout(finish, EXIT_GAP_MS)
  }
  try {
    s.connectToMainThread()
  } catch {
    done()
    return
  }
  timer = setTimeout(done, WAIT_MS)
  s.post('Runtime.evaluate', { expression: EXPRESSION, silent: true }, done)
}

const id = binding.culpritsSetCapturer(capture)

// Stopping: no new capture; the one in flight finishes first. With the
// capturer cleared and the port closed, the loop is empty and the worker
// ends on its own.
function finish() {
  binding.culpritsClearCapturer(id)
  parentPort.close()
}
parentPort.on('message', (m) => {
  if (m !== 'stop' || stopping) return
  stopping = true
  if (session === null) setTimeout(finish, EXIT_GAP_MS)
})
