//! [`Caps`]: the host's maximums for what a script may configure on the
//! middleware it names, checked when the registry builds them.

use std::time::Duration;

use crate::config::{ConfigError, setters};

/// The host's maximums for the configs of registry-built middleware.
///
/// A script names Rust middleware with a config it chooses
/// (`{ "retry", initial_ms = 3600000 }`); the registry built by
/// [`register_all_with`](crate::register_all_with) checks that config against
/// the caps of its [`Handles`](crate::Handles) and refuses it at load time, with
/// a config error naming the key, the value and the cap, when it asks for more.
/// The defaults keep every single wait within a minute:
///
/// | cap | default | what it bounds |
/// | --- | --- | --- |
/// | `retry_max_attempts` | 10 | `max_attempts` of `retry` |
/// | `retry_max_delay` | 60 s | `initial_ms` and `max_ms` of `retry` |
/// | `rate_limit_max_wait` | 60 s | `max_wait_ms` of `rate_limit` (also its value when unset), and with `strategy = "wait"` the time one token takes (`1 / rate_per_sec`) |
/// | `chaos_max_latency` | 60 s | `latency_ms` of `chaos` |
/// | `concurrency_max_wait` | 60 s | `wait_ms` of `concurrency_limit` |
///
/// Independently of the caps, no wait of these middleware passes the event's
/// deadline ([`EventContext::deadline`](eventchains_core::EventContext::deadline),
/// set by a `timeout` outside them): a retry whose delay would end after it is
/// not made, a rate-limit wait that would is refused, and injected latency
/// stops at it with a timeout. Middleware a host builds in Rust
/// (`Retry::new`, ...) are the host's own choice and are not checked.
///
/// ```
/// use std::time::Duration;
/// use eventchains_core::{MiddlewareRegistry, Value};
/// use eventchains_middleware::{Caps, Handles, register_all_with};
///
/// let mut registry = MiddlewareRegistry::new();
/// register_all_with(&mut registry, &Handles::new());
/// let hour: Value = [("initial_ms", 3_600_000)].into_iter().collect();
/// let err = registry.build("retry", &hour).err().unwrap().to_string();
/// assert_eq!(
///     err,
///     "invalid config for middleware `retry`: retry: initial_ms = 3600000 is above the host's cap of 60000 ms (retry_max_delay)"
/// );
///
/// // A host that allows longer backoff says so.
/// let handles = Handles::new().with_caps(Caps::default().retry_max_delay(Duration::from_secs(7200)));
/// let mut registry = MiddlewareRegistry::new();
/// register_all_with(&mut registry, &handles);
/// assert!(registry.build("retry", &[("initial_ms", 3_600_000), ("max_ms", 3_600_000)].into_iter().collect()).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caps {
    /// The most attempts (the first included) a `retry` may be configured with.
    pub retry_max_attempts: u32,
    /// The longest delay before a retry (`initial_ms`, `max_ms`).
    pub retry_max_delay: Duration,
    /// The longest wait for a rate-limit token.
    pub rate_limit_max_wait: Duration,
    /// The longest latency `chaos` may inject.
    pub chaos_max_latency: Duration,
    /// The longest wait for a `concurrency_limit` slot.
    pub concurrency_max_wait: Duration,
}

/// The default of every wait cap: one minute.
const MINUTE: Duration = Duration::from_secs(60);

impl Default for Caps {
    fn default() -> Self {
        Caps {
            retry_max_attempts: 10,
            retry_max_delay: MINUTE,
            rate_limit_max_wait: MINUTE,
            chaos_max_latency: MINUTE,
            concurrency_max_wait: MINUTE,
        }
    }
}

setters!(Caps {
    /// Sets the most attempts of a retry.
    retry_max_attempts: u32,
    /// Sets the longest retry delay.
    retry_max_delay: Duration,
    /// Sets the longest rate-limit wait.
    rate_limit_max_wait: Duration,
    /// Sets the longest chaos latency.
    chaos_max_latency: Duration,
    /// Sets the longest concurrency-limit wait.
    concurrency_max_wait: Duration,
});

impl Caps {
    /// Sets every wait cap (retry delay, rate-limit wait, chaos latency,
    /// concurrency-limit wait) to `max`.
    #[must_use]
    pub fn max_wait(self, max: Duration) -> Self {
        self.retry_max_delay(max).rate_limit_max_wait(max).chaos_max_latency(max).concurrency_max_wait(max)
    }

    /// Checks a `retry` config against the caps.
    #[cfg(feature = "retry")]
    pub fn check_retry(&self, config: &crate::retry::RetryConfig) -> Result<(), ConfigError> {
        if config.max_attempts > self.retry_max_attempts {
            return Err(above(
                "retry",
                "max_attempts",
                config.max_attempts,
                self.retry_max_attempts,
                "retry_max_attempts",
            ));
        }
        for (key, ms) in [("initial_ms", config.initial_ms), ("max_ms", config.max_ms)] {
            check_ms("retry", key, ms, self.retry_max_delay, "retry_max_delay")?;
        }
        Ok(())
    }

    /// Checks a `rate_limit` config against the caps, and returns it with
    /// `max_wait_ms` set to the cap when it had none, so that no wait of the
    /// limiter exceeds the cap at run time either.
    #[cfg(feature = "rate_limit")]
    pub fn check_rate_limit(
        &self,
        mut config: crate::rate_limit::RateLimitConfig,
    ) -> Result<crate::rate_limit::RateLimitConfig, ConfigError> {
        let cap = self.rate_limit_max_wait;
        let max_wait = match config.max_wait_ms {
            Some(ms) => {
                check_ms("rate_limit", "max_wait_ms", ms, cap, "rate_limit_max_wait")?;
                Duration::from_millis(ms)
            }
            None => cap,
        };
        config.max_wait_ms = Some(u64::try_from(max_wait.as_millis()).unwrap_or(u64::MAX));
        let per_token = Duration::try_from_secs_f64(1.0 / config.rate_per_sec).unwrap_or(Duration::MAX);
        if config.strategy == crate::rate_limit::RateLimitStrategy::Wait
            && config.rate_per_sec > 0.0
            && per_token > max_wait
        {
            return Err(ConfigError::new(
                "rate_limit",
                format!(
                    "rate_per_sec = {} with strategy \"wait\" makes one token take {} s, longer than the longest wait of {} ms; \
                     raise the rate or use strategy \"fail_fast\"",
                    config.rate_per_sec,
                    per_token.as_secs_f64(),
                    max_wait.as_millis()
                ),
            ));
        }
        Ok(config)
    }

    /// Checks a `concurrency_limit` config against the caps.
    #[cfg(feature = "concurrency_limit")]
    pub fn check_concurrency_limit(
        &self,
        config: &crate::concurrency_limit::ConcurrencyLimitConfig,
    ) -> Result<(), ConfigError> {
        check_ms("concurrency_limit", "wait_ms", config.wait_ms, self.concurrency_max_wait, "concurrency_max_wait")
    }

    /// Checks a `chaos` config against the caps.
    #[cfg(feature = "chaos")]
    pub fn check_chaos(&self, config: &crate::chaos::ChaosConfig) -> Result<(), ConfigError> {
        check_ms("chaos", "latency_ms", config.latency_ms, self.chaos_max_latency, "chaos_max_latency")
    }
}

#[allow(dead_code)] // unused when no middleware with a wait is enabled
fn check_ms(middleware: &'static str, key: &str, ms: u64, cap: Duration, cap_name: &str) -> Result<(), ConfigError> {
    if Duration::from_millis(ms) > cap {
        return Err(ConfigError::new(
            middleware,
            format!("{key} = {ms} is above the host's cap of {} ms ({cap_name})", cap.as_millis()),
        ));
    }
    Ok(())
}

#[allow(dead_code)] // unused without the retry feature
fn above(middleware: &'static str, key: &str, value: u32, cap: u32, cap_name: &str) -> ConfigError {
    ConfigError::new(middleware, format!("{key} = {value} is above the host's cap of {cap} ({cap_name})"))
}

#[cfg(all(test, feature = "retry", feature = "rate_limit"))]
mod tests {
    #[cfg(feature = "concurrency_limit")]
    #[test]
    fn concurrency_waits_above_the_cap_are_refused() {
        use crate::concurrency_limit::ConcurrencyLimitConfig;
        let caps = Caps::default();
        caps.check_concurrency_limit(&ConcurrencyLimitConfig::default().wait_ms(60_000)).expect("at the cap");
        let err = caps.check_concurrency_limit(&ConcurrencyLimitConfig::default().wait_ms(3_600_000)).unwrap_err();
        assert!(err.to_string().contains("wait_ms = 3600000 is above the host's cap of 60000 ms"), "{err}");
    }

    use super::*;
    use crate::rate_limit::{RateLimitConfig, RateLimitStrategy};
    use crate::retry::RetryConfig;

    #[test]
    fn retry_values_above_the_caps_are_refused_and_the_defaults_pass() {
        let caps = Caps::default();
        caps.check_retry(&RetryConfig::default()).expect("defaults are within the caps");
        caps.check_retry(&RetryConfig::default().max_attempts(10).initial_ms(60_000).max_ms(60_000))
            .expect("at the caps");
        let err = caps.check_retry(&RetryConfig::default().max_attempts(11)).unwrap_err();
        assert_eq!(err.to_string(), "retry: max_attempts = 11 is above the host's cap of 10 (retry_max_attempts)");
        assert!(caps.check_retry(&RetryConfig::default().max_ms(60_001)).is_err());
        assert!(caps.check_retry(&RetryConfig::default().initial_ms(3_600_000)).is_err());
        let strict = Caps::default().max_wait(Duration::from_millis(5));
        assert!(strict.check_retry(&RetryConfig::default()).is_err(), "max_ms 1000 above a 5 ms cap");
    }

    #[test]
    fn rate_limit_waits_are_bounded_by_the_cap() {
        let caps = Caps::default();
        let waiting = RateLimitConfig::default().strategy(RateLimitStrategy::Wait);
        let filled = caps.check_rate_limit(waiting.clone()).expect("defaults");
        assert_eq!(filled.max_wait_ms, Some(60_000), "no max_wait_ms: the cap applies at run time");
        assert_eq!(caps.check_rate_limit(waiting.clone().max_wait_ms(Some(10))).expect("below").max_wait_ms, Some(10));
        let err = caps.check_rate_limit(waiting.clone().rate_per_sec(1e-6)).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "rate_limit: rate_per_sec = 0.000001 with strategy \"wait\" makes one token take 1000000 s"
            ),
            "{err}"
        );
        assert!(
            caps.check_rate_limit(waiting.clone().rate_per_sec(0.1).max_wait_ms(Some(5000))).is_err(),
            "10 s per token, 5 s max wait"
        );
        assert!(caps.check_rate_limit(waiting.max_wait_ms(Some(3_600_000))).is_err());
        let fail_fast = RateLimitConfig::default().rate_per_sec(1e-6);
        assert!(caps.check_rate_limit(fail_fast).is_ok(), "fail_fast never waits");
    }
}

#[cfg(all(test, feature = "chaos"))]
mod chaos_tests {
    use super::*;
    use crate::chaos::ChaosConfig;

    #[test]
    fn chaos_latency_above_the_cap_is_refused() {
        let caps = Caps::default();
        caps.check_chaos(&ChaosConfig::default().latency_ms(60_000)).expect("at the cap");
        let err = caps.check_chaos(&ChaosConfig::default().latency_ms(3_600_000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chaos: latency_ms = 3600000 is above the host's cap of 60000 ms (chaos_max_latency)"
        );
    }
}
