//! What `snapshot.meta` says about the columns: the positions of the node
//! and edge fields the analysis reads and the type codes it needs, all read
//! from the file (no column order is assumed). A layout without one of
//! them is refused (`ERR_NODEPERF_HEAP_LAYOUT`).
#![forbid(unsafe_code)]

use serde_json::Value;

/// Column positions and type codes read from `meta`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub node_fields: Vec<String>,
    pub edge_fields: Vec<String>,
    pub node_types: Vec<String>,
    pub edge_types: Vec<String>,
    /// Positions of the node columns we read.
    pub(super) n_type: usize,
    pub(super) n_name: usize,
    pub(super) n_id: usize,
    pub(super) n_size: usize,
    pub(super) n_edges: usize,
    /// `detachedness` (0 unknown, 1 attached, 2 detached), where present.
    pub(super) n_detached: Option<usize>,
    /// Positions of the edge columns.
    pub(super) e_type: usize,
    pub(super) e_name: usize,
    pub(super) e_to: usize,
    /// Type codes the analysis needs.
    pub t_hidden: u8,
    pub t_object: u8,
    pub t_native: u8,
    pub t_code: u8,
    pub t_synthetic: u8,
    pub et_weak: u8,
    pub et_shortcut: u8,
    pub et_element: u8,
    pub et_hidden: u8,
    /// `node_count` / `edge_count` as the header states them.
    pub node_count: Option<u64>,
    pub edge_count: Option<u64>,
}

/// A layout problem (becomes `ERR_NODEPERF_HEAP_LAYOUT`).
pub struct LayoutError(pub String);

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, LayoutError> {
    let arr = v
        .as_array()
        .ok_or_else(|| LayoutError(format!("{what} is not a list")))?;
    arr.iter()
        .map(|s| {
            s.as_str()
                .map(String::from)
                .ok_or_else(|| LayoutError(format!("{what} holds a value that is not a string")))
        })
        .collect()
}

fn position(list: &[String], name: &str, what: &str) -> Result<usize, LayoutError> {
    list.iter().position(|f| f == name).ok_or_else(|| {
        LayoutError(format!(
            "{what} has no '{name}' (it has {})",
            list.join(", ")
        ))
    })
}

fn code(list: &[String], name: &str, what: &str) -> Result<u8, LayoutError> {
    let i = position(list, name, what)?;
    u8::try_from(i).map_err(|_| LayoutError(format!("{what} lists more than 256 types")))
}

impl Layout {
    /// From the `snapshot` header's JSON.
    pub fn from_header(header: &Value) -> Result<Self, LayoutError> {
        let meta = header
            .get("meta")
            .ok_or_else(|| LayoutError("the 'snapshot' header has no 'meta'".into()))?;
        let field = |k: &str| {
            meta.get(k)
                .ok_or_else(|| LayoutError(format!("meta has no '{k}'")))
        };
        let node_fields = string_list(field("node_fields")?, "meta.node_fields")?;
        let edge_fields = string_list(field("edge_fields")?, "meta.edge_fields")?;
        // The type of a node or edge is an enum: its names are the first
        // entry of `node_types` / `edge_types`, at the `type` field's position.
        let types_of = |k: &str, fields: &[String]| -> Result<Vec<String>, LayoutError> {
            let list = field(k)?
                .as_array()
                .ok_or_else(|| LayoutError(format!("meta.{k} is not a list")))?;
            let at = position(
                fields,
                "type",
                &format!("meta.{}", k.replace("types", "fields")),
            )?;
            let names = list
                .get(at)
                .ok_or_else(|| LayoutError(format!("meta.{k} has no entry for 'type'")))?;
            if !names.is_array() {
                return Err(LayoutError(format!(
                    "meta.{k}[{at}] (the type names) is not a list of names"
                )));
            }
            string_list(names, &format!("meta.{k}[{at}]"))
        };
        let node_types = types_of("node_types", &node_fields)?;
        let edge_types = types_of("edge_types", &edge_fields)?;
        if node_fields.len() > 64 || edge_fields.len() > 64 {
            return Err(LayoutError("more than 64 fields per node or edge".into()));
        }
        let nf = "meta.node_fields";
        let ef = "meta.edge_fields";
        let nt = "meta.node_types";
        let et = "meta.edge_types";
        let count = |k: &str| header.get(k).and_then(Value::as_u64);
        Ok(Self {
            n_type: position(&node_fields, "type", nf)?,
            n_name: position(&node_fields, "name", nf)?,
            n_id: position(&node_fields, "id", nf)?,
            n_size: position(&node_fields, "self_size", nf)?,
            n_edges: position(&node_fields, "edge_count", nf)?,
            n_detached: node_fields.iter().position(|f| f == "detachedness"),
            e_type: position(&edge_fields, "type", ef)?,
            e_name: position(&edge_fields, "name_or_index", ef)?,
            e_to: position(&edge_fields, "to_node", ef)?,
            t_hidden: code(&node_types, "hidden", nt)?,
            t_object: code(&node_types, "object", nt)?,
            t_native: code(&node_types, "native", nt)?,
            t_code: code(&node_types, "code", nt)?,
            t_synthetic: code(&node_types, "synthetic", nt)?,
            et_weak: code(&edge_types, "weak", et)?,
            et_shortcut: code(&edge_types, "shortcut", et)?,
            et_element: code(&edge_types, "element", et)?,
            et_hidden: code(&edge_types, "hidden", et)?,
            node_count: count("node_count"),
            edge_count: count("edge_count"),
            node_fields,
            edge_fields,
            node_types,
            edge_types,
        })
    }

    /// Whether an edge's `name_or_index` is a number (not a string index).
    pub fn edge_name_is_index(&self, t: u8) -> bool {
        t == self.et_element || t == self.et_hidden
    }
}
