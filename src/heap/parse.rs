//! A `.heapsnapshot` read in one streaming pass into compact columns (see
//! `README.md` beside this file): the `snapshot` header through serde_json,
//! `nodes` and `edges` straight into integer columns, `strings` last, kept
//! whole only where a class name needs them.
#![forbid(unsafe_code)]

pub use super::edges::edge_names;
use super::edges::{read_edges, EdgeCols};
pub use super::layout::Layout;
use super::reader::{Bad, Reader};
pub use super::strings::Strings;
use serde_json::Value;
use std::io::Read;

/// The `snapshot` header is small (meta plus counts); more is not a snapshot.
const MAX_HEADER: usize = 1 << 20;
/// Bytes kept of a string no class name needs (shown in retainer paths).
pub const SHOWN: usize = 200;

/// What to keep of the graph.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Everything (summary, and the newer side of a diff).
    All,
    /// Nodes and strings only (the older side of an id diff; edges are
    /// checked, then dropped).
    NodesOnly,
}

/// A parsed snapshot: node columns, edge columns (by source node, in file
/// order), strings.
pub struct Graph {
    pub layout: Layout,
    pub file_size: u64,
    pub node_type: Vec<u8>,
    pub node_name: Vec<u32>,
    pub node_id: Vec<u32>,
    /// Self sizes; `u32::MAX` means "look in `big_sizes`".
    pub self_size: Vec<u32>,
    /// (node, size) of the rare nodes of 4 GiB or more, by node.
    pub big_sizes: Vec<(u32, u64)>,
    /// Whether each node is a detached DOM/embedder node (`detachedness`
    /// 2); empty when the layout has no such field.
    pub detached: Vec<bool>,
    /// `first_edge[i]..first_edge[i + 1]` are node `i`'s edges.
    pub first_edge: Vec<u32>,
    pub edge_type: Vec<u8>,
    /// Target node (its ordinal, not its offset in `nodes`).
    pub edge_to: Vec<u32>,
    pub edge_total: u64,
    /// Where the `edges` array starts in the file: edge names are not kept
    /// (4 bytes an edge), but read again for the few a report shows
    /// ([`edge_names`]).
    pub edges_at: u64,
    pub strings: Strings,
    /// Raw header fields worth reporting (title, counts).
    pub title: Option<String>,
}

impl Graph {
    pub fn nodes(&self) -> usize {
        self.node_type.len()
    }

    pub fn edges_of(&self, n: usize) -> std::ops::Range<usize> {
        self.first_edge[n] as usize..self.first_edge[n + 1] as usize
    }

    /// Node `n`'s self size.
    #[inline]
    pub fn size(&self, n: usize) -> u64 {
        match self.self_size[n] {
            u32::MAX => self
                .big_sizes
                .binary_search_by_key(&(n as u32), |p| p.0)
                .map_or(u64::from(u32::MAX), |i| self.big_sizes[i].1),
            s => u64::from(s),
        }
    }
}

/// How parsing failed.
pub enum ParseError {
    Bad(Bad),
    Layout(String),
}

impl From<Bad> for ParseError {
    fn from(b: Bad) -> Self {
        Self::Bad(b)
    }
}

fn at(offset: u64, reason: impl Into<String>) -> ParseError {
    ParseError::Bad(Bad::At {
        offset,
        reason: reason.into(),
    })
}

/// Capacity for `claimed` items of at least `min_bytes` each in a file of
/// `file_size` bytes: never more than the file can hold, whatever a header
/// says.
fn capacity(claimed: Option<u64>, min_bytes: u64, file_size: u64) -> usize {
    let can_hold = file_size / min_bytes.max(1);
    claimed.unwrap_or(0).min(can_hold).min(usize::MAX as u64) as usize
}

/// Reads a whole snapshot from `src` (`file_size` bytes long).
pub fn parse<R: Read>(
    src: R,
    file_size: u64,
    keep: Keep,
    cancelled: &dyn Fn() -> bool,
) -> Result<Graph, ParseError> {
    let mut r = Reader::new(src, cancelled);
    if let Some([0x1f, 0x8b]) = r.peek2()? {
        return Err(at(
            0,
            "it is gzip-compressed (starts with 1f 8b): decompress it first (gunzip)",
        ));
    }
    match r.ws()? {
        None => {
            return Err(at(
                r.offset(),
                if file_size == 0 {
                    "the file is empty"
                } else {
                    "the file holds only whitespace"
                },
            ))
        }
        Some(b'{') => {}
        Some(b) => {
            return Err(at(
                r.offset(),
                format!(
                    "expected '{{' opening a heap snapshot, found {}",
                    super::reader::show(b)
                ),
            ))
        }
    }
    r.expect(b'{', "'{'")?;
    let mut layout: Option<Layout> = None;
    let mut title = None;
    let mut nodes: Option<NodeCols> = None;
    let mut edges: Option<EdgeCols> = None;
    let mut strings: Option<Strings> = None;
    let mut key = Vec::new();
    if r.ws()? == Some(b'}') {
        return Err(at(r.offset(), "the top-level object is empty"));
    }
    loop {
        r.string(&mut key, 64)?;
        r.expect(b':', "':' after a key")?;
        let key_at = r.offset();
        match key.as_slice() {
            b"snapshot" => {
                let mut raw = Vec::new();
                r.capture(&mut raw, MAX_HEADER)?;
                let header: Value = serde_json::from_slice(&raw).map_err(|e| {
                    at(
                        key_at,
                        format!("the 'snapshot' header is not valid JSON: {e}"),
                    )
                })?;
                let l = Layout::from_header(&header).map_err(|e| ParseError::Layout(e.0))?;
                title = header
                    .get("title")
                    .and_then(Value::as_str)
                    .map(String::from);
                layout = Some(l);
            }
            b"nodes" => {
                let l = layout.as_ref().ok_or_else(|| {
                    at(
                        key_at,
                        "'nodes' comes before the 'snapshot' header that describes it",
                    )
                })?;
                nodes = Some(read_nodes(&mut r, l, file_size)?);
            }
            b"edges" => {
                let l = layout.as_ref().ok_or_else(|| {
                    at(
                        key_at,
                        "'edges' comes before the 'snapshot' header that describes it",
                    )
                })?;
                let cap = if keep == Keep::All {
                    capacity(l.edge_count, 2 * l.edge_fields.len() as u64, file_size)
                } else {
                    0
                };
                edges = Some(read_edges(&mut r, l, cap, keep == Keep::All)?);
            }
            b"strings" => {
                let (Some(l), Some(n)) = (layout.as_ref(), nodes.as_ref()) else {
                    return Err(at(key_at, "'strings' comes before 'nodes'"));
                };
                strings = Some(read_strings(&mut r, l, n, file_size)?);
            }
            _ => r.skip_value()?,
        }
        if !r.more(b'}')? {
            break;
        }
    }
    if let Some(b) = r.ws()? {
        return Err(at(
            r.offset(),
            format!(
                "unexpected {} after the snapshot's end",
                super::reader::show(b)
            ),
        ));
    }
    let end = r.offset();
    let missing = |what: &str| at(end, format!("it has no '{what}' section"));
    let layout = layout.ok_or_else(|| missing("snapshot"))?;
    let nodes = nodes.ok_or_else(|| missing("nodes"))?;
    let edges = edges.ok_or_else(|| missing("edges"))?;
    let strings = strings.ok_or_else(|| missing("strings"))?;
    assemble(layout, nodes, edges, strings, file_size, end, title)
}

struct NodeCols {
    kind: Vec<u8>,
    name: Vec<u32>,
    id: Vec<u32>,
    size: Vec<u32>,
    big_sizes: Vec<(u32, u64)>,
    edge_count: Vec<u32>,
    detached: Vec<bool>,
    /// Where the array ends in the file, for messages.
    end: u64,
}

fn read_nodes<R: Read>(
    r: &mut Reader<R>,
    l: &Layout,
    file_size: u64,
) -> Result<NodeCols, ParseError> {
    let nf = l.node_fields.len();
    // Each field takes at least two bytes ("0,").
    let cap = capacity(l.node_count, 2 * nf as u64, file_size);
    let mut c = NodeCols {
        kind: Vec::with_capacity(cap),
        name: Vec::with_capacity(cap),
        id: Vec::with_capacity(cap),
        size: Vec::with_capacity(cap),
        big_sizes: Vec::new(),
        edge_count: Vec::with_capacity(cap),
        detached: Vec::with_capacity(if l.n_detached.is_some() { cap } else { 0 }),
        end: 0,
    };
    let types = l.node_types.len() as u64;
    let mut col = 0;
    let u32_of = |v: u64, what: &str| {
        u32::try_from(v).map_err(|_| format!("a node's {what} ({v}) is over 2^32"))
    };
    r.uints("nodes", |v| {
        if col == l.n_type {
            if v >= types {
                return Err(format!("a node's type ({v}) is not in meta.node_types"));
            }
            c.kind.push(v as u8);
        } else if col == l.n_name {
            c.name.push(u32_of(v, "name")?);
        } else if col == l.n_id {
            c.id.push(u32_of(v, "id")?);
        } else if col == l.n_size {
            if v >= u64::from(u32::MAX) {
                c.big_sizes.push((c.size.len() as u32, v));
                c.size.push(u32::MAX);
            } else {
                c.size.push(v as u32);
            }
        } else if col == l.n_edges {
            c.edge_count.push(u32_of(v, "edge_count")?);
        } else if Some(col) == l.n_detached {
            c.detached.push(v == 2);
        }
        col += 1;
        if col == nf {
            col = 0;
        }
        Ok(())
    })?;
    c.end = r.offset();
    if col != 0 {
        return Err(at(
            c.end,
            format!("'nodes' holds a partial node (its length is not a multiple of {nf} fields)"),
        ));
    }
    Ok(c)
}

/// Strings: those a class name (object and native node names) or a synthetic
/// root's name needs are kept whole, the others cut to [`SHOWN`] bytes.
fn read_strings<R: Read>(
    r: &mut Reader<R>,
    l: &Layout,
    n: &NodeCols,
    file_size: u64,
) -> Result<Strings, ParseError> {
    // A file of S bytes holds fewer than S / 3 strings (`"",` each): a name
    // past that is refused after the read, and must not size this table.
    let most = (file_size / 3).min(u64::from(u32::MAX)) as usize;
    let mut whole = Vec::new();
    for (k, &name) in n.kind.iter().zip(&n.name) {
        if (*k == l.t_object || *k == l.t_native || *k == l.t_synthetic) && (name as usize) < most {
            let i = name as usize;
            if i >= whole.len() {
                whole.resize(i + 1, false);
            }
            whole[i] = true;
        }
    }
    let mut s = Strings::default();
    r.strings(
        |i| {
            if whole.get(i).copied().unwrap_or(false) {
                usize::MAX
            } else {
                SHOWN
            }
        },
        |_, bytes| s.push(bytes),
    )?;
    Ok(s)
}

fn assemble(
    layout: Layout,
    n: NodeCols,
    e: EdgeCols,
    strings: Strings,
    file_size: u64,
    end: u64,
    title: Option<String>,
) -> Result<Graph, ParseError> {
    let count = n.kind.len() as u64;
    if let Some(claimed) = layout.node_count {
        if claimed != count {
            return Err(at(
                n.end,
                format!("the header says {claimed} nodes, 'nodes' holds {count}"),
            ));
        }
    }
    if let Some(claimed) = layout.edge_count {
        if claimed != e.total {
            return Err(at(
                e.end,
                format!("the header says {claimed} edges, 'edges' holds {}", e.total),
            ));
        }
    }
    if count == 0 {
        return Err(at(
            n.end,
            "'nodes' is empty (a snapshot has at least its root)",
        ));
    }
    if count > u64::from(u32::MAX) - 1 || e.total > u64::from(u32::MAX) - 1 {
        return Err(at(end, "more than 2^32 nodes or edges"));
    }
    if e.total > 0 && e.max_to >= count {
        return Err(at(
            e.end,
            format!(
                "an edge points to node {} but there are {count} nodes",
                e.max_to
            ),
        ));
    }
    let mut first_edge = Vec::with_capacity(n.edge_count.len() + 1);
    let mut sum: u64 = 0;
    for &c in &n.edge_count {
        first_edge.push(sum as u32);
        sum += u64::from(c);
        if sum > e.total {
            break;
        }
    }
    if sum != e.total {
        return Err(at(
            e.end,
            format!(
                "the nodes' edge counts add up to {}{sum} but 'edges' holds {}",
                if sum > e.total { "at least " } else { "" },
                e.total
            ),
        ));
    }
    first_edge.push(sum as u32);
    let strings_len = strings.len() as u64;
    if let Some(max) = n.name.iter().max() {
        if u64::from(*max) >= strings_len {
            return Err(at(
                end,
                format!("a node's name is string {max} but there are {strings_len} strings"),
            ));
        }
    }
    if e.total > 0 && e.max_name >= strings_len {
        return Err(at(
            end,
            format!(
                "an edge's name is string {} but there are {strings_len} strings",
                e.max_name
            ),
        ));
    }
    Ok(Graph {
        file_size,
        node_type: n.kind,
        node_name: n.name,
        node_id: n.id,
        self_size: n.size,
        big_sizes: n.big_sizes,
        detached: n.detached,
        first_edge,
        edge_type: e.kind,
        edges_at: e.at,
        edge_to: e.to,
        edge_total: e.total,
        strings,
        title,
        layout,
    })
}
