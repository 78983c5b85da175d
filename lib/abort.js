'use strict'
// One 'abort' listener per AbortSignal on this thread, however many pool
// tasks and JSON parses share the signal. A listener per task made a signal
// shared by more than 10 of them print MaxListenersExceededWarning (Node's
// EventTarget warns past 10), and cost an add and a remove per task.
//
// `onAbort(signal, callback)` files the callback under the signal; the
// first one adds the signal's one listener, which calls every callback
// filed when the signal aborts. Each callback is forgotten when its task
// settles, and the listener is removed when the last one is.

/** @type {WeakMap<AbortSignal, { listener: () => void, callbacks: Set<{ callback: () => void }> }>} */
const watched = new WeakMap()

/**
 * Calls `callback()` once if `signal` aborts before the returned function
 * is called. A throwing callback does not stop the others: its error is
 * rethrown on the next tick (an 'uncaughtException', as Node's EventTarget
 * reports a throwing listener).
 * @param {AbortSignal} signal a signal validateSignal accepted, not aborted
 * @param {() => void} callback
 * @returns {() => void} forget: stop watching for this callback
 */
function onAbort(signal, callback) {
  let entry = watched.get(signal)
  if (entry === undefined) {
    const callbacks = new Set()
    const listener = () => {
      watched.delete(signal)
      for (const record of callbacks) {
        try {
          record.callback()
        } catch (err) {
          process.nextTick(rethrow, err)
        }
      }
      callbacks.clear()
    }
    // Added before it is filed: a signal whose addEventListener throws is
    // left as it was.
    signal.addEventListener('abort', listener, { once: true })
    entry = { listener, callbacks }
    watched.set(signal, entry)
  }
  const record = { callback }
  entry.callbacks.add(record)
  const filed = entry
  return function forget() {
    if (!filed.callbacks.delete(record) || filed.callbacks.size > 0) return
    if (watched.get(signal) === filed) {
      watched.delete(signal)
      signal.removeEventListener('abort', filed.listener)
    }
  }
}

function rethrow(err) {
  throw err
}

module.exports = { onAbort }
