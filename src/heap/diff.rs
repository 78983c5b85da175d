//! `heap.diff`: by object id (what is new in the newer snapshot, and
//! whether the two can be compared by id at all), or by constructor.
#![forbid(unsafe_code)]

use super::classes::{totals, Classes, Totals};
use super::parse::{Graph, Keep};
use super::report::{analyse, load, retainer_paths, row_json, total_size, By, Out};
use crate::error::Error;
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

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
/// Below this many strings held once by both snapshots the renumbering
/// check says nothing.
const ANCHOR_MIN: u64 = 50;

/// Why ids may not match, named in every refusal: the two causes look alike.
const CAUSES: &str = "the snapshots come from different processes, or V8 renumbered the object ids of one process between them (it starts them afresh when an in-process inspector session closes, e.g. after HeapProfiler.takeHeapSnapshot or the sampling heap profiler's HeapProfiler.startSampling + getSamplingProfile)";

/// The `string` nodes of `g` whose text no other `string` node has: hash of
/// the text → id. (Equal texts share one string index within a file.)
fn unique_strings(g: &Graph) -> HashMap<u64, u32> {
    let Some(t) = g.layout.node_types.iter().position(|t| t == "string") else {
        return HashMap::new();
    };
    let mut seen: HashMap<u32, (u32, bool)> = HashMap::new();
    for n in 0..g.nodes() {
        if g.node_type[n] as usize == t {
            seen.entry(g.node_name[n])
                .and_modify(|e| e.1 = false)
                .or_insert((g.node_id[n], true));
        }
    }
    seen.into_iter()
        .filter(|(_, (_, once))| *once)
        .map(|(name, (id, _))| {
            let mut h = DefaultHasher::new();
            g.strings.get(name).hash(&mut h);
            (h.finish(), id)
        })
        .collect()
}

/// The oldest anchors looked at for ids renumbered upwards.
const OLDEST: usize = 1000;

/// Renumbered ids, as seen by the strings each snapshot holds exactly once
/// (the same text, so almost always the same long-lived object: property
/// names, source identifiers).
struct Anchors {
    /// Strings held once by both.
    both: u64,
    /// Those with another id in B, one from A's range (a string created
    /// after A would have a newer id). Within one numbering none do; after
    /// V8 restarts its ids, every object past the first difference in the
    /// two snapshots' order does.
    moved: u64,
    /// Of the `oldest` with the lowest ids in A (the process's first:
    /// the runtime's own names, which live as long as it does), those with
    /// another id in B, in any range: ids renumbered from a higher start.
    oldest: u64,
    oldest_moved: u64,
}

fn anchors(a: &Graph, b: &Graph, max_a: u32) -> Anchors {
    let (ua, ub) = (unique_strings(a), unique_strings(b));
    let mut pairs: Vec<(u32, u32)> = ub
        .iter()
        .filter_map(|(h, &id_b)| ua.get(h).map(|&id_a| (id_a, id_b)))
        .collect();
    let both = pairs.len() as u64;
    let moved = pairs
        .iter()
        .filter(|&&(id_a, id_b)| id_a != id_b && id_b <= max_a)
        .count() as u64;
    let k = pairs.len().min(OLDEST);
    if k > 0 {
        pairs.select_nth_unstable(k - 1);
    }
    let oldest_moved = pairs[..k].iter().filter(|p| p.0 != p.1).count() as u64;
    Anchors {
        both,
        moved,
        oldest: k as u64,
        oldest_moved,
    }
}

/// `heap.diff(a, b)`.
pub fn diff(
    a_path: &str,
    b_path: &str,
    by: By,
    top: usize,
    paths: usize,
    cancelled: &dyn Fn() -> bool,
) -> Out<String> {
    match by {
        By::Id => diff_by_id(a_path, b_path, top, paths, cancelled),
        By::Constructor => diff_by_constructor(a_path, b_path, top, cancelled),
    }
}

fn side(path: &str, g: &Graph) -> Value {
    json!({ "file": path, "nodes": g.nodes(), "totalSize": total_size(g) })
}

fn diff_by_id(
    a_path: &str,
    b_path: &str,
    top: usize,
    paths: usize,
    cancelled: &dyn Fn() -> bool,
) -> Out<String> {
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
    // A's objects still in B, to count those that are gone.
    let mut kept = vec![false; old.g.nodes()];
    for (n, new) in is_new.iter_mut().enumerate() {
        if g.node_type[n] == g.layout.t_synthetic {
            // The root and the GC-root groups: structure, not objects.
            continue;
        }
        match old.find(g.node_id[n]) {
            None => *new = true,
            Some(o) => {
                kept[o] = true;
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
    // Renumbered (or another process): strings both hold once moved to
    // other ids of A's range. Checked first: its evidence is the plainest.
    let an = anchors(&old.g, g, max_a);
    let (both, moved) = (an.both, an.moved);
    if both >= ANCHOR_MIN && moved * 20 >= both {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "of the {both} strings each snapshot holds once, {moved} have another id in the second than in the first (an id the first gave another object), so {CAUSES}"
            ),
        }
        .into());
    }
    let (oldest, oldest_moved) = (an.oldest, an.oldest_moved);
    if oldest >= ANCHOR_MIN && oldest_moved * 2 >= oldest {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "of the {oldest} oldest strings each snapshot holds once (the process's own names, which outlive any snapshot), {oldest_moved} have another id in the second, so {CAUSES}"
            ),
        }
        .into());
    }
    if shared >= CHECK_MIN && agree * 2 < shared {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "of the {shared} object ids the two snapshots share, only {agree} name the same kind of object in both, so {CAUSES}"
            ),
        }
        .into());
    }
    if max_b < max_a && shared >= CHECK_MIN {
        return Err(Error::HeapDifferentProcess {
            reason: format!(
                "the second snapshot ({b_path}, newest object id {max_b}) is older than the first ({a_path}, newest id {max_a}): give the older snapshot first (or {CAUSES})"
            ),
        }
        .into());
    }
    let removed = (0..old.g.nodes())
        .filter(|&o| !kept[o] && old.g.node_type[o] != ol.t_synthetic)
        .count();
    let t = totals(g, &b.classes, &b.dom, |n| is_new[n]);
    // All new objects together, counted once each under the same rule.
    let one = Classes {
        of: vec![0; g.nodes()],
        names: vec![String::new()],
    };
    let all = totals(g, &one, &b.dom, |n| is_new[n]);
    let all = all[0];
    // The new objects' own bytes first: what was allocated and kept. (A
    // retained size can be mostly old objects now held through a new one,
    // as a grown array's new backing store holds its old entries.)
    let names = &b.classes.names;
    let mut order: Vec<(usize, Totals)> = t
        .iter()
        .enumerate()
        .filter(|(_, t)| t.count > 0)
        .map(|(i, t)| (i, *t))
        .collect();
    order.sort_by(|p, q| {
        q.1.self_size
            .cmp(&p.1.self_size)
            .then(q.1.count.cmp(&p.1.count))
            .then_with(|| names[p.0].cmp(&names[q.0]))
    });
    let listed: Vec<Value> = order
        .iter()
        .take(top)
        .map(|(i, t)| row_json(&names[*i], t))
        .collect();
    // Where the largest added constructors hang: a path from the root in B
    // to each one's new object that retains the most.
    order.truncate(paths);
    let retainer = retainer_paths(&b, &order, cancelled)?;
    let out = json!({
        "by": "id",
        "a": side(a_path, &old.g),
        "b": side(b_path, g),
        "added": { "count": all.count, "selfSize": all.self_size, "retainedSize": all.retained },
        "removed": { "count": removed },
        "constructors": listed,
        "retainerPaths": retainer,
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
    // Growth first, as a leak hunter reads it: the largest self-size
    // increase, then the largest count increase; shrinking ones last.
    names.sort_by(|p, q| {
        let (pc, ps, pr, _, _) = delta(p);
        let (qc, qs, qr, _, _) = delta(q);
        qs.cmp(&ps)
            .then(qc.cmp(&pc))
            .then(qr.cmp(&pr))
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
