//! [`Handles`]: where a host finds the state of the middleware that the
//! registry builds for scripts (metrics, circuits, rate-limit buckets, retry
//! and chaos stats), and which clock they use.

use std::sync::Arc;

#[cfg(any(
    feature = "metrics",
    feature = "retry",
    feature = "rate_limit",
    feature = "circuit_breaker",
    feature = "chaos"
))]
use crate::book::Book;
use crate::clock::{SharedClock, system_clock};

/// The shared state behind registry-built middleware, by id.
///
/// [`register_all`](crate::register_all) returns one (and
/// [`register_all_with`](crate::register_all_with) takes one). Every stateful
/// middleware the registry builds attaches to the handle named by its config's
/// `id` key, by default the middleware's name: a script saying
/// `{ "circuit_breaker", id = "payments" }` keeps its circuits in
/// `handles.circuit_breaker("payments")`, and two chains naming the same id
/// share the state (circuits stay open across a hot reload, a rate limit is
/// global across chains). A handle can be fetched before or after the
/// middleware is built; both see the same state. Cloning `Handles` shares it.
///
/// The clock given to [`Handles::with_clock`] is used by every middleware the
/// registry builds, so tests of scripts can drive time with a
/// [`ManualClock`](crate::ManualClock).
#[derive(Clone, Debug, Default)]
pub struct Handles {
    inner: Arc<HandlesInner>,
}

#[derive(Debug)]
struct HandlesInner {
    clock: SharedClock,
    #[cfg(feature = "metrics")]
    metrics: Book<crate::metrics::MetricsHandle>,
    #[cfg(feature = "retry")]
    retry: Book<crate::retry::RetryHandle>,
    #[cfg(feature = "rate_limit")]
    rate_limit: Book<crate::rate_limit::RateLimiterHandle>,
    #[cfg(feature = "circuit_breaker")]
    circuit_breaker: Book<crate::circuit_breaker::CircuitBreakerHandle>,
    #[cfg(feature = "chaos")]
    chaos: Book<crate::chaos::ChaosHandle>,
}

impl Default for HandlesInner {
    fn default() -> Self {
        HandlesInner {
            clock: system_clock(),
            #[cfg(feature = "metrics")]
            metrics: Book::default(),
            #[cfg(feature = "retry")]
            retry: Book::default(),
            #[cfg(feature = "rate_limit")]
            rate_limit: Book::default(),
            #[cfg(feature = "circuit_breaker")]
            circuit_breaker: Book::default(),
            #[cfg(feature = "chaos")]
            chaos: Book::default(),
        }
    }
}

impl Handles {
    /// Empty handles on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty handles whose middleware read time from `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Handles { inner: Arc::new(HandlesInner { clock, ..HandlesInner::default() }) }
    }

    /// The clock of the middleware built with these handles.
    pub fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }

    /// The metrics recorded under `id` (default id `"metrics"`).
    #[cfg(feature = "metrics")]
    pub fn metrics(&self, id: &str) -> crate::metrics::MetricsHandle {
        self.inner.metrics.get(id)
    }

    /// The ids of the metrics handles.
    #[cfg(feature = "metrics")]
    pub fn metrics_ids(&self) -> Vec<String> {
        self.inner.metrics.ids()
    }

    /// The retry stats and budget under `id` (default id `"retry"`).
    #[cfg(feature = "retry")]
    pub fn retry(&self, id: &str) -> crate::retry::RetryHandle {
        self.inner.retry.get(id)
    }

    /// The ids of the retry handles.
    #[cfg(feature = "retry")]
    pub fn retry_ids(&self) -> Vec<String> {
        self.inner.retry.ids()
    }

    /// The rate-limit buckets under `id` (default id `"rate_limit"`).
    #[cfg(feature = "rate_limit")]
    pub fn rate_limit(&self, id: &str) -> crate::rate_limit::RateLimiterHandle {
        self.inner.rate_limit.get(id)
    }

    /// The ids of the rate limiter handles.
    #[cfg(feature = "rate_limit")]
    pub fn rate_limit_ids(&self) -> Vec<String> {
        self.inner.rate_limit.ids()
    }

    /// The circuits under `id` (default id `"circuit_breaker"`).
    #[cfg(feature = "circuit_breaker")]
    pub fn circuit_breaker(&self, id: &str) -> crate::circuit_breaker::CircuitBreakerHandle {
        self.inner.circuit_breaker.get(id)
    }

    /// The ids of the circuit breaker handles.
    #[cfg(feature = "circuit_breaker")]
    pub fn circuit_breaker_ids(&self) -> Vec<String> {
        self.inner.circuit_breaker.ids()
    }

    /// The chaos stats under `id` (default id `"chaos"`).
    #[cfg(feature = "chaos")]
    pub fn chaos(&self, id: &str) -> crate::chaos::ChaosHandle {
        self.inner.chaos.get(id)
    }

    /// The ids of the chaos handles.
    #[cfg(feature = "chaos")]
    pub fn chaos_ids(&self) -> Vec<String> {
        self.inner.chaos.ids()
    }
}
