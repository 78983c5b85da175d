//! `summary` and `diff`: open the files, parse, analyse, and write the
//! result as JSON text (the JS side parses it: one string crosses over).
#![forbid(unsafe_code)]

use super::classes::{classify, totals, Classes, Totals};
use super::dominators::{dominators, Dominators};
use super::parse::{parse, Graph, Keep, ParseError};
use super::reader::Bad;
use crate::error::Error;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::fs::File;

/// What `summary` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryOptions {
    /// Constructors listed (the largest retained first); `usize::MAX` for all.
    pub top: usize,
    /// Retainer paths, for the classes with the largest retained sizes.
    pub paths: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Id,
    Constructor,
}

/// Why the task stopped: an error, or an abort.
pub enum Failure {
    Error(Error),
    Cancelled,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

type Out<T> = Result<T, Failure>;

/// The OS error code name of an I/O error, as `node:fs` shows it.
fn os_code(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc_code) => match libc_code {
            2 => "ENOENT",
            13 => "EACCES",
            1 => "EPERM",
            20 => "ENOTDIR",
            21 => "EISDIR",
            24 => "EMFILE",
            36 => "ENAMETOOLONG",
            40 => "ELOOP",
            5 => "EIO",
            _ => "ERR_NODEPERF_HEAP_FILE",
        },
        None => "ERR_NODEPERF_HEAP_FILE",
    }
}

fn file_error(path: &str, syscall: &'static str, e: &std::io::Error) -> Error {
    let mut message = e.to_string();
    if let Some(i) = message.find(" (os error") {
        message.truncate(i);
    }
    Error::HeapFile {
        path: path.into(),
        os_code: os_code(e),
        syscall,
        message: message.to_lowercase(),
    }
}

/// Opens and parses one snapshot.
fn load(path: &str, keep: Keep, cancelled: &dyn Fn() -> bool) -> Out<Graph> {
    let file = File::open(path).map_err(|e| file_error(path, "open", &e))?;
    let meta = file.metadata().map_err(|e| file_error(path, "fstat", &e))?;
    if meta.is_dir() {
        return Err(Error::HeapFile {
            path: path.into(),
            os_code: "EISDIR",
            syscall: "read",
            message: "illegal operation on a directory".into(),
        }
        .into());
    }
    match parse(file, meta.len(), keep, cancelled) {
        Ok(g) => Ok(g),
        Err(ParseError::Bad(Bad::Cancelled)) => Err(Failure::Cancelled),
        Err(ParseError::Bad(Bad::Io(e))) => Err(file_error(path, "read", &e).into()),
        Err(ParseError::Bad(Bad::At { offset, reason })) => Err(Error::HeapSnapshot {
            file: path.into(),
            offset: Some(offset),
            reason,
        }
        .into()),
        Err(ParseError::Layout(reason)) => Err(Error::HeapLayout {
            file: path.into(),
            reason,
        }
        .into()),
    }
}

/// A parsed snapshot with its dominator tree and classes.
struct Analysed {
    g: Graph,
    dom: Dominators,
    classes: Classes,
}

fn analyse(path: &str, cancelled: &dyn Fn() -> bool) -> Out<Analysed> {
    let g = load(path, Keep::All, cancelled)?;
    let l = &g.layout;
    let document_trees = |n: usize| {
        g.node_type[n] == l.t_synthetic && g.strings.get(g.node_name[n]) == "(Document DOM trees)"
    };
    let dom = dominators(&g, document_trees, cancelled).ok_or(Failure::Cancelled)?;
    let classes = classify(&g);
    Ok(Analysed { g, dom, classes })
}

fn total_size(g: &Graph) -> u64 {
    g.self_size.iter().sum()
}

fn meta(g: &Graph) -> Value {
    let l = &g.layout;
    json!({
        "nodeFields": l.node_fields,
        "edgeFields": l.edge_fields,
        "nodeTypes": l.node_types,
        "edgeTypes": l.edge_types,
        "strings": g.strings.len(),
        "fileSize": g.file_size,
        "title": g.title,
    })
}

/// Class rows, largest retained size first (then name), at most `top`.
fn rows(names: &[String], t: &[Totals], top: usize) -> Vec<(usize, Totals)> {
    let mut v: Vec<(usize, Totals)> = t
        .iter()
        .enumerate()
        .filter(|(_, t)| t.count > 0)
        .map(|(i, t)| (i, *t))
        .collect();
    v.sort_by(|a, b| {
        b.1.retained
            .cmp(&a.1.retained)
            .then_with(|| names[a.0].cmp(&names[b.0]))
    });
    v.truncate(top);
    v
}

fn row_json(name: &str, t: &Totals) -> Value {
    json!({
        "name": name,
        "count": t.count,
        "selfSize": t.self_size,
        "retainedSize": t.retained,
    })
}

/// `heap.summary(path)`.
pub fn summary(path: &str, opts: SummaryOptions, cancelled: &dyn Fn() -> bool) -> Out<String> {
    let a = analyse(path, cancelled)?;
    let t = totals(&a.g, &a.classes, &a.dom, |_| true);
    let all = rows(&a.classes.names, &t, usize::MAX);
    let listed: Vec<Value> = all
        .iter()
        .take(opts.top)
        .map(|(i, t)| row_json(&a.classes.names[*i], t))
        .collect();
    // Paths for the largest classes, skipping the root's own `(synthetic)`.
    let targets: Vec<(usize, Totals)> = all
        .iter()
        .filter(|(_, t)| t.top_node != 0)
        .take(opts.paths)
        .copied()
        .collect();
    let paths = retainer_paths(&a, &targets, cancelled)?;
    let out = json!({
        "file": path,
        "nodes": a.g.nodes(),
        "edges": a.g.edge_total,
        "totalSize": total_size(&a.g),
        "constructors": listed,
        "constructorCount": all.len(),
        "retainerPaths": paths,
        "meta": meta(&a.g),
    });
    Ok(out.to_string())
}

fn node_json(a: &Analysed, n: usize) -> Value {
    let g = &a.g;
    json!({
        "class": a.classes.names[a.classes.of[n] as usize],
        "type": g.layout.node_types[g.node_type[n] as usize],
        "name": g.strings.get(g.node_name[n]),
        "id": g.node_id[n],
        "selfSize": g.self_size[n],
        "retainedSize": a.dom.retained[n],
    })
}

/// Shortest paths (BFS over edges that are not weak) from the root to each
/// target's representative node.
fn retainer_paths(
    a: &Analysed,
    targets: &[(usize, Totals)],
    cancelled: &dyn Fn() -> bool,
) -> Out<Vec<Value>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let g = &a.g;
    let count = g.nodes();
    const NONE: u32 = u32::MAX;
    // The edge each node was first reached through.
    let mut via = vec![NONE; count];
    let mut from = vec![NONE; count];
    let mut wanted: Vec<bool> = vec![false; count];
    let mut left = 0;
    for (_, t) in targets {
        if !wanted[t.top_node as usize] {
            wanted[t.top_node as usize] = true;
            left += 1;
        }
    }
    let mut queue = VecDeque::from([0u32]);
    from[0] = 0;
    let mut steps = 0usize;
    while let Some(n) = queue.pop_front() {
        steps += 1;
        if steps.is_multiple_of(1 << 20) && cancelled() {
            return Err(Failure::Cancelled);
        }
        if wanted[n as usize] {
            left -= 1;
            if left == 0 {
                break;
            }
        }
        for e in g.edges_of(n as usize) {
            let to = g.edge_to[e] as usize;
            if from[to] != NONE || g.edge_type[e] == g.layout.et_weak {
                continue;
            }
            from[to] = n;
            via[to] = e as u32;
            queue.push_back(to as u32);
        }
    }
    drop(queue);
    let mut out = Vec::new();
    for (class, t) in targets {
        let mut chain = Vec::new();
        let mut n = t.top_node as usize;
        let reached = from[n] != NONE;
        while n != 0 && from[n] != NONE && chain.len() < count {
            chain.push((n, via[n] as usize));
            n = from[n] as usize;
        }
        chain.reverse();
        let steps: Vec<Value> = chain
            .iter()
            .map(|&(n, e)| {
                let t = g.edge_type[e];
                let name = if g.layout.edge_name_is_index(t) {
                    json!(g.edge_name[e])
                } else {
                    json!(g.strings.get(g.edge_name[e]))
                };
                json!({
                    "edge": { "type": g.layout.edge_types[t as usize], "name": name },
                    "node": node_json(a, n),
                })
            })
            .collect();
        out.push(json!({
            "constructor": a.classes.names[*class],
            "retainedSize": t.retained,
            "node": node_json(a, t.top_node as usize),
            "reachable": reached,
            "path": steps,
        }));
    }
    Ok(out)
}

/// The older side of an id diff: each id's node, for the process check.
struct IdIndex {
    /// (id, ordinal), sorted by id.
    ids: Vec<(u32, u32)>,
    g: Graph,
}

impl IdIndex {
    fn find(&self, id: u32) -> Option<usize> {
        self.ids
            .binary_search_by_key(&id, |p| p.0)
            .ok()
            .map(|i| self.ids[i].1 as usize)
    }
}

/// Below this many shared ids the process check says nothing.
const CHECK_MIN: u64 = 100;

/// `heap.diff(a, b)`.
pub fn diff(
    a_path: &str,
    b_path: &str,
    by: By,
    top: usize,
    cancelled: &dyn Fn() -> bool,
) -> Out<String> {
    match by {
        By::Id => diff_by_id(a_path, b_path, top, cancelled),
        By::Constructor => diff_by_constructor(a_path, b_path, top, cancelled),
    }
}

fn side(path: &str, g: &Graph) -> Value {
    json!({ "file": path, "nodes": g.nodes(), "totalSize": total_size(g) })
}

fn diff_by_id(a_path: &str, b_path: &str, top: usize, cancelled: &dyn Fn() -> bool) -> Out<String> {
    let old = load(a_path, Keep::NodesOnly, cancelled)?;
    let mut ids: Vec<(u32, u32)> = old
        .node_id
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i as u32))
        .collect();
    ids.sort_unstable();
    let old = IdIndex { ids, g: old };
    let b = analyse(b_path, cancelled)?;
    let (g, ol) = (&b.g, &old.g.layout);
    // Same process? Shared ids must mostly name the same kind of object, and
    // the newer snapshot must hold the newer ids.
    // V8 gives heap objects odd ids, counting up; embedder (native) objects
    // get even ids from a hash, which say nothing about age.
    let newest =
        |ids: &mut dyn Iterator<Item = u32>| ids.filter(|id| id & 1 == 1).max().unwrap_or(0);
    let max_a = newest(&mut old.ids.iter().map(|p| p.0));
    let max_b = newest(&mut g.node_id.iter().copied());
    let mut is_new = vec![false; g.nodes()];
    let (mut shared, mut agree) = (0u64, 0u64);
    for (n, new) in is_new.iter_mut().enumerate() {
        match old.find(g.node_id[n]) {
            None => *new = true,
            Some(o) => {
                if g.node_type[n] == g.layout.t_synthetic {
                    continue; // the roots have the same ids everywhere
                }
                shared += 1;
                let same_type = ol.node_types[old.g.node_type[o] as usize]
                    == g.layout.node_types[g.node_type[n] as usize];
                if same_type
                    && old.g.strings.get(old.g.node_name[o]) == g.strings.get(g.node_name[n])
                {
                    agree += 1;
                }
            }
        }
    }
    if shared >= CHECK_MIN && agree * 2 < shared {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "of the {shared} object ids the two snapshots share, only {agree} name the same kind of object in both, so they come from different processes"
            ),
        }
        .into());
    }
    if max_b < max_a && shared >= CHECK_MIN {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "the second snapshot ({b_path}, newest object id {max_b}) is older than the first ({a_path}, newest id {max_a}): give the older snapshot first"
            ),
        }
        .into());
    }
    let t = totals(g, &b.classes, &b.dom, |n| is_new[n]);
    // All new objects together, counted once each under the same rule.
    let one = Classes {
        of: vec![0; g.nodes()],
        names: vec![String::new()],
    };
    let all = totals(g, &one, &b.dom, |n| is_new[n]);
    let all = all[0];
    let listed: Vec<Value> = rows(&b.classes.names, &t, top)
        .iter()
        .map(|(i, t)| row_json(&b.classes.names[*i], t))
        .collect();
    let out = json!({
        "by": "id",
        "a": side(a_path, &old.g),
        "b": side(b_path, g),
        "added": { "count": all.count, "selfSize": all.self_size, "retainedSize": all.retained },
        "removed": { "count": old.g.nodes() as u64 - (g.nodes() as u64 - all.count) },
        "constructors": listed,
    });
    Ok(out.to_string())
}

fn diff_by_constructor(
    a_path: &str,
    b_path: &str,
    top: usize,
    cancelled: &dyn Fn() -> bool,
) -> Out<String> {
    let per_class = |path: &str| -> Out<(Value, HashMap<String, Totals>)> {
        let a = analyse(path, cancelled)?;
        let t = totals(&a.g, &a.classes, &a.dom, |_| true);
        let map = a
            .classes
            .names
            .iter()
            .zip(t)
            .filter(|(_, t)| t.count > 0)
            .map(|(n, t)| (n.clone(), t))
            .collect();
        Ok((side(path, &a.g), map))
    };
    // One at a time: the first's graph is freed before the second is read.
    let (side_a, ta) = per_class(a_path)?;
    let (side_b, tb) = per_class(b_path)?;
    let mut names: Vec<&String> = ta
        .keys()
        .chain(tb.keys().filter(|k| !ta.contains_key(*k)))
        .collect();
    let zero = Totals::default();
    let delta = |n: &String| {
        let (x, y) = (ta.get(n).unwrap_or(&zero), tb.get(n).unwrap_or(&zero));
        (
            y.count as i128 - x.count as i128,
            y.self_size as i128 - x.self_size as i128,
            y.retained as i128 - x.retained as i128,
            x,
            y,
        )
    };
    names.retain(|n| {
        let (c, s, r, _, _) = delta(n);
        c != 0 || s != 0 || r != 0
    });
    names.sort_by(|p, q| {
        let (_, ps, pr, _, _) = delta(p);
        let (_, qs, qr, _, _) = delta(q);
        qr.abs()
            .cmp(&pr.abs())
            .then(qs.abs().cmp(&ps.abs()))
            .then(p.cmp(q))
    });
    names.truncate(top);
    let listed: Vec<Value> = names
        .iter()
        .map(|n| {
            let (c, s, r, x, y) = delta(n);
            json!({
                "name": n,
                "count": c as f64,
                "selfSize": s as f64,
                "retainedSize": r as f64,
                "before": { "count": x.count, "selfSize": x.self_size, "retainedSize": x.retained },
                "after": { "count": y.count, "selfSize": y.self_size, "retainedSize": y.retained },
            })
        })
        .collect();
    let out = json!({ "by": "constructor", "a": side_a, "b": side_b, "constructors": listed });
    Ok(out.to_string())
}
