// Doctor bench app: synchronous CPU in a request handler (every 10th request
// parses a large JSON manifest on the loop).
const http = require('node:http')
const manifest = JSON.stringify({ items: Array.from({ length: 120_000 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b'] })) })
let n = 0
function parseUploadedManifest(body) {
  return JSON.parse(body).items.length
}
http
  .createServer((req, res) => {
    let out = 'ok'
    if (++n % 10 === 0) out = String(parseUploadedManifest(manifest))
    res.end(out)
  })
  .listen(Number(process.env.PORT) || 3000, '127.0.0.1')
