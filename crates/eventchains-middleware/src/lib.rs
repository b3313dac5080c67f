//! # eventchains-middleware
//!
//! Production middleware for [`eventchains_core`] chains, one module and one
//! cargo feature each, so a program pulls in only what it uses:
//!
//! | feature | middleware | what it does |
//! | --- | --- | --- |
//! | `logging` | `Logging` | a `tracing` span per event with outcome and duration |
//! | `timing` | `Timing` | duration per event, slow-event warnings, optional context entry |
//! | `metrics` | `Metrics` | counts, failures by kind, latency percentiles (hdrhistogram), JSON snapshot; the same through the `metrics` facade ([`telemetry`]) |
//! | `retry` | `Retry` | attempts, backoff with cap and seedable jitter, error predicate, retry budget |
//! | `rate_limit` | `RateLimit` | token bucket with burst; fail fast or wait |
//! | `circuit_breaker` | `CircuitBreaker` | closed / open / half-open per event name; consecutive failures or failure / slow-call rates over a sliding window |
//! | `concurrency_limit` | `ConcurrencyLimit` | bulkhead: at most N executions at once, wait (bounded by the deadline) or shed |
//! | `timeout` | `Timeout` | a deadline per event in the context; overruns are timeouts |
//! | `chaos` | `Chaos` | seeded fault injection for tests (off by default) |
//!
//! `full` (the default) enables all of them except `chaos`.
//!
//! Every middleware has a config struct that derives `Deserialize` with
//! `deny_unknown_fields`, so scripts and the CLI configure it by name through
//! the core [`MiddlewareRegistry`](eventchains_core::MiddlewareRegistry).
//! Every config also derives `schemars::JsonSchema` (always, not behind a
//! feature: the registry is the one place scripts and tools learn a config's
//! keys, and a schema that only some builds carry would make `eventchains
//! schema`, the editor types and the loader's errors depend on how the host
//! was compiled; the cost is compile time only). [`register_all`] attaches
//! each schema to its name, so a bad config is explained from it (the key,
//! the expected type, the allowed values) and tools list keys and defaults.
//! [`register_all`] registers every enabled middleware under its snake_case name
//! and returns the [`Handles`] through which the host reads the state of the
//! middleware that scripts build (metrics, breakers, rate limiters, retry stats).
//! Time-dependent middleware read a [`Clock`]; tests inject a [`ManualClock`]
//! instead of sleeping. `docs/middleware.md` in the repository lists every
//! config key, advises on ordering (which middleware to put outermost) and
//! shows how to write a middleware crate of your own.
//!
//! ```
//! use eventchains_core::{EventChain, EventContext, FnEvent, MiddlewareRegistry, Value};
//!
//! let mut registry = MiddlewareRegistry::new();
//! let handles = eventchains_middleware::register_all(&mut registry);
//!
//! // What a script's `{ "retry", max_attempts = 3, backoff = "none" }` turns into:
//! let retry_config: Value = [("max_attempts", Value::from(3)), ("backoff", Value::from("none"))].into_iter().collect();
//! let chain = EventChain::new()
//!     .middleware_arc(registry.build("retry", &retry_config).unwrap())
//!     .middleware_arc(registry.build("metrics", &Value::Nil).unwrap())
//!     .event(FnEvent::new("greet", |ctx| {
//!         ctx.set("greeting", "hello");
//!         Ok(())
//!     }));
//! assert!(chain.execute(&mut EventContext::new()).is_success());
//!
//! let snapshot = handles.metrics("metrics").snapshot();
//! assert_eq!(snapshot.event("greet").map(|m| m.executions), Some(1));
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[allow(unused_macros, unused_imports)] // unused when no middleware feature is enabled
mod asynchronous;
#[cfg(any(
    feature = "metrics",
    feature = "retry",
    feature = "rate_limit",
    feature = "circuit_breaker",
    feature = "concurrency_limit",
    feature = "chaos"
))]
mod book;
mod caps;
mod clock;
mod config;
mod handles;
#[cfg(any(feature = "metrics", feature = "retry", feature = "circuit_breaker"))]
mod kind_set;
mod registration;
pub mod telemetry;

#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub mod chaos;
#[cfg(feature = "circuit_breaker")]
pub mod circuit_breaker;
#[cfg(feature = "concurrency_limit")]
pub mod concurrency_limit;
#[cfg(feature = "logging")]
pub mod logging;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "rate_limit")]
pub mod rate_limit;
#[cfg(feature = "retry")]
pub mod retry;
#[cfg(feature = "timeout")]
pub mod timeout;
#[cfg(feature = "timing")]
pub mod timing;

pub use caps::Caps;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, system_clock};
pub use config::ConfigError;
pub use handles::Handles;
pub use registration::{enabled_names, register_all, register_all_with};

#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub use chaos::{Chaos, ChaosConfig, ChaosHandle, ChaosStats};
#[cfg(feature = "circuit_breaker")]
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerHandle, CircuitState};
#[cfg(feature = "concurrency_limit")]
pub use concurrency_limit::{
    ConcurrencyLimit, ConcurrencyLimitConfig, ConcurrencyLimitHandle, ConcurrencyLimitStats, ConcurrencyScope,
};
#[cfg(feature = "logging")]
pub use logging::{LogLevel, Logging, LoggingConfig};
#[cfg(feature = "metrics")]
pub use metrics::{EventMetrics, Metrics, MetricsConfig, MetricsHandle, MetricsSnapshot};
#[cfg(feature = "rate_limit")]
pub use rate_limit::{RateLimit, RateLimitConfig, RateLimitStats, RateLimitStrategy, RateLimiterHandle};
#[cfg(feature = "retry")]
pub use retry::{Backoff, BudgetConfig, Jitter, Retry, RetryBudget, RetryConfig, RetryHandle, RetryStats};
#[cfg(feature = "timeout")]
pub use timeout::{Timeout, TimeoutConfig};
#[cfg(feature = "timing")]
pub use timing::{Timing, TimingConfig};
