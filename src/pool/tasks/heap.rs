//! `heap.summary` / `heap.diff` as pool tasks: the analysis of
//! `crate::heap`, run on a pool thread, resolving with the report as JSON
//! text (the façade parses it). Cancellation is checked at every 1 MiB read
//! and between the analysis' passes.
#![forbid(unsafe_code)]

use super::{Output, Stop, TaskCtx};
use crate::heap::{self, By, Failure, SummaryOptions};

pub enum HeapTask {
    Summary {
        path: String,
        options: SummaryOptions,
    },
    Diff {
        a: String,
        b: String,
        by: By,
        top: usize,
        /// Retainer paths (`by: 'id'` only).
        paths: usize,
    },
}

impl HeapTask {
    pub fn run(&self, ctx: &TaskCtx) -> Result<Output, Stop> {
        let cancelled = || ctx.cancelled();
        let out = match self {
            Self::Summary { path, options } => heap::summary(path, *options, &cancelled),
            Self::Diff {
                a,
                b,
                by,
                top,
                paths,
            } => heap::diff(a, b, *by, *top, *paths, &cancelled),
        };
        match out {
            Ok(text) => Ok(Output::Json(text)),
            Err(Failure::Cancelled) => Err(Stop::Cancelled),
            Err(Failure::Error(e)) => Err(Stop::Failed(Box::new(e))),
        }
    }
}
