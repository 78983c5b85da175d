//! The napi functions `lib/group.js` calls. Arguments are checked there;
//! these take them as given.

use super::layout::{LoopPayload, PoolPayload};
use super::publisher::{self, Config};
use super::reader::{self, ProcData};
use super::segment::{self, GroupErr};
use crate::error::{Error, OrThrow};
use crate::lag::histogram::LagHistogram;
use crate::lag::js::{pack_export, window_span_ns};
use crate::lag::monitor::{ExportRead, WindowRead};
use napi::bindgen_prelude::Float64Array;
use napi::Env;
use napi_derive::napi;

impl From<GroupErr> for Error {
    fn from(e: GroupErr) -> Self {
        Error::Group {
            code: e.code,
            message: e.message,
        }
    }
}

#[napi(object)]
pub struct GroupError {
    pub code: String,
    pub message: String,
}

fn js_err(e: GroupErr) -> GroupError {
    GroupError {
        code: e.code.into(),
        message: e.message,
    }
}

/// Joins `key` (checked by the façade), publishing every `intervalMs`.
#[napi]
pub fn group_join(
    env: &Env,
    key: String,
    interval_ms: u32,
    window_ms: f64,
    worker_id: Option<f64>,
) -> napi::Result<()> {
    publisher::join(Config {
        key,
        interval_ms: u64::from(interval_ms),
        window_span_ns: window_span_ns(window_ms),
        worker_id: worker_id.map(|w| w as u64),
    })
    .map_err(Error::from)
    .or_throw(env)
}

#[napi]
pub fn group_leave() {
    publisher::leave();
}

#[napi(object)]
pub struct GroupCurrent {
    pub key: String,
    pub interval_ms: u32,
    pub window_ms: f64,
}

#[napi]
pub fn group_current() -> Option<GroupCurrent> {
    publisher::current().map(|c| GroupCurrent {
        key: c.key,
        interval_ms: c.interval_ms as u32,
        window_ms: c.window_span_ns as f64 / 1e6,
    })
}

/// The main thread's `v8.getHeapStatistics()` figures, for the next publish.
#[napi]
pub fn group_set_heap(used: f64, limit: f64) {
    publisher::set_heap(used, limit);
}

/// `/proc/<pid>/stat` field 22, or null if no such process.
#[napi]
pub fn group_start_time(pid: u32) -> Option<f64> {
    segment::start_time(pid).map(|t| t as f64)
}

#[napi(object)]
pub struct GroupLoop {
    pub thread: String,
    pub running: bool,
    pub stalled_for: f64,
    pub utilization: f64,
    pub stalls: f64,
    pub stalled_ms: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub culprit: Option<String>,
}

#[napi(object)]
pub struct GroupPoolInfo {
    pub threads: f64,
    pub queued: f64,
    pub active: f64,
    pub completed: f64,
    pub failed: f64,
    pub rejected: f64,
}

#[napi(object)]
pub struct GroupHeap {
    pub used: f64,
    pub limit: f64,
    pub ratio: f64,
    pub at: f64,
}

impl From<(u64, u64, f64)> for GroupHeap {
    /// `(used, limit, at)` as published.
    fn from((used, limit, at): (u64, u64, f64)) -> Self {
        Self {
            used: used as f64,
            limit: limit as f64,
            ratio: if limit > 0 {
                used as f64 / limit as f64
            } else {
                0.0
            },
            at,
        }
    }
}

#[napi(object)]
pub struct GroupProcess {
    pub pid: u32,
    pub worker_id: Option<f64>,
    pub published_at: Option<f64>,
    pub age_ms: Option<f64>,
    pub loops: Vec<GroupLoop>,
    pub pool: Option<GroupPoolInfo>,
    pub heap: Option<GroupHeap>,
    pub error: Option<GroupError>,
}

const MS: f64 = 1e6;
/// A loop counts as busy at the publish (so busy since, while the publisher
/// is fresh) once its busy period has passed 1 ms: the threshold the
/// monitor folds an ongoing busy period in at. A loop in its poll shows a
/// few µs there (the idle counter is updated at poll return).
const BUSY_MIN_NS: u64 = 1_000_000;

fn view(d: &ProcData, now: u64) -> (f64, Vec<GroupLoop>) {
    let p = &d.proc_;
    let age = now.saturating_sub(p.published_hr_ns);
    // The publisher is alive if it published within 3 intervals; only then
    // does a loop busy at the last publish count as busy since.
    let fresh = age < 3 * p.interval_ms.max(1) * 1_000_000;
    let loops = d
        .loops
        .iter()
        .map(|l: &LoopPayload| {
            let extra = if fresh && l.running && l.stalled_for_ns >= BUSY_MIN_NS {
                now.saturating_sub(l.at_ns)
            } else {
                0
            };
            GroupLoop {
                thread: l.label.clone(),
                running: l.running,
                stalled_for: (l.stalled_for_ns + extra) as f64 / MS,
                utilization: l.utilization,
                stalls: l.stalls_total as f64,
                stalled_ms: l.stalled_ns_total as f64 / MS,
                p50: l.window_ns[0] as f64 / MS,
                p90: l.window_ns[1] as f64 / MS,
                p99: l.window_ns[2] as f64 / MS,
                p999: l.window_ns[3] as f64 / MS,
                max: l.window_ns[4] as f64 / MS,
                culprit: l.culprit.clone(),
            }
        })
        .collect();
    (age as f64 / MS, loops)
}

/// Every process of group `key` (`group.processes()` before the façade
/// fills in nulls).
#[napi]
pub fn group_read(env: &Env, key: String) -> napi::Result<Vec<GroupProcess>> {
    let procs = reader::read_group(&key)
        .map_err(Error::from)
        .or_throw(env)?;
    let now = segment::monotonic_ns();
    Ok(procs
        .into_iter()
        .map(|r| match r.data {
            Err(e) => GroupProcess {
                pid: r.pid,
                worker_id: None,
                published_at: None,
                age_ms: None,
                loops: Vec::new(),
                pool: None,
                heap: None,
                error: Some(js_err(e)),
            },
            Ok(d) => {
                let (age_ms, loops) = view(&d, now);
                let p = &d.proc_;
                GroupProcess {
                    pid: r.pid,
                    worker_id: p.worker_id.map(|w| w as f64),
                    published_at: Some(p.published_at_ms),
                    age_ms: Some(age_ms),
                    loops,
                    pool: d.pool.as_ref().map(|pool| {
                        let c = pool.counts.map(|v| v as f64);
                        GroupPoolInfo {
                            threads: c[0],
                            queued: c[1],
                            active: c[2],
                            completed: c[3],
                            failed: c[4],
                            rejected: c[5],
                        }
                    }),
                    heap: p.heap.map(GroupHeap::from),
                    error: None,
                }
            }
        })
        .collect())
}

#[napi(object)]
pub struct GroupExportLoop {
    pub thread: String,
    /// Packed as `lagExportRead` packs it; null when the loop published no
    /// export data.
    pub x: Option<Float64Array>,
}

#[napi(object)]
pub struct GroupExportProcess {
    pub pid: u32,
    pub worker_id: Option<f64>,
    pub loops: Vec<GroupExportLoop>,
    pub pool: Option<Float64Array>,
    /// The main thread's heap as last pushed (heap utilisation gauge).
    pub heap: Option<GroupHeap>,
    pub error: Option<GroupError>,
}

fn ns_bounds(bounds: &[f64]) -> Vec<u64> {
    bounds.iter().map(|b| (b * 1e9) as u64).collect()
}

/// A loop's export read rebuilt from its published histogram and figures.
fn loop_export(l: &LoopPayload, bounds_ns: &[u64]) -> Result<Option<Vec<f64>>, GroupErr> {
    if !l.exported {
        return Ok(None);
    }
    let digits = u8::try_from(l.digits).unwrap_or(0);
    let h = LagHistogram::from_pairs(digits, &l.pairs)
        .map_err(|e| GroupErr::new(segment::SEGMENT_CODE, format!("loop {}: {e}", l.label)))?;
    let mut cumulative = h.cumulative(bounds_ns);
    cumulative.push(h.total_weight());
    let [p50, p90, p99, p999, max, min] = l.window_ns;
    let r = ExportRead {
        cumulative,
        sum_s_us: h.weighted_sum_s_us(),
        stalls_total: l.stalls_total,
        stalled_ns_total: l.stalled_ns_total,
        window: WindowRead {
            p50,
            p90,
            p99,
            p999,
            max,
            min,
            mean: l.mean_ns,
            stddev: l.stddev_ns,
            utilization: l.utilization,
        },
    };
    Ok(Some(pack_export(&r)))
}

/// The pool's metrics rebuilt, packed as `defaultPoolMetrics` packs them.
fn pool_export(p: &PoolPayload, bounds_ns: &[u64]) -> Result<Vec<f64>, GroupErr> {
    let want = crate::pool::tasks::Op::PUBLIC.len();
    if p.ops.len() != want {
        return Err(GroupErr::new(
            segment::SEGMENT_CODE,
            format!("pool record has {} ops, this build exports {want} (histograms too large to publish?)", p.ops.len()),
        ));
    }
    let hist = |pairs: &[(u64, u64)]| {
        let mut h = hdrhistogram::Histogram::<u64>::new(2).expect("valid");
        crate::hdr::fill(&mut h, pairs).map(|()| h)
    };
    let mut ops = Vec::new();
    for op in &p.ops {
        let e = |e: String| GroupErr::new(segment::SEGMENT_CODE, format!("pool: {e}"));
        ops.push((
            op.outcomes,
            hist(&op.wait).map_err(e)?,
            hist(&op.run).map_err(e)?,
        ));
    }
    let parts = crate::pool::MetricsParts {
        head: [p.counts[0], p.counts[1], p.counts[2]],
        counts: [p.counts[3], p.counts[4], p.counts[5]],
        ops,
    };
    Ok(crate::pool::pack_metrics(&parts, bounds_ns))
}

/// What the prom exporter would read in each process of group `key`, at
/// its last publish: per loop the packed `lagExportRead` array, and the
/// packed `defaultPoolMetrics` array (or null). `ERR_INVALID_ARG_VALUE` if
/// a process publishes another window span than `windowMs`.
#[napi]
pub fn group_read_export(
    env: &Env,
    key: String,
    bounds: Vec<f64>,
    pool_bounds: Vec<f64>,
    window_ms: f64,
) -> napi::Result<Vec<GroupExportProcess>> {
    let procs = reader::read_group(&key)
        .map_err(Error::from)
        .or_throw(env)?;
    let span = window_span_ns(window_ms);
    let (bounds_ns, pool_ns) = (ns_bounds(&bounds), ns_bounds(&pool_bounds));
    let mut out = Vec::new();
    for r in procs {
        let mut p = GroupExportProcess {
            pid: r.pid,
            worker_id: None,
            loops: Vec::new(),
            pool: None,
            heap: None,
            error: None,
        };
        match r.data {
            Err(e) => p.error = Some(js_err(e)),
            Ok(d) => {
                if d.proc_.window_span_ns != span {
                    return Err(Error::InvalidArgValue {
                        name: "windowMs".into(),
                        reason: format!(
                            "must be the group's window span, {} ms (process {} publishes it). Received {window_ms}",
                            d.proc_.window_span_ns as f64 / 1e6,
                            r.pid
                        ),
                    })
                    .or_throw(env);
                }
                p.worker_id = d.proc_.worker_id.map(|w| w as f64);
                p.heap = d.proc_.heap.map(GroupHeap::from);
                let mut read = || -> Result<(), GroupErr> {
                    for l in &d.loops {
                        p.loops.push(GroupExportLoop {
                            thread: l.label.clone(),
                            x: loop_export(l, &bounds_ns)?.map(Float64Array::new),
                        });
                    }
                    p.pool = match &d.pool {
                        None => None,
                        Some(pool) => Some(Float64Array::new(pool_export(pool, &pool_ns)?)),
                    };
                    Ok(())
                };
                if let Err(e) = read() {
                    p.loops.clear();
                    p.pool = None;
                    p.error = Some(js_err(e));
                }
            }
        }
        out.push(p);
    }
    Ok(out)
}

/// `[publishes, ns spent in them]` by this process's publisher threads
/// (wall time of each publish on its own thread), for the benches.
#[napi(js_name = "__groupPublishStats")]
pub fn group_publish_stats() -> Vec<f64> {
    let (n, ns) = publisher::publish_stats();
    vec![n as f64, ns as f64]
}
