//! [`CircuitBreaker`]: stops calling an event that keeps failing, per event
//! name, and probes it again after a while.
//!
//! States: **closed** (events run; consecutive counted failures are tallied),
//! **open** (events are refused with a `cancelled` failure until `open_ms`
//! passed), **half-open** (up to `half_open_max_calls` trial calls at a time;
//! `success_threshold` successes close the circuit, one counted failure opens
//! it again). Only errors whose kind is in `trip_on` count as failures; other
//! errors change nothing. The closed state costs a map lookup and two atomic
//! loads per event; locks are only taken on failures and in the other states.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use eventchains_core::{ChainableEvent, ErrorKind, EventContext, EventError, EventMiddleware, EventResult, Next};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};
use crate::kind_set::KindSet;

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
    fn from_u8(state: u8) -> Self {
        match state {
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }
}

/// Config of [`CircuitBreaker`] (registry name `circuit_breaker`).
///
/// ```
/// use eventchains_middleware::CircuitBreakerConfig;
/// let c: CircuitBreakerConfig = serde_json::from_str(r#"{"failure_threshold": 3, "open_ms": 500}"#).unwrap();
/// assert_eq!(c, CircuitBreakerConfig::default().failure_threshold(3).open_ms(500));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
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
});

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
#[derive(PartialEq)]
enum Outcome {
    Success,
    Failure,
    Ignored,
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

    fn outcome(&self, result: &EventResult) -> Outcome {
        match result {
            Ok(()) => Outcome::Success,
            Err(e) if self.trip_kinds.contains(e.kind()) => Outcome::Failure,
            Err(_) => Outcome::Ignored,
        }
    }

    fn open(&self, circuit: &Circuit, slow: &mut Slow, name: &str) {
        circuit.state.store(OPEN, Ordering::Release);
        circuit.failures.store(0, Ordering::Relaxed);
        slow.opened_at = self.clock.now();
        self.handle.inner.opened.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(event = name, open_ms = self.config.open_ms, "circuit breaker opened");
    }

    fn after_closed_call(&self, circuit: &Circuit, name: &str, outcome: Outcome) {
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

    fn admit(&self, circuit: &Circuit, name: &str) -> Result<Admission, EventError> {
        let mut slow = circuit.lock();
        let mut state = circuit.state.load(Ordering::Acquire);
        if state == OPEN {
            // An open time too large for an `Instant` keeps the circuit open.
            let until = slow.opened_at.checked_add(self.open_for);
            let now = self.clock.now();
            if until.is_none_or(|until| now < until) {
                let next_trial = match until {
                    Some(until) => format!("next trial in {} ms", until.duration_since(now).as_millis().max(1)),
                    None => "no trial scheduled".to_owned(),
                };
                return Err(self.reject(format!("circuit breaker open for `{name}`; {next_trial}")));
            }
            circuit.state.store(HALF_OPEN, Ordering::Release);
            slow.in_flight = 0;
            slow.successes = 0;
            state = HALF_OPEN;
            tracing::info!(event = name, "circuit breaker half-open");
        }
        if state == CLOSED {
            return Ok(Admission::Closed);
        }
        if slow.in_flight >= self.config.half_open_max_calls {
            return Err(self.reject(format!("circuit breaker half-open for `{name}`; trial calls in progress")));
        }
        slow.in_flight += 1;
        Ok(Admission::Trial)
    }

    fn reject(&self, message: String) -> EventError {
        self.handle.inner.rejected.fetch_add(1, Ordering::Relaxed);
        EventError::cancelled(message)
    }

    fn after_trial(&self, circuit: &Circuit, name: &str, outcome: Outcome) {
        let mut slow = circuit.lock();
        slow.in_flight = slow.in_flight.saturating_sub(1);
        if circuit.state.load(Ordering::Acquire) != HALF_OPEN {
            return; // reset or reopened meanwhile
        }
        match outcome {
            Outcome::Success => {
                slow.successes += 1;
                if slow.successes >= self.config.success_threshold {
                    circuit.failures.store(0, Ordering::Relaxed);
                    circuit.state.store(CLOSED, Ordering::Release);
                    tracing::info!(event = name, "circuit breaker closed");
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
        let circuit = self.handle.circuit(name);
        let admission = if circuit.state.load(Ordering::Acquire) == CLOSED {
            Admission::Closed
        } else {
            self.admit(&circuit, name)?
        };
        let result = next.run(ctx);
        let outcome = self.outcome(&result);
        match admission {
            Admission::Closed => self.after_closed_call(&circuit, name, outcome),
            Admission::Trial => self.after_trial(&circuit, name, outcome),
        }
        result
    }
}

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
    successes: u32,
}

impl Circuit {
    fn new() -> Self {
        Circuit {
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            slow: Mutex::new(Slow { opened_at: Instant::now(), in_flight: 0, successes: 0 }),
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

    fn circuit(&self, event: &str) -> Arc<Circuit> {
        if let Some(c) = self.inner.circuits.read().unwrap_or_else(PoisonError::into_inner).get(event) {
            return c.clone();
        }
        let mut map = self.inner.circuits.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(event.into()).or_insert_with(|| Arc::new(Circuit::new())).clone()
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
