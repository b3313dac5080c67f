//! [`Handles`]: where a host finds the state of the middleware that the
//! registry builds for scripts (metrics, circuits, rate-limit buckets, concurrency limits, retry
//! and chaos stats), and which clock they use.

use std::sync::Arc;

use crate::caps::Caps;
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
/// For retry, the first middleware built with a `budget` on an id creates that
/// id's `RetryBudget`; later ones share it.
///
/// The clock given to [`Handles::with_clock`] is used by every middleware the
/// registry builds, so tests of scripts can drive time with a
/// [`ManualClock`](crate::ManualClock).
///
/// The [`Caps`] given to [`Handles::with_caps`] (default: [`Caps::default`])
/// bound what scripts may configure on the middleware the registry builds.
#[derive(Clone, Debug, Default)]
pub struct Handles {
    inner: Arc<HandlesInner>,
    caps: Caps,
}

impl Handles {
    /// Empty handles on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty handles whose middleware read time from `clock`.
    #[allow(clippy::needless_update)] // the update fills the books of the enabled stateful middleware
    pub fn with_clock(clock: SharedClock) -> Self {
        Handles { inner: Arc::new(HandlesInner { clock, ..HandlesInner::default() }), caps: Caps::default() }
    }

    /// These handles (sharing their state) with `caps` as the host's maximums
    /// for script configs; pass them to [`register_all_with`](crate::register_all_with).
    #[must_use]
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// The host's maximums for script configs.
    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    /// The clock of the middleware built with these handles.
    pub fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }
}

/// Declares, for each stateful middleware, its book of handles in
/// `HandlesInner` and the `Handles` methods that reach it.
macro_rules! books {
    ($($feature:literal => $field:ident, $ids:ident: $ty:ty, $what:literal;)*) => {
        #[derive(Debug)]
        struct HandlesInner {
            clock: SharedClock,
            $(
                #[cfg(feature = $feature)]
                $field: crate::book::Book<$ty>,
            )*
        }

        impl Default for HandlesInner {
            fn default() -> Self {
                HandlesInner {
                    clock: system_clock(),
                    $(
                        #[cfg(feature = $feature)]
                        $field: Default::default(),
                    )*
                }
            }
        }

        impl Handles {
            $(
                #[doc = concat!("The ", $what, " under `id` (default id `\"", $feature, "\"`), created on first use.")]
                #[cfg(feature = $feature)]
                pub fn $field(&self, id: &str) -> $ty {
                    self.inner.$field.get(id)
                }

                #[doc = concat!("The ids of the ", $what, " handles in use, sorted.")]
                #[cfg(feature = $feature)]
                pub fn $ids(&self) -> Vec<String> {
                    self.inner.$field.ids()
                }
            )*
        }
    };
}

books! {
    "metrics" => metrics, metrics_ids: crate::metrics::MetricsHandle, "metrics";
    "retry" => retry, retry_ids: crate::retry::RetryHandle, "retry stats and budget";
    "rate_limit" => rate_limit, rate_limit_ids: crate::rate_limit::RateLimiterHandle, "rate-limit buckets";
    "circuit_breaker" => circuit_breaker, circuit_breaker_ids: crate::circuit_breaker::CircuitBreakerHandle, "circuits";
    "concurrency_limit" => concurrency_limit, concurrency_limit_ids: crate::concurrency_limit::ConcurrencyLimitHandle, "concurrency limits";
    "chaos" => chaos, chaos_ids: crate::chaos::ChaosHandle, "chaos stats";
}
