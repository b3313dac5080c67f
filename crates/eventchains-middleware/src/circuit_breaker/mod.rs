//! [`CircuitBreaker`]: stops calling an event that keeps failing, per event
//! name, and probes it again after a while.
//!
//! States: **closed** (events run and their outcomes are judged), **open**
//! (events are refused with a `cancelled` failure until `open_ms` passed),
//! **half-open** (trial calls run; the rest are refused). The first call after
//! the wait moves an open circuit to half-open by itself
//! ([`CircuitBreaker::state`] shows it too). Only errors whose kind is in
//! `trip_on` count as failures; other errors are ignored (neither success nor
//! failure). Two ways to judge a closed circuit:
//!
//! | mode | chosen by | opens when | half-open |
//! | --- | --- | --- | --- |
//! | consecutive (default) | neither rate set | `failure_threshold` counted failures in a row | up to `half_open_max_calls` trials at a time; `success_threshold` successes close, one failure reopens |
//! | rate (resilience4j) | `failure_rate` and/or `slow_call_rate` set | over a sliding window (`window` calls, or `window_ms` of time) holding at least `minimum_calls` calls, the failure rate reaches `failure_rate` or the rate of calls slower than `slow_call_ms` reaches `slow_call_rate` | exactly `half_open_max_calls` trials; when all ended, the same rates over them reopen or close |
//!
//! A consecutive-mode closed circuit costs a map lookup and two atomic loads
//! per event; locks are only taken on failures and in the other states. A
//! rate-mode circuit takes its lock once per call (and reads the clock twice
//! when slow calls are judged). Every state change goes to the `metrics`
//! facade ([`telemetry`](crate::telemetry)): the gauge
//! `eventchains_circuit_breaker_state` and the counter
//! `eventchains_circuit_breaker_transitions_total`, labelled by `breaker` (the
//! config's `id`) and `event`.

mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use eventchains_core::{ChainableEvent, ErrorKind, EventContext, EventError, EventMiddleware, EventResult, Next};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};
use crate::kind_set::KindSet;
use crate::telemetry;
use window::{SlidingWindow, Tally};

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The state of one event's circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Events run.
    Closed,
    /// Events are refused.
    Open,
    /// A few trial calls run; the rest are refused.
    HalfOpen,
}

impl CircuitState {
    /// The state's name in configs, logs and metric labels (`closed`, `open`, `half_open`).
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    fn from_u8(state: u8) -> Self {
        match state {
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }
}

/// Config of [`CircuitBreaker`] (registry name `circuit_breaker`); see the
/// [module docs](self) for the two modes.
///
/// ```
/// use eventchains_middleware::CircuitBreakerConfig;
/// let c: CircuitBreakerConfig = serde_json::from_str(r#"{"failure_threshold": 3, "open_ms": 500}"#).unwrap();
/// assert_eq!(c, CircuitBreakerConfig::default().failure_threshold(3).open_ms(500));
/// // resilience4j style: open when half of the last 10 calls failed.
/// let r: CircuitBreakerConfig =
///     serde_json::from_str(r#"{"failure_rate": 0.5, "window": 10, "minimum_calls": 10}"#).unwrap();
/// assert_eq!(r, CircuitBreakerConfig::default().failure_rate(Some(0.5)).window(Some(10)).minimum_calls(Some(10)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// Which [`Handles`](crate::Handles) entry holds the circuits when built from
    /// the registry (default `"circuit_breaker"`).
    pub id: Option<String>,
    /// Consecutive counted failures that open a closed circuit (default 5).
    pub failure_threshold: u32,
    /// Successful trials that close a half-open circuit (default 1).
    pub success_threshold: u32,
    /// How long a circuit stays open before a trial, in milliseconds (default 30000).
    pub open_ms: u64,
    /// Trial calls allowed at once while half-open (default 1).
    pub half_open_max_calls: u32,
    /// Error kinds that count as failures (default `["event", "timeout", "panic"]`).
    pub trip_on: Vec<ErrorKind>,
    /// Rate mode: the failure rate (0 < rate <= 1) over the window that opens
    /// the circuit (default: none).
    pub failure_rate: Option<f64>,
    /// Rate mode: the rate of slow calls (0 < rate <= 1) over the window that
    /// opens the circuit (default: none).
    pub slow_call_rate: Option<f64>,
    /// Rate mode: a call that took at least this long is slow, whatever its
    /// outcome (default 60000).
    pub slow_call_ms: u64,
    /// Rate mode: a count-based window of this many calls (default 100 when
    /// `window_ms` is not set either).
    pub window: Option<u32>,
    /// Rate mode: a time-based window of this many milliseconds, kept in ten
    /// buckets (default: none; exclusive with `window`).
    pub window_ms: Option<u64>,
    /// Rate mode: calls the window must hold before a rate is judged (default:
    /// the window's size for a count window, 10 for a time window; capped at
    /// the size of a count window).
    pub minimum_calls: Option<u32>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            id: None,
            failure_threshold: 5,
            success_threshold: 1,
            open_ms: 30_000,
            half_open_max_calls: 1,
            trip_on: vec![ErrorKind::Event, ErrorKind::Timeout, ErrorKind::Panic],
            failure_rate: None,
            slow_call_rate: None,
            slow_call_ms: 60_000,
            window: None,
            window_ms: None,
            minimum_calls: None,
        }
    }
}

setters!(CircuitBreakerConfig {
    /// Sets the failures that open the circuit.
    failure_threshold: u32,
    /// Sets the successes that close it.
    success_threshold: u32,
    /// Sets the open time in milliseconds.
    open_ms: u64,
    /// Sets the concurrent trials while half-open.
    half_open_max_calls: u32,
    /// Sets the error kinds that count.
    trip_on: Vec<ErrorKind>,
    /// Sets the failure rate that opens the circuit (rate mode).
    failure_rate: Option<f64>,
    /// Sets the slow-call rate that opens the circuit (rate mode).
    slow_call_rate: Option<f64>,
    /// Sets the duration from which a call is slow, in milliseconds.
    slow_call_ms: u64,
    /// Sets a count-based window.
    window: Option<u32>,
    /// Sets a time-based window in milliseconds.
    window_ms: Option<u64>,
    /// Sets the calls needed before a rate is judged.
    minimum_calls: Option<u32>,
} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

/// The rate mode's settings, checked.
#[derive(Clone, Debug)]
struct RatePolicy {
    failure_rate: Option<f64>,
    slow_rate: Option<f64>,
    /// `None` when slow calls are not judged (no clock reads then).
    slow_after: Option<Duration>,
    minimum_calls: u32,
    window: WindowSpec,
}

#[derive(Clone, Copy, Debug)]
enum WindowSpec {
    Count(u32),
    Time(Duration),
}

impl RatePolicy {
    fn from_config(config: &CircuitBreakerConfig) -> Result<Option<Self>, ConfigError> {
        if config.failure_rate.is_none() && config.slow_call_rate.is_none() {
            for (key, set) in [
                ("window", config.window.is_some()),
                ("window_ms", config.window_ms.is_some()),
                ("minimum_calls", config.minimum_calls.is_some()),
            ] {
                if set {
                    return Err(ConfigError::new(
                        "circuit_breaker",
                        format!("{key} needs failure_rate or slow_call_rate (the rate mode)"),
                    ));
                }
            }
            return Ok(None);
        }
        for (key, rate) in [("failure_rate", config.failure_rate), ("slow_call_rate", config.slow_call_rate)] {
            if let Some(rate) = rate
                && !(rate > 0.0 && rate <= 1.0)
            {
                return Err(ConfigError::new("circuit_breaker", format!("{key} must be in (0, 1], got {rate}")));
            }
        }
        let window = match (config.window, config.window_ms) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("circuit_breaker", "set window (calls) or window_ms (time), not both"));
            }
            (Some(0), _) | (_, Some(0)) => {
                return Err(ConfigError::new("circuit_breaker", "the window must be at least 1"));
            }
            (Some(calls), None) => WindowSpec::Count(calls),
            (None, Some(ms)) => WindowSpec::Time(Duration::from_millis(ms)),
            (None, None) => WindowSpec::Count(100),
        };
        let minimum_calls = match (config.minimum_calls, window) {
            (Some(0), _) => return Err(ConfigError::new("circuit_breaker", "minimum_calls must be at least 1")),
            (Some(n), WindowSpec::Count(size)) => n.min(size),
            (Some(n), WindowSpec::Time(_)) => n,
            (None, WindowSpec::Count(size)) => size,
            (None, WindowSpec::Time(_)) => 10,
        };
        Ok(Some(RatePolicy {
            failure_rate: config.failure_rate,
            slow_rate: config.slow_call_rate,
            slow_after: config.slow_call_rate.map(|_| Duration::from_millis(config.slow_call_ms)),
            minimum_calls,
            window,
        }))
    }

    fn new_window(&self) -> SlidingWindow {
        match self.window {
            WindowSpec::Count(size) => SlidingWindow::count(size),
            WindowSpec::Time(window) => SlidingWindow::time(window),
        }
    }

    /// `true` when `tally` (of at least `minimum` calls) breaks a threshold.
    fn trips(&self, tally: &Tally, minimum: u32) -> bool {
        tally.calls >= minimum
            && (self.failure_rate.is_some_and(|r| tally.failure_rate() >= r)
                || self.slow_rate.is_some_and(|r| tally.slow_rate() >= r))
    }
}

/// A circuit breaker per event name; see the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use eventchains_core::{EventChain, EventContext, EventError, ErrorKind, FnEvent};
/// use eventchains_middleware::{CircuitBreaker, CircuitBreakerConfig, CircuitState, ManualClock};
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(2).open_ms(1000))
///     .unwrap()
///     .with_clock(clock.shared());
/// let circuits = breaker.handle();
/// let chain = EventChain::new().middleware(breaker).event(FnEvent::new("pay", |_| Err(EventError::new("down"))));
/// chain.execute(&mut EventContext::new());
/// chain.execute(&mut EventContext::new());
/// assert_eq!(circuits.state("pay"), CircuitState::Open);
/// let refused = chain.execute(&mut EventContext::new());
/// assert_eq!(refused.failures()[0].kind(), ErrorKind::Cancelled);
/// clock.advance(Duration::from_secs(1));
/// chain.execute(&mut EventContext::new()); // the trial fails: open again
/// assert_eq!(circuits.state("pay"), CircuitState::Open);
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    /// The `breaker` label of its metrics: the config's id, or `circuit_breaker`.
    id: Arc<str>,
    rate: Option<RatePolicy>,
    open_for: Duration,
    trip_kinds: KindSet,
    handle: CircuitBreakerHandle,
    clock: SharedClock,
}

/// How an admitted call runs.
enum Admission {
    Closed,
    Trial,
}

/// What a call's result means to the breaker.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Success,
    Failure,
    Ignored,
}

impl Outcome {
    /// `Some(failed)` for a judged call.
    fn judged(self) -> Option<bool> {
        match self {
            Outcome::Success => Some(false),
            Outcome::Failure => Some(true),
            Outcome::Ignored => None,
        }
    }
}

impl CircuitBreaker {
    /// A breaker with `config`, fresh circuits and the system clock.
    pub fn new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        Self::with_parts(config, CircuitBreakerHandle::new(), system_clock())
    }

    /// A breaker keeping its circuits in `handle`, timed by `clock`.
    pub fn with_parts(
        config: CircuitBreakerConfig,
        handle: CircuitBreakerHandle,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        for (name, value) in [
            ("failure_threshold", config.failure_threshold),
            ("success_threshold", config.success_threshold),
            ("half_open_max_calls", config.half_open_max_calls),
        ] {
            if value == 0 {
                return Err(ConfigError::new("circuit_breaker", format!("{name} must be at least 1")));
            }
        }
        Ok(CircuitBreaker {
            id: config.id.as_deref().unwrap_or("circuit_breaker").into(),
            rate: RatePolicy::from_config(&config)?,
            open_for: Duration::from_millis(config.open_ms),
            trip_kinds: KindSet::of(&config.trip_on),
            config,
            handle,
            clock,
        })
    }

    /// Reads time through `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The handle to the circuits.
    pub fn handle(&self) -> CircuitBreakerHandle {
        self.handle.clone()
    }

    /// Its config.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// The state of `event`'s circuit now: an open circuit whose wait is
    /// over is moved to half-open (as the next call would do).
    pub fn state(&self, event: &str) -> CircuitState {
        let circuit = self.handle.circuit(event, &self.id);
        if circuit.state.load(Ordering::Acquire) == OPEN {
            let mut slow = circuit.lock();
            if circuit.state.load(Ordering::Acquire) == OPEN && self.wait_left(&slow).is_none() {
                self.half_open(&circuit, &mut slow, event);
            }
        }
        CircuitState::from_u8(circuit.state.load(Ordering::Acquire))
    }

    fn outcome(&self, result: &EventResult) -> Outcome {
        match result {
            Ok(()) => Outcome::Success,
            Err(e) if self.trip_kinds.contains(e.kind()) => Outcome::Failure,
            Err(_) => Outcome::Ignored,
        }
    }

    /// Moves `circuit` to `to`, with its log line and metrics.
    fn transition(&self, circuit: &Circuit, slow: &mut Slow, name: &str, to: u8) {
        let from = CircuitState::from_u8(circuit.state.swap(to, Ordering::AcqRel));
        circuit.failures.store(0, Ordering::Relaxed);
        slow.successes = 0;
        slow.trial = Tally::default();
        if let Some(window) = &mut slow.window {
            window.clear();
        }
        let to = CircuitState::from_u8(to);
        match to {
            CircuitState::Open => {
                slow.opened_at = self.clock.now();
                self.handle.inner.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = name, open_ms = self.config.open_ms, "circuit breaker opened");
            }
            CircuitState::HalfOpen => {
                slow.in_flight = 0;
                tracing::info!(event = name, "circuit breaker half-open");
            }
            CircuitState::Closed => tracing::info!(event = name, "circuit breaker closed"),
        }
        telemetry::breaker_transition(&self.id, name, from.as_str(), to.as_str());
    }

    fn open(&self, circuit: &Circuit, slow: &mut Slow, name: &str) {
        self.transition(circuit, slow, name, OPEN);
    }

    fn half_open(&self, circuit: &Circuit, slow: &mut Slow, name: &str) {
        self.transition(circuit, slow, name, HALF_OPEN);
    }

    fn after_closed_call(&self, circuit: &Circuit, name: &str, outcome: Outcome, slow_call: bool) {
        if let Some(rate) = &self.rate {
            let Some(failed) = outcome.judged() else { return };
            let mut slow = circuit.lock();
            if circuit.state.load(Ordering::Acquire) != CLOSED {
                return; // opened meanwhile by another call
            }
            let now = self.clock.now();
            let window = slow.window.get_or_insert_with(|| rate.new_window());
            window.record(now, failed, slow_call);
            let tally = window.totals(now);
            if rate.trips(&tally, rate.minimum_calls) {
                tracing::debug!(
                    event = name,
                    calls = tally.calls,
                    failure_rate = tally.failure_rate(),
                    slow_call_rate = tally.slow_rate(),
                    "circuit breaker: rate threshold reached"
                );
                self.open(circuit, &mut slow, name);
            }
            return;
        }
        match outcome {
            Outcome::Success => {
                if circuit.failures.load(Ordering::Relaxed) != 0 {
                    circuit.failures.store(0, Ordering::Relaxed);
                }
            }
            Outcome::Failure => {
                let failures = circuit.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if failures >= self.config.failure_threshold {
                    let mut slow = circuit.lock();
                    if circuit.state.load(Ordering::Acquire) == CLOSED {
                        self.open(circuit, &mut slow, name);
                    }
                }
            }
            Outcome::Ignored => {}
        }
    }

    /// How long an open circuit still waits; `None` when the wait is over.
    fn wait_left(&self, slow: &Slow) -> Option<Option<Duration>> {
        // An open time too large for an `Instant` keeps the circuit open.
        let Some(until) = slow.opened_at.checked_add(self.open_for) else { return Some(None) };
        let now = self.clock.now();
        (now < until).then(|| Some(until.duration_since(now)))
    }

    fn admit(&self, circuit: &Circuit, name: &str) -> Result<Admission, EventError> {
        let mut slow = circuit.lock();
        let mut state = circuit.state.load(Ordering::Acquire);
        if state == OPEN {
            if let Some(left) = self.wait_left(&slow) {
                let next_trial = match left {
                    Some(left) => format!("next trial in {} ms", left.as_millis().max(1)),
                    None => "no trial scheduled".to_owned(),
                };
                return Err(self.reject(name, format!("circuit breaker open for `{name}`; {next_trial}")));
            }
            self.half_open(circuit, &mut slow, name);
            state = HALF_OPEN;
        }
        if state == CLOSED {
            return Ok(Admission::Closed);
        }
        // Consecutive mode: trials at a time; rate mode: trials in all.
        let taken = match self.rate {
            Some(_) => slow.in_flight + slow.trial.calls,
            None => slow.in_flight,
        };
        if taken >= self.config.half_open_max_calls {
            return Err(self.reject(name, format!("circuit breaker half-open for `{name}`; trial calls in progress")));
        }
        slow.in_flight += 1;
        Ok(Admission::Trial)
    }

    fn reject(&self, name: &str, message: String) -> EventError {
        self.handle.inner.rejected.fetch_add(1, Ordering::Relaxed);
        telemetry::breaker_rejection(&self.id, name);
        EventError::cancelled(message)
    }

    fn after_trial(&self, circuit: &Circuit, name: &str, outcome: Outcome, slow_call: bool) {
        let mut slow = circuit.lock();
        slow.in_flight = slow.in_flight.saturating_sub(1);
        if circuit.state.load(Ordering::Acquire) != HALF_OPEN {
            return; // reset or reopened meanwhile
        }
        if let Some(rate) = &self.rate {
            let Some(failed) = outcome.judged() else { return };
            slow.trial.add(failed, slow_call);
            let permitted = self.config.half_open_max_calls;
            if slow.trial.calls >= permitted {
                let to = if rate.trips(&slow.trial, permitted) { OPEN } else { CLOSED };
                self.transition(circuit, &mut slow, name, to);
            }
            return;
        }
        match outcome {
            Outcome::Success => {
                slow.successes += 1;
                if slow.successes >= self.config.success_threshold {
                    self.transition(circuit, &mut slow, name, CLOSED);
                }
            }
            Outcome::Failure => self.open(circuit, &mut slow, name),
            Outcome::Ignored => {}
        }
    }
}

impl EventMiddleware for CircuitBreaker {
    fn name(&self) -> &str {
        "circuit_breaker"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let name = event.name();
        let circuit = self.handle.circuit(name, &self.id);
        let admission = if circuit.state.load(Ordering::Acquire) == CLOSED {
            Admission::Closed
        } else {
            self.admit(&circuit, name)?
        };
        let start = self.call_start();
        let result = next.run(ctx);
        self.settle(&circuit, name, admission, start, &result);
        result
    }

    crate::asynchronous::async_hooks!();
}

impl CircuitBreaker {
    /// When the call starts, if slow calls are counted.
    #[inline]
    fn call_start(&self) -> Option<Instant> {
        self.rate.as_ref().and_then(|r| r.slow_after).map(|_| self.clock.now())
    }

    /// Records the outcome of an admitted call.
    #[inline]
    fn settle(
        &self,
        circuit: &Circuit,
        name: &str,
        admission: Admission,
        start: Option<Instant>,
        result: &EventResult,
    ) {
        let slow_call = match (start, self.rate.as_ref().and_then(|r| r.slow_after)) {
            (Some(start), Some(after)) => self.clock.now().saturating_duration_since(start) >= after,
            _ => false,
        };
        let outcome = self.outcome(result);
        match admission {
            Admission::Closed => self.after_closed_call(circuit, name, outcome, slow_call),
            Admission::Trial => self.after_trial(circuit, name, outcome, slow_call),
        }
    }
}

#[cfg(feature = "async")]
mod async_form;

#[derive(Debug)]
struct Circuit {
    state: AtomicU8,
    /// Consecutive counted failures while closed.
    failures: AtomicU32,
    slow: Mutex<Slow>,
}

#[derive(Debug)]
struct Slow {
    opened_at: Instant,
    in_flight: u32,
    /// Consecutive mode: successful trials while half-open.
    successes: u32,
    /// Rate mode: the closed state's recent calls (created on first use).
    window: Option<SlidingWindow>,
    /// Rate mode: the outcomes of the trials while half-open.
    trial: Tally,
}

impl Circuit {
    fn new() -> Self {
        Circuit {
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            slow: Mutex::new(Slow {
                opened_at: Instant::now(),
                in_flight: 0,
                successes: 0,
                window: None,
                trial: Tally::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Circuits = HashMap<Box<str>, Arc<Circuit>, foldhash::fast::RandomState>;

/// The circuits of [`CircuitBreaker`], by event name; cloneable, shared.
#[derive(Clone, Debug, Default)]
pub struct CircuitBreakerHandle {
    inner: Arc<BreakerShared>,
}

#[derive(Debug, Default)]
struct BreakerShared {
    circuits: RwLock<Circuits>,
    rejected: AtomicU64,
    opened: AtomicU64,
}

impl CircuitBreakerHandle {
    /// No circuits yet (every event starts closed).
    pub fn new() -> Self {
        Self::default()
    }

    /// `event`'s circuit, created closed (and reported so to the metrics as
    /// breaker `id`) on first use.
    fn circuit(&self, event: &str, id: &str) -> Arc<Circuit> {
        if let Some(c) = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner).get(event) {
            return c.clone();
        }
        let mut map = self.inner.circuits.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(event.into())
            .or_insert_with(|| {
                telemetry::breaker_transition(id, event, "closed", "closed");
                Arc::new(Circuit::new())
            })
            .clone()
    }

    /// The state of `event`'s circuit (closed if it never ran).
    pub fn state(&self, event: &str) -> CircuitState {
        let map = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner);
        map.get(event).map_or(CircuitState::Closed, |c| CircuitState::from_u8(c.state.load(Ordering::Acquire)))
    }

    /// The state of every circuit, by event name.
    pub fn states(&self) -> BTreeMap<String, CircuitState> {
        let map = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, c)| (k.to_string(), CircuitState::from_u8(c.state.load(Ordering::Acquire)))).collect()
    }

    /// Consecutive counted failures of `event` while closed.
    pub fn consecutive_failures(&self, event: &str) -> u32 {
        let map = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner);
        map.get(event).map_or(0, |c| c.failures.load(Ordering::Relaxed))
    }

    /// Closes `event`'s circuit and forgets its failures.
    pub fn reset(&self, event: &str) {
        let map = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(event) {
            let mut slow = c.lock();
            slow.successes = 0;
            slow.trial = Tally::default();
            if let Some(window) = &mut slow.window {
                window.clear();
            }
            c.failures.store(0, Ordering::Relaxed);
            c.state.store(CLOSED, Ordering::Release);
        }
    }

    /// Closes every circuit.
    pub fn reset_all(&self) {
        self.inner.circuits.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Calls refused so far (open or saturated half-open circuits).
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// How many times a circuit opened.
    pub fn times_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use eventchains_core::FnEvent;

    use super::*;
    use crate::ManualClock;

    fn call(breaker: &Arc<dyn EventMiddleware>, name: &str, result: EventResult) -> EventResult {
        let event = FnEvent::new(name, move |_| result.clone());
        Next::new(&event, std::slice::from_ref(breaker)).run(&mut EventContext::new())
    }

    #[test]
    fn success_threshold_needs_several_trials_and_ignored_kinds_do_not_count() {
        let clock = ManualClock::new();
        let config = CircuitBreakerConfig::default().failure_threshold(1).success_threshold(2).open_ms(10);
        let b = CircuitBreaker::new(config).expect("valid").with_clock(clock.shared());
        let h = b.handle();
        let b: Arc<dyn EventMiddleware> = Arc::new(b);
        let _ = call(&b, "e", Err(EventError::limit_exceeded("not counted")));
        assert_eq!(h.state("e"), CircuitState::Closed);
        let _ = call(&b, "e", Err(EventError::new("down")));
        assert_eq!(h.states(), BTreeMap::from([("e".to_owned(), CircuitState::Open)]));
        clock.advance(Duration::from_millis(10));
        call(&b, "e", Ok(())).expect("trial");
        assert_eq!(h.state("e"), CircuitState::HalfOpen);
        call(&b, "e", Ok(())).expect("trial");
        assert_eq!(h.state("e"), CircuitState::Closed);
        assert_eq!(h.state("other"), CircuitState::Closed);
        assert_eq!(h.times_opened(), 1);
    }

    #[test]
    fn half_open_limits_concurrent_trials() {
        let clock = ManualClock::new();
        let b = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(1).open_ms(0))
            .expect("valid")
            .with_clock(clock.shared());
        let h = b.handle();
        let b: Arc<dyn EventMiddleware> = Arc::new(b);
        let _ = call(&b, "e", Err(EventError::new("down")));
        let inner = b.clone();
        let nested = FnEvent::new("e", move |_| {
            // While this trial runs, a second call on the same circuit is refused.
            let err = call(&inner, "e", Ok(())).expect_err("saturated");
            assert!(err.message().contains("half-open"), "{err}");
            Ok(())
        });
        Next::new(&nested, std::slice::from_ref(&b)).run(&mut EventContext::new()).expect("trial succeeds");
        assert_eq!(h.state("e"), CircuitState::Closed);
        assert_eq!(h.rejected(), 1);
    }

    #[test]
    fn an_open_time_beyond_any_instant_keeps_the_circuit_open() {
        let clock = ManualClock::new();
        let b = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(1).open_ms(u64::MAX))
            .expect("valid")
            .with_clock(clock.shared());
        let b: Arc<dyn EventMiddleware> = Arc::new(b);
        let _ = call(&b, "e", Err(EventError::new("down")));
        clock.advance(Duration::from_secs(365 * 24 * 3600));
        let err = call(&b, "e", Ok(())).expect_err("still open");
        assert!(err.message().starts_with("circuit breaker open for `e`"), "{err}");
    }

    #[test]
    fn reset_closes_and_zero_thresholds_are_rejected() {
        let b = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(1)).expect("valid");
        let h = b.handle();
        let b: Arc<dyn EventMiddleware> = Arc::new(b);
        let _ = call(&b, "e", Err(EventError::new("down")));
        assert_eq!(h.state("e"), CircuitState::Open);
        h.reset("e");
        call(&b, "e", Ok(())).expect("closed again");
        assert!(CircuitBreaker::new(CircuitBreakerConfig::default().success_threshold(0)).is_err());
    }
}
