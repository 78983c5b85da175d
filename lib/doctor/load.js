'use strict'
// The doctor's built-in load (`--http <url>`): plain node:http keep-alive
// GET requests at a fixed rate over at most `connections` sockets, so it
// needs nothing installed. Open loop: a request is due every 1/rate s
// whether or not earlier ones came back, and its latency counts from when
// it was due (queueing for a free socket included), so a slow server shows
// as slow instead of slowing the load down.

const http = require('node:http')
const https = require('node:https')

/**
 * Starts the load; returns `{ stop() }`, and `stop()` resolves to
 * `{ url, rate, connections, sent, ok, errors, statuses, latency: { p50, p90, p99, max, mean }, perSecond: [{ t, ok, errors, p99 }] }`.
 */
function startLoad({ url, rate, connections }) {
  const target = new URL(url)
  const mod = target.protocol === 'https:' ? https : http
  const agent = new mod.Agent({ keepAlive: true, maxSockets: connections })
  const latencies = []
  const statuses = {}
  let sent = 0
  let ok = 0
  let errors = 0
  let inFlight = 0
  let second = { t: Date.now(), ok: 0, errors: 0, lat: [] }
  const perSecond = []
  const started = performance.now()
  let stopped = false
  let timer = null

  function one(dueAt) {
    sent++
    inFlight++
    const req = mod.get(target, { agent }, (res) => {
      res.resume()
      res.on('end', () => done(res.statusCode))
      res.on('error', () => done(0))
    })
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')))
    req.on('error', () => done(0))
    let settled = false
    function done(status) {
      if (settled) return
      settled = true
      inFlight--
      const ms = performance.now() - dueAt
      statuses[status] = (statuses[status] ?? 0) + 1
      if (status >= 200 && status < 400) {
        ok++
        second.ok++
        latencies.push(ms)
        second.lat.push(ms)
      } else {
        errors++
        second.errors++
      }
    }
  }

  // Issues every request that is due, then sleeps until the next one
  // (timers are coarse; a burst catches up). In-flight requests are capped
  // so a dead server does not pile up sockets without end.
  let issued = 0
  function pump() {
    if (stopped) return
    const now = performance.now()
    // Request k is due at started + k/rate: those with k <= elapsed·rate are due now.
    const due = Math.floor(((now - started) * rate) / 1000) + 1
    while (issued < due && inFlight < connections * 64) {
      one(started + (issued * 1000) / rate)
      issued++
    }
    if (issued < due) issued = due
    if (Date.now() - second.t >= 1000) flush()
    // Wake at the next request's due time (a late wake-up would count as
    // latency, since latency runs from the due time).
    const next = started + (issued * 1000) / rate
    timer = setTimeout(pump, Math.max(0, Math.min(250, next - performance.now())))
  }

  function flush() {
    perSecond.push({ t: second.t, ok: second.ok, errors: second.errors, p99: pct(second.lat.sort((a, b) => a - b), 99) })
    second = { t: Date.now(), ok: 0, errors: 0, lat: [] }
  }

  pump()
  return {
    stop() {
      stopped = true
      clearTimeout(timer)
      flush()
      agent.destroy()
      latencies.sort((a, b) => a - b)
      const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null
      return {
        url,
        rate,
        connections,
        sent,
        ok,
        errors,
        statuses,
        latency: { p50: pct(latencies, 50), p90: pct(latencies, 90), p99: pct(latencies, 99), max: latencies.length ? r2(latencies.at(-1)) : null, mean: mean === null ? null : r2(mean) },
        perSecond,
      }
    },
  }
}

function pct(sorted, q) {
  if (sorted.length === 0) return null
  return r2(sorted[Math.min(sorted.length - 1, Math.ceil((q / 100) * sorted.length) - 1)])
}
const r2 = (x) => Math.round(x * 100) / 100

module.exports = { startLoad }
