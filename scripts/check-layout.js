'use strict'
// Checks the boundaries the code keeps (alongside scripts/check-cycles.js):
//
//   1. raw Node-API calls (`sys::napi_*`, `sys::node_api_*`) only in
//      src/node_api.rs;
//   2. libuv's C functions (`uv_*` declared or called) only in src/uv.rs;
//   3. every `// SAFETY:` comment states its own reason, not a pointer to
//      another ("sound for the reasons just given", "as above");
//   4. no module (src/**/*.rs, index.js, lib/*.js) over 500 lines unless
//      its opening comment says why ("Over 500 lines ..."). Generated
//      files (lib/*.bundled.js) are left out.
//
// Prints each breach with its file and line; exits 1 if there is any.
//
//   node scripts/check-layout.js        or    npm run check:layout
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const rel = (f) => path.relative(root, f).split(path.sep).join('/')

function walk(dir, ext, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p, ext, out)
    else if (e.name.endsWith(ext)) out.push(p)
  }
  return out
}

const rust = walk(path.join(root, 'src'), '.rs')
const js = [path.join(root, 'index.js'), ...walk(path.join(root, 'lib'), '.js').filter((f) => !f.endsWith('.bundled.js'))]
const breaches = []
const breach = (file, line, what) => breaches.push(`${rel(file)}:${line}: ${what}`)

for (const file of rust) {
  const name = rel(file)
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  lines.forEach((text, i) => {
    const code = text.replace(/\/\/.*$/, '')
    if (name !== 'src/node_api.rs' && /\bsys::(napi_|node_api_)\w+\s*\(/.test(code)) {
      breach(file, i + 1, 'raw Node-API call outside src/node_api.rs')
    }
    if (name !== 'src/uv.rs' && /\buv_[a-z_]+\s*\(/.test(code) && !/fn\s+uv_/.test(code)) {
      breach(file, i + 1, 'libuv call outside src/uv.rs')
    }
    if (/SAFETY:/.test(text) && /sound for the reasons? (just )?given|as above|same as above/i.test(text)) {
      breach(file, i + 1, 'SAFETY comment without a reason of its own')
    }
  })
}

for (const file of [...rust, ...js]) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  if (lines.length <= 500) continue
  const opening = []
  for (const l of lines) {
    if (/^\s*(\/\/|'use strict'|$)/.test(l)) opening.push(l)
    else break
  }
  if (!/over 500 lines/i.test(opening.join('\n'))) {
    breach(file, 1, `${lines.length} lines, and the opening comment does not say why (\"Over 500 lines ...\")`)
  }
}

if (breaches.length > 0) {
  console.log(breaches.join('\n'))
  console.log(`${breaches.length} breach(es)`)
  process.exit(1)
}
console.log(`layout: ${rust.length} Rust and ${js.length} JS modules; Node-API in src/node_api.rs, libuv in src/uv.rs, every SAFETY line its own reason, long modules say why`)
