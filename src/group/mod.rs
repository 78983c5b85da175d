//! Cross-process registry in shared memory: each process of a group
//! publishes its loops' state (and its default pool's, and its heap
//! figures) into a sealed memfd, written by a native thread with a
//! double-buffered seqlock; any process of the group reads every other's
//! with no IPC and no help from the writer's loop. See `README.md` beside
//! this file.
//!
//! - `layout`: offsets, sizes, payload packing (no unsafe)
//! - `seqlock`: the double-buffered seqlock over shared words (no unsafe)
//! - `segment`: directory, markers, memfd, mappings (the FFI)
//! - `publisher`: the writer thread
//! - `reader`: finding and reading a group's segments
//! - `js`: the napi functions `lib/group.js` calls
//! - `stress`: the napi functions of `bench/group-stress.mjs`

mod js;
mod layout;
mod publisher;
mod reader;
mod segment;
mod seqlock;
mod stress;
#[cfg(test)]
mod tests;

pub use js::*;
pub use stress::*;
