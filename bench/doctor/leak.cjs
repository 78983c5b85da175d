// Doctor bench app: a leaking cache (every request adds an entry, none is
// ever evicted).
const http = require('node:http')
const sessionCache = new Map()
let n = 0
function rememberSession(id) {
  sessionCache.set(`session-${id}`, { id, at: Date.now(), history: Array.from({ length: 500 }, (_, i) => ({ step: i, note: `visited page ${i} of ${id}` })) })
}
http
  .createServer((req, res) => {
    rememberSession(++n)
    res.end(`sessions: ${sessionCache.size}`)
  })
  .listen(Number(process.env.PORT) || 3000, '127.0.0.1')
