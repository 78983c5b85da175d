//! The parser on tiny hand-written snapshots, the dominator tree on small
//! graphs, and the id diff.
//!
//! Over 500 lines: every case builds its snapshot with the same few
//! builders at the top, which a split would have to share or copy.

use super::classes::{classify, totals};
use super::diff::diff;
use super::dominators::dominators;
use super::parse::{parse, Graph, Keep, ParseError};
use super::reader::Bad;
use super::report::{summary, By, Failure, SummaryOptions};
use serde_json::Value;
use std::path::PathBuf;

const META: &str = r#"{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":[],"location_fields":[],"sample_fields":[]}"#;

// Type codes of META.
const HIDDEN: u32 = 0;
const OBJECT: u32 = 3;
const STRING: u32 = 2;
const CLOSURE: u32 = 5;
const SYNTHETIC: u32 = 9;
// Edge type codes.
const ELEMENT: u32 = 1;
const PROPERTY: u32 = 2;
const SHORTCUT: u32 = 5;
const WEAK: u32 = 6;

/// A node: (type, name string, id, self size); edges: (from, type, name, to).
struct Snap {
    nodes: Vec<(u32, u32, u32, u64)>,
    edges: Vec<(usize, u32, u32, usize)>,
    strings: Vec<String>,
}

impl Snap {
    fn json(&self) -> String {
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let count = self.edges.iter().filter(|e| e.0 == i).count();
            nodes.push(format!("{},{},{},{},{},0,0", n.0, n.1, n.2, n.3, count));
        }
        let mut edges = Vec::new();
        for i in 0..self.nodes.len() {
            for e in self.edges.iter().filter(|e| e.0 == i) {
                edges.push(format!("{},{},{}", e.1, e.2, e.3 * 7));
            }
        }
        format!(
            "{{\"snapshot\":{{\"meta\":{META},\"node_count\":{},\"edge_count\":{}}},\n\"nodes\":[{}],\n\"edges\":[{}],\"trace_function_infos\":[],\"trace_tree\":[],\"samples\":[],\"locations\":[],\n\"strings\":{}}}",
            self.nodes.len(),
            edges.len(),
            nodes.join(",\n"),
            edges.join(",\n"),
            serde_json::to_string(&self.strings).unwrap()
        )
    }
}

fn never() -> bool {
    false
}

fn graph(text: &str) -> Graph {
    match parse(text.as_bytes(), text.len() as u64, Keep::All, &never) {
        Ok(g) => g,
        Err(ParseError::Bad(Bad::At { offset, reason })) => panic!("{reason} at {offset}"),
        Err(_) => panic!("parse failed"),
    }
}

fn failure(text: &[u8]) -> (Option<u64>, String) {
    match parse(text, text.len() as u64, Keep::All, &never) {
        Ok(_) => panic!("parsed"),
        Err(ParseError::Bad(Bad::At { offset, reason })) => (Some(offset), reason),
        Err(ParseError::Layout(reason)) => (None, format!("layout: {reason}")),
        Err(_) => panic!("other failure"),
    }
}

/// Names: 0 "", 1 "(GC roots)", 2 "A", 3 "B", 4 "C", 5 "D", 6 "x".
fn strings() -> Vec<String> {
    ["", "(GC roots)", "A", "B", "C", "D", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Root (0) plus objects 1.. named by `names` (string index), sizes 10, 20, ...
fn objects(names: &[u32], edges: Vec<(usize, u32, u32, usize)>) -> Snap {
    let mut nodes = vec![(SYNTHETIC, 0, 1, 0)];
    for (i, &n) in names.iter().enumerate() {
        nodes.push((OBJECT, n, 3 + 2 * i as u32, 10 * (i as u64 + 1)));
    }
    Snap {
        nodes,
        edges,
        strings: strings(),
    }
}

fn idoms(s: &Snap) -> (Vec<u32>, Vec<u64>) {
    let g = graph(&s.json());
    let d = dominators(&g, |_| false, &never).unwrap();
    (d.idom, d.retained)
}

#[test]
fn parses_columns_by_meta_positions() {
    let s = objects(&[2, 3], vec![(0, ELEMENT, 1, 1), (1, PROPERTY, 6, 2)]);
    let g = graph(&s.json());
    assert_eq!(g.nodes(), 3);
    assert_eq!(g.node_id, vec![1, 3, 5]);
    assert_eq!(g.self_size, vec![0, 10, 20]);
    assert_eq!(g.size(2), 20);
    assert_eq!(g.first_edge, vec![0, 1, 2, 2]);
    assert_eq!(g.edge_to, vec![1, 2]);
    assert_eq!(g.strings.get(6), "x");

    // The same graph with the node columns in another order.
    let text = s.json().replace(
        r#"["type","name","id","self_size","edge_count","trace_node_id","detachedness"]"#,
        r#"["id","type","name","self_size","edge_count","trace_node_id","detachedness"]"#,
    );
    let text = text
        .replace(r#""node_types":[["#, r#""node_types":["number",["#)
        .replace(
            r#""string","number","number","number","number","number"],"edge_fields""#,
            r#""string","number","number","number","number"],"edge_fields""#,
        );
    let text = text.replace(
        "\"nodes\":[9,0,1,0,1,0,0,\n3,2,3,10,1,0,0,\n3,3,5,20,0,0,0]",
        "\"nodes\":[1,9,0,0,1,0,0,\n3,3,2,10,1,0,0,\n5,3,3,20,0,0,0]",
    );
    let h = graph(&text);
    assert_eq!(h.node_id, g.node_id);
    assert_eq!(h.node_type, g.node_type);
    assert_eq!(h.node_name, g.node_name);
}

#[test]
fn sizes_of_4_gib_and_more_are_kept() {
    let mut s = objects(&[2, 3], vec![(0, ELEMENT, 1, 1), (1, PROPERTY, 6, 2)]);
    s.nodes[2].3 = 5_000_000_000;
    s.nodes[1].3 = u64::from(u32::MAX);
    let g = graph(&s.json());
    assert_eq!(g.size(2), 5_000_000_000);
    assert_eq!(g.size(1), u64::from(u32::MAX));
    let d = dominators(&g, |_| false, &never).unwrap();
    assert_eq!(d.retained[0], 5_000_000_000 + u64::from(u32::MAX));
}

#[test]
fn decodes_string_escapes_and_lone_surrogates() {
    let mut s = objects(&[2], vec![(0, ELEMENT, 1, 1)]);
    s.strings = strings();
    let text = s.json().replace(
        "\"x\"]",
        r#""x","caf\u00e9 \ud83d\ude00 \"q\"\\\n","lone \ud800 end","lone2 \udc00\ud800\n"]"#,
    );
    let g = graph(&text);
    assert_eq!(g.strings.get(7), "café 😀 \"q\"\\\n");
    assert_eq!(g.strings.get(8), "lone \u{FFFD} end");
    assert_eq!(g.strings.get(9), "lone2 \u{FFFD}\u{FFFD}\n");
}

#[test]
fn long_strings_no_class_needs_are_cut() {
    let long = "y".repeat(5000);
    let mut s = objects(&[7], vec![(0, ELEMENT, 1, 1)]);
    s.nodes.push((2, 8, 99, 5000)); // a string node: its name is its text
    s.strings.push(long.clone());
    s.strings.push(long.clone());
    let g = graph(&s.json());
    assert_eq!(g.strings.get(7), long, "an object's name is kept whole");
    assert_eq!(g.strings.get(8).len(), super::parse::SHOWN);
}

#[test]
fn rejects_bad_files_with_offsets() {
    let good = objects(&[2], vec![(0, ELEMENT, 1, 1)]).json();
    assert_eq!(failure(b"").1, "the file is empty");
    let (at, why) = failure(&[0x1f, 0x8b, 8, 0, 0, 0]);
    assert_eq!(at, Some(0));
    assert!(why.contains("gzip"), "{why}");
    let (at, why) = failure(b"\0\0\0\0");
    assert_eq!(at, Some(0));
    assert!(why.contains("byte 0x00"), "{why}");
    let (_, why) = failure(b"[1,2]");
    assert!(why.contains("expected '{'"), "{why}");
    // Truncated anywhere: a clear message at the end of what is there.
    for cut in [10, good.len() / 2, good.len() - 3] {
        let (at, why) = failure(&good.as_bytes()[..cut]);
        assert!(why.contains("truncated"), "{cut}: {why}");
        assert_eq!(at, Some(cut as u64), "{cut}");
    }
    let (_, why) = failure(good.replace("\"nodes\":[9,", "\"nodes\":[-9,").as_bytes());
    assert!(why.contains("non-negative integer"), "{why}");
    let (_, why) = failure(
        good.replace("\"nodes\":[9,0,1,0,1", "\"nodes\":[9,0,1,0.5,1")
            .as_bytes(),
    );
    assert!(why.contains("fraction"), "{why}");
    let (_, why) = failure(br#"{"nodes":[1,2]}"#);
    assert!(why.contains("before the 'snapshot' header"), "{why}");
    let (_, why) = failure(
        good.replace(",\n\"strings\":[", ",\n\"other\":[")
            .as_bytes(),
    );
    assert!(why.contains("no 'strings'"), "{why}");
    // An edge past the last node, edge counts that do not add up.
    let (_, why) = failure(
        good.replace("\"edges\":[1,1,7]", "\"edges\":[1,1,70]")
            .as_bytes(),
    );
    assert!(why.contains("points to node 10"), "{why}");
    let (_, why) = failure(
        good.replace("\"edges\":[1,1,7]", "\"edges\":[1,1,8]")
            .as_bytes(),
    );
    assert!(why.contains("not a multiple"), "{why}");
}

#[test]
fn a_lying_header_allocates_nothing_and_is_caught() {
    let good = objects(&[2], vec![(0, ELEMENT, 1, 1)]).json();
    // 2^40 nodes claimed: capacity is bounded by the file size, and the
    // count is checked against what the file holds.
    let text = good.replace("\"node_count\":2", "\"node_count\":1099511627776");
    let (_, why) = failure(text.as_bytes());
    assert!(why.contains("says 1099511627776 nodes"), "{why}");
}

#[test]
fn skips_deeply_nested_sections_and_refuses_names_past_the_strings() {
    let good = objects(&[2], vec![(0, ELEMENT, 1, 1)]).json();
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let text = good.replace("\"trace_tree\":[]", &format!("\"trace_tree\":{deep}"));
    assert_eq!(graph(&text).nodes(), 2);
    // A name index of 4e9 neither sizes a table nor passes.
    let text = good.replace("3,2,3,10,0,0,0", "3,4000000000,3,10,0,0,0");
    let (_, why) = failure(text.as_bytes());
    assert!(why.contains("name is string 4000000000"), "{why}");
}

#[test]
fn unknown_layouts_are_layout_errors() {
    let good = objects(&[2], vec![(0, ELEMENT, 1, 1)]).json();
    let no_size = good.replace("\"self_size\",", "\"size\",");
    let (at, why) = failure(no_size.as_bytes());
    assert_eq!(at, None);
    assert!(
        why.starts_with("layout:") && why.contains("'self_size'"),
        "{why}"
    );
    let no_weak = good.replace("\"shortcut\",\"weak\"", "\"shortcut\",\"feeble\"");
    assert!(failure(no_weak.as_bytes()).1.contains("'weak'"));
    let flat = good.replace(
        r#""node_types":[["hidden""#,
        r#""node_types":["x",["hidden""#,
    );
    assert!(failure(flat.as_bytes()).1.starts_with("layout:"));
}

#[test]
fn dominators_of_a_diamond_a_cycle_and_weak_edges() {
    // Diamond: root -> A, root -> B, A -> C, B -> C: C's dominator is the root.
    let s = objects(
        &[2, 3, 4],
        vec![
            (0, ELEMENT, 1, 1),
            (0, ELEMENT, 2, 2),
            (1, PROPERTY, 6, 3),
            (2, PROPERTY, 6, 3),
        ],
    );
    let (idom, retained) = idoms(&s);
    assert_eq!(idom, vec![0, 0, 0, 0]);
    assert_eq!(retained, vec![60, 10, 20, 30]);

    // Chain with a cycle back: root -> A -> B -> C -> A.
    let s = objects(
        &[2, 3, 4],
        vec![
            (0, ELEMENT, 1, 1),
            (1, PROPERTY, 6, 2),
            (2, PROPERTY, 6, 3),
            (3, PROPERTY, 6, 1),
        ],
    );
    let (idom, retained) = idoms(&s);
    assert_eq!(idom, vec![0, 0, 1, 2]);
    assert_eq!(retained, vec![60, 60, 50, 30]);

    // A weak edge retains nothing: root -> A -> B, root -weak-> B, A -weak-> C,
    // and C, reached only weakly, hangs under the root.
    let s = objects(
        &[2, 3, 4],
        vec![
            (0, ELEMENT, 1, 1),
            (1, PROPERTY, 6, 2),
            (0, WEAK, 2, 2),
            (1, WEAK, 3, 3),
        ],
    );
    let (idom, retained) = idoms(&s);
    assert_eq!(idom, vec![0, 0, 1, 0]);
    assert_eq!(retained, vec![60, 30, 20, 30]);

    // A shortcut retains only from the root: A -shortcut-> C and B -> C make
    // B C's dominator.
    let s = objects(
        &[2, 3, 4],
        vec![
            (0, ELEMENT, 1, 1),
            (0, ELEMENT, 2, 2),
            (1, SHORTCUT, 6, 3),
            (2, PROPERTY, 6, 3),
        ],
    );
    let (idom, _) = idoms(&s);
    assert_eq!(idom[3], 2);
}

#[test]
fn classes_follow_devtools_and_retained_counts_outermost_only() {
    // root -> A1 -> A2 -> B; root -> closure; a hidden node under A1.
    let mut s = objects(
        &[2, 2, 3],
        vec![
            (0, ELEMENT, 1, 1),
            (1, PROPERTY, 6, 2),
            (2, PROPERTY, 6, 3),
            (0, ELEMENT, 2, 4),
            (1, PROPERTY, 6, 5),
        ],
    );
    s.nodes.push((CLOSURE, 6, 101, 7));
    s.nodes.push((HIDDEN, 6, 103, 3));
    let g = graph(&s.json());
    let d = dominators(&g, |_| false, &never).unwrap();
    let c = classify(&g);
    let t = totals(&g, &c, &d, |_| true);
    let get = |name: &str| {
        let i = c.names.iter().position(|n| n == name).unwrap();
        t[i]
    };
    let a = get("A");
    assert_eq!((a.count, a.self_size), (2, 30));
    // A1 retains A1 + A2 + B + hidden = 10 + 20 + 30 + 3; A2 is inside A1.
    assert_eq!(a.retained, 63);
    assert_eq!(get("B").retained, 30);
    assert_eq!(get("(closure)").count, 1);
    assert_eq!(get("(system)").self_size, 3);
    assert_eq!(get("(synthetic)").retained, 70);

    // A detached object (detachedness 2) is its own class, as in memlab.
    let text = s.json().replace("3,2,3,10,2,0,0", "3,2,3,10,2,0,2");
    let g = graph(&text);
    let c = classify(&g);
    assert_eq!(c.names[c.of[1] as usize], "Detached A");
    assert_eq!(c.names[c.of[2] as usize], "A");
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nodeperf-heap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn ok(r: Result<String, Failure>) -> Value {
    match r {
        Ok(s) => serde_json::from_str(&s).unwrap(),
        Err(Failure::Error(e)) => panic!("{e}"),
        Err(Failure::Cancelled) => panic!("cancelled"),
    }
}

fn err(r: Result<String, Failure>) -> crate::error::Error {
    match r {
        Err(Failure::Error(e)) => e,
        _ => panic!("expected an error"),
    }
}

#[test]
fn summary_report_and_paths() {
    let s = objects(
        &[2, 2, 3],
        vec![(0, ELEMENT, 1, 1), (1, PROPERTY, 6, 2), (2, PROPERTY, 6, 3)],
    );
    let p = write("summary.heapsnapshot", &s.json());
    let opts = SummaryOptions {
        top: usize::MAX,
        paths: 2,
    };
    let v = ok(summary(p.to_str().unwrap(), opts, &never));
    assert_eq!(v["nodes"], 4);
    assert_eq!(v["edges"], 3);
    assert_eq!(v["totalSize"], 60);
    let first = &v["constructors"][0];
    assert_eq!(first["name"], "(synthetic)");
    assert_eq!(v["constructors"][1]["name"], "A");
    assert_eq!(v["constructors"][1]["retainedSize"], 60);
    let path = &v["retainerPaths"][0];
    assert_eq!(path["constructor"], "A");
    assert_eq!(path["path"].as_array().unwrap().len(), 1);
    let b = &v["retainerPaths"][1];
    assert_eq!(b["constructor"], "B");
    let steps = b["path"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2]["edge"]["name"], "x");
    assert_eq!(steps[2]["node"]["id"], 7);
    assert_eq!(steps[0]["edge"]["type"], "element");
    assert_eq!(steps[0]["edge"]["name"], 1);

    let top1 = ok(summary(
        p.to_str().unwrap(),
        SummaryOptions { top: 1, paths: 0 },
        &never,
    ));
    assert_eq!(top1["constructors"].as_array().unwrap().len(), 1);
    assert_eq!(top1["retainerPaths"].as_array().unwrap().len(), 0);

    let e = err(summary("/nonexistent/x.heapsnapshot", opts, &never));
    assert_eq!(e.code(), "ENOENT");
    let e = err(summary(
        std::env::temp_dir().to_str().unwrap(),
        opts,
        &never,
    ));
    assert_eq!(e.code(), "EISDIR");
    let bad = write("bad.heapsnapshot", "{\"snapshot\":");
    let e = err(summary(bad.to_str().unwrap(), opts, &never));
    assert_eq!(e.code(), "ERR_NODEPERF_HEAP_SNAPSHOT");
    assert!(e.to_string().contains("at byte 12"), "{e}");
    let cancelled = || true;
    let big = "{\"snapshot\":".to_string() + &" ".repeat(3 << 20);
    let slow = write("slow.heapsnapshot", &big);
    assert!(matches!(
        summary(slow.to_str().unwrap(), opts, &cancelled),
        Err(Failure::Cancelled)
    ));
}

#[test]
fn id_diff_finds_new_objects_and_rejects_other_processes() {
    // A: root -> A(3) -> B(5). B: the same plus C(7), D(9) under A, and a new B(11).
    let a = objects(&[2, 3], vec![(0, ELEMENT, 1, 1), (1, PROPERTY, 6, 2)]);
    let b = objects(
        &[2, 3, 4, 5, 3],
        vec![
            (0, ELEMENT, 1, 1),
            (1, PROPERTY, 6, 2),
            (1, PROPERTY, 6, 3),
            (3, PROPERTY, 6, 4),
            (1, PROPERTY, 6, 5),
        ],
    );
    let pa = write("a.heapsnapshot", &a.json());
    let pb = write("b.heapsnapshot", &b.json());
    let (pa, pb) = (pa.to_str().unwrap(), pb.to_str().unwrap());
    let v = ok(diff(pa, pb, By::Id, usize::MAX, 3, &never));
    assert_eq!(v["added"]["count"], 3);
    // C (30) retains D (40); the new B is 50.
    assert_eq!(v["added"]["selfSize"], 120);
    assert_eq!(v["added"]["retainedSize"], 120);
    assert_eq!(v["removed"]["count"], 0);
    let rows = v["constructors"].as_array().unwrap();
    let row = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(row("C")["retainedSize"], 70);
    assert_eq!(row("D")["count"], 1);
    assert_eq!(row("B")["count"], 1);
    assert!(rows.iter().all(|r| r["name"] != "A"));
    // The new objects' own bytes first: B (50), D (40), C (30).
    let order: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["B", "D", "C"]);
    // Paths lead from the root to a new object of the top constructors.
    let paths = v["retainerPaths"].as_array().unwrap();
    assert_eq!(paths.len(), 3);
    assert_eq!(paths[0]["constructor"], "B");
    assert_eq!(paths[0]["node"]["id"], 11);
    let steps: Vec<u64> = paths[0]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [3, 11]);
    assert_eq!(paths[1]["node"]["id"], 9);
    let none = ok(diff(pa, pb, By::Id, 1, 0, &never));
    assert_eq!(none["constructors"].as_array().unwrap().len(), 1);
    assert_eq!(none["retainerPaths"].as_array().unwrap().len(), 0);

    let by_class = ok(diff(pa, pb, By::Constructor, usize::MAX, 3, &never));
    let rows = by_class["constructors"].as_array().unwrap();
    // Largest self-size growth first: B (+50), D (+40), then C (+30).
    let order: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(order[0], "B");
    assert_eq!(order[1], "D");
    let b_row = rows.iter().find(|r| r["name"] == "B").unwrap();
    assert_eq!(b_row["count"], 1.0);
    assert_eq!(b_row["before"]["count"], 1);

    // Another process: the same ids name other objects.
    let many = |first: u32| {
        let names: Vec<u32> = (0..200).map(|i| first + (i % 2)).collect();
        let edges = (1..=200).map(|i| (0, ELEMENT, i as u32, i)).collect();
        objects(&names, edges)
    };
    let x = write("x.heapsnapshot", &many(2).json());
    let y = write("y.heapsnapshot", &many(4).json());
    let e = err(diff(
        x.to_str().unwrap(),
        y.to_str().unwrap(),
        By::Id,
        usize::MAX,
        3,
        &never,
    ));
    assert_eq!(e.code(), "ERR_NODEPERF_HEAP_DIFFERENT_PROCESS");
    assert!(e.to_string().contains("by: 'constructor'"), "{e}");
    // The same process, given newest first.
    let mut newer = many(2);
    newer.nodes.push((OBJECT, 2, 9999, 1));
    let n = write("n.heapsnapshot", &newer.json());
    let e = err(diff(
        n.to_str().unwrap(),
        x.to_str().unwrap(),
        By::Id,
        usize::MAX,
        3,
        &never,
    ));
    assert!(e.to_string().contains("older"), "{e}");
    assert!(
        ok(diff(
            x.to_str().unwrap(),
            n.to_str().unwrap(),
            By::Id,
            5,
            3,
            &never
        ))["added"]["count"]
            == 1
    );
}

/// Root, then `texts.len()` strings under it, the i-th with id `ids[i]`.
fn strings_snap(texts: &[String], ids: &[u32]) -> Snap {
    let mut nodes = vec![(SYNTHETIC, 0, 1, 0)];
    let mut strings = strings();
    let mut edges = Vec::new();
    for (i, (t, &id)) in texts.iter().zip(ids).enumerate() {
        strings.push(t.clone());
        nodes.push((STRING, strings.len() as u32 - 1, id, 16));
        edges.push((0, ELEMENT, i as u32, i + 1));
    }
    Snap {
        nodes,
        edges,
        strings,
    }
}

#[test]
fn id_diff_rejects_renumbered_ids() {
    // 200 strings, then the same process renumbered: each string's id
    // shifted by one object after the 20th (a new object came first), as
    // V8's ids are when it starts them afresh. Kinds still agree (all
    // strings), so only the strings' texts show it. (The last one's new
    // id is above A's ids: 179 moved within A's range.)
    let texts: Vec<String> = (0..200).map(|i| format!("text {i}")).collect();
    let ids_a: Vec<u32> = (0..200).map(|i| 3 + 2 * i).collect();
    let ids_b: Vec<u32> = (0..200)
        .map(|i| if i < 20 { 3 + 2 * i } else { 5 + 2 * i })
        .collect();
    let a = write("ra.heapsnapshot", &strings_snap(&texts, &ids_a).json());
    let b = write("rb.heapsnapshot", &strings_snap(&texts, &ids_b).json());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let e = err(diff(a, b, By::Id, usize::MAX, 0, &never));
    assert_eq!(e.code(), "ERR_NODEPERF_HEAP_DIFFERENT_PROCESS");
    let m = e.to_string();
    assert!(m.contains("179 have another id"), "{m}");
    assert!(
        m.contains("renumbered") && m.contains("different processes"),
        "{m}"
    );
    assert!(m.contains("by: 'constructor'"), "{m}");
    // The same strings with their ids kept, plus 10 new ones: fine.
    let mut more = texts.clone();
    more.extend((0..10).map(|i| format!("new {i}")));
    let mut ids_c = ids_a.clone();
    ids_c.extend((0..10).map(|i| 1001 + 2 * i));
    let c = write("rc.heapsnapshot", &strings_snap(&more, &ids_c).json());
    let v = ok(diff(a, c.to_str().unwrap(), By::Id, usize::MAX, 0, &never));
    assert_eq!(v["added"]["count"], 10);
    // A string made again after A (its text the same, its id newer) is no
    // sign of renumbering.
    let mut ids_d = ids_a.clone();
    for id in ids_d.iter_mut().skip(150) {
        *id += 1000;
    }
    let d = write("rd.heapsnapshot", &strings_snap(&texts, &ids_d).json());
    let v = ok(diff(a, d.to_str().unwrap(), By::Id, usize::MAX, 0, &never));
    assert_eq!(v["added"]["count"], 50);
    // Every id renumbered from above A's: the oldest strings moved too.
    let ids_e: Vec<u32> = ids_a.iter().map(|id| id + 1000).collect();
    let e = write("re.heapsnapshot", &strings_snap(&texts, &ids_e).json());
    let m = err(diff(a, e.to_str().unwrap(), By::Id, usize::MAX, 0, &never)).to_string();
    assert!(m.contains("of the 200 oldest strings"), "{m}");
    assert!(m.contains("200 have another id"), "{m}");
}
