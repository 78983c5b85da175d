// Doctor bench app: slow I/O with an idle loop. Each request waits on a
// slow backend (a local TCP service that answers after 200 ms).
const http = require('node:http')
const net = require('node:net')
const backend = net.createServer((s) => s.on('data', () => setTimeout(() => s.end('row'), 200)))
backend.listen(0, '127.0.0.1', () => {
  const port = backend.address().port
  function slowQuery() {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('SELECT 1'))
      s.on('data', (d) => resolve(String(d)))
      s.on('error', reject)
    })
  }
  http
    .createServer(async (req, res) => {
      res.end(await slowQuery())
    })
    .listen(Number(process.env.PORT) || 3000, '127.0.0.1')
})
