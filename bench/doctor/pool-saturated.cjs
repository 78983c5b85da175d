// Doctor bench app: a saturated CPU pool. Each request hashes 64 MiB on
// @nodeperf/native's pool (~45 ms of one pool thread here): at 50 requests
// a second, work arrives faster than its threads finish it.
const http = require('node:http')
const { pool } = require('../../index.js')
const data = Buffer.alloc(64 * 2 ** 20, 7)
http
  .createServer(async (req, res) => {
    res.end(await pool.hash('sha256', data))
  })
  .listen(Number(process.env.PORT) || 3000, '127.0.0.1')
