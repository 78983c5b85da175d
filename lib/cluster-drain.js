'use strict'
// drain(server), the worker side of `@nodeperf/native/cluster`.

const { invalidArgType } = require('./errors.js')

const kDrain = Symbol('nodeperf.drain')

/**
 * For a cluster worker's HTTP server: makes `server.close()` (which
 * `worker.disconnect()` calls, from the primary or the worker) drain
 * instead of waiting on keep-alive sockets: idle connections close at
 * once, responses in flight and requests that arrive afterwards on an open
 * connection are sent with `Connection: close`, and each connection closes
 * once its response is done. Returns `server`.
 *
 * @template {import('node:http').Server} S
 * @param {S} server
 * @returns {S}
 */
function drain(server) {
  if (
    server === null ||
    typeof server !== 'object' ||
    typeof server.close !== 'function' ||
    typeof server.on !== 'function' ||
    typeof server.closeIdleConnections !== 'function'
  ) {
    throw invalidArgType('server', 'an instance of http.Server or https.Server', server)
  }
  if (server[kDrain]) return server
  let draining = false
  const inFlight = new Set()
  const closeIdle = () => server.closeIdleConnections()
  server.on('request', (req, res) => {
    inFlight.add(res)
    res.once('close', () => inFlight.delete(res))
    res.once('finish', () => {
      if (draining) setImmediate(closeIdle)
    })
    if (draining && !res.headersSent) res.setHeader('Connection', 'close')
  })
  const close = server.close
  Object.defineProperty(server, 'close', {
    configurable: true,
    writable: true,
    value: function close_(...args) {
      if (!draining) {
        draining = true
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close')
      }
      const r = Reflect.apply(close, this, args)
      closeIdle()
      return r
    },
  })
  server[kDrain] = true
  return server
}

module.exports = { drain }
