// The anchor of bench/stall-culprits.mjs, run as a worker thread: what
// Sentry's ANR integration does to name the code that blocks the main loop.
// The main thread writes a heartbeat (process.hrtime, ms) into a
// SharedArrayBuffer from a 10 ms timer; this worker polls it every ms and,
// once it is older than `thresholdMs`, sends `Debugger.pause` over an
// inspector session connected to the main thread, reads the paused call
// frames and resumes at once. One pause per stall: it re-arms when the
// heartbeat moves again. The Debugger domain is enabled once and kept on
// until 'stop'.
//
// Never leaves the main thread paused: `Debugger.resume` is the first thing
// the paused handler does, whatever the event; on 'stop' the worker waits
// for an outstanding pause to land (at most 5 s), then disables the domain
// and disconnects the session before it exits (a worker's session is also
// dropped, and the main thread resumed, if the worker dies).
import inspector from 'node:inspector'
import { parentPort, workerData } from 'node:worker_threads'

const { shared, thresholdMs } = workerData
// [0]: the heartbeat; [1]: 1 while the bench's stall function runs.
const beat = new Float64Array(shared)
const mono = () => Number(process.hrtime.bigint()) / 1e6

const session = new inspector.Session()
session.connectToMainThread()
const scripts = new Map()
session.on('Debugger.scriptParsed', (m) => scripts.set(m.params.scriptId, m.params.url))

let armed = true
/** The pause asked for and not landed yet: { reqAt, beatAt } or null. */
let pending = null
let poller = null

session.on('Debugger.paused', (m) => {
  const pausedAt = mono()
  const inStall = beat[1] === 1
  session.post('Debugger.resume')
  const req = pending
  pending = null
  try {
    const frames = m.params.callFrames.slice(0, 12).map((f) => ({
      functionName: f.functionName === '' ? '(anonymous)' : f.functionName,
      url: f.url || scripts.get(f.location.scriptId) || '',
      line: f.location.lineNumber + 1,
    }))
    const top = frames.find((f) => f.url !== '' && !f.url.startsWith('node:')) ?? null
    parentPort.postMessage({
      type: 'capture',
      reason: m.params.reason,
      reqAt: req?.reqAt ?? null,
      beatAt: req?.beatAt ?? null,
      pausedAt,
      inStall,
      top,
      frames,
    })
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err?.stack ?? err) })
  }
})

function poll() {
  const beatAt = beat[0]
  if (beatAt === 0) return
  const now = mono()
  if (now - beatAt < thresholdMs) {
    armed = true
    return
  }
  if (!armed || pending !== null) return
  armed = false
  pending = { reqAt: now, beatAt }
  session.post('Debugger.pause')
}

function stop() {
  clearInterval(poller)
  const deadline = mono() + 5000
  const finish = () => {
    if (pending !== null && mono() < deadline) return setTimeout(finish, 2)
    const hung = pending !== null
    session.post('Debugger.disable', () => {
      session.disconnect()
      parentPort.postMessage({ type: 'stopped', hung })
    })
  }
  finish()
}

// 'exit' comes a while after 'stopped': a worker that ends right after
// session.disconnect() can abort the process (Node 20.20: the main thread,
// dropping its end of the session, posts to the exiting worker's inspector
// interface; SIGABRT in MainThreadInterface::Post, seen here 1 run in 3).
parentPort.on('message', (msg) => {
  if (msg === 'stop') stop()
  else if (msg === 'exit') parentPort.close()
})

session.post('Debugger.enable', (err) => {
  if (err) throw err
  poller = setInterval(poll, 1)
  parentPort.postMessage({ type: 'ready' })
})
