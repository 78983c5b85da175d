'use strict'
// `@nodeperf/native/cluster`, opt-in: a supervisor for `node:cluster`'s
// primary, and `drain(server)` for its workers.
//
// The supervisor keeps `workers` processes running: a worker that exits
// without being asked is forked again after an exponential backoff, and too
// many crashes in a window stop it (crash-loop protection). With `stuckMs`,
// a worker whose main loop has been stuck that long is replaced; the primary
// sees it through the shared-memory view of lib/group.js (`processes()`),
// which needs no IPC and no help from the stuck worker: a stuck loop cannot
// answer a message, so there is deliberately no heartbeat fallback.
// SIGTERM/SIGINT drain every worker and exit; SIGHUP restarts them one at a
// time. docs/cluster.md says what each step can and cannot do.

const cluster = require('node:cluster')
const { EventEmitter } = require('node:events')
const { clusterError } = require('./errors.js')
const { supervisorOptions } = require('./cluster-options.js')
const { drain } = require('./cluster-drain.js')
// Loaded in the workers too: a cluster worker that loads this module joins
// its primary's group (lib/group.js) and publishes its loops.
const { group } = require('./group.js')

/** The primary's exit codes when the supervisor ends the process (`exit: true`). */
const exitCodes = Object.freeze({
  /** Every worker drained and exited before the deadline. */
  clean: 0,
  /** The drain deadline (`shutdownMs`) passed: the workers still alive were SIGKILLed. */
  deadline: 1,
  /** The crash-loop rule stopped the supervisor. */
  crashLoop: 2,
  /** A second SIGTERM/SIGINT during shutdown: every worker SIGKILLed at once. */
  forced: 3,
})

/**
 * The culprit part of a 'stuck' line: the label (`fn (file:line)`) the
 * view carries, which names the stall in progress when the worker runs
 * stall culprits in precise mode, else its last finished stall that had a
 * culprit (docs/cluster.md says which is which).
 */
const describeCulprit = (label) => (label ? `, culprit ${label}` : '')

const who = (w) => `worker ${w.id} (pid ${w.process.pid})`
const seconds = (ms) => `${Math.round(ms / 100) / 10} s`
const exitedHow = (code, signal) => (signal ? `was killed by ${signal}` : `exited with code ${code}`)

/**
 * Per cluster worker id, its main loop as the shared-memory view shows it:
 * `Map<id, { pid, stalledFor, culprit }>` (`culprit`: a label or null,
 * see describeCulprit). Reads lib/group.js's
 * `group.processes()`, which each worker's native publisher thread keeps
 * current without the primary asking, so it is current while a worker's
 * loop is stuck. The one place the supervisor learns about stuck loops.
 */
function stuckView() {
  const view = new Map()
  for (const p of group.processes()) {
    if (p.workerId == null || p.error != null) continue
    const main = p.loops.find((l) => l.thread === 'main')
    if (!main) continue
    view.set(p.workerId, { pid: p.pid, stalledFor: main.stalledFor, culprit: main.culprit })
  }
  return view
}

let active = null

/**
 * Forks `options.workers` cluster workers and keeps them running. Call it
 * in the cluster primary; see docs/cluster.md for every option.
 */
function supervise(options) {
  if (!cluster.isPrimary) {
    throw clusterError('ERR_NODEPERF_NOT_PRIMARY', 'supervise() runs in the cluster primary; this process is a cluster worker')
  }
  const o = supervisorOptions(options)
  if (active !== null) {
    throw clusterError('ERR_NODEPERF_SUPERVISOR', 'a supervisor already runs in this process; shut it down before starting another')
  }
  const supervisor = new Supervisor(o)
  active = supervisor
  return supervisor
}

class Supervisor extends EventEmitter {
  #o
  #slots = []
  #meta = new Map() // every worker forked and not yet exited → its state
  #crashes = [] // times of the crashes inside the window
  #forks = 0
  #state = 'running'
  #poll = null
  #stopping = null
  #restarting = null
  #signalHandlers = []
  #viewError = false

  constructor(o) {
    super()
    this.#o = o
    const setup = {}
    if (o.exec !== undefined) setup.exec = o.exec
    if (o.args !== undefined) setup.args = o.args
    cluster.setupPrimary(setup)
    for (let i = 0; i < o.workers; i++) {
      this.#slots.push({ index: i, worker: null, delay: o.backoff.initialMs, timer: null })
    }
    if (o.signals) {
      const stop = (signal) => this.#onStopSignal(signal)
      const hup = () => this.#onHup()
      this.#signalHandlers = [
        ['SIGTERM', stop],
        ['SIGINT', stop],
        ['SIGHUP', hup],
      ]
      for (const [s, h] of this.#signalHandlers) process.on(s, h)
    }
    if (o.stuckMs > 0) {
      this.#poll = setInterval(() => this.#checkStuck(), o.pollMs)
      this.#poll.unref()
    }
    // Forked on the next tick, so listeners added right after supervise() see every 'fork'.
    process.nextTick(() => {
      if (this.#state !== 'running') return
      for (const slot of this.#slots) this.#fork(slot, 'start')
    })
  }

  /** The current worker of each slot (cluster `Worker` objects), without the ones being replaced. */
  get workers() {
    return this.#slots.map((s) => s.worker).filter((w) => w !== null)
  }

  /** `'running'`, `'stopping'` or `'stopped'`. */
  get state() {
    return this.#state
  }

  /** How many workers this supervisor has forked so far. */
  get forks() {
    return this.#forks
  }

  /** The options in force, defaults filled in. */
  get options() {
    const { log, ...rest } = this.#o
    return { ...rest, backoff: { ...rest.backoff }, crashLoop: { ...rest.crashLoop }, log: log ?? false }
  }

  #event(type, fields, message) {
    const event = { type, time: Date.now(), ...fields, message }
    if (this.#o.log) {
      try {
        this.#o.log(event)
      } catch (err) {
        process.nextTick(() => {
          throw err
        })
      }
    }
    this.emit(type, event)
  }

  #fork(slot, reason, attach = true) {
    const worker = cluster.fork(this.#o.env)
    this.#forks++
    const meta = { slot, retiring: null, listening: false, stable: null, killTimer: null, exited: null, resolveExit: null }
    meta.exited = new Promise((resolve) => {
      meta.resolveExit = resolve
    })
    this.#meta.set(worker, meta)
    if (attach) slot.worker = worker
    // The IPC channel of a dying worker can fail a send (EPIPE); its exit is what counts.
    worker.on('error', () => {})
    worker.on('listening', (address) => {
      if (meta.listening) return
      meta.listening = true
      this.#event('listening', { id: worker.id, pid: worker.process.pid, address }, `${who(worker)} listening`)
    })
    worker.once('exit', (code, signal) => this.#onExit(worker, meta, code, signal))
    // Up for resetMs: the slot's next crash waits initialMs again.
    meta.stable = setTimeout(() => {
      slot.delay = this.#o.backoff.initialMs
    }, this.#o.backoff.resetMs)
    meta.stable.unref()
    this.#event('fork', { id: worker.id, pid: worker.process.pid, slot: slot.index, reason, forks: this.#forks }, `forked ${who(worker)} (${reason})`)
    return worker
  }

  #onExit(worker, meta, code, signal) {
    clearTimeout(meta.stable)
    clearTimeout(meta.killTimer)
    this.#meta.delete(worker)
    const reason = meta.retiring ?? (this.#state === 'running' ? 'crash' : 'shutdown')
    this.#event('exit', { id: worker.id, pid: worker.process.pid, code, signal, reason }, `${who(worker)} ${exitedHow(code, signal)} (${reason})`)
    meta.resolveExit({ code, signal })
    if (reason !== 'crash') return
    // Not asked to exit: a crash, counted for the crash-loop rule.
    const slot = meta.slot
    const now = Date.now()
    const { crashes, windowMs } = this.#o.crashLoop
    this.#crashes.push(now)
    while (this.#crashes.length > 0 && this.#crashes[0] <= now - windowMs) this.#crashes.shift()
    const count = this.#crashes.length
    const replaces = slot.worker === worker
    if (count >= crashes) {
      if (replaces) slot.worker = null
      const message =
        `crash loop: ${count} crashes in ${seconds(windowMs)} (limit ${crashes}); the last, ${who(worker)}, ${exitedHow(code, signal)}: ` +
        `not restarting, shutting the other workers down`
      const fields = { id: worker.id, pid: worker.process.pid, code, signal, crashes: count, windowMs, limit: crashes }
      this.#event('crash', { ...fields, delayMs: null }, `${who(worker)} ${exitedHow(code, signal)} (crash ${count} of ${crashes} in ${seconds(windowMs)})`)
      this.#event('crash-loop', fields, message)
      this.#stop('crash-loop').then((result) => {
        if (this.#o.exit) process.exit(exitCodes.crashLoop)
        return result
      })
      return
    }
    if (!replaces) {
      // A replacement that died before it listened (rolling restart): the slot keeps its worker.
      this.#event('crash', { id: worker.id, pid: worker.process.pid, code, signal, crashes: count, windowMs, limit: crashes, delayMs: null },
        `${who(worker)} ${exitedHow(code, signal)} before listening (crash ${count} of ${crashes} in ${seconds(windowMs)}): not restarting it, the old worker stays`)
      return
    }
    slot.worker = null
    const delayMs = slot.delay
    slot.delay = Math.min(slot.delay * this.#o.backoff.factor, this.#o.backoff.maxMs)
    this.#event(
      'crash',
      { id: worker.id, pid: worker.process.pid, code, signal, crashes: count, windowMs, limit: crashes, delayMs },
      `${who(worker)} ${exitedHow(code, signal)} (crash ${count} of ${crashes} in ${seconds(windowMs)}): restarting in ${Math.round(delayMs)} ms`,
    )
    slot.timer = setTimeout(() => {
      slot.timer = null
      if (this.#state === 'running' && slot.worker === null) this.#fork(slot, 'crash')
    }, delayMs)
  }

  #checkStuck() {
    if (this.#state !== 'running') return
    let view
    try {
      view = stuckView()
    } catch (err) {
      if (!this.#viewError) {
        this.#viewError = true
        this.#event('view-error', { error: err }, `cannot read the workers' loops (${err && err.message}); stuck workers go unseen`)
      }
      return
    }
    for (const slot of this.#slots) {
      const worker = slot.worker
      if (worker === null) continue
      const meta = this.#meta.get(worker)
      if (!meta || meta.retiring) continue
      const loop = view.get(worker.id)
      if (!loop || (loop.pid !== undefined && loop.pid !== worker.process.pid)) continue
      if (loop.stalledFor >= this.#o.stuckMs) this.#replaceStuck(slot, worker, meta, loop)
    }
  }

  #replaceStuck(slot, worker, meta, loop) {
    meta.retiring = 'stuck'
    const { graceMs, stuckMs } = this.#o
    const others = this.workers.filter((w) => w !== worker && this.#meta.get(w)?.listening)
    const stalledFor = Math.round(loop.stalledFor)
    const when = others.length > 0 ? 'now' : 'once its replacement listens'
    this.#event(
      'stuck',
      { id: worker.id, pid: worker.process.pid, stalledFor: loop.stalledFor, culprit: loop.culprit, stuckMs },
      `${who(worker)} stuck for ${stalledFor} ms${describeCulprit(loop.culprit)}: stopping new connections ${when}, then SIGTERM, SIGKILL after ${graceMs} ms`,
    )
    const replacement = this.#fork(slot, 'stuck')
    let done = false
    const proceed = () => {
      if (done) return
      done = true
      clearTimeout(wait)
      replacement.off('listening', proceed)
      replacement.off('exit', proceed)
      if (worker.isDead()) return
      // Takes the worker out of the primary's round-robin handles at once
      // (it needs nothing from the worker); the message it also sends waits
      // in the stuck worker's pipe.
      if (worker.isConnected()) worker.disconnect()
      worker.process.kill('SIGTERM')
      this.#event('kill', { id: worker.id, pid: worker.process.pid, signal: 'SIGTERM' }, `${who(worker)}: stopped routing, sent SIGTERM`)
      meta.killTimer = setTimeout(() => {
        if (worker.isDead()) return
        worker.process.kill('SIGKILL')
        this.#event('kill', { id: worker.id, pid: worker.process.pid, signal: 'SIGKILL' }, `${who(worker)} still alive ${graceMs} ms after SIGTERM: SIGKILL`)
      }, graceMs)
    }
    // Alone in the round-robin handle, the stuck worker's removal would
    // close the listening socket; the connections queued in the primary
    // go to the replacement once it listens instead.
    const wait = setTimeout(proceed, others.length > 0 ? 0 : graceMs)
    if (others.length === 0) {
      replacement.once('listening', proceed)
      replacement.once('exit', proceed)
    }
    this.#event(
      'replace',
      { id: worker.id, pid: worker.process.pid, by: replacement.id, byPid: replacement.process.pid, reason: 'stuck' },
      `${who(worker)} replaced by ${who(replacement)} (stuck; not counted as a crash)`,
    )
  }

  /**
   * Rolling restart: for each worker in turn, fork its replacement, wait
   * for the replacement's 'listening', then disconnect the old one (it
   * drains; SIGKILL after `shutdownMs`) and wait for its exit. A second
   * call while one runs returns the same Promise.
   */
  restart() {
    if (this.#state !== 'running') return Promise.reject(stoppedError('restart'))
    if (this.#restarting) return this.#restarting
    this.#restarting = this.#roll().finally(() => {
      this.#restarting = null
    })
    return this.#restarting
  }

  async #roll() {
    const total = this.#slots.length
    this.#event('restart', { workers: total }, `rolling restart of ${total} worker${total === 1 ? '' : 's'}, one at a time`)
    let replaced = 0
    for (const slot of this.#slots) {
      if (this.#state !== 'running') throw stoppedError('restart')
      const old = slot.worker
      const oldMeta = old && this.#meta.get(old)
      if (!oldMeta || oldMeta.retiring) continue // forked anew already (after a crash or while stuck)
      const fresh = this.#fork(slot, 'restart', false)
      const listening = await new Promise((resolve) => {
        const onListening = () => {
          fresh.off('exit', onExit)
          resolve(true)
        }
        const onExit = () => {
          fresh.off('listening', onListening)
          resolve(false)
        }
        fresh.once('listening', onListening)
        fresh.once('exit', onExit)
      })
      if (!listening) {
        const err = clusterError('ERR_NODEPERF_SUPERVISOR', `rolling restart stopped: the replacement of ${who(old)} exited before it listened; ${who(old)} keeps running`)
        throw err
      }
      if (this.#state !== 'running') throw stoppedError('restart')
      if (slot.worker !== old || oldMeta.retiring) {
        // The old one crashed or got stuck meanwhile and was replaced: keep the newer one only.
        this.#retire(fresh, this.#meta.get(fresh), 'restart')
        continue
      }
      slot.worker = fresh
      this.#retire(old, oldMeta, 'restart')
      this.#event('replace', { id: old.id, pid: old.process.pid, by: fresh.id, byPid: fresh.process.pid, reason: 'restart' }, `${who(old)} replaced by ${who(fresh)} (restart), draining`)
      await oldMeta.exited
      replaced++
    }
    this.#event('restarted', { workers: replaced }, `rolling restart done: ${replaced} worker${replaced === 1 ? '' : 's'} replaced`)
    return replaced
  }

  /** Disconnect (drain), SIGKILL after shutdownMs. */
  #retire(worker, meta, reason) {
    if (!meta || worker.isDead()) return
    meta.retiring = meta.retiring ?? reason
    if (worker.isConnected()) worker.disconnect()
    const { shutdownMs } = this.#o
    meta.killTimer = setTimeout(() => {
      if (worker.isDead()) return
      worker.process.kill('SIGKILL')
      this.#event('kill', { id: worker.id, pid: worker.process.pid, signal: 'SIGKILL' }, `${who(worker)} still draining after ${shutdownMs} ms: SIGKILL`)
    }, shutdownMs)
  }

  /**
   * Graceful shutdown: stop forking, disconnect every worker (its servers
   * stop accepting and it exits once they are closed), SIGKILL the ones
   * still alive after `shutdownMs`. Resolves to `{ code, killed }`: the
   * exit code the primary would use (`exitCodes`) and the ids SIGKILLed.
   * Does not exit the process itself; a signal does (with `exit: true`).
   */
  shutdown() {
    return this.#stop('shutdown')
  }

  #stop(reason) {
    if (this.#stopping) return this.#stopping
    this.#state = 'stopping'
    clearInterval(this.#poll)
    for (const slot of this.#slots) {
      clearTimeout(slot.timer)
      slot.timer = null
    }
    const { shutdownMs } = this.#o
    const live = [...this.#meta.entries()]
    this.#event('shutdown', { reason, workers: live.length, shutdownMs }, `shutting down (${reason}): draining ${live.length} worker${live.length === 1 ? '' : 's'}, deadline ${shutdownMs} ms`)
    this.#stopping = new Promise((resolve) => {
      const killed = []
      const deadline = setTimeout(() => {
        for (const [worker] of this.#meta) {
          if (worker.isDead()) continue
          worker.process.kill('SIGKILL')
          killed.push(worker.id)
          this.#event('kill', { id: worker.id, pid: worker.process.pid, signal: 'SIGKILL' }, `${who(worker)} still running at the shutdown deadline (${shutdownMs} ms): SIGKILL`)
        }
      }, shutdownMs)
      for (const [worker, meta] of live) {
        meta.retiring = meta.retiring ?? 'shutdown'
        clearTimeout(meta.stable)
        if (worker.isConnected()) worker.disconnect()
      }
      const waitAll = async () => {
        // Workers forked while this runs (none should be) are waited for too.
        while (this.#meta.size > 0) await Promise.all([...this.#meta.values()].map((m) => m.exited))
      }
      waitAll().then(() => {
        clearTimeout(deadline)
        const code = reason === 'crash-loop' ? exitCodes.crashLoop : killed.length > 0 ? exitCodes.deadline : exitCodes.clean
        this.#state = 'stopped'
        this.#removeSignalHandlers()
        if (active === this) active = null
        const result = { code, killed, reason }
        this.#event('stopped', result, `stopped (${reason}), ${killed.length} worker${killed.length === 1 ? '' : 's'} SIGKILLed; exit code ${code}`)
        resolve(result)
      })
    })
    return this.#stopping
  }

  #removeSignalHandlers() {
    for (const [s, h] of this.#signalHandlers) process.off(s, h)
    this.#signalHandlers = []
  }

  #onStopSignal(signal) {
    if (this.#stopping) {
      // A second signal: no more waiting.
      const ids = []
      for (const [worker] of this.#meta) {
        if (worker.isDead()) continue
        worker.process.kill('SIGKILL')
        ids.push(worker.id)
      }
      this.#event('signal', { signal, forced: true, killed: ids }, `${signal} again during shutdown: SIGKILL ${ids.length} worker${ids.length === 1 ? '' : 's'}, exiting with code ${exitCodes.forced}`)
      process.exit(exitCodes.forced)
    }
    this.#event('signal', { signal, forced: false }, `${signal}: graceful shutdown (send it again to force)`)
    this.#stop(signal).then(({ code }) => {
      if (this.#o.exit) process.exit(code)
    })
  }

  #onHup() {
    if (this.#state !== 'running') return
    this.#event('signal', { signal: 'SIGHUP', forced: false }, 'SIGHUP: rolling restart')
    this.restart().catch((err) => {
      this.#event('restart-failed', { error: err }, err.message)
    })
  }
}

function stoppedError(what) {
  return clusterError('ERR_NODEPERF_SUPERVISOR', `${what}() after shutdown began`)
}

module.exports = { supervise, drain, exitCodes }
