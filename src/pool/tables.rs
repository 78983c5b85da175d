//! The names the façade turns into codes, in code order (a name's index is
//! its code): written once, here, next to the enums they index.

use super::tasks::hash::{Algorithm, Encoding};
use super::tasks::Op;
use napi_derive::napi;

#[napi(object)]
pub struct PoolTables {
    /// The `op` label values, in the order pool metrics are packed.
    pub ops: Vec<String>,
    /// `algorithm` names; the index is the code `Algorithm::from_code` takes.
    pub algorithms: Vec<String>,
    /// `encoding` names; the index is the code `Encoding::from_code` takes.
    pub encodings: Vec<String>,
    /// Digest length in bytes, by algorithm code (what `'number'` and
    /// `'bigint'` can hold is decided from it, see `Encoding::fits`).
    pub digest_lengths: Vec<u32>,
}

#[napi]
pub fn pool_tables() -> PoolTables {
    PoolTables {
        ops: Op::PUBLIC.iter().map(|o| o.name().to_string()).collect(),
        algorithms: Algorithm::NAMES.map(String::from).to_vec(),
        encodings: Encoding::NAMES.map(String::from).to_vec(),
        digest_lengths: (0..Algorithm::NAMES.len() as u32)
            .filter_map(Algorithm::from_code)
            .map(|a| a.digest_len() as u32)
            .collect(),
    }
}
