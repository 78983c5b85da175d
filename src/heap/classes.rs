//! Class names ("constructors") as Chrome DevTools' `HeapSnapshotNode.
//! className()` gives them (with memlab's "Detached " prefix for detached
//! nodes), and per-class totals with the DevTools summary
//! rule for retained sizes: a class's retained size is the sum over its
//! nodes that have no dominator ancestor of the same class.
#![forbid(unsafe_code)]

use super::dominators::Dominators;
use super::parse::Graph;
use std::collections::HashMap;

/// Every node's class id, and the class names.
pub struct Classes {
    pub of: Vec<u32>,
    pub names: Vec<String>,
}

/// DevTools' class name of a node of `type_name` named `name`.
pub fn class_name(type_name: &str, name: &str, object_like: bool) -> String {
    if object_like {
        return name.to_string();
    }
    match type_name {
        "hidden" => "(system)".into(),
        "code" => "(compiled code)".into(),
        t => format!("({t})"),
    }
}

pub fn classify(g: &Graph) -> Classes {
    let l = &g.layout;
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: String, names: &mut Vec<String>| -> u32 {
        if let Some(&i) = index.get(&s) {
            return i;
        }
        let i = names.len() as u32;
        names.push(s.clone());
        index.insert(s, i);
        i
    };
    // One class per type name for the types named by type, one per string
    // for objects and natives; both keyed by the final name, so that an
    // object named "(closure)" joins the closures, as in DevTools.
    let by_type: Vec<u32> = l
        .node_types
        .iter()
        .map(|t| intern(class_name(t, "", false), &mut names))
        .collect();
    // Detached DOM/embedder nodes are named "Detached <name>", as memlab
    // names them (and DevTools groups them).
    let mut by_string: HashMap<(u32, bool), u32> = HashMap::new();
    let of = g
        .node_type
        .iter()
        .zip(&g.node_name)
        .enumerate()
        .map(|(n, (&t, &name))| {
            if t == l.t_object || t == l.t_native {
                let detached = g.detached.get(n).copied().unwrap_or(false);
                *by_string.entry((name, detached)).or_insert_with(|| {
                    let s = g.strings.get(name);
                    let s = if detached {
                        format!("Detached {s}")
                    } else {
                        s.into_owned()
                    };
                    intern(s, &mut names)
                })
            } else {
                by_type[t as usize]
            }
        })
        .collect();
    Classes { of, names }
}

/// One class's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub count: u64,
    pub self_size: u64,
    pub retained: u64,
    /// The counted node with the largest retained size (a representative).
    pub top_node: u32,
}

/// Per-class totals over the nodes `include` accepts (all nodes, or a
/// diff's new ones). Retained sizes follow the DevTools rule over the
/// included nodes: a node counts unless an included dominator ancestor has
/// its class.
pub fn totals(
    g: &Graph,
    classes: &Classes,
    dom: &Dominators,
    include: impl Fn(usize) -> bool,
) -> Vec<Totals> {
    let count = g.nodes();
    let mut out = vec![
        Totals {
            top_node: u32::MAX,
            ..Totals::default()
        };
        classes.names.len()
    ];
    // Dominator-tree children (CSR), then a DFS keeping, per class, how many
    // included ancestors of that class are on the current path.
    let mut start = vec![0u32; count + 2];
    for n in 1..count {
        start[dom.idom[n] as usize + 2] += 1;
    }
    for i in 2..start.len() {
        start[i] += start[i - 1];
    }
    let mut kids = vec![0u32; count.saturating_sub(1)];
    for n in 1..count {
        let slot = &mut start[dom.idom[n] as usize + 1];
        kids[*slot as usize] = n as u32;
        *slot += 1;
    }
    let mut on_path = vec![0u32; classes.names.len()];
    // (node, next child position); a node's class is counted on entry.
    let mut stack: Vec<(u32, u32)> = vec![(0, start[0])];
    let enter = |n: usize, on_path: &mut [u32], out: &mut [Totals]| {
        if include(n) {
            let c = classes.of[n] as usize;
            let t = &mut out[c];
            t.count += 1;
            t.self_size += g.size(n);
            if on_path[c] == 0 {
                if t.top_node == u32::MAX || dom.retained[n] > dom.retained[t.top_node as usize] {
                    t.top_node = n as u32;
                }
                t.retained += dom.retained[n];
            }
            on_path[c] += 1;
        }
    };
    enter(0, &mut on_path, &mut out);
    let mut seen = 1usize;
    while let Some(top) = stack.last_mut() {
        let n = top.0 as usize;
        if top.1 < start[n + 1] {
            let child = kids[top.1 as usize];
            top.1 += 1;
            enter(child as usize, &mut on_path, &mut out);
            seen += 1;
            stack.push((child, start[child as usize]));
        } else {
            stack.pop();
            if include(n) {
                on_path[classes.of[n] as usize] -= 1;
            }
        }
    }
    debug_assert_eq!(seen, count, "every node hangs under the root");
    out
}
