// A slow, plain JS reference for heap.summary on small snapshots (the specs
// compare against it): JSON.parse, DevTools' class names, and dominators by
// memlab's "Detached " prefix, and dominators by the iterative Cooper–Harvey–Kennedy algorithm over memlab's essential
// edges, with unreached nodes hung under the root.
import { readFileSync } from 'node:fs'

export function className(type, name, detached = false) {
  if (type === 'object' || type === 'native') return detached ? `Detached ${name}` : name
  if (type === 'hidden') return '(system)'
  if (type === 'code') return '(compiled code)'
  return `(${type})`
}

export function load(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const meta = s.snapshot.meta
  const nf = meta.node_fields.length
  const ef = meta.edge_fields.length
  const col = (f) => meta.node_fields.indexOf(f)
  const ecol = (f) => meta.edge_fields.indexOf(f)
  const nodeTypes = meta.node_types[col('type')]
  const edgeTypes = meta.edge_types[ecol('type')]
  const count = s.nodes.length / nf
  const nodes = []
  let e = 0
  const edges = []
  for (let i = 0; i < count; i++) {
    const at = i * nf
    const type = nodeTypes[s.nodes[at + col('type')]]
    const name = s.strings[s.nodes[at + col('name')]]
    const n = {
      type,
      name,
      id: s.nodes[at + col('id')],
      selfSize: s.nodes[at + col('self_size')],
      cls: className(type, name, col('detachedness') >= 0 && s.nodes[at + col('detachedness')] === 2),
      out: [],
    }
    const k = s.nodes[at + col('edge_count')]
    for (let j = 0; j < k; j++, e++) {
      const et = edgeTypes[s.edges[e * ef + ecol('type')]]
      const to = s.edges[e * ef + ecol('to_node')] / nf
      n.out.push({ type: et, to })
      edges.push(1)
    }
    nodes.push(n)
  }
  return { nodes, edgeCount: edges.length }
}

/** Per-class `{ count, selfSize, retainedSize }` (DevTools' summary rule). */
export function reference(file) {
  const { nodes, edgeCount } = load(file)
  const N = nodes.length
  // memlab's "page-owned" flags, then its essential-edge rule.
  const owned = new Uint8Array(N)
  const stack = []
  for (const e of nodes[0].out) {
    if (e.type === 'shortcut') continue
    if (e.type === 'element' && nodes[e.to].type === 'synthetic' && nodes[e.to].name === '(Document DOM trees)') continue
    owned[e.to] = 1
    stack.push(e.to)
  }
  while (stack.length) {
    const n = stack.pop()
    for (const e of nodes[n].out) {
      if (owned[e.to] || e.type === 'weak') continue
      owned[e.to] = 1
      stack.push(e.to)
    }
  }
  const essential = (from, e) =>
    from !== e.to && e.type !== 'weak' && (e.type !== 'shortcut' || from === 0) && !(from !== 0 && owned[e.to] && !owned[from])
  const succ = nodes.map((n, i) => n.out.filter((e) => essential(i, e)).map((e) => e.to))
  // Unreached nodes hang under the root (virtual root edges).
  const seen = new Uint8Array(N)
  const reach = (start) => {
    const st = [start]
    seen[start] = 1
    while (st.length) {
      const n = st.pop()
      for (const t of succ[n]) if (!seen[t]) (seen[t] = 1), st.push(t)
    }
  }
  reach(0)
  for (let v = 0; v < N; v++) {
    if (!seen[v]) {
      succ[0].push(v)
      reach(v)
    }
  }
  const preds = Array.from({ length: N }, () => [])
  succ.forEach((ts, f) => ts.forEach((t) => preds[t].push(f)))
  // Reverse postorder.
  const order = []
  const post = new Int32Array(N).fill(-1)
  const visited = new Uint8Array(N)
  const st = [[0, 0]]
  visited[0] = 1
  while (st.length) {
    const top = st[st.length - 1]
    if (top[1] < succ[top[0]].length) {
      const t = succ[top[0]][top[1]++]
      if (!visited[t]) (visited[t] = 1), st.push([t, 0])
    } else {
      post[top[0]] = order.length
      order.push(top[0])
      st.pop()
    }
  }
  const idom = new Int32Array(N).fill(-1)
  idom[0] = 0
  const intersect = (a, b) => {
    while (a !== b) {
      while (post[a] < post[b]) a = idom[a]
      while (post[b] < post[a]) b = idom[b]
    }
    return a
  }
  for (let changed = true; changed; ) {
    changed = false
    for (let i = order.length - 1; i >= 0; i--) {
      const v = order[i]
      if (v === 0) continue
      let d = -1
      for (const p of preds[v]) if (idom[p] !== -1) d = d === -1 ? p : intersect(p, d)
      if (d !== idom[v]) (idom[v] = d), (changed = true)
    }
  }
  const retained = nodes.map((n) => n.selfSize)
  for (const v of order) if (v !== 0) retained[idom[v]] += retained[v]
  // A node counts toward its class's retained size unless a dominator
  // ancestor has the same class.
  const classes = new Map()
  for (let v = 0; v < N; v++) {
    const c = nodes[v].cls
    let row = classes.get(c)
    if (!row) classes.set(c, (row = { count: 0, selfSize: 0, retainedSize: 0 }))
    row.count++
    row.selfSize += nodes[v].selfSize
    let a = v
    let nested = false
    while (a !== 0) {
      a = idom[a]
      if (nodes[a].cls === c) {
        nested = true
        break
      }
    }
    if (!nested) row.retainedSize += retained[v]
  }
  return { nodes: N, edges: edgeCount, classes, ids: nodes.map((n) => n.id), nodeList: nodes }
}
