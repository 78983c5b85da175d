//! The lag monitor as JS sees it: the `LoopMonitor` class (every read
//! method, usable from any thread) and the own-thread controls the façade
//! wraps into `lag`.

use super::monitor::{Monitor, Snapshot};
use super::{registry, watchdog};
use crate::args;
use crate::error::{Error, OrThrow};
use crate::thread::ThreadState;
use napi::bindgen_prelude::{Float64Array, Function, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use std::sync::Arc;

const NS_PER_MS: f64 = 1e6;

fn ms(ns: u64) -> f64 {
    ns as f64 / NS_PER_MS
}

/// Everything a monitor reports, read at one instant (ms unless noted).
#[napi(object)]
pub struct LagSnapshot {
    pub thread: String,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub min: f64,
    pub mean: f64,
    pub stddev: f64,
    /// Busy periods (poll to poll) recorded since the last reset.
    pub count: f64,
    /// Loop time observed since the last reset, in ms.
    pub observed_ms: f64,
    /// Event-loop utilisation since the last reset, 0..1.
    pub utilization: f64,
    /// Busy periods at least `stallThresholdMs` long.
    pub stalls: f64,
    /// Their total length, in ms.
    pub stalled_ms: f64,
    /// How long the loop has been busy right now (0 when responsive).
    pub stalled_for: f64,
    /// Epoch ms of the last reset.
    pub since: f64,
}

/// The lag monitor of one event loop (the main thread's or a worker's).
#[napi]
pub struct LoopMonitor {
    inner: Arc<Monitor>,
}

impl LoopMonitor {
    fn quantile(&self, q: f64) -> f64 {
        self.inner.with_histogram(|h| ms(h.quantile_ns(q)))
    }
}

#[napi]
impl LoopMonitor {
    /// `'main'` or `'worker-<threadId>'`.
    #[napi(getter)]
    pub fn thread(&self) -> String {
        self.inner.label.clone()
    }

    /// False once the monitor's thread has ended; reads then return the
    /// values frozen at that moment, and `stalledFor()` returns 0.
    #[napi(getter)]
    pub fn alive(&self) -> bool {
        self.inner.is_alive()
    }

    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.inner.running()
    }

    #[napi]
    pub fn p50(&self) -> f64 {
        self.quantile(0.5)
    }

    #[napi]
    pub fn p90(&self) -> f64 {
        self.quantile(0.9)
    }

    #[napi]
    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }

    #[napi]
    pub fn p999(&self) -> f64 {
        self.quantile(0.999)
    }

    /// The lag at percentile `q`, 0 < q <= 100.
    #[napi]
    pub fn percentile(&self, env: &Env, q: Unknown) -> napi::Result<f64> {
        let q = args::number_in(&q, "q", 0.0, true, 100.0, "> 0 and <= 100").or_throw(env)?;
        Ok(self.quantile(q / 100.0))
    }

    #[napi]
    pub fn max(&self) -> f64 {
        self.inner.with_histogram(|h| ms(h.max_ns()))
    }

    #[napi]
    pub fn min(&self) -> f64 {
        self.inner.with_histogram(|h| ms(h.min_ns()))
    }

    #[napi]
    pub fn mean(&self) -> f64 {
        self.inner.with_histogram(|h| h.mean_ns() / NS_PER_MS)
    }

    #[napi]
    pub fn stddev(&self) -> f64 {
        self.inner.with_histogram(|h| h.stddev_ns() / NS_PER_MS)
    }

    /// Busy periods (poll to poll) recorded since the last reset.
    #[napi]
    pub fn count(&self) -> f64 {
        self.inner.with_histogram(|h| h.periods() as f64)
    }

    #[napi]
    pub fn reset(&self) {
        self.inner.reset();
    }

    #[napi]
    pub fn utilization(&self) -> f64 {
        self.inner.utilization()
    }

    /// Milliseconds the loop has been continuously busy right now.
    #[napi]
    pub fn stalled_for(&self) -> f64 {
        ms(self.inner.stalled_for_ns())
    }

    #[napi]
    pub fn snapshot(&self) -> LagSnapshot {
        let Snapshot {
            hist,
            utilization,
            stalls,
            stalled_ns,
            since_ms,
            stalled_for_ns,
        } = self.inner.snapshot();
        let s = hist.summary(&[0.5, 0.9, 0.99, 0.999]);
        LagSnapshot {
            thread: self.inner.label.clone(),
            p50: ms(s.quantiles[0]),
            p90: ms(s.quantiles[1]),
            p99: ms(s.quantiles[2]),
            p999: ms(s.quantiles[3]),
            max: ms(hist.max_ns()),
            min: ms(s.min_ns),
            mean: s.mean_ns / NS_PER_MS,
            stddev: s.stddev_ns / NS_PER_MS,
            count: hist.periods() as f64,
            observed_ms: ms(hist.observed_ns()),
            utilization,
            stalls: stalls as f64,
            stalled_ms: ms(stalled_ns),
            stalled_for: ms(stalled_for_ns),
            since: since_ms,
        }
    }
}

/// What a metrics exporter reads of `monitor` (`lib/lag.js` `readExport`),
/// or null until `enableExport(windowMs)` was called. `bounds` are bucket
/// upper bounds in seconds, sorted; one observation is one µs of loop time.
/// Packed in one Float64Array (an object with named fields cost ~1.3 µs
/// more per read, ~4% of a scrape): the cumulative counts per bound, the
/// `+Inf` count, then the fields [`EXPORT_FIELDS`] names, in order. A free
/// function of the private binding, not a `LoopMonitor` method: it is no
/// part of the public API, and its arguments are the façade's own.
#[napi]
pub fn lag_export_read(
    monitor: &LoopMonitor,
    bounds: Vec<f64>,
    window_ms: f64,
) -> Option<Float64Array> {
    let bounds_ns: Vec<u64> = bounds.iter().map(|b| (b * 1e9) as u64).collect();
    let r = monitor
        .inner
        .export_read(&bounds_ns, window_span_ns(window_ms))?;
    Some(Float64Array::new(pack_export(&r)))
}

/// Packs an export read as `lagExportRead` returns it (the group reader
/// packs the reads it rebuilds with this too).
pub(crate) fn pack_export(r: &super::monitor::ExportRead) -> Vec<f64> {
    let w = &r.window;
    let s = |ns: u64| ns as f64 / 1e9;
    let mut out: Vec<f64> = r.cumulative.iter().map(|ns| (ns / 1_000) as f64).collect();
    let fields: [f64; EXPORT_FIELDS.len()] = [
        r.sum_s_us,
        r.stalls_total as f64,
        r.stalled_ns_total as f64 / 1e9,
        s(w.p50),
        s(w.p90),
        s(w.p99),
        s(w.p999),
        s(w.max),
        s(w.min),
        w.mean / 1e9,
        w.stddev / 1e9,
        w.utilization,
    ];
    out.extend_from_slice(&fields);
    out
}

/// The names of the fields `lagExportRead` packs after the histogram counts,
/// in order (times in seconds; `sum` is seconds of loop time × µs of lag).
/// The one statement of the layout: `lib/lag.js` reads it by these names.
pub const EXPORT_FIELDS: [&str; 12] = [
    "sum",
    "stallsTotal",
    "stallSecondsTotal",
    "windowP50",
    "windowP90",
    "windowP99",
    "windowP999",
    "windowMax",
    "windowMin",
    "windowMean",
    "windowStddev",
    "windowUtilization",
];

/// [`EXPORT_FIELDS`], for the façade.
#[napi]
pub fn export_fields() -> Vec<&'static str> {
    EXPORT_FIELDS.to_vec()
}

/// The window span for `window_ms`, as `enable_export` and `export_read`
/// both round it (a multiple of the slot count, 1 s .. 1 day).
pub(crate) fn window_span_ns(window_ms: f64) -> u64 {
    let ns = (window_ms.clamp(1_000.0, 86_400_000.0) * NS_PER_MS) as u64;
    let slots = super::window::SLOTS as u64;
    ns / slots * slots
}

/// Makes every monitor keep what exporters read, with a sliding window of
/// `windowMs` (several windows may coexist).
#[napi]
pub fn enable_export(window_ms: f64) {
    registry::enable_export(window_span_ns(window_ms));
}

/// Every live loop monitor in the process.
#[napi]
pub fn monitors() -> Vec<LoopMonitor> {
    registry::all()
        .into_iter()
        .map(|inner| LoopMonitor { inner })
        .collect()
}

/// The calling thread's monitor.
#[napi]
pub fn lag_monitor(env: &Env) -> napi::Result<LoopMonitor> {
    let state = ThreadState::get(env).or_throw(env)?;
    let inner = state.with_lag(|l| l.monitor()).or_throw(env)?;
    Ok(LoopMonitor { inner })
}

#[napi]
pub fn lag_start(env: &Env) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    state.with_lag(|l| l.start()).or_throw(env)?.or_throw(env)
}

#[napi]
pub fn lag_stop(env: &Env) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    state.with_lag(|l| l.stop()).or_throw(env)
}

/// Sets the function that receives `[durationMs, startedAt, endedAtHrMs]`
/// for every busy period of at least `thresholdMs` (the façade's
/// dispatcher), or clears it.
#[napi]
pub fn lag_set_stall_listener(
    env: &Env,
    listener: Option<Function<(f64, f64, f64), ()>>,
    threshold_ms: f64,
) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    let threshold_ns = (threshold_ms.max(0.0) * NS_PER_MS) as u64;
    state
        .with_lag(|l| l.set_listener(listener.map(|f| (f, threshold_ns))))
        .or_throw(env)?
}

/// `lag.configure({ stallThresholdMs, logStalls })` for this thread's monitor.
#[napi]
pub fn lag_configure(env: &Env, options: Unknown) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    let monitor = state.with_lag(|l| l.monitor()).or_throw(env)?;
    configure(&monitor, &options).or_throw(env)?;
    watchdog::notify();
    Ok(())
}

fn configure(monitor: &Monitor, options: &Unknown) -> Result<(), Error> {
    use napi::bindgen_prelude::JsObjectValue;
    if options.get_type().ok() != Some(ValueType::Object) {
        return Err(Error::invalid_arg_type(
            "options",
            "of type object",
            args::describe(options),
        ));
    }
    let obj = options
        .coerce_to_object()
        .map_err(|_| Error::invalid_arg_type("options", "of type object", "a value"))?;
    let get = |name: &str| -> Option<Unknown> {
        let v: Unknown = obj.get_named_property(name).ok()?;
        (v.get_type().ok()? != ValueType::Undefined).then_some(v)
    };
    let mut stall_threshold = None;
    if let Some(v) = get("stallThresholdMs") {
        let n = args::number_in(
            &v,
            "options.stallThresholdMs",
            0.0,
            true,
            3_600_000.0,
            "> 0 and <= 3600000",
        )?;
        stall_threshold = Some((n * NS_PER_MS) as u64);
    }
    let mut log_threshold = None;
    if let Some(v) = get("logStalls") {
        match v.get_type().ok() {
            Some(ValueType::Boolean) | Some(ValueType::Null) => {
                let on = v.coerce_to_bool();
                if on.unwrap_or(false) {
                    return Err(Error::invalid_arg_type(
                        "options.logStalls",
                        "false, null or an object like { thresholdMs: 1000 }",
                        "type boolean (true)",
                    ));
                }
                log_threshold = Some(0);
            }
            Some(ValueType::Object) => {
                let o = v.coerce_to_object().map_err(|_| {
                    Error::invalid_arg_type("options.logStalls", "of type object", "a value")
                })?;
                let t: Unknown = o.get_named_property("thresholdMs").map_err(|_| {
                    Error::invalid_arg_type(
                        "options.logStalls.thresholdMs",
                        "of type number",
                        "undefined",
                    )
                })?;
                let n = args::number_in(
                    &t,
                    "options.logStalls.thresholdMs",
                    0.0,
                    true,
                    3_600_000.0,
                    "> 0 and <= 3600000",
                )?;
                log_threshold = Some((n * NS_PER_MS) as u64);
            }
            _ => {
                return Err(Error::invalid_arg_type(
                    "options.logStalls",
                    "false, null or an object like { thresholdMs: 1000 }",
                    args::describe(&v),
                ))
            }
        }
    }
    // Apply only once everything validated.
    if let Some(ns) = stall_threshold {
        monitor.set_stall_threshold_ns(ns);
    }
    if let Some(ns) = log_threshold {
        monitor.set_log_threshold_ns(ns);
    }
    Ok(())
}

/// `{ stallThresholdMs, logStalls }` as configured on this thread.
#[napi(object)]
pub struct LagConfig {
    pub stall_threshold_ms: f64,
    /// `logStalls.thresholdMs`, or null when off.
    pub log_stalls_threshold_ms: Option<f64>,
}

#[napi]
pub fn lag_config(env: &Env) -> napi::Result<LagConfig> {
    let state = ThreadState::get(env).or_throw(env)?;
    let m = state.with_lag(|l| l.monitor()).or_throw(env)?;
    let log = m.log_threshold_ns();
    Ok(LagConfig {
        stall_threshold_ms: ms(m.stall_threshold_ns()),
        log_stalls_threshold_ms: (log > 0).then(|| ms(log)),
    })
}

/// Stall culprits' precise mode: busy `thresholdMs`, this thread's loop is
/// reported to the capturer while it is still stuck (0 turns it off).
#[napi]
pub fn lag_set_capture_threshold(env: &Env, threshold_ms: f64) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    let monitor = state.with_lag(|l| l.monitor()).or_throw(env)?;
    monitor.set_capture_threshold_ns((threshold_ms.max(0.0) * NS_PER_MS) as u64);
    watchdog::notify();
    Ok(())
}

/// Sets the function the watchdog calls, on this thread's loop, with
/// `(stallStartHrMs, busyMs)` when a loop with a capture threshold has been
/// stuck that long, replacing any other. The function keeps this thread's
/// loop alive until cleared. Returns the number that clears it.
#[napi]
pub fn culprits_set_capturer(listener: Function<(f64, f64), ()>) -> napi::Result<u32> {
    let capturer = listener
        .build_threadsafe_function::<(f64, f64)>()
        .callee_handled::<false>()
        .build()?;
    Ok(watchdog::set_capturer(capturer))
}

/// Clears the capturer set under `id` (a newer one stays).
#[napi]
pub fn culprits_clear_capturer(id: u32) {
    watchdog::clear_capturer(id);
}

/// Makes this thread's loop block SIGPROF while it polls (before a CPU
/// profile starts on it), so the profiler's signals do not turn idle time
/// into phantom busy periods.
#[napi]
pub fn lag_block_profiler_signal(env: &Env) -> napi::Result<()> {
    let state = ThreadState::get(env).or_throw(env)?;
    state
        .with_lag(|l| l.block_profiler_signal_in_poll())
        .or_throw(env)?
        .or_throw(env)
}
