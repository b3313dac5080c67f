//! [`register_all`]: every enabled middleware into a core
//! [`MiddlewareRegistry`], under its snake_case name.

use eventchains_core::MiddlewareRegistry;

use crate::handles::Handles;

/// The registry names of the middleware enabled by this build's features, sorted.
///
/// ```
/// let names = eventchains_middleware::enabled_names();
/// assert!(names.contains(&"retry"));
/// assert_eq!(names.contains(&"chaos"), cfg!(feature = "chaos")); // not in the default features
/// ```
pub fn enabled_names() -> Vec<&'static str> {
    let mut names = vec![
        #[cfg(feature = "chaos")]
        "chaos",
        #[cfg(feature = "circuit_breaker")]
        "circuit_breaker",
        #[cfg(feature = "concurrency_limit")]
        "concurrency_limit",
        #[cfg(feature = "logging")]
        "logging",
        #[cfg(feature = "metrics")]
        "metrics",
        #[cfg(feature = "rate_limit")]
        "rate_limit",
        #[cfg(feature = "retry")]
        "retry",
        #[cfg(feature = "timeout")]
        "timeout",
        #[cfg(feature = "timing")]
        "timing",
    ];
    names.sort_unstable();
    names
}

/// Registers every enabled middleware in `registry` under its snake_case name
/// (`logging`, `timing`, `metrics`, `retry`, `rate_limit`, `circuit_breaker`,
/// `concurrency_limit`, `timeout`, and `chaos` with that feature), and returns the [`Handles`]
/// holding their state. Ignore the handles if you do not need them.
///
/// A script's `{ "retry", max_attempts = 3 }` reaches the `retry` factory as
/// the map `{max_attempts = 3}`; a plain `"logging"` as nil, read as `{}`, so
/// every field has its default. Unknown keys are errors, and so are values
/// above the host's [`Caps`](crate::Caps) (taken from the handles).
///
/// ```
/// use eventchains_core::{MiddlewareRegistry, Value};
/// let mut registry = MiddlewareRegistry::new();
/// let handles = eventchains_middleware::register_all(&mut registry);
/// assert!(registry.build("logging", &Value::Nil).is_ok());
/// let typo: Value = [("max_atempts", 3)].into_iter().collect();
/// let err = registry.build("retry", &typo).err().unwrap().to_string();
/// assert!(err.contains("unknown key `max_atempts` (did you mean `max_attempts`?)"), "{err}");
/// let _circuits = handles.circuit_breaker("circuit_breaker");
/// ```
pub fn register_all(registry: &mut MiddlewareRegistry) -> Handles {
    let handles = Handles::new();
    register_all_with(registry, &handles);
    handles
}

/// Like [`register_all`], with handles the host made (for instance with a
/// [`ManualClock`](crate::ManualClock) through [`Handles::with_clock`], or
/// shared between several registries).
#[allow(unused_variables)] // `handles` is unused when only stateless middleware are enabled
pub fn register_all_with(registry: &mut MiddlewareRegistry, handles: &Handles) {
    #[cfg(feature = "logging")]
    registry.register_with_schema("logging", |config: crate::logging::LoggingConfig| {
        Ok::<_, std::convert::Infallible>(crate::logging::Logging::new(config))
    });
    #[cfg(feature = "timing")]
    {
        let handles = handles.clone();
        registry.register_with_schema("timing", move |config: crate::timing::TimingConfig| {
            Ok::<_, std::convert::Infallible>(crate::timing::Timing::new(config).with_clock(handles.clock()))
        });
    }
    #[cfg(feature = "metrics")]
    {
        let handles = handles.clone();
        registry.register_with_schema("metrics", move |config: crate::metrics::MetricsConfig| {
            let handle = handles.metrics(config.id.as_deref().unwrap_or("metrics"));
            Ok::<_, std::convert::Infallible>(crate::metrics::Metrics::with_handle(handle).with_clock(handles.clock()))
        });
    }
    #[cfg(feature = "retry")]
    {
        let handles = handles.clone();
        registry.register_with_schema("retry", move |config: crate::retry::RetryConfig| {
            handles.caps().check_retry(&config)?;
            let handle = handles.retry(config.id.as_deref().unwrap_or("retry"));
            crate::retry::Retry::with_parts(config, handle, handles.clock())
        });
    }
    #[cfg(feature = "rate_limit")]
    {
        let handles = handles.clone();
        registry.register_with_schema("rate_limit", move |config: crate::rate_limit::RateLimitConfig| {
            let config = handles.caps().check_rate_limit(config)?;
            let handle = handles.rate_limit(config.id.as_deref().unwrap_or("rate_limit"));
            crate::rate_limit::RateLimit::with_parts(config, handle, handles.clock())
        });
    }
    #[cfg(feature = "circuit_breaker")]
    {
        let handles = handles.clone();
        registry.register_with_schema(
            "circuit_breaker",
            move |config: crate::circuit_breaker::CircuitBreakerConfig| {
                let handle = handles.circuit_breaker(config.id.as_deref().unwrap_or("circuit_breaker"));
                crate::circuit_breaker::CircuitBreaker::with_parts(config, handle, handles.clock())
            },
        );
    }
    #[cfg(feature = "concurrency_limit")]
    {
        let handles = handles.clone();
        registry.register_with_schema(
            "concurrency_limit",
            move |config: crate::concurrency_limit::ConcurrencyLimitConfig| {
                handles.caps().check_concurrency_limit(&config)?;
                let handle = handles.concurrency_limit(config.id.as_deref().unwrap_or("concurrency_limit"));
                crate::concurrency_limit::ConcurrencyLimit::with_parts(config, handle, handles.clock())
            },
        );
    }
    #[cfg(feature = "timeout")]
    {
        let handles = handles.clone();
        registry.register_with_schema("timeout", move |config: crate::timeout::TimeoutConfig| {
            crate::timeout::Timeout::new(config).map(|t| t.with_clock(handles.clock()))
        });
    }
    #[cfg(feature = "chaos")]
    {
        let handles = handles.clone();
        registry.register_with_schema("chaos", move |config: crate::chaos::ChaosConfig| {
            handles.caps().check_chaos(&config)?;
            let handle = handles.chaos(config.id.as_deref().unwrap_or("chaos"));
            crate::chaos::Chaos::with_parts(config, handle, handles.clock())
        });
    }
}

#[cfg(test)]
mod tests {
    use eventchains_core::{MiddlewareRegistry, Value};

    use super::*;

    #[test]
    fn every_registered_middleware_has_a_schema_whose_defaults_build() {
        let mut registry = MiddlewareRegistry::new();
        register_all(&mut registry);
        for name in enabled_names() {
            let schema = registry.schema(name).unwrap_or_else(|| panic!("{name} has no schema"));
            let effective = schema.with_defaults(&Value::Nil);
            assert_eq!(schema.check(&effective), Ok(()), "{name}: its own defaults fit its schema");
            assert!(registry.build(name, &effective).is_ok(), "{name}: the effective config builds");
        }
    }

    #[cfg(feature = "retry")]
    #[test]
    fn bad_retry_configs_are_explained_from_the_schema() {
        let mut registry = MiddlewareRegistry::new();
        register_all(&mut registry);
        let err = |config: Value| registry.build("retry", &config).err().map(|e| e.to_string()).unwrap_or_default();
        let typo = err([("max_attempt", 3)].into_iter().collect());
        assert!(typo.contains("unknown key `max_attempt` (did you mean `max_attempts`?)"), "{typo}");
        let backoff = err([("backoff", "expo")].into_iter().collect());
        assert!(
            backoff.ends_with(
                "`backoff`: expected one of \"none\", \"fixed\", \"linear\", \"exponential\", got the string \"expo\""
            ),
            "{backoff}"
        );
        let kind = err([("initial_ms", "fast")].into_iter().collect());
        assert!(kind.ends_with("`initial_ms`: expected a non-negative integer, got the string \"fast\""), "{kind}");
        let effective = registry.schema("retry").map(|s| s.with_defaults(&Value::Nil).to_json());
        assert_eq!(effective.as_ref().and_then(|e| e.get("max_attempts")), Some(&serde_json::json!(3)));
        assert_eq!(effective.as_ref().and_then(|e| e.get("retry_on")), Some(&serde_json::json!(["event"])));
    }
}
