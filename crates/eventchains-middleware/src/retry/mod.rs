//! [`Retry`]: runs a failed event again, with backoff, jitter, an error
//! predicate and an optional [`RetryBudget`].
//!
//! ## What happens to the context between attempts
//!
//! By default the context is **not** rolled back: changes a failed attempt
//! made stay visible to the next attempt (and to the rest of the chain if all
//! attempts fail), so events that are retried should be idempotent or write
//! only once they succeed. With `restore_context = true`, the middleware clones
//! the context (values, extensions, deadline) before the first attempt and puts
//! that copy back before every retry; the clone costs an allocation per event,
//! which is why it is off by default. Extensions are shared objects, so changes
//! made *inside* one (through a `Mutex`, say) are not rolled back.

mod backoff;
mod budget;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use eventchains_core::{ChainableEvent, ErrorKind, EventContext, EventError, EventMiddleware, EventResult, Next};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

pub use backoff::{Backoff, Jitter};
pub use budget::{BudgetConfig, RetryBudget};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};
use crate::kind_set::KindSet;

/// Config of [`Retry`] (registry name `retry`).
///
/// ```
/// use eventchains_middleware::{Backoff, RetryConfig};
/// let c: RetryConfig =
///     serde_json::from_str(r#"{"max_attempts": 3, "backoff": "exponential", "initial_ms": 5}"#).unwrap();
/// assert_eq!(c, RetryConfig::default().max_attempts(3).backoff(Backoff::Exponential).initial_ms(5));
/// assert!(serde_json::from_str::<RetryConfig>(r#"{"max_attempt": 3}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Which [`Handles`](crate::Handles) entry keeps the stats (and the budget)
    /// when built from the registry (default `"retry"`).
    pub id: Option<String>,
    /// Attempts in all, the first included (default 3; at least 1).
    pub max_attempts: u32,
    /// Delay growth (default `exponential`).
    pub backoff: Backoff,
    /// Delay before the first retry, in milliseconds (default 10).
    pub initial_ms: u64,
    /// The cap on any delay, in milliseconds (default 1000).
    pub max_ms: u64,
    /// Growth factor of `exponential` (default 2.0).
    pub multiplier: f64,
    /// Randomisation of delays (default `none`).
    pub jitter: Jitter,
    /// Seed of the jitter's random generator, for reproducible runs (default: random).
    pub seed: Option<u64>,
    /// Error kinds worth a retry (default `["event"]`: event failures, never panics).
    pub retry_on: Vec<ErrorKind>,
    /// Put the context back to its state before the first attempt before each retry (default `false`).
    pub restore_context: bool,
    /// A retry budget (default: none, only `max_attempts` bounds retries).
    pub budget: Option<BudgetConfig>,
    /// Wait at least as long as a failure's
    /// [`retry_after`](EventError::retry_after) hint before the next attempt,
    /// even beyond `max_ms` (default `true`); the deadline still bounds it.
    pub honor_retry_after: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            id: None,
            max_attempts: 3,
            backoff: Backoff::Exponential,
            initial_ms: 10,
            max_ms: 1000,
            multiplier: 2.0,
            jitter: Jitter::None,
            seed: None,
            retry_on: vec![ErrorKind::Event],
            restore_context: false,
            budget: None,
            honor_retry_after: true,
        }
    }
}

setters!(RetryConfig {
    /// Sets the number of attempts in all.
    max_attempts: u32,
    /// Sets the backoff.
    backoff: Backoff,
    /// Sets the first delay in milliseconds.
    initial_ms: u64,
    /// Sets the delay cap in milliseconds.
    max_ms: u64,
    /// Sets the exponential growth factor.
    multiplier: f64,
    /// Sets the jitter.
    jitter: Jitter,
    /// Sets the jitter seed.
    seed: Option<u64>,
    /// Sets the error kinds that are retried.
    retry_on: Vec<ErrorKind>,
    /// Turns context restoring on or off.
    restore_context: bool,
    /// Sets the retry budget.
    budget: Option<BudgetConfig>,
    /// Turns the use of retry-after hints on or off.
    honor_retry_after: bool,
} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

type Predicate = Arc<dyn Fn(&EventError) -> bool + Send + Sync>;

/// Runs a failed event again, up to `max_attempts` in all.
///
/// A failure is retried when the predicate accepts it (by default: its kind
/// is in `retry_on`), attempts remain, the budget (if any) grants a retry and
/// the context's deadline (set by an outer `Timeout`) leaves
/// room for the delay. Otherwise the last error is returned unchanged. See the
/// [module docs](self) for what happens to the context.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use eventchains_core::{EventChain, EventContext, EventError, FnEvent};
/// use eventchains_middleware::{Backoff, ManualClock, Retry, RetryConfig};
/// let clock = ManualClock::new();
/// let retry = Retry::new(RetryConfig::default().max_attempts(3).backoff(Backoff::Fixed).initial_ms(5))
///     .unwrap()
///     .with_clock(clock.shared());
/// let stats = retry.handle();
/// let calls = AtomicU32::new(0);
/// let chain = EventChain::new().middleware(retry).event(FnEvent::new("flaky", move |_| {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(EventError::new("busy")) } else { Ok(()) }
/// }));
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// assert_eq!(stats.stats().retries, 2);
/// assert_eq!(clock.slept(), std::time::Duration::from_millis(10));
/// ```
pub struct Retry {
    config: RetryConfig,
    initial: Duration,
    max: Duration,
    kinds: KindSet,
    predicate: Option<Predicate>,
    rng: Option<Mutex<SmallRng>>,
    budget: Option<RetryBudget>,
    handle: RetryHandle,
    clock: SharedClock,
}

impl Retry {
    /// A retry middleware with `config`, a fresh handle and the system clock.
    pub fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        Self::with_parts(config, RetryHandle::new(), system_clock())
    }

    /// A retry middleware recording into (and drawing its budget from) `handle`,
    /// timed by `clock`. The first middleware to configure a budget on a handle
    /// creates it; later ones with a budget share it.
    pub fn with_parts(config: RetryConfig, handle: RetryHandle, clock: SharedClock) -> Result<Self, ConfigError> {
        if config.max_attempts == 0 {
            return Err(ConfigError::new("retry", "max_attempts must be at least 1"));
        }
        if !config.multiplier.is_finite() || config.multiplier < 1.0 {
            return Err(ConfigError::new("retry", "multiplier must be a finite number >= 1"));
        }
        if let Some(budget) = &config.budget {
            budget.validate()?;
        }
        let rng = (config.jitter != Jitter::None).then(|| {
            Mutex::new(match config.seed {
                Some(seed) => SmallRng::seed_from_u64(seed),
                None => SmallRng::from_os_rng(),
            })
        });
        let budget = config
            .budget
            .clone()
            .map(|c| handle.inner.budget.get_or_init(|| RetryBudget::new(c, clock.clone())).clone());
        Ok(Retry {
            initial: Duration::from_millis(config.initial_ms),
            max: Duration::from_millis(config.max_ms),
            kinds: KindSet::of(&config.retry_on),
            predicate: None,
            rng,
            budget,
            handle,
            clock,
            config,
        })
    }

    /// Retries exactly the errors `predicate` accepts (replaces `retry_on`).
    #[must_use]
    pub fn retry_if(mut self, predicate: impl Fn(&EventError) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Draws retries from `budget` (replaces the configured one).
    #[must_use]
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Waits and reads time through `clock` (tests pass a [`ManualClock`](crate::ManualClock)).
    /// A budget already created keeps its clock: to drive a configured budget's
    /// reserve with a manual clock, pass the clock to [`with_parts`](Self::with_parts).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The stats handle.
    pub fn handle(&self) -> RetryHandle {
        self.handle.clone()
    }

    /// Its config.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    fn retryable(&self, error: &EventError) -> bool {
        match &self.predicate {
            Some(predicate) => predicate(error),
            None => self.kinds.contains(error.kind()),
        }
    }

    /// The delay before retry `retry` (1-based), jitter included.
    fn delay(&self, retry: u32) -> Duration {
        let delay = self.config.backoff.delay(retry, self.initial, self.config.multiplier, self.max);
        match &self.rng {
            Some(rng) => self.config.jitter.apply(delay, &mut *rng.lock().unwrap_or_else(PoisonError::into_inner)),
            None => delay,
        }
    }

    /// Decides whether failure number `attempt` gets a retry; `Some(delay)` if so.
    fn plan_retry(
        &self,
        chain: Option<&str>,
        event: &str,
        attempt: u32,
        error: &EventError,
        ctx: &EventContext,
    ) -> Option<Duration> {
        let stats = &self.handle.inner;
        if !self.retryable(error) {
            return None;
        }
        if attempt >= self.config.max_attempts {
            stats.exhausted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event, attempts = attempt, error = %error, "retry: attempts exhausted");
            return None;
        }
        let mut delay = self.delay(attempt);
        if self.config.honor_retry_after
            && let Some(after) = error.retry_after()
        {
            delay = delay.max(after);
        }
        if let Some(deadline) = ctx.deadline()
            && self.clock.now().checked_add(delay).is_none_or(|resume| resume >= deadline)
        {
            stats.deadline_stops.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event, attempts = attempt, "retry: deadline leaves no room for another attempt");
            return None;
        }
        // Last: only a retry that will really be made withdraws from the budget.
        if let Some(budget) = &self.budget
            && !budget.try_withdraw()
        {
            stats.budget_denied.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::retry(chain, event, true);
            tracing::warn!(event, attempts = attempt, error = %error, "retry: budget exhausted, not retrying");
            return None;
        }
        Some(delay)
    }
}

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("config", &self.config)
            .field("custom_predicate", &self.predicate.is_some())
            .finish()
    }
}

impl EventMiddleware for Retry {
    fn name(&self) -> &str {
        "retry"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let (chain, event) = (next.chain_name(), event.name());
        let snapshot = self.begin(ctx);
        let mut attempt = 1;
        loop {
            let result = next.run(ctx);
            let delay = match self.after_attempt(chain, event, attempt, result, ctx) {
                Ok(done) => return done,
                Err(delay) => delay,
            };
            self.clock.sleep(delay);
            self.before_retry(chain, event, snapshot.as_ref(), ctx);
            attempt += 1;
        }
    }

    crate::asynchronous::async_hooks!();
}

/// The steps of one call, shared by the sync and the async form (which differ
/// only in how they run `next` and wait).
impl Retry {
    /// Before the first attempt: the budget deposit and the context snapshot.
    #[inline]
    fn begin(&self, ctx: &EventContext) -> Option<EventContext> {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        self.config.restore_context.then(|| ctx.clone())
    }

    /// After attempt `attempt`: `Ok(result)` to return it, `Err(delay)` to retry after `delay`.
    #[inline]
    fn after_attempt(
        &self,
        chain: Option<&str>,
        event: &str,
        attempt: u32,
        result: EventResult,
        ctx: &EventContext,
    ) -> Result<EventResult, Duration> {
        let error = match result {
            Ok(()) => {
                if attempt > 1 {
                    self.handle.inner.recovered.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(Ok(()));
            }
            Err(error) => error,
        };
        match self.plan_retry(chain, event, attempt, &error, ctx) {
            Some(delay) => {
                tracing::debug!(event, attempt, delay_us = delay.as_micros() as u64, error = %error, "retrying");
                Err(delay)
            }
            None => Ok(Err(error)),
        }
    }

    /// After the delay, before the next attempt: the context restored, the retry counted.
    fn before_retry(&self, chain: Option<&str>, event: &str, snapshot: Option<&EventContext>, ctx: &mut EventContext) {
        if let Some(snapshot) = snapshot {
            *ctx = snapshot.clone();
        }
        self.handle.inner.retries.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::retry(chain, event, false);
    }
}

#[cfg(feature = "async")]
mod async_form;

/// The shared state of [`Retry`]: its stats and, if configured, its budget.
#[derive(Clone, Debug, Default)]
pub struct RetryHandle {
    inner: Arc<RetryShared>,
}

#[derive(Debug, Default)]
struct RetryShared {
    retries: AtomicU64,
    recovered: AtomicU64,
    exhausted: AtomicU64,
    budget_denied: AtomicU64,
    deadline_stops: AtomicU64,
    budget: OnceLock<RetryBudget>,
}

/// Counters of a [`RetryHandle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetryStats {
    /// Retries made (attempts after the first).
    pub retries: u64,
    /// Calls that succeeded after at least one retry.
    pub recovered: u64,
    /// Calls that failed with every attempt used.
    pub exhausted: u64,
    /// Retries refused by the budget.
    pub budget_denied: u64,
    /// Retries skipped because the context's deadline was too close.
    pub deadline_stops: u64,
}

impl RetryHandle {
    /// A fresh handle with no budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters so far.
    pub fn stats(&self) -> RetryStats {
        let i = &self.inner;
        RetryStats {
            retries: i.retries.load(Ordering::Relaxed),
            recovered: i.recovered.load(Ordering::Relaxed),
            exhausted: i.exhausted.load(Ordering::Relaxed),
            budget_denied: i.budget_denied.load(Ordering::Relaxed),
            deadline_stops: i.deadline_stops.load(Ordering::Relaxed),
        }
    }

    /// The budget shared by the middleware of this handle, once one configured it.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.inner.budget.get()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use eventchains_core::FnEvent;

    use super::*;
    use crate::{Clock, ManualClock};

    fn run(retry: Retry, event: &dyn ChainableEvent, ctx: &mut EventContext) -> EventResult {
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(retry)];
        Next::new(event, &stack).run(ctx)
    }

    fn failing(kind: ErrorKind, calls: Arc<AtomicU32>) -> impl ChainableEvent {
        FnEvent::new("f", move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(EventError::with_kind(kind, "x"))
        })
    }

    #[test]
    fn panics_and_cancellations_are_not_retried_by_default() {
        for kind in [ErrorKind::Panic, ErrorKind::Cancelled, ErrorKind::Middleware] {
            let calls = Arc::new(AtomicU32::new(0));
            let retry = Retry::new(RetryConfig::default().backoff(Backoff::None)).expect("valid");
            assert!(run(retry, &failing(kind, calls.clone()), &mut EventContext::new()).is_err());
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind}");
        }
        let calls = Arc::new(AtomicU32::new(0));
        let retry = Retry::new(RetryConfig::default().backoff(Backoff::None).retry_on(vec![ErrorKind::Timeout]))
            .expect("valid");
        assert!(run(retry, &failing(ErrorKind::Timeout, calls.clone()), &mut EventContext::new()).is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn custom_predicate_replaces_kinds() {
        let calls = Arc::new(AtomicU32::new(0));
        let retry = Retry::new(RetryConfig::default().backoff(Backoff::None).max_attempts(5))
            .expect("valid")
            .retry_if(|e| e.kind() == ErrorKind::Panic);
        let handle = retry.handle();
        assert!(run(retry, &failing(ErrorKind::Panic, calls.clone()), &mut EventContext::new()).is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(handle.stats(), RetryStats { retries: 4, exhausted: 1, ..RetryStats::default() });
    }

    #[test]
    fn context_changes_stay_unless_restored() {
        let bump = FnEvent::new("bump", |ctx: &mut EventContext| {
            let n: i64 = ctx.get_or("n", 0);
            ctx.set("n", n + 1);
            if n < 2 { Err(EventError::new("again")) } else { Ok(()) }
        });
        let mut ctx = EventContext::new();
        run(Retry::new(RetryConfig::default().backoff(Backoff::None)).expect("valid"), &bump, &mut ctx).expect("ok");
        assert_eq!(ctx.get::<i64>("n"), Some(3));

        let mut ctx = EventContext::new();
        let retry = Retry::new(RetryConfig::default().backoff(Backoff::None).restore_context(true)).expect("valid");
        let err = run(retry, &bump, &mut ctx).expect_err("every attempt starts from n = 0");
        assert_eq!(err.message(), "again");
        assert_eq!(ctx.get::<i64>("n"), Some(1));
    }

    #[test]
    fn seeded_jitter_is_reproducible() {
        let slept = |seed| {
            let clock = ManualClock::new();
            let config = RetryConfig::default().max_attempts(6).jitter(Jitter::Full).seed(Some(seed));
            let retry = Retry::new(config).expect("valid").with_clock(clock.shared());
            let _ = run(retry, &failing(ErrorKind::Event, Arc::default()), &mut EventContext::new());
            clock.slept()
        };
        assert_eq!(slept(1), slept(1));
        assert_ne!(slept(1), slept(2));
        assert!(slept(3) <= Duration::from_millis(10 + 20 + 40 + 80 + 160));
    }

    #[test]
    fn deadline_stops_retries_that_cannot_finish() {
        let clock = ManualClock::new();
        let retry = Retry::new(RetryConfig::default().backoff(Backoff::Fixed).initial_ms(50))
            .expect("valid")
            .with_clock(clock.shared());
        let handle = retry.handle();
        let calls = Arc::new(AtomicU32::new(0));
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(clock.now() + Duration::from_millis(70)));
        assert!(run(retry, &failing(ErrorKind::Event, calls.clone()), &mut ctx).is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2, "first retry fits, second would end after the deadline");
        assert_eq!(handle.stats().deadline_stops, 1);
    }

    #[test]
    fn a_retry_refused_by_the_deadline_leaves_the_budget_alone() {
        let clock = ManualClock::new();
        let config = RetryConfig::default()
            .backoff(Backoff::Fixed)
            .initial_ms(50)
            .budget(Some(BudgetConfig::default().ratio(0.0).min_per_sec(1.0)));
        let retry = Retry::with_parts(config, RetryHandle::new(), clock.shared()).expect("valid");
        let handle = retry.handle();
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(clock.now() + Duration::from_millis(10)));
        let calls = Arc::new(AtomicU32::new(0));
        assert!(run(retry, &failing(ErrorKind::Event, calls.clone()), &mut ctx).is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!((handle.stats().deadline_stops, handle.stats().budget_denied), (1, 0));
        let budget = handle.budget().expect("configured");
        assert!(budget.try_withdraw(), "the reserve's one retry was not spent on the refused retry");
    }

    #[test]
    fn invalid_configs_are_rejected() {
        assert!(Retry::new(RetryConfig::default().max_attempts(0)).is_err());
        assert!(Retry::new(RetryConfig::default().multiplier(0.5)).is_err());
        assert!(Retry::new(RetryConfig::default().budget(Some(BudgetConfig::default().ratio(-1.0)))).is_err());
    }
}
