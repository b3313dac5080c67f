//! [`Chaos`]: seeded fault injection for testing how a chain copes: event
//! failures, middleware failures, latency and skipped events, with stats.
//! Feature `chaos`, off by default; not for production.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};

/// Config of [`Chaos`] (registry name `chaos`). Rates are probabilities per
/// execution; `skip_rate + middleware_failure_rate + event_failure_rate` must
/// not exceed 1.
///
/// ```
/// use eventchains_middleware::ChaosConfig;
/// let c: ChaosConfig = serde_json::from_str(r#"{"seed": 7, "event_failure_rate": 0.1}"#).unwrap();
/// assert_eq!(c, ChaosConfig::default().seed(Some(7)).event_failure_rate(0.1));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ChaosConfig {
    /// Which [`Handles`](crate::Handles) entry keeps the stats when built from
    /// the registry (default `"chaos"`).
    pub id: Option<String>,
    /// Seed of the random generator, for reproducible runs (default: random).
    pub seed: Option<u64>,
    /// Probability of failing the event without running it (kind `event`).
    pub event_failure_rate: f64,
    /// Probability of a middleware failure (kind `middleware`) instead of running the event.
    pub middleware_failure_rate: f64,
    /// Probability of skipping the event: it does not run and the call succeeds.
    pub skip_rate: f64,
    /// Probability of adding `latency_ms` before the event.
    pub latency_rate: f64,
    /// Added latency in milliseconds.
    pub latency_ms: u64,
    /// Only these event names are affected (default: all).
    pub events: Option<Vec<String>>,
}

setters!(ChaosConfig {
    /// Sets the seed.
    seed: Option<u64>,
    /// Sets the event failure rate.
    event_failure_rate: f64,
    /// Sets the middleware failure rate.
    middleware_failure_rate: f64,
    /// Sets the skip rate.
    skip_rate: f64,
    /// Sets the latency rate.
    latency_rate: f64,
    /// Sets the added latency.
    latency_ms: u64,
    /// Restricts chaos to these events.
    events: Option<Vec<String>>,
} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

/// Injects faults; see [`ChaosConfig`].
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FaultToleranceMode, FnEvent};
/// use eventchains_middleware::{Chaos, ChaosConfig};
/// let chaos = Chaos::new(ChaosConfig::default().seed(Some(1)).event_failure_rate(0.5)).unwrap();
/// let stats = chaos.handle();
/// let chain = EventChain::new()
///     .fault_tolerance(FaultToleranceMode::Lenient)
///     .middleware(chaos)
///     .event(FnEvent::new("e", |_| Ok(())));
/// let failed: usize = (0..100).map(|_| chain.execute(&mut EventContext::new()).failures().len()).sum();
/// assert_eq!(stats.stats().event_failures, failed as u64);
/// assert!((30..70).contains(&failed));
/// ```
#[derive(Debug)]
pub struct Chaos {
    config: ChaosConfig,
    rng: Mutex<SmallRng>,
    handle: ChaosHandle,
    clock: SharedClock,
}

impl Chaos {
    /// A chaos middleware with `config`, a fresh handle and the system clock.
    pub fn new(config: ChaosConfig) -> Result<Self, ConfigError> {
        Self::with_parts(config, ChaosHandle::default(), system_clock())
    }

    /// A chaos middleware counting into `handle`, sleeping on `clock`.
    pub fn with_parts(config: ChaosConfig, handle: ChaosHandle, clock: SharedClock) -> Result<Self, ConfigError> {
        let rates = [config.event_failure_rate, config.middleware_failure_rate, config.skip_rate, config.latency_rate];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
            return Err(ConfigError::new("chaos", "rates must be between 0 and 1"));
        }
        if config.event_failure_rate + config.middleware_failure_rate + config.skip_rate > 1.0 + 1e-9 {
            return Err(ConfigError::new("chaos", "skip, middleware and event failure rates must sum to at most 1"));
        }
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Ok(Chaos { config, rng: Mutex::new(rng), handle, clock })
    }

    /// Sleeps on `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The stats handle.
    pub fn handle(&self) -> ChaosHandle {
        self.handle.clone()
    }
}

impl EventMiddleware for Chaos {
    fn name(&self) -> &str {
        "chaos"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let (latency, verdict) = self.plan(event.name(), ctx);
        if !latency.is_zero() {
            self.clock.sleep(latency);
        }
        match verdict {
            Verdict::Run => next.run(ctx),
            Verdict::Done(result) => result,
        }
    }

    crate::asynchronous::async_hooks!();
}

/// What chaos does to one call after its injected latency.
enum Verdict {
    /// Run the event.
    Run,
    /// Return this instead (a skip or an injected failure).
    Done(EventResult),
}

impl Chaos {
    /// Draws the latency to inject before `name` and what happens after it.
    /// Shared by the sync and the async form.
    fn plan(&self, name: &str, ctx: &EventContext) -> (Duration, Verdict) {
        if self.config.events.as_ref().is_some_and(|only| !only.iter().any(|e| e == name)) {
            return (Duration::ZERO, Verdict::Run);
        }
        let (delay, fault) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            let delay = rng.random_bool(self.config.latency_rate);
            (delay, rng.random::<f64>())
        };
        let s = &*self.handle.inner;
        s.calls.fetch_add(1, Ordering::Relaxed);
        let mut sleep = Duration::ZERO;
        if delay && self.config.latency_ms > 0 {
            s.latencies.fetch_add(1, Ordering::Relaxed);
            let latency = Duration::from_millis(self.config.latency_ms);
            // Never past the event's deadline: stop there, as a slow dependency would time out.
            let room = ctx.deadline().map(|d| d.saturating_duration_since(self.clock.now()));
            if let Some(room) = room.filter(|room| *room < latency) {
                return (
                    room,
                    Verdict::Done(Err(EventError::timeout(format!(
                        "chaos: injected latency of {} ms around `{name}` reached the event's deadline",
                        latency.as_millis()
                    )))),
                );
            }
            sleep = latency;
        }
        let c = &self.config;
        let verdict = if fault < c.skip_rate {
            s.skips.fetch_add(1, Ordering::Relaxed);
            Verdict::Done(Ok(()))
        } else if fault < c.skip_rate + c.middleware_failure_rate {
            s.middleware_failures.fetch_add(1, Ordering::Relaxed);
            Verdict::Done(Err(EventError::middleware(format!("chaos: injected middleware failure around `{name}`"))))
        } else if fault < c.skip_rate + c.middleware_failure_rate + c.event_failure_rate {
            s.event_failures.fetch_add(1, Ordering::Relaxed);
            Verdict::Done(Err(EventError::new(format!("chaos: injected failure of `{name}`"))))
        } else {
            Verdict::Run
        };
        (sleep, verdict)
    }
}

#[cfg(feature = "async")]
mod async_form;

/// The stats of [`Chaos`]; cloneable, shared.
#[derive(Clone, Debug, Default)]
pub struct ChaosHandle {
    inner: Arc<ChaosShared>,
}

#[derive(Debug, Default)]
struct ChaosShared {
    calls: AtomicU64,
    event_failures: AtomicU64,
    middleware_failures: AtomicU64,
    skips: AtomicU64,
    latencies: AtomicU64,
}

/// Counters of a [`ChaosHandle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChaosStats {
    /// Executions that chaos considered.
    pub calls: u64,
    /// Injected event failures.
    pub event_failures: u64,
    /// Injected middleware failures.
    pub middleware_failures: u64,
    /// Skipped events.
    pub skips: u64,
    /// Injected delays.
    pub latencies: u64,
}

impl ChaosHandle {
    /// The counters so far.
    pub fn stats(&self) -> ChaosStats {
        let i = &self.inner;
        ChaosStats {
            calls: i.calls.load(Ordering::Relaxed),
            event_failures: i.event_failures.load(Ordering::Relaxed),
            middleware_failures: i.middleware_failures.load(Ordering::Relaxed),
            skips: i.skips.load(Ordering::Relaxed),
            latencies: i.latencies.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use eventchains_core::{ErrorKind, FnEvent};

    use super::*;
    use crate::{Clock, ManualClock};

    /// An event that succeeds and counts its runs.
    fn counting_event() -> (impl ChainableEvent, Arc<AtomicU32>) {
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        let event = FnEvent::new("e", move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        (event, ran)
    }

    fn run_many(config: ChaosConfig, n: u32) -> (ChaosStats, u32, Vec<ErrorKind>, ManualClock) {
        let clock = ManualClock::new();
        let chaos = Chaos::new(config).expect("valid").with_clock(clock.shared());
        let handle = chaos.handle();
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(chaos)];
        let (event, ran) = counting_event();
        let kinds = (0..n)
            .filter_map(|_| Next::new(&event, &stack).run(&mut EventContext::new()).err().map(|e| e.kind()))
            .collect();
        (handle.stats(), ran.load(Ordering::SeqCst), kinds, clock)
    }

    #[test]
    fn same_seed_same_faults_and_counts_add_up() {
        let config = ChaosConfig::default()
            .seed(Some(42))
            .skip_rate(0.2)
            .middleware_failure_rate(0.2)
            .event_failure_rate(0.2)
            .latency_rate(0.5)
            .latency_ms(3);
        let (stats, ran, kinds, clock) = run_many(config.clone(), 200);
        assert_eq!(run_many(config, 200).0, stats);
        assert_eq!(stats.calls, 200);
        assert_eq!(u64::from(ran) + stats.skips + stats.event_failures + stats.middleware_failures, 200);
        assert_eq!(kinds.iter().filter(|k| **k == ErrorKind::Middleware).count() as u64, stats.middleware_failures);
        assert_eq!(clock.slept(), Duration::from_millis(3 * stats.latencies));
        assert!(stats.skips > 0 && stats.event_failures > 0 && stats.latencies > 0);
    }

    #[test]
    fn latency_stops_at_the_deadline_with_a_timeout() {
        let clock = ManualClock::new();
        let config = ChaosConfig::default().seed(Some(1)).latency_rate(1.0).latency_ms(5000);
        let chaos = Chaos::new(config).expect("valid").with_clock(clock.shared());
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(chaos)];
        let (event, ran) = counting_event();
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(clock.now() + Duration::from_secs(1)));
        let err = Next::new(&event, &stack).run(&mut ctx).expect_err("latency passes the deadline");
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(clock.slept(), Duration::from_secs(1));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        Next::new(&event, &stack).run(&mut EventContext::new()).expect("no deadline: the whole latency");
        assert_eq!(clock.slept(), Duration::from_secs(6));
    }

    #[test]
    fn untargeted_events_are_left_alone_and_bad_rates_rejected() {
        let config = ChaosConfig::default().event_failure_rate(1.0).events(Some(vec!["other".to_owned()]));
        let (stats, ran, _, _) = run_many(config, 10);
        assert_eq!((stats.calls, ran), (0, 10));
        assert!(Chaos::new(ChaosConfig::default().skip_rate(0.6).event_failure_rate(0.6)).is_err());
        assert!(Chaos::new(ChaosConfig::default().latency_rate(2.0)).is_err());
    }
}
