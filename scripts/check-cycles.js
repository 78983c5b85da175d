'use strict'
// Looks for import circles, in two graphs:
//
//   js    index.js and lib/**/*.js, by their relative require() calls
//         (package requires and files outside that set are left out);
//   rust  the modules of src/ (a file is a module, a mod.rs its folder's),
//         by the paths that name another module: `crate::…` and `super::…`,
//         in `use` items (groups expanded) and inline (`super::x::f()`).
//         Child-relative paths (`mod x; pub use x::…`, the table-of-contents
//         lines of lib.rs and each mod.rs) are not edges, but a path through
//         one (`crate::lag::LocalLag`, re-exported from lag/local.rs) is an
//         edge to the file that defines the item; an inline `mod tests {
//         use super::* }` belongs to its file.
//
// Prints every circle (one path per strongly connected group, each edge
// with the line that makes it) and exits 1 if there is any, 0 otherwise.
//
//   node scripts/check-cycles.js        or    npm run check:cycles
//
// Plain Node, no dependencies.
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const rel = (file) => path.relative(root, file).split(path.sep).join('/')

/** Blanks comments (and, with `strings`, string and char literals) with
 * spaces, keeping every newline, so positions still give line numbers. */
function blank(text, { strings, lang }) {
  const out = text.split('')
  const wipe = (from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' '
  }
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    const d = text[i + 1]
    if (c === '/' && d === '/') {
      const end = text.indexOf('\n', i)
      const stop = end === -1 ? n : end
      wipe(i, stop)
      i = stop
    } else if (c === '/' && d === '*') {
      // Rust block comments nest; JS ones do not.
      let depth = 1
      let j = i + 2
      while (j < n && depth > 0) {
        if (lang === 'rust' && text[j] === '/' && text[j + 1] === '*') {
          depth++
          j += 2
        } else if (text[j] === '*' && text[j + 1] === '/') {
          depth--
          j += 2
        } else j++
      }
      wipe(i, j)
      i = j
    } else if (lang === 'rust' && c === 'r' && /^r#*"/.test(text.slice(i, i + 10)) && !/\w/.test(text[i - 1] || '')) {
      // Raw string r"…", r#"…"#.
      const hashes = /^r(#*)"/.exec(text.slice(i))[1]
      const close = '"' + hashes
      const end = text.indexOf(close, i + 2 + hashes.length)
      const stop = end === -1 ? n : end + close.length
      if (strings) wipe(i, stop)
      i = stop
    } else if (c === '"' || (lang === 'js' && (c === "'" || c === '`'))) {
      let j = i + 1
      while (j < n && text[j] !== c) j += text[j] === '\\' ? 2 : 1
      if (strings) wipe(i + 1, j)
      i = j + 1
    } else if (lang === 'rust' && c === "'") {
      // A char literal ('x', '\n', '"'), or a lifetime ('a): left alone.
      if (d === '\\') {
        const end = text.indexOf("'", i + 3)
        const stop = end === -1 ? n : end + 1
        wipe(i, stop)
        i = stop
      } else if (text[i + 2] === "'") {
        wipe(i, i + 3)
        i += 3
      } else i++
    } else i++
  }
  return out.join('')
}

const lineOf = (text, index) => text.slice(0, index).split('\n').length

// ---- js -------------------------------------------------------------------

function jsGraph() {
  const files = [path.join(root, 'index.js')]
  const lib = path.join(root, 'lib')
  // lib/ and its folders (lib/cli/, lib/doctor/).
  const walkJs = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) walkJs(path.join(dir, e.name))
      else if (e.name.endsWith('.js')) files.push(path.join(dir, e.name))
    }
  }
  if (fs.existsSync(lib)) walkJs(lib)
  const known = new Set(files.filter((f) => fs.existsSync(f)))
  const resolve = (from, spec) => {
    const base = path.resolve(path.dirname(from), spec)
    for (const candidate of [base, `${base}.js`, path.join(base, 'index.js')]) {
      if (known.has(candidate)) return candidate
    }
    return null
  }
  const graph = new Map()
  for (const file of known) {
    const source = fs.readFileSync(file, 'utf8')
    const code = blank(source, { strings: false, lang: 'js' })
    const edges = new Map()
    const re = /(?<![\w$.])require\s*\(\s*(['"])(\.{1,2}\/[^'"]*)\1\s*\)/g
    for (let m; (m = re.exec(code)); ) {
      const target = resolve(file, m[2])
      if (target && target !== file && !edges.has(rel(target))) {
        edges.set(rel(target), `${rel(file)}:${lineOf(code, m.index)} require('${m[2]}')`)
      }
    }
    graph.set(rel(file), edges)
  }
  return graph
}

// ---- rust -----------------------------------------------------------------

function rustFiles(dir) {
  const out = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...rustFiles(full))
    else if (entry.name.endsWith('.rs')) out.push(full)
  }
  return out.sort()
}

/** `src/lag/registry.rs` → ['lag', 'registry']; `src/lag/mod.rs` → ['lag'];
 * `src/lib.rs` → []. */
function modulePath(file, src) {
  const parts = path.relative(src, file).split(path.sep)
  const last = parts.pop().replace(/\.rs$/, '')
  if (parts.length === 0 && (last === 'lib' || last === 'main')) return []
  if (last !== 'mod') parts.push(last)
  return parts
}

const modName = (segments) => (segments.length ? segments.join('::') : 'crate')

/** The paths a `use` tree names: `a::{b, c::{d, e}}` → a::b, a::c::d, a::c::e. */
function expandUse(tree) {
  tree = tree.replace(/\s+/g, '')
  const out = []
  const walk = (prefix, rest) => {
    // rest: one tree; split prefix::{...} or a plain path.
    const brace = rest.indexOf('{')
    if (brace === -1) {
      out.push(prefix + rest.replace(/\bas\w+$/, ''))
      return
    }
    const head = rest.slice(0, brace)
    const inner = rest.slice(brace + 1, rest.lastIndexOf('}'))
    let depth = 0
    let start = 0
    for (let k = 0; k <= inner.length; k++) {
      const ch = inner[k]
      if (ch === '{') depth++
      else if (ch === '}') depth--
      else if ((ch === ',' || k === inner.length) && depth === 0) {
        const part = inner.slice(start, k)
        if (part) walk(prefix + head, part)
        start = k + 1
      }
    }
  }
  walk('', tree)
  return out
}

function rustGraph() {
  const src = path.join(root, 'src')
  const files = rustFiles(src)
  const byModule = new Map(files.map((f) => [modName(modulePath(f, src)), f]))
  // Re-exports: `pub use child::Item` in module m makes `m::Item` name the
  // child module, so a path through a table of contents (`crate::lag::X`)
  // is an edge to the file that defines X, not to the folder's mod.rs.
  const reexports = new Map()
  for (const file of files) {
    const own = modulePath(file, src)
    const code = blank(fs.readFileSync(file, 'utf8'), { strings: true, lang: 'rust' })
    const items = new Map()
    for (let m, re = /\bpub\s+use\s+([^;]*);/g; (m = re.exec(code)); ) {
      for (const p of expandUse(m[1])) {
        const segs = p.split('::')
        if (segs.length < 2 || /^(crate|super|self)$/.test(segs[0])) continue
        const child = modName([...own, segs[0]])
        if (byModule.has(child)) items.set(segs[segs.length - 1].replace(/\bas\w+$/, ''), child)
      }
    }
    reexports.set(modName(own), items)
  }
  const graph = new Map()
  for (const file of files) {
    const own = modulePath(file, src)
    const source = fs.readFileSync(file, 'utf8')
    const code = blank(source, { strings: true, lang: 'rust' })
    // Inline `mod x { … }` blocks: code inside is in module own::x.
    const blocks = []
    for (let m, re = /\bmod\s+([A-Za-z_]\w*)\s*\{/g; (m = re.exec(code)); ) {
      let depth = 0
      let j = m.index + m[0].length - 1
      for (; j < code.length; j++) {
        if (code[j] === '{') depth++
        else if (code[j] === '}' && --depth === 0) break
      }
      blocks.push({ name: m[1], from: m.index + m[0].length, to: j })
    }
    const moduleAt = (index) => [
      ...own,
      ...blocks.filter((b) => b.from <= index && index < b.to).map((b) => b.name),
    ]
    // Every path that starts at crate or super, with where it occurs.
    const found = []
    for (let m, re = /(?<![\w:])use\s+([^;]*);/g; (m = re.exec(code)); ) {
      for (const p of expandUse(m[1])) {
        if (/^(crate|super)::/.test(p)) found.push({ path: p, index: m.index })
      }
    }
    for (let m, re = /(?<![\w:])(?:crate|super)(?:::(?:super|[A-Za-z_]\w*))+/g; (m = re.exec(code)); ) {
      found.push({ path: m[0], index: m.index })
    }
    const edges = new Map()
    for (const { path: p, index } of found) {
      const segments = p.split('::').filter((s) => s && s !== '*' && s !== 'self')
      let base = moduleAt(index)
      let k = 0
      if (segments[0] === 'crate') {
        base = []
        k = 1
      }
      while (segments[k] === 'super') {
        base = base.slice(0, -1)
        k++
      }
      const target = [...base, ...segments.slice(k)]
      // The longest prefix that is a file module (an inline module or an
      // item belongs to its file).
      let to = null
      let len = target.length
      for (; len >= 0 && to === null; len--) {
        const name = modName(target.slice(0, len))
        if (byModule.has(name)) to = name
      }
      // `to` names target[0..len + 1]; an item re-exported there leads on.
      for (let next = target[len + 1]; to !== null && next !== undefined; ) {
        const child = reexports.get(to)?.get(next)
        if (child === undefined || child === modName(own)) break
        to = child
        next = undefined
      }
      const from = modName(own)
      if (to === null || to === from || edges.has(to)) continue
      edges.set(to, `${rel(file)}:${lineOf(code, index)} ${p}`)
    }
    graph.set(modName(own), edges)
  }
  const label = (name) => `${name} (${rel(byModule.get(name))})`
  return { graph, label }
}

// ---- circles ----------------------------------------------------------------

/** Strongly connected groups of more than one node (Tarjan). */
function circles(graph) {
  let counter = 0
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const groups = []
  const visit = (v) => {
    index.set(v, counter)
    low.set(v, counter)
    counter++
    stack.push(v)
    onStack.add(v)
    for (const w of (graph.get(v) || new Map()).keys()) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)))
      }
    }
    if (low.get(v) === index.get(v)) {
      const group = []
      let w
      do {
        w = stack.pop()
        onStack.delete(w)
        group.push(w)
      } while (w !== v)
      if (group.length > 1) groups.push(group.sort())
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v)
  return groups
}

/** A shortest circle through `start` inside the group, as a node list. */
function circleThrough(graph, group, start) {
  const members = new Set(group)
  const prev = new Map([[start, null]])
  const queue = [start]
  while (queue.length) {
    const v = queue.shift()
    for (const w of graph.get(v).keys()) {
      if (!members.has(w)) continue
      if (w === start) {
        const walk = [start]
        for (let u = v; u !== start; u = prev.get(u)) walk.splice(1, 0, u)
        walk.push(start)
        return walk
      }
      if (!prev.has(w)) {
        prev.set(w, v)
        queue.push(w)
      }
    }
  }
  return [start]
}

function report(title, graph, label = (x) => x) {
  const groups = circles(graph)
  const edgeCount = [...graph.values()].reduce((s, e) => s + e.size, 0)
  console.log(`${title}: ${graph.size} modules, ${edgeCount} edges, ${groups.length} group(s) in circles`)
  for (const group of groups) {
    // A circle through each member not on one printed yet.
    const covered = new Set()
    for (const start of group) {
      if (covered.has(start)) continue
      const walk = circleThrough(graph, group, start)
      walk.forEach((v) => covered.add(v))
      console.log(`  circle: ${walk.join(' -> ')}`)
      for (let k = 0; k + 1 < walk.length; k++) {
        console.log(`    ${label(walk[k])} -> ${walk[k + 1]}: ${graph.get(walk[k]).get(walk[k + 1])}`)
      }
    }
  }
  return groups.length
}

const rust = rustGraph()
const found =
  report('js (index.js + lib/**/*.js, relative requires)', jsGraph()) +
  report('rust (src/, crate:: and super:: paths)', rust.graph, rust.label)
process.exit(found > 0 ? 1 : 0)
