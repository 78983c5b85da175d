//! Recent stalls and their culprits, process-wide: a bounded ring every
//! thread can read (the sidecar's `/debug/stalls` reads it from its own
//! thread while the app's loop may be stuck), and stall counts per culprit
//! with a bounded label set for Prometheus.
//!
//! The culprit is worked out in JS on the stalled loop's own thread, once the
//! stall is over (`lib/culprits.js`); what lands here is its JSON text and
//! the few fields the counters need. Nothing here runs JS or waits on a
//! thread that does.

use napi_derive::napi;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::Write;

/// Stalls the ring keeps (the oldest goes first).
pub const RING_SIZE: usize = 64;
/// Distinct culprit labels the counters keep; later ones count as `other`.
pub const MAX_CULPRIT_LABELS: usize = 20;
/// The label for culprits past [`MAX_CULPRIT_LABELS`].
pub const OTHER: &str = "other";

struct Counter {
    thread: String,
    culprit: String,
    kind: String,
    count: u64,
    seconds: f64,
}

struct Stalls {
    ring: VecDeque<String>,
    /// Per thread, the stack captured while its loop is stuck (precise
    /// mode), until that stall is recorded.
    in_progress: Vec<(String, String)>,
    /// Stalls recorded since the process started (the ring keeps the last
    /// [`RING_SIZE`] of them).
    recorded: u64,
    labels: Vec<String>,
    counters: Vec<Counter>,
    /// Per thread, the culprit label of its last stall that named one.
    last: Vec<(String, String)>,
    /// Per thread, the label of the stack captured while its loop is stuck
    /// (precise mode), until that stall is recorded.
    capturing: Vec<(String, String)>,
}

static STALLS: Mutex<Stalls> = Mutex::new(Stalls {
    ring: VecDeque::new(),
    in_progress: Vec::new(),
    recorded: 0,
    labels: Vec::new(),
    counters: Vec::new(),
    last: Vec::new(),
    capturing: Vec::new(),
});

impl Stalls {
    /// `label` itself while fewer than [`MAX_CULPRIT_LABELS`] distinct ones
    /// were seen (or it is one of them), else [`OTHER`]. First come, first
    /// kept: a counter cannot move to another label without going backwards.
    fn label_for<'a>(&mut self, label: &'a str) -> &'a str {
        if self.labels.iter().any(|l| l == label) {
            return label;
        }
        if self.labels.len() < MAX_CULPRIT_LABELS {
            self.labels.push(label.to_owned());
            return label;
        }
        OTHER
    }

    fn record(&mut self, entry: String, thread: &str, culprit: &str, kind: &str, seconds: f64) {
        self.in_progress.retain(|(t, _)| t != thread);
        self.capturing.retain(|(t, _)| t != thread);
        if self.ring.len() == RING_SIZE {
            self.ring.pop_front();
        }
        self.ring.push_back(entry);
        self.recorded += 1;
        if kind != "unknown" {
            self.last.retain(|(t, _)| t != thread);
            self.last.push((thread.to_owned(), culprit.to_owned()));
        }
        let culprit = self.label_for(culprit);
        match self
            .counters
            .iter_mut()
            .find(|c| c.thread == thread && c.culprit == culprit && c.kind == kind)
        {
            Some(c) => {
                c.count += 1;
                c.seconds += seconds;
            }
            None => self.counters.push(Counter {
                thread: thread.to_owned(),
                culprit: culprit.to_owned(),
                kind: kind.to_owned(),
                count: 1,
                seconds,
            }),
        }
    }
}

/// Records one stall: `entry` (its JSON text) goes into the ring, and the
/// count of (`thread`, `culprit`, `kind`) goes up by one (`culprit` is the
/// label, `"unknown"` when no sample named one). `logLine`, when given, is
/// written to stderr as one line, directly (a worker's `process.stderr`
/// goes through the main thread, which may be the one that is stuck).
#[napi]
pub fn stalls_record(
    entry: String,
    thread: String,
    culprit: String,
    kind: String,
    seconds: f64,
    log_line: Option<String>,
) {
    STALLS
        .lock()
        .record(entry, &thread, &culprit, &kind, seconds.max(0.0));
    if let Some(line) = log_line {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Keeps `entry` (JSON text) as the stack `thread`'s loop is stuck in right
/// now, until its stall is recorded; `label`, the culprit label of that
/// stack, for the process group's readers.
#[napi]
pub fn stalls_capture(thread: String, entry: String, label: Option<String>) {
    let mut s = STALLS.lock();
    s.in_progress.retain(|(t, _)| *t != thread);
    s.capturing.retain(|(t, _)| *t != thread);
    if let Some(label) = label {
        s.capturing.push((thread.clone(), label));
    }
    s.in_progress.push((thread, entry));
}

/// The ring's entries (JSON texts), oldest first; the captures of stalls
/// still in progress; and how many stalls were recorded in all.
#[napi(object)]
pub struct RecentStalls {
    pub entries: Vec<String>,
    pub in_progress: Vec<String>,
    pub recorded: f64,
}

#[napi]
pub fn stalls_recent() -> RecentStalls {
    let s = STALLS.lock();
    RecentStalls {
        entries: s.ring.iter().cloned().collect(),
        in_progress: s.in_progress.iter().map(|(_, e)| e.clone()).collect(),
        recorded: s.recorded as f64,
    }
}

/// The culprit label of the stall `thread` is stuck in right now (a precise
/// capture), else of its most recent stall that named one (the group
/// publisher's read).
pub fn last_culprit(thread: &str) -> Option<String> {
    let s = STALLS.lock();
    s.capturing
        .iter()
        .chain(s.last.iter())
        .find(|(t, _)| t == thread)
        .map(|(_, c)| c.clone())
}

/// One culprit counter.
#[napi(object)]
pub struct CulpritCount {
    pub thread: String,
    pub culprit: String,
    pub kind: String,
    pub count: f64,
    pub seconds: f64,
}

#[napi]
pub fn culprit_counts() -> Vec<CulpritCount> {
    STALLS
        .lock()
        .counters
        .iter()
        .map(|c| CulpritCount {
            thread: c.thread.clone(),
            culprit: c.culprit.clone(),
            kind: c.kind.clone(),
            count: c.count as f64,
            seconds: c.seconds,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Stalls {
        Stalls {
            ring: VecDeque::new(),
            in_progress: Vec::new(),
            recorded: 0,
            labels: Vec::new(),
            counters: Vec::new(),
            last: Vec::new(),
            capturing: Vec::new(),
        }
    }

    #[test]
    fn the_culprit_in_progress_comes_first_then_the_last_recorded() {
        stalls_capture(
            "t-culprit".into(),
            "{}".into(),
            Some("spin (a.js:1)".into()),
        );
        assert_eq!(last_culprit("t-culprit").as_deref(), Some("spin (a.js:1)"));
        stalls_record(
            String::new(),
            "t-culprit".into(),
            "spin (a.js)".into(),
            "js".into(),
            1.0,
            None,
        );
        assert_eq!(last_culprit("t-culprit").as_deref(), Some("spin (a.js)"));
        stalls_record(
            String::new(),
            "t-culprit".into(),
            "unknown".into(),
            "unknown".into(),
            1.0,
            None,
        );
        assert_eq!(last_culprit("t-culprit").as_deref(), Some("spin (a.js)"));
        assert_eq!(last_culprit("t-other"), None);
    }

    #[test]
    fn the_ring_keeps_the_last_entries() {
        let mut s = fresh();
        for k in 0..RING_SIZE + 5 {
            s.record(k.to_string(), "main", "f", "js", 0.1);
        }
        assert_eq!(s.ring.len(), RING_SIZE);
        assert_eq!(s.ring.front().map(String::as_str), Some("5"));
        assert_eq!(s.recorded, (RING_SIZE + 5) as u64);
        assert_eq!(s.counters.len(), 1);
        assert_eq!(s.counters[0].count, (RING_SIZE + 5) as u64);
    }

    #[test]
    fn labels_past_the_limit_count_as_other() {
        let mut s = fresh();
        for k in 0..MAX_CULPRIT_LABELS + 3 {
            s.record(String::new(), "main", &format!("f{k}"), "js", 1.0);
        }
        // A label seen before the limit keeps counting under its own name.
        s.record(String::new(), "main", "f0", "js", 1.0);
        let other: Vec<_> = s.counters.iter().filter(|c| c.culprit == OTHER).collect();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].count, 3);
        let f0 = s.counters.iter().find(|c| c.culprit == "f0").unwrap();
        assert_eq!(f0.count, 2);
        assert_eq!(s.counters.len(), MAX_CULPRIT_LABELS + 1);
    }
}
