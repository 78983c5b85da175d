// Doctor bench app: GC pressure from allocation churn. Each request builds
// a large temporary structure; the last few are kept a little while (a
// bounded "recent" buffer), long enough to survive scavenges and be
// promoted, then dropped: the heap after GC stays flat, GC works hard.
const http = require('node:http')
const recent = []
function buildReport(n) {
  const rows = []
  for (let i = 0; i < 8_000; i++) rows.push({ i, label: `row ${i} of ${n}`, values: [i, i * 2, i * 3] })
  return rows
}
let n = 0
http
  .createServer((req, res) => {
    const rows = buildReport(++n)
    recent.push(rows)
    if (recent.length > 8) recent.shift()
    res.end(String(rows.length))
  })
  .listen(Number(process.env.PORT) || 3000, '127.0.0.1')
