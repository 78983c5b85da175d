//! The `edges` array: read once into type and target columns (checked as
//! they come), and read again later for the names of the few edges a
//! report shows ([`edge_names`]), which are not kept in memory.
#![forbid(unsafe_code)]

use super::layout::Layout;
use super::reader::{Bad, Reader};
use std::io::Read;

pub(super) struct EdgeCols {
    pub(super) kind: Vec<u8>,
    /// The target's ordinal.
    pub(super) to: Vec<u32>,
    /// How many edges the file holds (also when they are not kept).
    pub(super) total: u64,
    pub(super) max_to: u64,
    /// The largest string index an edge name refers to.
    pub(super) max_name: u64,
    pub(super) at: u64,
    pub(super) end: u64,
}

/// Reads the `edges` array; keeps the columns when `all` (`cap` edges
/// reserved), else only checks and counts.
pub(super) fn read_edges<R: Read>(
    r: &mut Reader<R>,
    l: &Layout,
    cap: usize,
    all: bool,
) -> Result<EdgeCols, Bad> {
    let ef = l.edge_fields.len();
    let nf = l.node_fields.len() as u64;
    r.ws()?;
    let mut c = EdgeCols {
        kind: Vec::with_capacity(cap),
        to: Vec::with_capacity(cap),
        total: 0,
        max_to: 0,
        max_name: 0,
        at: r.offset(),
        end: 0,
    };
    let types = l.edge_types.len() as u64;
    let mut col = 0;
    let (mut kind, mut name, mut to) = (0u64, 0u64, 0u64);
    r.uints("edges", |v| {
        if col == l.e_type {
            kind = v;
        } else if col == l.e_name {
            name = v;
        } else if col == l.e_to {
            to = v;
        }
        col += 1;
        if col < ef {
            return Ok(());
        }
        col = 0;
        // A whole edge: check it, keep its type and target.
        if kind >= types {
            return Err(format!("an edge's type ({kind}) is not in meta.edge_types"));
        }
        if !l.edge_name_is_index(kind as u8) {
            c.max_name = c.max_name.max(name);
        }
        if to % nf != 0 {
            return Err(format!(
                "an edge's to_node ({to}) is not a multiple of the node field count ({nf})"
            ));
        }
        let t =
            u32::try_from(to / nf).map_err(|_| format!("an edge's to_node ({to}) is too large"))?;
        c.max_to = c.max_to.max(u64::from(t));
        c.total += 1;
        if all {
            c.kind.push(kind as u8);
            c.to.push(t);
        }
        Ok(())
    })?;
    c.end = r.offset();
    if col != 0 {
        return Err(Bad::At {
            offset: c.end,
            reason: format!(
                "'edges' holds a partial edge (its length is not a multiple of {ef} fields)"
            ),
        });
    }
    Ok(c)
}

/// The reason that stops [`edge_names`]' read once it has every name.
const DONE: &str = "done";

/// Reads again the `name_or_index` of the edges `wanted` (ascending edge
/// indices) from the `edges` array at byte `offset` (where `src` is
/// positioned); one name per wanted edge.
pub fn edge_names<R: Read>(
    src: R,
    offset: u64,
    l: &Layout,
    wanted: &[u32],
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u64>, Bad> {
    let mut out = Vec::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut r = Reader::at(src, offset, cancelled);
    let ef = l.edge_fields.len();
    let (mut col, mut edge) = (0usize, 0u32);
    let read = r.uints("edges", |v| {
        if col == l.e_name && edge == wanted[out.len()] {
            out.push(v);
            if out.len() == wanted.len() {
                return Err(DONE.into());
            }
        }
        col += 1;
        if col == ef {
            col = 0;
            edge += 1;
        }
        Ok(())
    });
    match read {
        Err(Bad::At { reason, .. }) if reason == DONE => Ok(out),
        Err(b) => Err(b),
        Ok(()) => Err(Bad::At {
            offset,
            reason: "the file changed while it was read".into(),
        }),
    }
}
