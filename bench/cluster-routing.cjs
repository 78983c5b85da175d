'use strict'
// What Node's round-robin scheduling (cluster.SCHED_RR) does with a stuck
// worker, and what a primary-side worker.disconnect() changes: the evidence
// behind docs/cluster.md "Stuck workers". Plain cluster, no supervisor.
//
//   node bench/cluster-routing.cjs
//
// Two workers; GET /block blocks one for ever. Then, per mode:
//   none        20 sequential requests: how many reach the stuck worker
//               (time out after 1.5 s) and how many the healthy one;
//   disconnect  the same after worker.disconnect() on the stuck one;
//   killed      4 requests while it is stuck, then SIGTERM to it: what the
//               client of a connection handed to it sees (8 s timeout).
const cluster = require('node:cluster')
const http = require('node:http')

if (cluster.isPrimary) {
  const modes = process.argv[2] ? [process.argv[2]] : ['none', 'disconnect', 'killed']
  const run = (mode) =>
    new Promise((resolve) => {
      const workers = [cluster.fork(), cluster.fork()]
      let port
      let up = 0
      const onListening = (w, a) => {
        port = a.port
        if (++up === 2) go()
      }
      cluster.on('listening', onListening)
      for (const w of workers) w.on('message', () => (w.answered = true))
      const get = (path, timeout) =>
        new Promise((done) => {
          const t0 = Date.now()
          const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout }, (res) => {
            res.resume()
            res.on('end', () => done({ pid: res.headers['x-pid'], ms: Date.now() - t0 }))
          })
          req.on('timeout', () => {
            req.destroy()
            done({ pid: 'timeout', ms: Date.now() - t0 })
          })
          req.on('error', (e) => done({ pid: e.code, ms: Date.now() - t0 }))
        })
      // The stuck one is the one that does not answer a message.
      const whoIsStuck = async () => {
        for (const w of workers) {
          w.answered = false
          w.send('who')
        }
        await new Promise((r) => setTimeout(r, 300))
        return workers.find((w) => !w.answered)
      }
      async function go() {
        get('/block', 20_000)
        await new Promise((r) => setTimeout(r, 300))
        const stuck = await whoIsStuck()
        let out
        if (mode === 'killed') {
          const pending = []
          for (let i = 0; i < 4; i++) pending.push(get('/', 8000))
          await new Promise((r) => setTimeout(r, 500))
          stuck.process.kill('SIGTERM')
          const results = await Promise.all(pending)
          out = results.map((r) => (r.pid === String(stuck.process.pid) ? 'stuck' : r.pid === 'timeout' ? `timeout after ${r.ms} ms` : r.pid.startsWith('E') ? r.pid : 'healthy'))
        } else {
          if (mode === 'disconnect') stuck.disconnect()
          out = {}
          for (let i = 0; i < 20; i++) {
            const r = await get('/', 1500)
            const k = r.pid === 'timeout' ? 'timeout' : r.pid === String(stuck.process.pid) ? 'stuck' : 'healthy'
            out[k] = (out[k] || 0) + 1
          }
        }
        console.log(`${mode}: ${JSON.stringify(out)}`)
        cluster.off('listening', onListening)
        for (const w of workers) w.process.kill('SIGKILL')
        let left = 2
        for (const w of workers) w.process.once('exit', () => --left === 0 && resolve())
      }
    })
  ;(async () => {
    console.log(`# round-robin and a stuck worker — Node ${process.version}, schedulingPolicy ${cluster.schedulingPolicy === cluster.SCHED_RR ? 'SCHED_RR' : 'SCHED_NONE'}`)
    for (const m of modes) await run(m)
    process.exit(0)
  })()
} else {
  process.on('message', () => process.send('me'))
  http
    .createServer((req, res) => {
      res.setHeader('x-pid', process.pid)
      if (req.url === '/block') for (;;);
      res.end('ok')
    })
    .listen(0)
}
