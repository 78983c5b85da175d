//! Heap-snapshot analysis (`heap.summary`, `heap.diff`): a streaming parse
//! of `.heapsnapshot` files into compact columns, the dominator tree, and
//! per-constructor totals with retained sizes. Pure Rust, run as pool
//! tasks (`crate::pool::tasks::heap`). See `README.md` beside this file.

mod classes;
mod diff;
mod dominators;
mod edges;
mod layout;
mod parse;
mod reader;
mod report;
mod strings;

pub use diff::diff;
pub use report::{summary, By, Failure, SummaryOptions};

#[cfg(test)]
mod tests;
