//! The `hash.many` op (`pool.hashMany`): one task for a whole batch of
//! inputs, spread over the pool's threads in groups of items (rayon inside
//! the task, on the task's own pool), cancellable between items.

use super::hash::{self, digest_bytes, Algorithm, Encoding, State};
use super::{Output, Stop, TaskCtx};
use crate::shared::{Items, OutRegion, GROUP_BYTES};
use rayon::prelude::*;
use std::ops::Range;

/// Most items in one group (tiny items: one rayon job per this many).
const GROUP_ITEMS: usize = 1024;

/// Where the digests go.
pub enum Dest {
    /// One Buffer of `n × digestLength` bytes.
    Bytes,
    /// One string of `n` encodings back to back (the façade splits it:
    /// every encoding of an algorithm's digest has the same length).
    Text(Encoding),
    /// The caller's view over a SharedArrayBuffer, digest `i` at
    /// `i × digestLength`.
    Out(OutRegion),
}

pub struct HashMany {
    pub algorithm: Algorithm,
    pub items: Items,
    pub dest: Dest,
}

/// Consecutive items, cut where a group reaches [`GROUP_BYTES`] or
/// [`GROUP_ITEMS`]; an item larger than `GROUP_BYTES` is a group alone.
fn groups(items: &Items) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..items.len() {
        let len = items.byte_len(i);
        if i > start && (bytes + len > GROUP_BYTES || i - start >= GROUP_ITEMS) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

impl HashMany {
    /// Bytes each item's result takes in the output.
    fn width(&self) -> usize {
        match self.dest {
            Dest::Text(e) => match hash::encode(&digest_bytes(self.algorithm, b""), e) {
                Output::Text(t) => t.as_bytes().len(),
                _ => self.algorithm.digest_len(),
            },
            Dest::Bytes | Dest::Out(_) => self.algorithm.digest_len(),
        }
    }

    /// Item `i`'s digest, when it is larger than a group (read piece by piece).
    fn large(&self, i: usize, ctx: &TaskCtx) -> Result<hash::Digest, Stop> {
        let mut state = State::new(self.algorithm);
        // SAFETY: `Items::for_each_piece`'s contract holds: `f` is a hash
        // update over a byte slice into a hasher borrowed from this frame: no
        // locks, no allocation, nothing with a destructor.
        let done = unsafe {
            self.items
                .for_each_piece(i, || !ctx.cancelled(), |b| state.update(b))?
        };
        if !done {
            return Err(Stop::Cancelled);
        }
        Ok(state.finish())
    }

    /// Writes digest `d` as this task's output for one item into `slot`.
    fn put(&self, d: &hash::Digest, slot: &mut [u8]) {
        match (&self.dest, hash::encode(d, self.encoding())) {
            (Dest::Text(_), Output::Text(t)) => slot.copy_from_slice(t.as_bytes()),
            _ => slot.copy_from_slice(d.as_bytes()),
        }
    }

    fn encoding(&self) -> Encoding {
        match self.dest {
            Dest::Text(e) => e,
            _ => Encoding::Buffer,
        }
    }

    pub fn run(&self, ctx: &TaskCtx) -> Result<Output, Stop> {
        let n = self.items.len();
        let width = self.width();
        let mut buf = vec![0u8; n * width];
        let groups = groups(&self.items);
        let mut jobs = Vec::with_capacity(groups.len());
        let mut rest = buf.as_mut_slice();
        for g in groups {
            let (slots, tail) = rest.split_at_mut(g.len() * width);
            jobs.push((g, slots));
            rest = tail;
        }
        jobs.into_par_iter().try_for_each(|(g, slots)| {
            if ctx.cancelled() {
                return Err(Stop::Cancelled);
            }
            if g.len() == 1 && self.items.byte_len(g.start) > GROUP_BYTES {
                let d = self.large(g.start, ctx)?;
                self.put(&d, slots);
            } else {
                let start = g.start;
                // SAFETY: `Items::read_each`'s contract holds: the closure
                // hashes the borrowed bytes on the stack (`digest_bytes`
                // allocates nothing), encodes into an inline buffer and
                // copies into `slots`, a slice of a buffer allocated before
                // the read: no locks, no allocation, no destructors.
                let done = unsafe {
                    self.items.read_each(g, |i, b| {
                        if ctx.cancelled() {
                            return false;
                        }
                        let d = digest_bytes(self.algorithm, b);
                        self.put(&d, &mut slots[(i - start) * width..(i - start + 1) * width]);
                        true
                    })?
                };
                if !done {
                    return Err(Stop::Cancelled);
                }
            }
            Ok(())
        })?;
        Ok(match &self.dest {
            Dest::Bytes => Output::Many(buf),
            Dest::Text(_) => Output::ManyText(buf),
            Dest::Out(out) => {
                // Written in pieces, each under the owner's alive guard.
                for (k, piece) in buf.chunks(crate::shared::PIECE).enumerate() {
                    if ctx.cancelled() {
                        return Err(Stop::Cancelled);
                    }
                    out.write(k * crate::shared::PIECE, piece)?;
                }
                Output::Count(n as f64)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread::ThreadShared;

    #[test]
    fn groups_cut_by_bytes_and_count_and_isolate_large_items() {
        let owner = ThreadShared::new("test".into());
        let lens = [10, GROUP_BYTES, 5, 5, GROUP_BYTES + 1, 0];
        let items = Items::for_test(owner, &lens);
        let g = groups(&items);
        assert_eq!(g, vec![0..1, 1..2, 2..4, 4..5, 5..6]);
        let many = Items::for_test(ThreadShared::new("t".into()), &[1; 2 * GROUP_ITEMS + 1]);
        assert_eq!(groups(&many).len(), 3);
    }

    #[test]
    fn digests_match_one_shot_for_every_destination() {
        let lens = [0, 3, 100, GROUP_BYTES + 7, 2 * crate::shared::PIECE + 1];
        for a in (0..7).filter_map(Algorithm::from_code) {
            let items = Items::for_test(ThreadShared::new("t".into()), &lens);
            let task = HashMany {
                algorithm: a,
                items,
                dest: Dest::Bytes,
            };
            let Ok(Output::Many(buf)) = task.run(&TaskCtx::default()) else {
                panic!("{a:?}");
            };
            let dl = a.digest_len();
            for (i, &len) in lens.iter().enumerate() {
                let want = digest_bytes(a, &crate::shared::test_bytes(len));
                assert_eq!(
                    &buf[i * dl..(i + 1) * dl],
                    want.as_bytes(),
                    "{a:?} item {i}"
                );
            }
        }
    }
}
