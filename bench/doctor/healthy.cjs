// Doctor bench app: healthy (hello world).
const http = require('node:http')
http.createServer((req, res) => res.end('hello')).listen(Number(process.env.PORT) || 3000, '127.0.0.1')
