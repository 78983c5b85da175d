//! `summary` (and what `diff` shares with it): open the files, parse, analyse, and write the
//! result as JSON text (the JS side parses it: one string crosses over).
#![forbid(unsafe_code)]

use super::classes::{classify, totals, Classes, Totals};
use super::dominators::{dominators, Dominators};
use super::parse::{self, parse, Graph, Keep, ParseError};
use super::reader::Bad;
use crate::error::Error;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom};

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

pub(super) type Out<T> = Result<T, Failure>;

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
pub(super) fn load(path: &str, keep: Keep, cancelled: &dyn Fn() -> bool) -> Out<Graph> {
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
pub(super) struct Analysed {
    pub path: String,
    pub g: Graph,
    pub dom: Dominators,
    pub classes: Classes,
}

pub(super) fn analyse(path: &str, cancelled: &dyn Fn() -> bool) -> Out<Analysed> {
    let g = load(path, Keep::All, cancelled)?;
    let l = &g.layout;
    let document_trees = |n: usize| {
        g.node_type[n] == l.t_synthetic && g.strings.get(g.node_name[n]) == "(Document DOM trees)"
    };
    let dom = dominators(&g, document_trees, cancelled).ok_or(Failure::Cancelled)?;
    let classes = classify(&g);
    Ok(Analysed {
        path: path.into(),
        g,
        dom,
        classes,
    })
}

pub(super) fn total_size(g: &Graph) -> u64 {
    (0..g.nodes()).map(|n| g.size(n)).sum()
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
pub(super) fn rows(names: &[String], t: &[Totals], top: usize) -> Vec<(usize, Totals)> {
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

pub(super) fn row_json(name: &str, t: &Totals) -> Value {
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
        "selfSize": g.size(n),
        "retainedSize": a.dom.retained[n],
    })
}

/// Shortest paths (BFS over edges that are not weak) from the root to each
/// target's representative node.
pub(super) fn retainer_paths(
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
    let chains: Vec<Vec<(usize, usize)>> = targets
        .iter()
        .map(|(_, t)| {
            let mut chain = Vec::new();
            let mut n = t.top_node as usize;
            while n != 0 && from[n] != NONE && chain.len() < count {
                chain.push((n, via[n] as usize));
                n = from[n] as usize;
            }
            chain.reverse();
            chain
        })
        .collect();
    // The names of the edges shown, read again from the file.
    let mut wanted: Vec<u32> = chains.iter().flatten().map(|&(_, e)| e as u32).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let names = read_edge_names(a, &wanted, cancelled)?;
    let edge_name = |e: usize| {
        let i = wanted.binary_search(&(e as u32)).expect("a wanted edge");
        let t = g.edge_type[e];
        if g.layout.edge_name_is_index(t) {
            json!(names[i])
        } else {
            json!(g.strings.get(u32::try_from(names[i]).unwrap_or(u32::MAX)))
        }
    };
    let mut out = Vec::new();
    for ((class, t), chain) in targets.iter().zip(&chains) {
        let reached = from[t.top_node as usize] != NONE;
        let steps: Vec<Value> = chain
            .iter()
            .map(|&(n, e)| {
                json!({
                    "edge": { "type": g.layout.edge_types[g.edge_type[e] as usize], "name": edge_name(e) },
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

/// The `name_or_index` of edges `wanted` (ascending), read again from the
/// file (its edge names are not kept in memory).
fn read_edge_names(a: &Analysed, wanted: &[u32], cancelled: &dyn Fn() -> bool) -> Out<Vec<u64>> {
    let path = a.path.as_str();
    let mut file = File::open(path).map_err(|e| file_error(path, "open", &e))?;
    file.seek(SeekFrom::Start(a.g.edges_at))
        .map_err(|e| file_error(path, "read", &e))?;
    parse::edge_names(file, a.g.edges_at, &a.g.layout, wanted, cancelled).map_err(|e| match e {
        Bad::Cancelled => Failure::Cancelled,
        Bad::Io(e) => file_error(path, "read", &e).into(),
        Bad::At { offset, reason } => Error::HeapSnapshot {
            file: path.into(),
            offset: Some(offset),
            reason: format!("on a second read (did the file change?): {reason}"),
        }
        .into(),
    })
}
