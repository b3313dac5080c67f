//! [`Metrics`]: per event name, executions, successes, failures by kind and
//! latency (total, min, max, mean, p50 / p95 / p99 from an hdrhistogram),
//! read through a cloneable [`MetricsHandle`].
//!
//! Recording is sharded: each thread records into one of several shards (one
//! per core by default, at most 16), each a mutex-guarded map from event name
//! to counters and a histogram. Threads running the same chain therefore
//! rarely touch the same lock or cache line; a snapshot merges the shards.
//! A shard finds an event's figures without hashing its name: an index keyed
//! by where the caller keeps the chain and event names (a chain's events keep
//! theirs for its whole life) remembers the entry, and a hit is confirmed by
//! comparing the names themselves (word loads for names of up to 16 bytes),
//! so a name freed and another allocated at its address is never mistaken
//! for it.
//!
//! The same figures go to the [`metrics`](https://docs.rs/metrics) facade, so
//! whatever recorder the application installs (Prometheus, OpenTelemetry,
//! statsd) sees them: the counter
//! [`eventchains_event_executions_total`](crate::telemetry::names::EVENT_EXECUTIONS)
//! by `chain`, `event`, `outcome` and `error_kind`, and the histogram
//! [`eventchains_event_duration_seconds`](crate::telemetry::names::EVENT_DURATION)
//! by `chain` and `event`. Each shard registers its facade handles on the
//! first execution of a (chain, event) pair and reuses them, so with no
//! recorder installed the facade costs a few branches per event. Install the
//! recorder before the first execution (or [`reset`](MetricsHandle::reset) the
//! handle after installing it): handles registered before stay with the
//! recorder that was current then.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use eventchains_core::{ChainableEvent, ErrorKind, EventContext, EventMiddleware, EventResult, Next};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::setters;
use crate::kind_set::{ALL_KINDS, kind_index};
use crate::telemetry::names;

mod address_index;

use address_index::{AddressIndex, NamesAt};

/// Significant figures of the latency histograms (1% precision).
const SIGNIFICANT_FIGURES: u8 = 2;
/// The most shards a handle uses by default.
const MAX_DEFAULT_SHARDS: usize = 16;

/// Config of [`Metrics`] (registry name `metrics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Which [`Handles`](crate::Handles) entry records the figures when built
    /// from the registry (default `"metrics"`); ignored by [`Metrics::new`].
    pub id: Option<String>,
}

setters!(MetricsConfig {} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

/// Records every event execution into a [`MetricsHandle`].
///
/// ```
/// use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent};
/// use eventchains_middleware::Metrics;
/// let metrics = Metrics::new();
/// let handle = metrics.handle();
/// let chain = EventChain::new()
///     .fault_tolerance(FaultToleranceMode::Lenient)
///     .middleware(metrics)
///     .event(FnEvent::new("ok", |_| Ok(())))
///     .event(FnEvent::new("bad", |_| Err(EventError::new("no"))));
/// chain.execute(&mut EventContext::new());
/// chain.execute(&mut EventContext::new());
/// let snapshot = handle.snapshot();
/// assert_eq!(snapshot.event("ok").unwrap().successes, 2);
/// assert_eq!(snapshot.event("bad").unwrap().failures_by_kind["event"], 2);
/// let json = snapshot.to_json();
/// assert_eq!(json["bad"]["failures"], 2);
/// handle.reset();
/// assert!(handle.snapshot().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: MetricsHandle,
    clock: SharedClock,
}

impl Metrics {
    /// A metrics middleware with a fresh handle.
    pub fn new() -> Self {
        Self::with_handle(MetricsHandle::new())
    }

    /// A metrics middleware recording into `handle` (shared with other chains).
    pub fn with_handle(handle: MetricsHandle) -> Self {
        Metrics { handle, clock: system_clock() }
    }

    /// Uses `clock` to measure durations.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// A handle to the recorded figures; it stays valid after the middleware
    /// moved into a chain.
    pub fn handle(&self) -> MetricsHandle {
        self.handle.clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EventMiddleware for Metrics {
    fn name(&self) -> &str {
        "metrics"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let start = self.clock.now();
        let result = next.run(ctx);
        let elapsed = self.clock.now().saturating_duration_since(start);
        self.handle.record_inline(next.chain_name(), event.name(), elapsed, result.as_ref().err().map(|e| e.kind()));
        result
    }
}

/// The shared state of [`Metrics`]: cloneable, `Send + Sync`; read it with
/// [`snapshot`](Self::snapshot), clear it with [`reset`](Self::reset).
#[derive(Clone)]
pub struct MetricsHandle {
    shards: Arc<[Shard]>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

/// One shard, on its own cache lines.
#[repr(align(128))]
struct Shard(Mutex<ShardState>);

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        // Stats stay consistent even if a holder panicked: every update is a plain write.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one shard holds: the figures per event name, and an index that
/// finds them without hashing the name.
#[derive(Default)]
struct ShardState {
    /// Event name -> position in `events`.
    index: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    /// The figures and series of each event, in the order first seen.
    events: Vec<Entry>,
    /// (chain, event) pairs known, i.e. series in all of `events`.
    pairs: usize,
    /// Where callers keep their (chain, event) names -> positions in
    /// `events` and in that entry's `series`.
    addresses: AddressIndex,
}

impl ShardState {
    /// The figures of `event` and its facade series in `chain`, registering
    /// them on first use.
    #[inline(always)]
    fn find(&mut self, chain: Option<&str>, event: &str) -> (&mut Stats, &mut Series) {
        let (entry, series) = match self.addresses.get(NamesAt::of(chain, event)) {
            Some((entry, series)) if self.confirms(entry, series, chain, event) => (entry, series),
            _ => self.find_slow(chain, event),
        };
        let entry = &mut self.events[entry];
        (&mut entry.stats, &mut entry.series[series])
    }

    /// Whether the positions found by address hold `event` in `chain`: the
    /// addresses are a hint (a name can be freed and another one allocated
    /// where it was), the names decide.
    #[inline(always)]
    fn confirms(&self, entry: usize, series: usize, chain: Option<&str>, event: &str) -> bool {
        let Some(found) = self.events.get(entry) else { return false };
        let Some(found_series) = found.series.get(series) else { return false };
        same_text(&found.name, event) && same_chain(found_series.chain.as_deref(), chain)
    }

    /// Positions of the entry and series of (`chain`, `event`) found by
    /// hashing the event name (registered on first use); remembered by the
    /// names' addresses.
    #[cold]
    #[inline(never)]
    fn find_slow(&mut self, chain: Option<&str>, event: &str) -> (usize, usize) {
        let entry = match self.index.get(event) {
            Some(&entry) => entry,
            None => {
                self.events.push(Entry { name: event.into(), stats: Stats::new(), series: Vec::new() });
                self.index.insert(event.into(), self.events.len() - 1);
                self.events.len() - 1
            }
        };
        let known = self.events[entry].series.len();
        let series = self.events[entry].series_position(chain);
        self.pairs += self.events[entry].series.len() - known;
        self.addresses.insert(NamesAt::of(chain, event), (entry, series), self.pairs);
        (entry, series)
    }

    /// Forgets every figure, series and cached address.
    fn clear(&mut self) {
        *self = ShardState::default();
    }
}

/// `a == b`, without a call to `memcmp` for names of up to 16 bytes.
#[inline(always)]
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = a.len();
    if len != b.len() {
        return false;
    }
    // Two overlapping loads cover the whole name.
    match len {
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        4..=7 => a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>(),
        _ => a == b,
    }
}

/// `a == b` for chain names, with [`same_text`].
#[inline(always)]
fn same_chain(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_text(a, b),
        _ => false,
    }
}

/// The figures and facade series of one event name, in one shard.
struct Entry {
    /// The event name (also the key of [`ShardState::index`]).
    name: Box<str>,
    stats: Stats,
    /// The facade handles of this event, one entry per chain seen (usually one).
    series: Vec<Series>,
}

impl Entry {
    /// The position of the facade handles for `chain` (registered on first use).
    fn series_position(&mut self, chain: Option<&str>) -> usize {
        match self.series.iter().position(|s| s.chain.as_deref() == chain) {
            Some(index) => index,
            None => {
                self.series.push(Series::new(chain, &self.name));
                self.series.len() - 1
            }
        }
    }
}

struct Stats {
    executions: u64,
    successes: u64,
    failures: [u64; 6],
    total_ns: u128,
    min_ns: u64,
    max_ns: u64,
    histogram: Histogram<u64>,
}

/// The `metrics` facade handles of one (chain, event) pair.
struct Series {
    chain: Option<Box<str>>,
    successes: metrics::Counter,
    /// Registered on the first failure of each kind.
    failures: [Option<metrics::Counter>; 6],
    duration: metrics::Histogram,
}

impl Series {
    fn new(chain: Option<&str>, event: &str) -> Self {
        let (chain_label, event_label) = (chain.unwrap_or("").to_owned(), event.to_owned());
        Series {
            chain: chain.map(Into::into),
            successes: metrics::counter!(
                names::EVENT_EXECUTIONS,
                names::CHAIN => chain_label.clone(),
                names::EVENT => event_label.clone(),
                names::OUTCOME => "success"
            ),
            failures: Default::default(),
            duration: metrics::histogram!(names::EVENT_DURATION, names::CHAIN => chain_label, names::EVENT => event_label),
        }
    }

    #[inline]
    fn record(&mut self, event: &str, elapsed: Duration, failure: Option<ErrorKind>) {
        match failure {
            None => self.successes.increment(1),
            Some(kind) => match &self.failures[kind_index(kind)] {
                Some(counter) => counter.increment(1),
                None => self.first_failure(event, kind),
            },
        }
        // A `Duration` is converted to seconds only when a recorder is installed
        // (a no-op histogram skips the conversion: no division per event).
        self.duration.record(elapsed);
    }

    /// Registers and counts the first failure of `kind`.
    #[cold]
    #[inline(never)]
    fn first_failure(&mut self, event: &str, kind: ErrorKind) {
        let counter = metrics::counter!(
            names::EVENT_EXECUTIONS,
            names::CHAIN => self.chain.as_deref().unwrap_or("").to_owned(),
            names::EVENT => event.to_owned(),
            names::OUTCOME => "failure",
            names::ERROR_KIND => kind.as_str()
        );
        counter.increment(1);
        self.failures[kind_index(kind)] = Some(counter);
    }
}

impl Stats {
    fn new() -> Self {
        Stats {
            executions: 0,
            successes: 0,
            failures: [0; 6],
            total_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            histogram: Histogram::new(SIGNIFICANT_FIGURES).expect("2 significant figures are valid"),
        }
    }

    /// Counts one execution into the store (the facade is apart: [`Series::record`]).
    #[inline]
    fn record(&mut self, ns: u64, failure: Option<ErrorKind>) {
        self.executions += 1;
        match failure {
            None => self.successes += 1,
            Some(kind) => self.failures[kind_index(kind)] += 1,
        }
        self.total_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        if self.histogram.record(ns).is_err() {
            // Beyond what an auto-resizing histogram tracks (centuries): clamp.
            self.histogram.saturating_record(ns);
        }
    }

    fn merge(&mut self, other: &Stats) {
        self.executions += other.executions;
        self.successes += other.successes;
        for (a, b) in self.failures.iter_mut().zip(other.failures) {
            *a += b;
        }
        self.total_ns += other.total_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        // Both histograms auto-resize, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    fn to_metrics(&self) -> EventMetrics {
        let failures_by_kind = ALL_KINDS
            .iter()
            .zip(self.failures)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| (kind.as_str().to_owned(), n))
            .collect();
        let (min_ns, mean_ns) = if self.executions == 0 {
            (0, 0)
        } else {
            (self.min_ns, u64::try_from(self.total_ns / u128::from(self.executions)).unwrap_or(u64::MAX))
        };
        EventMetrics {
            executions: self.executions,
            successes: self.successes,
            failures: self.failures.iter().sum(),
            failures_by_kind,
            total_ns: u64::try_from(self.total_ns).unwrap_or(u64::MAX),
            min_ns,
            max_ns: self.max_ns,
            mean_ns,
            p50_ns: self.histogram.value_at_quantile(0.50),
            p95_ns: self.histogram.value_at_quantile(0.95),
            p99_ns: self.histogram.value_at_quantile(0.99),
        }
    }
}

fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.with(|slot| *slot)
}

impl MetricsHandle {
    /// An empty handle with one shard per available core (rounded up to a power of two, at most 16).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_shards(cores.min(MAX_DEFAULT_SHARDS))
    }

    /// An empty handle with `shards` shards, rounded up to a power of two (at least one).
    pub fn with_shards(shards: usize) -> Self {
        let count = shards.max(1).checked_next_power_of_two().unwrap_or(1 << (usize::BITS - 1));
        let shards: Vec<Shard> = (0..count).map(|_| Shard(Mutex::default())).collect();
        MetricsHandle { shards: shards.into() }
    }

    /// The number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Records one execution of `event` that took `elapsed` and failed with
    /// `failure` (`None` for a success), in an unnamed chain.
    pub fn record(&self, event: &str, elapsed: Duration, failure: Option<ErrorKind>) {
        self.record_in(None, event, elapsed, failure);
    }

    /// Records one execution of `event` in the chain named `chain` that took
    /// `elapsed` and failed with `failure` (`None` for a success), here and
    /// through the `metrics` facade. [`Metrics`] calls this; hosts can too.
    pub fn record_in(&self, chain: Option<&str>, event: &str, elapsed: Duration, failure: Option<ErrorKind>) {
        self.record_inline(chain, event, elapsed, failure);
    }

    /// [`record_in`](Self::record_in), inlined into [`Metrics`]' hot path
    /// (a call with this many arguments spills to the stack).
    #[inline(always)]
    fn record_inline(&self, chain: Option<&str>, event: &str, elapsed: Duration, failure: Option<ErrorKind>) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // The shard count is a power of two: a mask picks the thread's shard.
        let shard = &self.shards[thread_slot() & (self.shards.len() - 1)];
        let mut state = shard.lock();
        let (stats, series) = state.find(chain, event);
        stats.record(ns, failure);
        series.record(event, elapsed, failure);
    }

    /// The figures so far, per event name.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut merged: BTreeMap<String, Stats> = BTreeMap::new();
        for shard in self.shards.iter() {
            for entry in &shard.lock().events {
                match merged.get_mut(&*entry.name) {
                    Some(total) => total.merge(&entry.stats),
                    None => {
                        let mut total = Stats::new();
                        total.merge(&entry.stats);
                        merged.insert(entry.name.to_string(), total);
                    }
                }
            }
        }
        MetricsSnapshot { events: merged.into_iter().map(|(name, stats)| (name, stats.to_metrics())).collect() }
    }

    /// Forgets every figure (and the facade handles, which are registered
    /// again with the current recorder on the next execution).
    pub fn reset(&self) {
        for shard in self.shards.iter() {
            shard.lock().clear();
        }
    }
}

impl Default for MetricsHandle {
    fn default() -> Self {
        Self::new()
    }
}

/// The figures of one event name. Durations are in nanoseconds; percentiles
/// come from an hdrhistogram with 1% precision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetrics {
    /// Executions recorded (successes + failures).
    pub executions: u64,
    /// Successful executions.
    pub successes: u64,
    /// Failed executions.
    pub failures: u64,
    /// Failed executions by [`ErrorKind`] name (`"event"`, `"timeout"`, ...); kinds that never happened are left out.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Sum of all durations.
    pub total_ns: u64,
    /// Shortest duration (0 with no executions).
    pub min_ns: u64,
    /// Longest duration.
    pub max_ns: u64,
    /// Mean duration.
    pub mean_ns: u64,
    /// Median duration.
    pub p50_ns: u64,
    /// 95th percentile.
    pub p95_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
}

/// A point-in-time copy of a [`MetricsHandle`]'s figures, by event name
/// (sorted). Serializes to a JSON object keyed by event name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetricsSnapshot {
    /// The figures per event name.
    pub events: BTreeMap<String, EventMetrics>,
}

impl MetricsSnapshot {
    /// The figures of `event`, if it ran.
    pub fn event(&self, event: &str) -> Option<&EventMetrics> {
        self.events.get(event)
    }

    /// `true` when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The snapshot as JSON: `{"<event>": {"executions": ..., "p99_ns": ...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_shards_and_computes_percentiles() {
        let handle = MetricsHandle::with_shards(4);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let handle = handle.clone();
                s.spawn(move || {
                    for i in 1..=100u64 {
                        handle.record("e", Duration::from_nanos(i * 1000), (i % 10 == 0).then_some(ErrorKind::Timeout));
                    }
                    let _ = t;
                });
            }
        });
        let m = handle.snapshot().event("e").cloned().expect("recorded");
        assert_eq!(m.executions, 400);
        assert_eq!(m.successes, 360);
        assert_eq!(m.failures_by_kind, BTreeMap::from([("timeout".to_owned(), 40)]));
        assert_eq!(m.min_ns, 1000);
        assert_eq!(m.max_ns, 100_000);
        assert_eq!(m.mean_ns, 50_500);
        let close = |got: u64, want: u64| got.abs_diff(want) * 100 <= want;
        assert!(close(m.p50_ns, 50_000), "p50 {}", m.p50_ns);
        assert!(close(m.p95_ns, 95_000), "p95 {}", m.p95_ns);
        assert!(close(m.p99_ns, 99_000), "p99 {}", m.p99_ns);
    }

    proptest::proptest! {
        /// `same_text` is `==` for every length, including names that differ
        /// in one byte only (an alphabet of two letters makes them common).
        #[test]
        fn same_text_is_string_equality(a in "[ab]{0,40}", flip in 0usize..40, cut in 0usize..3) {
            let mut b: Vec<u8> = a.clone().into_bytes();
            if let Some(byte) = b.get_mut(flip) {
                *byte = if *byte == b'a' { b'b' } else { b'a' };
            }
            b.truncate(b.len().saturating_sub(cut % 2));
            let b = String::from_utf8(b).expect("ascii");
            proptest::prop_assert_eq!(same_text(&a, &b), a == b);
            proptest::prop_assert!(same_text(&a, &a));
            proptest::prop_assert_eq!(same_chain(Some(&a), Some(&b)), a == b);
            proptest::prop_assert!(!same_chain(None, Some(&a)) && same_chain(None, None));
        }
    }

    #[test]
    fn empty_stats_report_zero_min() {
        let m = Stats::new().to_metrics();
        assert_eq!((m.min_ns, m.mean_ns, m.p99_ns), (0, 0, 0));
        assert_eq!(MetricsHandle::with_shards(0).shard_count(), 1);
        assert_eq!(MetricsHandle::with_shards(3).shard_count(), 4);
    }
}
