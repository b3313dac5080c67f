//! [`RateLimit`]: a token bucket with burst, for all events or per event name;
//! when it is empty, fail fast or wait for a token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next, Origin};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};

/// What [`RateLimit`] does when no token is left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RateLimitStrategy {
    /// Refuse the event at once: a failure of kind `limit_exceeded` with origin
    /// middleware (so `best_effort` chains stop, as for any infrastructure failure).
    #[default]
    FailFast,
    /// Reserve the next token and sleep until it is due (up to `max_wait_ms`).
    Wait,
}

/// Config of [`RateLimit`] (registry name `rate_limit`).
///
/// ```
/// use eventchains_middleware::{RateLimitConfig, RateLimitStrategy};
/// let c: RateLimitConfig = serde_json::from_str(r#"{"rate_per_sec": 5, "burst": 2, "strategy": "wait"}"#).unwrap();
/// assert_eq!(c, RateLimitConfig::default().rate_per_sec(5.0).burst(2).strategy(RateLimitStrategy::Wait));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Which [`Handles`](crate::Handles) entry holds the buckets when built from
    /// the registry (default `"rate_limit"`): middleware with the same id share them.
    pub id: Option<String>,
    /// Tokens added per second (default 100).
    pub rate_per_sec: f64,
    /// Bucket size: how many events may run back to back (default 10).
    pub burst: u32,
    /// `fail_fast` (default) or `wait`.
    pub strategy: RateLimitStrategy,
    /// With `wait`: the longest wait; a longer one fails fast instead (default: no limit).
    pub max_wait_ms: Option<u64>,
    /// One bucket per event name instead of one for all events (default `false`).
    pub per_event: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            id: None,
            rate_per_sec: 100.0,
            burst: 10,
            strategy: RateLimitStrategy::FailFast,
            max_wait_ms: None,
            per_event: false,
        }
    }
}

setters!(RateLimitConfig {
    /// Sets the refill rate.
    rate_per_sec: f64,
    /// Sets the bucket size.
    burst: u32,
    /// Sets the strategy.
    strategy: RateLimitStrategy,
    /// Sets the longest wait.
    max_wait_ms: Option<u64>,
    /// Switches to one bucket per event name.
    per_event: bool,
} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

/// Limits how often events run.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent, ErrorKind};
/// use eventchains_middleware::{ManualClock, RateLimit, RateLimitConfig};
/// let clock = ManualClock::new();
/// let limit = RateLimit::new(RateLimitConfig::default().rate_per_sec(1.0).burst(2)).unwrap().with_clock(clock.shared());
/// let handle = limit.handle();
/// let chain = EventChain::new().middleware(limit).event(FnEvent::new("call", |_| Ok(())));
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// let refused = chain.execute(&mut EventContext::new());
/// assert_eq!(refused.failures()[0].kind(), ErrorKind::LimitExceeded);
/// assert!(refused.failures()[0].message().starts_with("rate limit exceeded for `call`"));
/// clock.advance(std::time::Duration::from_secs(1));
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// assert_eq!(handle.stats().rejected, 1);
/// ```
#[derive(Clone, Debug)]
pub struct RateLimit {
    config: RateLimitConfig,
    max_wait: Option<Duration>,
    handle: RateLimiterHandle,
    clock: SharedClock,
}

impl RateLimit {
    /// A rate limiter with `config`, fresh buckets and the system clock.
    pub fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_parts(config, RateLimiterHandle::new(), system_clock())
    }

    /// A rate limiter using the buckets of `handle` and `clock`.
    pub fn with_parts(
        config: RateLimitConfig,
        handle: RateLimiterHandle,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        if !config.rate_per_sec.is_finite() || config.rate_per_sec <= 0.0 {
            return Err(ConfigError::new("rate_limit", "rate_per_sec must be a finite number > 0"));
        }
        if config.burst == 0 {
            return Err(ConfigError::new("rate_limit", "burst must be at least 1"));
        }
        Ok(RateLimit { max_wait: config.max_wait_ms.map(Duration::from_millis), config, handle, clock })
    }

    /// Reads time and sleeps through `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The handle to the buckets and counters.
    pub fn handle(&self) -> RateLimiterHandle {
        self.handle.clone()
    }

    /// Its config.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Takes a token: `Ok(wait)` to go ahead after `wait`, `Err(wait)` when
    /// refused. With `wait`, a token is reserved only if it is due within
    /// `max_wait_ms` and before `deadline`.
    fn acquire(&self, bucket: &Mutex<Bucket>, deadline: Option<Instant>) -> Result<Duration, Refusal> {
        let rate = self.config.rate_per_sec;
        let burst = f64::from(self.config.burst);
        let mut b = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        match b.refilled {
            None => b.tokens = burst,
            Some(last) => {
                b.tokens = (b.tokens + now.saturating_duration_since(last).as_secs_f64() * rate).min(burst);
            }
        }
        b.refilled = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(Duration::ZERO);
        }
        let wait = Duration::try_from_secs_f64((1.0 - b.tokens) / rate).unwrap_or(Duration::MAX);
        if self.config.strategy != RateLimitStrategy::Wait || self.max_wait.is_some_and(|max| wait > max) {
            return Err(Refusal { wait, past_deadline: false });
        }
        if deadline.is_some_and(|d| now.checked_add(wait).is_none_or(|due| due >= d)) {
            return Err(Refusal { wait, past_deadline: true });
        }
        b.tokens -= 1.0; // a reservation: later callers wait behind it
        Ok(wait)
    }
}

impl EventMiddleware for RateLimit {
    fn name(&self) -> &str {
        "rate_limit"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let wait = self.admit(next.chain_name(), event.name(), ctx)?;
        if !wait.is_zero() {
            self.clock.sleep(wait);
        }
        next.run(ctx)
    }

    crate::asynchronous::async_hooks!();
}

impl RateLimit {
    /// Takes (or reserves) a token for `event`: `Ok(wait)` to run it after
    /// `wait`, or the refusal as the event's error. Shared by both forms.
    fn admit(&self, chain: Option<&str>, event: &str, ctx: &EventContext) -> Result<Duration, EventError> {
        let shared = &*self.handle.inner;
        let deadline = ctx.deadline();
        let acquired = if self.config.per_event {
            self.acquire(&self.handle.bucket(event), deadline)
        } else {
            self.acquire(&shared.global, deadline)
        };
        match acquired {
            Ok(wait) => {
                if !wait.is_zero() {
                    shared.waited.fetch_add(1, Ordering::Relaxed);
                    shared.wait_ns.fetch_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
                }
                shared.allowed.fetch_add(1, Ordering::Relaxed);
                Ok(wait)
            }
            Err(Refusal { wait, past_deadline }) => {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                let why = if past_deadline { ", after the event's deadline" } else { "" };
                let id = self.config.id.as_deref().unwrap_or("rate_limit");
                crate::telemetry::rejection(crate::telemetry::names::RATE_LIMIT_REJECTIONS, id, chain, event, None);
                Err(EventError::limit_exceeded(format!(
                    "rate limit exceeded for `{event}`: {} per second, burst {}; next token in {} ms{why}",
                    self.config.rate_per_sec,
                    self.config.burst,
                    wait.as_millis().max(1)
                ))
                .with_origin(Origin::Middleware))
            }
        }
    }
}

#[cfg(feature = "async")]
mod async_form;

/// Why no token was taken: the wait it would need, and whether the event's
/// deadline (rather than the strategy or `max_wait_ms`) refused it.
struct Refusal {
    wait: Duration,
    past_deadline: bool,
}

#[derive(Debug, Default)]
struct Bucket {
    tokens: f64,
    /// `None` until first used: a new bucket starts full.
    refilled: Option<Instant>,
}

/// The buckets and counters of [`RateLimit`]; cloneable, shared.
#[derive(Clone, Debug, Default)]
pub struct RateLimiterHandle {
    inner: Arc<LimiterShared>,
}

type Buckets = HashMap<Box<str>, Arc<Mutex<Bucket>>, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct LimiterShared {
    global: Mutex<Bucket>,
    per_event: RwLock<Buckets>,
    allowed: AtomicU64,
    rejected: AtomicU64,
    waited: AtomicU64,
    wait_ns: AtomicU64,
}

/// Counters of a [`RateLimiterHandle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitStats {
    /// Events let through (including those that waited).
    pub allowed: u64,
    /// Events refused.
    pub rejected: u64,
    /// Events that waited for a token.
    pub waited: u64,
    /// Total time waited, in microseconds.
    pub wait_us: u64,
}

impl RateLimiterHandle {
    /// Fresh, full buckets.
    pub fn new() -> Self {
        Self::default()
    }

    fn bucket(&self, event: &str) -> Arc<Mutex<Bucket>> {
        if let Some(b) = self.inner.per_event.read().unwrap_or_else(PoisonError::into_inner).get(event) {
            return b.clone();
        }
        let mut map = self.inner.per_event.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(event.into()).or_default().clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> RateLimitStats {
        let i = &self.inner;
        RateLimitStats {
            allowed: i.allowed.load(Ordering::Relaxed),
            rejected: i.rejected.load(Ordering::Relaxed),
            waited: i.waited.load(Ordering::Relaxed),
            wait_us: i.wait_ns.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Refills every bucket and forgets the counters.
    pub fn reset(&self) {
        let i = &self.inner;
        *i.global.lock().unwrap_or_else(PoisonError::into_inner) = Bucket::default();
        i.per_event.write().unwrap_or_else(PoisonError::into_inner).clear();
        for counter in [&i.allowed, &i.rejected, &i.waited, &i.wait_ns] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use eventchains_core::{ErrorKind, FnEvent};

    use super::*;
    use crate::{Clock, ManualClock};

    fn run(limit: &Arc<dyn EventMiddleware>, name: &str) -> EventResult {
        let event = FnEvent::new(name, |_| Ok(()));
        Next::new(&event, std::slice::from_ref(limit)).run(&mut EventContext::new())
    }

    #[test]
    fn wait_strategy_sleeps_on_the_clock_for_each_missing_token() {
        let clock = ManualClock::new();
        let config = RateLimitConfig::default().rate_per_sec(10.0).burst(1).strategy(RateLimitStrategy::Wait);
        let limit = RateLimit::new(config).expect("valid").with_clock(clock.shared());
        let handle = limit.handle();
        let limit: Arc<dyn EventMiddleware> = Arc::new(limit);
        for _ in 0..4 {
            run(&limit, "e").expect("waits instead of failing");
        }
        assert_eq!(clock.sleeps(), 3);
        assert_eq!(clock.slept().as_millis(), 300);
        assert_eq!(handle.stats(), RateLimitStats { allowed: 4, rejected: 0, waited: 3, wait_us: 300_000 });
    }

    #[test]
    fn max_wait_turns_long_waits_into_failures() {
        let clock = ManualClock::new();
        let config = RateLimitConfig::default()
            .rate_per_sec(1.0)
            .burst(1)
            .strategy(RateLimitStrategy::Wait)
            .max_wait_ms(Some(100));
        let limit: Arc<dyn EventMiddleware> =
            Arc::new(RateLimit::new(config).expect("valid").with_clock(clock.shared()));
        run(&limit, "e").expect("first token");
        let err = run(&limit, "e").expect_err("would wait a second");
        assert_eq!((err.kind(), err.origin()), (ErrorKind::LimitExceeded, Origin::Middleware));
        assert_eq!(clock.sleeps(), 0);
    }

    #[test]
    fn per_event_buckets_are_independent_and_reset_refills() {
        let clock = ManualClock::new();
        let limit = RateLimit::new(RateLimitConfig::default().rate_per_sec(1.0).burst(1).per_event(true))
            .expect("valid")
            .with_clock(clock.shared());
        let handle = limit.handle();
        let limit: Arc<dyn EventMiddleware> = Arc::new(limit);
        run(&limit, "a").expect("a's token");
        run(&limit, "b").expect("b's token");
        assert!(run(&limit, "a").is_err());
        handle.reset();
        run(&limit, "a").expect("refilled");
        assert_eq!(handle.stats().allowed, 1);
    }

    #[test]
    fn a_wait_past_the_deadline_is_refused_without_sleeping_or_reserving() {
        let clock = ManualClock::new();
        let config = RateLimitConfig::default().rate_per_sec(0.1).burst(1).strategy(RateLimitStrategy::Wait);
        let limit = RateLimit::new(config).expect("valid").with_clock(clock.shared());
        let handle = limit.handle();
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(limit)];
        let event = FnEvent::new("e", |_| Ok(()));
        let with_deadline = |secs| {
            let mut ctx = EventContext::new();
            ctx.set_deadline(Some(clock.now() + Duration::from_secs(secs)));
            Next::new(&event, &stack).run(&mut ctx)
        };
        with_deadline(5).expect("the burst token");
        let err = with_deadline(5).expect_err("the next token is 10 s away, the deadline 5 s");
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.message().ends_with("next token in 10000 ms, after the event's deadline"), "{}", err.message());
        assert_eq!(clock.slept(), Duration::ZERO);
        with_deadline(11).expect("a deadline after the token: waits for it");
        assert_eq!(clock.slept(), Duration::from_secs(10), "the refused call reserved nothing");
        assert_eq!((handle.stats().allowed, handle.stats().rejected), (2, 1));
    }

    #[test]
    fn invalid_configs_are_rejected() {
        assert!(RateLimit::new(RateLimitConfig::default().rate_per_sec(0.0)).is_err());
        assert!(RateLimit::new(RateLimitConfig::default().burst(0)).is_err());
    }
}
