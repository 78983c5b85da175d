// The doctor's HTML report in a real browser (headless Chromium, Debian's
// `chromium`, driven over CDP with puppeteer-core): a report from a real
// run renders the findings first, every chart with its lines, the stall
// table and the flame graph; and no request leaves the page (every request
// is intercepted and recorded: the only one is the file itself).
//
// Chromium: $CHROMIUM, else /usr/bin/chromium. Missing, the spec skips,
// unless NODEPERF_REQUIRE_CHROMIUM=1 (.ci/run sets it and installs it).
// NODEPERF_DOCTOR_SCREENSHOT=<file.png> also saves a screenshot of the page.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const bin = join(import.meta.dirname, '..', 'bin', 'nodeperf.js')
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium'
const have = existsSync(chromium)
const required = process.env.NODEPERF_REQUIRE_CHROMIUM === '1'
let dir
let html

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodeperf-doctor-report-'))
  // A server that blocks its loop in a named function on every 5th request.
  const file = join(dir, 'server.cjs')
  writeFileSync(
    file,
    `const http = require('node:http')
function renderInvoice(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x++; return String(x) }
let n = 0
http.createServer((req, res) => res.end(++n % 5 === 0 ? renderInvoice(150) : 'ok')).listen(Number(process.env.PORT), '127.0.0.1')
`,
  )
  const port = String(20000 + Math.floor(Math.random() * 20000))
  html = join(dir, 'report.html')
  const r = spawnSync(process.execPath, [bin, 'doctor', '--duration', '3.5', '--http', `http://127.0.0.1:${port}/`, '--rate', '20', '--html', html, '--json', join(dir, 'report.json'), '--', process.execPath, file], {
    encoding: 'utf8',
    env: { ...process.env, PORT: port },
    timeout: 60_000,
  })
  assert.equal(r.status, 130, r.stderr)
})

after(() => rmSync(dir, { recursive: true, force: true }))

test('the report is small and self-contained', () => {
  assert.ok(statSync(html).size < 2 * 2 ** 20)
})

test('headless Chromium: findings first, every chart drawn, stalls and flame graph, no request leaves the page', { skip: !have && !required ? `no Chromium at ${chromium}` : false }, async () => {
  assert.ok(have, `Chromium is required (NODEPERF_REQUIRE_CHROMIUM=1) but ${chromium} does not exist`)
  const { default: puppeteer } = await import('puppeteer-core')
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
  try {
    const page = await browser.newPage()
    const requests = []
    await page.setRequestInterception(true)
    page.on('request', (req) => {
      requests.push(req.url())
      if (req.url() === pathToFileURL(html).href) req.continue()
      else req.abort()
    })
    const errors = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.setViewport({ width: 1000, height: 1400 })
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' })

    const seen = await page.evaluate(() => {
      const findings = [...document.querySelectorAll('section.finding')]
      const firstHeading = document.querySelector('h2').id
      const charts = {}
      for (const fig of document.querySelectorAll('[data-chart]')) {
        const svg = fig.querySelector('svg')
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 }
        charts[fig.dataset.chart] = { width: box.width, height: box.height, lines: fig.querySelectorAll('path').length, rects: fig.querySelectorAll('rect').length }
      }
      return {
        firstHeading,
        kinds: findings.map((f) => f.dataset.kind),
        firstText: findings[0]?.textContent ?? '',
        charts,
        stallRows: document.querySelectorAll('table.stalls tbody tr').length,
        scripts: document.scripts.length,
      }
    })
    assert.equal(seen.firstHeading, 'findings')
    assert.equal(seen.kinds[0], 'event-loop-blocking')
    assert.match(seen.firstText, /renderInvoice/)
    for (const id of ['lag', 'utilization', 'cpu', 'memory', 'gc', 'load']) {
      const c = seen.charts[id]
      assert.ok(c, `chart ${id} missing`)
      assert.ok(c.width > 300 && c.height > 50, `chart ${id} not drawn: ${JSON.stringify(c)}`)
      assert.ok(c.lines >= 1, `chart ${id} has no line`)
    }
    assert.ok(seen.charts.flame && seen.charts.flame.rects >= 2, JSON.stringify(seen.charts.flame))
    assert.ok(seen.stallRows >= 1)
    assert.equal(seen.scripts, 0)
    assert.deepEqual(errors, [])
    assert.deepEqual(requests, [pathToFileURL(html).href], 'the page requested something besides itself')
    if (process.env.NODEPERF_DOCTOR_SCREENSHOT) await page.screenshot({ path: process.env.NODEPERF_DOCTOR_SCREENSHOT, fullPage: true })
  } finally {
    await browser.close()
  }
})
