//! [`Timing`]: the duration of every event, a warning for slow events and,
//! optionally, the duration stored in the context.

use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventMiddleware, EventResult, Map, Next, Value};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::setters;

/// The default context key under which [`Timing`] stores durations.
pub const DEFAULT_KEY: &str = "timing_us";

/// Config of [`Timing`] (registry name `timing`).
///
/// ```
/// use eventchains_middleware::TimingConfig;
/// let config: TimingConfig = serde_json::from_str(r#"{"slow_ms": 250, "store": true}"#).unwrap();
/// assert_eq!(config, TimingConfig::default().slow_ms(Some(250)).store(true));
/// assert_eq!(config.key, "timing_us");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TimingConfig {
    /// Events slower than this many milliseconds emit a `WARN` log event (default: none).
    pub slow_ms: Option<u64>,
    /// Store each event's duration in the context (default `false`).
    pub store: bool,
    /// The context key of the stored durations: a map from event name to its
    /// last duration in whole microseconds (default `"timing_us"`).
    pub key: String,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig { slow_ms: None, store: false, key: DEFAULT_KEY.to_owned() }
    }
}

setters!(TimingConfig {
    /// Sets the slow-event threshold in milliseconds.
    slow_ms: Option<u64>,
    /// Turns storing durations in the context on or off.
    store: bool,
} into {
    /// Sets the context key of the stored durations.
    key: String,
});

/// Measures every event.
///
/// Each duration is logged at `DEBUG` (`event`, `duration_us`); an event slower
/// than `slow_ms` is logged at `WARN` with `slow_ms`. With `store`, the
/// context key `key` (default `timing_us`) holds a map from event name to the
/// event's last duration in microseconds, e.g. `{"timing_us": {"charge": 812}}`,
/// which Lua sees as `ctx.timing_us.charge`. The duration includes the
/// middleware inside this one. When nothing would see the figure (no `store`,
/// no `slow_ms`, and `DEBUG` disabled for this crate) it only forwards the call.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent};
/// use eventchains_middleware::{Timing, TimingConfig};
/// let chain = EventChain::new()
///     .middleware(Timing::new(TimingConfig::default().store(true)))
///     .event(FnEvent::new("work", |_| Ok(())));
/// let mut ctx = EventContext::new();
/// chain.execute(&mut ctx);
/// assert!(ctx.value("timing_us").and_then(|v| v.as_map()).is_some_and(|m| m.contains_key("work")));
/// ```
#[derive(Clone, Debug)]
pub struct Timing {
    config: TimingConfig,
    slow: Option<Duration>,
    clock: SharedClock,
}

impl Timing {
    /// A timing middleware with `config`, on the system clock.
    pub fn new(config: TimingConfig) -> Self {
        let slow = config.slow_ms.map(Duration::from_millis);
        Timing { config, slow, clock: system_clock() }
    }

    /// Uses `clock` to measure (tests pass a [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Its config.
    pub fn config(&self) -> &TimingConfig {
        &self.config
    }

    fn store(&self, ctx: &mut EventContext, name: &str, micros: i64) {
        match ctx.value_mut(&self.config.key) {
            Some(Value::Map(map)) => {
                map.insert(name.to_owned(), Value::Int(micros));
            }
            _ => {
                let mut map = Map::default();
                map.insert(name.to_owned(), Value::Int(micros));
                ctx.set(self.config.key.clone(), Value::Map(map));
            }
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::new(TimingConfig::default())
    }
}

impl EventMiddleware for Timing {
    fn name(&self) -> &str {
        "timing"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        if self.unobserved() {
            return next.run(ctx); // nothing would see the figure: skip the clock reads
        }
        let start = self.clock.now();
        let result = next.run(ctx);
        self.report(ctx, event.name(), start);
        result
    }

    crate::asynchronous::async_hooks!();
}

impl Timing {
    /// `true` when nothing would see the figure.
    #[inline]
    fn unobserved(&self) -> bool {
        !self.config.store && self.slow.is_none() && !tracing::enabled!(tracing::Level::DEBUG)
    }

    /// Logs and stores the duration of `name` since `start`.
    fn report(&self, ctx: &mut EventContext, name: &str, start: std::time::Instant) {
        let elapsed = self.clock.now().saturating_duration_since(start);
        let micros = i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX);
        match self.slow {
            Some(slow) if elapsed > slow => {
                tracing::warn!(event = name, duration_us = micros, slow_ms = slow.as_millis() as u64, "slow event");
            }
            _ => tracing::debug!(event = name, duration_us = micros, "event timed"),
        }
        if self.config.store {
            self.store(ctx, name, micros);
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
    use crate::ManualClock;

    fn run(timing: Timing, event: &dyn ChainableEvent, ctx: &mut EventContext) -> EventResult {
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(timing)];
        Next::new(event, &stack).run(ctx)
    }

    #[test]
    fn stores_durations_per_event_under_the_key() {
        let clock = ManualClock::new();
        let c = clock.clone();
        let event = FnEvent::new("slow", move |_| {
            c.advance(Duration::from_micros(1500));
            Ok(())
        });
        let mut ctx = EventContext::new();
        let timing = Timing::new(TimingConfig::default().store(true).key("t")).with_clock(clock.shared());
        run(timing.clone(), &event, &mut ctx).expect("ok");
        run(timing, &FnEvent::new("fast", |_| Ok(())), &mut ctx).expect("ok");
        assert_eq!(ctx.to_json(), serde_json::json!({"t": {"slow": 1500, "fast": 0}}));
    }

    #[test]
    fn does_not_store_by_default_and_keeps_errors() {
        let mut ctx = EventContext::new();
        let event = FnEvent::new("e", |_| Err(eventchains_core::EventError::new("x")));
        assert!(run(Timing::default(), &event, &mut ctx).is_err());
        assert!(ctx.is_empty());
    }
}
