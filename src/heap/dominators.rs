//! Dominator tree and retained sizes: Lengauer–Tarjan over compact `u32`
//! arrays, from the synthetic root (node 0), with the edge rules memlab
//! (`@memlab/core` 2.x, `TraceFinder.computeDominatorsAndRetainedSizes`)
//! and Chrome DevTools use, so that retained sizes equal theirs:
//!
//! - an edge is *essential* unless it is `weak`, a `shortcut` from any node
//!   but the root, a self edge, or leads from a node the root does not reach
//!   into one it does ("page-owned": reached from the root's non-shortcut
//!   edges, not through `(Document DOM trees)`, then through any non-weak
//!   edge);
//! - nodes the root does not reach are hung under the root: first those
//!   whose only retainers are weak or shortcut edges, each with the nodes it
//!   reaches; then every other one, alone.
#![forbid(unsafe_code)]

use super::parse::Graph;

/// The dominator tree: `idom[n]` (the root's is itself) and retained sizes.
pub struct Dominators {
    pub idom: Vec<u32>,
    pub retained: Vec<u64>,
}

/// Which nodes the root reaches the way memlab flags "page-owned" ones.
fn page_owned(g: &Graph, document_trees: impl Fn(usize) -> bool) -> Vec<bool> {
    let l = &g.layout;
    let mut flags = vec![false; g.nodes()];
    let mut stack: Vec<u32> = Vec::new();
    for e in g.edges_of(0) {
        let (t, to) = (g.edge_type[e], g.edge_to[e]);
        if (t == l.et_element && document_trees(to as usize)) || t == l.et_shortcut {
            continue;
        }
        stack.push(to);
        flags[to as usize] = true;
    }
    while let Some(n) = stack.pop() {
        for e in g.edges_of(n as usize) {
            let to = g.edge_to[e];
            if flags[to as usize] || g.edge_type[e] == l.et_weak {
                continue;
            }
            flags[to as usize] = true;
            stack.push(to);
        }
    }
    flags
}

/// Computes the dominator tree. `document_trees(n)` tells whether node `n`
/// is the synthetic `(Document DOM trees)` node (browser snapshots).
pub fn dominators(
    g: &Graph,
    document_trees: impl Fn(usize) -> bool,
    cancelled: &dyn Fn() -> bool,
) -> Option<Dominators> {
    let count = g.nodes();
    let l = &g.layout;
    let flags = page_owned(g, document_trees);
    let (weak, shortcut) = (l.et_weak, l.et_shortcut);
    let essential = |from: usize, t: u8, to: usize| {
        from != to
            && t != weak
            && (t != shortcut || from == 0)
            && !(from != 0 && flags[to] && !flags[from])
    };

    // Retainers over essential edges (CSR), and whether a node has any
    // retainer that is neither weak nor a shortcut (memlab's
    // `hasOnlyWeakReferrers`, which looks at every edge).
    let mut pred_start = vec![0u32; count + 2];
    let mut strong = vec![false; count];
    for from in 0..count {
        for e in g.edges_of(from) {
            let (t, to) = (g.edge_type[e], g.edge_to[e] as usize);
            if t != weak && t != shortcut {
                strong[to] = true;
            }
            if essential(from, t, to) {
                pred_start[to + 2] += 1;
            }
        }
    }
    for i in 2..pred_start.len() {
        pred_start[i] += pred_start[i - 1];
    }
    let mut preds = vec![0u32; pred_start[count + 1] as usize];
    for from in 0..count {
        for e in g.edges_of(from) {
            let (t, to) = (g.edge_type[e], g.edge_to[e] as usize);
            if essential(from, t, to) {
                let slot = &mut pred_start[to + 1];
                preds[*slot as usize] = from as u32;
                *slot += 1;
            }
        }
    }
    // Now node v's retainers are preds[pred_start[v]..pred_start[v + 1]].
    if cancelled() {
        return None;
    }

    // Lengauer–Tarjan, vertices 1..=count (0 is "none"); vertex = ordinal + 1.
    let len = count + 1;
    let mut parent = vec![0u32; len];
    let mut ancestor = vec![0u32; len];
    let mut vertex = vec![0u32; len];
    let mut label = vec![0u32; len];
    let mut semi = vec![0u32; len];
    let mut next_edge = vec![0u32; len];
    let mut n: u32 = 0;

    // Iterative DFS from `root`, over essential edges in file order.
    let mut dfs = |root: u32, parent: &mut [u32], semi: &mut [u32], n: &mut u32| {
        next_edge[root as usize - 1] = g.first_edge[root as usize - 1];
        let mut v = root;
        while v != 0 {
            if semi[v as usize] == 0 {
                *n += 1;
                semi[v as usize] = *n;
                vertex[*n as usize] = v;
                label[v as usize] = v;
            }
            let mut v_next = parent[v as usize];
            let vo = v as usize - 1;
            let end = g.first_edge[vo + 1];
            while next_edge[vo] < end {
                let e = next_edge[vo] as usize;
                let wo = g.edge_to[e] as usize;
                if essential(vo, g.edge_type[e], wo) {
                    let w = wo + 1;
                    if semi[w] == 0 {
                        parent[w] = v;
                        next_edge[wo] = g.first_edge[wo];
                        v_next = w as u32;
                        break;
                    }
                }
                next_edge[vo] += 1;
            }
            v = v_next;
        }
    };

    let r: u32 = 1;
    dfs(r, &mut parent, &mut semi, &mut n);
    if (n as usize) < count {
        for v in 1..=count {
            if semi[v] == 0 && !strong[v - 1] {
                parent[v] = r;
                dfs(v as u32, &mut parent, &mut semi, &mut n);
            }
        }
    }
    drop(next_edge);
    drop(strong);
    if (n as usize) < count {
        for v in 1..=count {
            if semi[v] == 0 {
                parent[v] = r;
                n += 1;
                semi[v] = n;
                vertex[n as usize] = v as u32;
                label[v] = v as u32;
            }
        }
    }
    if cancelled() {
        return None;
    }

    let mut bucket_head = vec![0u32; len];
    // A vertex's slot links it into its semidominator's bucket while it
    // waits there; once it leaves (its dominator found) it holds dom[v]: a
    // vertex waits in one bucket, once, so one array serves both.
    let mut bucket_next = vec![0u32; len];
    let mut stack: Vec<u32> = Vec::new();
    // eval with iterative path compression.
    let mut evaluate = |v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32]| -> u32 {
        if ancestor[v as usize] == 0 {
            return v;
        }
        let mut x = v;
        stack.clear();
        while ancestor[ancestor[x as usize] as usize] != 0 {
            stack.push(x);
            x = ancestor[x as usize];
        }
        while let Some(w) = stack.pop() {
            let a = ancestor[w as usize] as usize;
            if semi[label[a] as usize] < semi[label[w as usize] as usize] {
                label[w as usize] = label[a];
            }
            ancestor[w as usize] = ancestor[a];
        }
        label[v as usize]
    };

    for i in (2..=n as usize).rev() {
        if i % (1 << 20) == 0 && cancelled() {
            return None;
        }
        let w = vertex[i] as usize;
        let wo = w - 1;
        let (s, e) = (pred_start[wo] as usize, pred_start[wo + 1] as usize);
        if s == e {
            // An orphan: retained by the root (semi[r] is the smallest).
            semi[w] = semi[r as usize];
        } else {
            for &from in &preds[s..e] {
                let u = evaluate(from + 1, &mut ancestor, &mut label, &semi);
                if semi[u as usize] < semi[w] {
                    semi[w] = semi[u as usize];
                }
            }
        }
        let sd = vertex[semi[w] as usize] as usize;
        // Add w to bucket(sd) (each vertex enters one bucket, once).
        bucket_next[w] = bucket_head[sd];
        bucket_head[sd] = w as u32;
        let p = parent[w] as usize;
        ancestor[w] = p as u32;
        let mut b = bucket_head[p];
        bucket_head[p] = 0;
        while b != 0 {
            let v = b as usize;
            let next = bucket_next[v];
            let u = evaluate(b, &mut ancestor, &mut label, &semi);
            bucket_next[v] = if semi[u as usize] < semi[v] {
                u
            } else {
                p as u32
            };
            b = next;
        }
    }
    drop(preds);
    drop(pred_start);
    // Vertices left waiting never got a dominator here (0, as in memlab).
    for head in bucket_head {
        let mut b = head;
        while b != 0 {
            let next = bucket_next[b as usize];
            bucket_next[b as usize] = 0;
            b = next;
        }
    }
    let mut dom = bucket_next;
    dom[0] = r;
    dom[r as usize] = r;
    for i in 2..=n as usize {
        let w = vertex[i] as usize;
        if dom[w] != vertex[semi[w] as usize] {
            dom[w] = dom[dom[w] as usize];
        }
    }

    let idom: Vec<u32> = (1..=count).map(|v| dom[v] - 1).collect();
    drop(dom);
    let mut retained: Vec<u64> = (0..count).map(|n| g.size(n)).collect();
    for i in (2..=n as usize).rev() {
        let o = vertex[i] as usize - 1;
        retained[idom[o] as usize] += retained[o];
    }
    Some(Dominators { idom, retained })
}
