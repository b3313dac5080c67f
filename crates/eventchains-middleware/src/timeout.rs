//! [`Timeout`]: a deadline per event, placed in the context where events and
//! the Lua layer see it, and overruns reported as timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};

/// Config of [`Timeout`] (registry name `timeout`).
///
/// ```
/// use eventchains_middleware::TimeoutConfig;
/// let c: TimeoutConfig = serde_json::from_str(r#"{"timeout_ms": 50, "per_event": {"export": 2000}}"#).unwrap();
/// assert_eq!(c.limit_for("export").as_millis(), 2000);
/// assert_eq!(c.limit_for("validate").as_millis(), 50);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// The time an event may take, in milliseconds (default 1000).
    pub timeout_ms: u64,
    /// Limits for particular event names, in milliseconds (default: none).
    pub per_event: BTreeMap<String, u64>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig { timeout_ms: 1000, per_event: BTreeMap::new() }
    }
}

setters!(TimeoutConfig {
    /// Sets the default limit in milliseconds.
    timeout_ms: u64,
    /// Sets the per-event limits.
    per_event: BTreeMap<String, u64>,
});

impl TimeoutConfig {
    /// The limit of `event`.
    pub fn limit_for(&self, event: &str) -> Duration {
        Duration::from_millis(self.per_event.get(event).copied().unwrap_or(self.timeout_ms))
    }
}

/// Gives every event a deadline.
///
/// Before running the event, it sets the context's deadline
/// ([`EventContext::set_deadline`]) to now + the limit, or keeps an earlier
/// deadline set by an outer middleware; afterwards it restores the previous
/// deadline. Code that checks [`EventContext::deadline`] can stop early (the
/// Lua layer stops handlers at it). Rust code cannot be pre-empted: an event
/// that succeeds but took longer than its limit is still reported as a failure
/// of kind `timeout` (origin event). Errors are passed through unchanged (a
/// pre-empted Lua handler already fails with a timeout).
///
/// ```
/// use std::time::Duration;
/// use eventchains_core::{EventChain, EventContext, ErrorKind, FnEvent};
/// use eventchains_middleware::{ManualClock, Timeout, TimeoutConfig};
/// let clock = ManualClock::new();
/// let c = clock.clone();
/// let chain = EventChain::new()
///     .middleware(Timeout::new(TimeoutConfig::default().timeout_ms(100)).unwrap().with_clock(clock.shared()))
///     .event(FnEvent::new("slow", move |ctx| {
///         assert!(ctx.deadline().is_some());
///         c.advance(Duration::from_millis(150)); // cannot be pre-empted
///         Ok(())
///     }));
/// let mut ctx = EventContext::new();
/// let result = chain.execute(&mut ctx);
/// assert_eq!(result.failures()[0].kind(), ErrorKind::Timeout);
/// assert_eq!(result.failures()[0].message(), "event `slow` took 150 ms, limit 100 ms");
/// assert_eq!(ctx.deadline(), None); // restored
/// ```
#[derive(Clone, Debug)]
pub struct Timeout {
    config: TimeoutConfig,
    limit: Duration,
    clock: SharedClock,
}

impl Timeout {
    /// A timeout middleware with `config` on the system clock.
    pub fn new(config: TimeoutConfig) -> Result<Self, ConfigError> {
        if config.timeout_ms == 0 || config.per_event.values().any(|ms| *ms == 0) {
            return Err(ConfigError::new("timeout", "limits must be at least 1 ms"));
        }
        Ok(Timeout { limit: Duration::from_millis(config.timeout_ms), config, clock: system_clock() })
    }

    /// Reads time through `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Its config.
    pub fn config(&self) -> &TimeoutConfig {
        &self.config
    }
}

impl EventMiddleware for Timeout {
    fn name(&self) -> &str {
        "timeout"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let limit = self.limit_of(event.name());
        let start = self.clock.now();
        // A limit too large for an `Instant` sets no deadline of its own.
        let result = next.run(&mut ctx.deadline_scope(start, limit));
        self.judge(event.name(), start, limit, result)
    }

    crate::asynchronous::async_hooks!();
}

impl Timeout {
    fn limit_of(&self, event: &str) -> Duration {
        if self.config.per_event.is_empty() { self.limit } else { self.config.limit_for(event) }
    }

    /// An event that succeeded but overran its limit is a timeout; errors pass through.
    fn judge(&self, event: &str, start: std::time::Instant, limit: Duration, result: EventResult) -> EventResult {
        let elapsed = self.clock.now().saturating_duration_since(start);
        match result {
            Ok(()) if elapsed > limit => Err(EventError::timeout(format!(
                "event `{event}` took {} ms, limit {} ms",
                elapsed.as_millis(),
                limit.as_millis()
            ))),
            other => other,
        }
    }
}

#[cfg(feature = "async")]
mod async_form;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use eventchains_core::FnEvent;

    use super::*;
    use crate::{Clock, ManualClock};

    #[test]
    fn keeps_an_earlier_outer_deadline_and_restores_it() {
        let clock = ManualClock::new();
        let outer = clock.now() + Duration::from_millis(10);
        let t = Timeout::new(TimeoutConfig::default()).expect("valid").with_clock(clock.shared());
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(t)];
        let event = FnEvent::new("e", move |ctx| {
            assert_eq!(ctx.deadline(), Some(outer));
            Ok(())
        });
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(outer));
        Next::new(&event, &stack).run(&mut ctx).expect("in time");
        assert_eq!(ctx.deadline(), Some(outer));
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let t = Timeout::new(TimeoutConfig::default().timeout_ms(u64::MAX)).expect("valid");
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(t)];
        let event = FnEvent::new("e", |ctx| {
            assert!(!ctx.deadline_passed());
            Ok(())
        });
        Next::new(&event, &stack).run(&mut EventContext::new()).expect("in time");
    }

    #[test]
    fn errors_pass_through_and_zero_limits_are_rejected() {
        let clock = ManualClock::new();
        let c = clock.clone();
        let t = Timeout::new(TimeoutConfig::default().timeout_ms(1)).expect("valid").with_clock(clock.shared());
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(t)];
        let event = FnEvent::new("e", move |_| {
            c.advance(Duration::from_secs(1));
            Err(EventError::new("own failure"))
        });
        let err = Next::new(&event, &stack).run(&mut EventContext::new()).expect_err("fails");
        assert_eq!(err.message(), "own failure");
        assert!(Timeout::new(TimeoutConfig::default().timeout_ms(0)).is_err());
    }
}
