//! [`Logging`]: a `tracing` span per event execution, with the outcome and the
//! duration recorded as span fields and reported in a closing log event.

use std::time::Instant;

use eventchains_core::{ChainableEvent, EventContext, EventMiddleware, EventResult, Next};
use serde::{Deserialize, Serialize};
use tracing::field::Empty;

use crate::config::setters;

/// A `tracing` level, as written in a config (`"trace"` ... `"error"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogLevel {
    /// `TRACE`
    Trace,
    /// `DEBUG`
    Debug,
    /// `INFO`
    #[default]
    Info,
    /// `WARN`
    Warn,
    /// `ERROR`
    Error,
}

impl LogLevel {
    /// The matching [`tracing::Level`].
    pub fn to_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

/// Config of [`Logging`] (registry name `logging`).
///
/// ```
/// use eventchains_middleware::{LogLevel, LoggingConfig};
/// let config: LoggingConfig = serde_json::from_str(r#"{"level": "debug"}"#).unwrap();
/// assert_eq!(config, LoggingConfig::default().level(LogLevel::Debug));
/// assert_eq!(config.failure_level, LogLevel::Warn);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// Level of the span and of the log event of a successful execution (default `info`).
    pub level: LogLevel,
    /// Level of the log event of a failed execution (default `warn`).
    pub failure_level: LogLevel,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { level: LogLevel::Info, failure_level: LogLevel::Warn }
    }
}

setters!(LoggingConfig {
    /// Sets the span and success level.
    level: LogLevel,
    /// Sets the failure level.
    failure_level: LogLevel,
});

/// Logs every event execution through `tracing`.
///
/// Each execution runs inside a span named `event` (tracing span names are
/// static) whose `event` field is the event's name and `chain` field the
/// chain's ([`Next::chain_name`], `""` when unnamed); when it ends, the span's
/// `outcome` (`"success"` / `"failure"`), `duration_us` and, on failure,
/// `error_kind` fields are recorded, and a log event is emitted at the success
/// or failure level with the same fields (and the error message). Nothing is
/// printed: install a `tracing` subscriber to see it.
///
/// The span also carries the fields that `tracing-opentelemetry` maps onto an
/// OpenTelemetry span: `otel.name` (the event's name), `otel.status_code`
/// (`"ok"` / `"error"`), `otel.status_description` (the error, on failure) and
/// `error.type` (the error kind, the OpenTelemetry semantic convention's
/// attribute); `chain`, `event`, `outcome` and `error_kind` become attributes.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent};
/// use eventchains_middleware::{Logging, LoggingConfig};
/// let chain = EventChain::new()
///     .middleware(Logging::new(LoggingConfig::default()))
///     .event(FnEvent::new("noop", |_| Ok(())));
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Logging {
    config: LoggingConfig,
}

impl Logging {
    /// A logging middleware with `config`.
    pub fn new(config: LoggingConfig) -> Self {
        Logging { config }
    }

    /// Its config.
    pub fn config(&self) -> &LoggingConfig {
        &self.config
    }
}

macro_rules! at_level {
    ($level:expr, $mac:ident!($($args:tt)*)) => {
        match $level {
            LogLevel::Trace => tracing::$mac!(tracing::Level::TRACE, $($args)*),
            LogLevel::Debug => tracing::$mac!(tracing::Level::DEBUG, $($args)*),
            LogLevel::Info => tracing::$mac!(tracing::Level::INFO, $($args)*),
            LogLevel::Warn => tracing::$mac!(tracing::Level::WARN, $($args)*),
            LogLevel::Error => tracing::$mac!(tracing::Level::ERROR, $($args)*),
        }
    };
}

fn enabled(level: LogLevel) -> bool {
    match level {
        LogLevel::Trace => tracing::enabled!(tracing::Level::TRACE),
        LogLevel::Debug => tracing::enabled!(tracing::Level::DEBUG),
        LogLevel::Info => tracing::enabled!(tracing::Level::INFO),
        LogLevel::Warn => tracing::enabled!(tracing::Level::WARN),
        LogLevel::Error => tracing::enabled!(tracing::Level::ERROR),
    }
}

impl EventMiddleware for Logging {
    fn name(&self) -> &str {
        "logging"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let name = event.name();
        let span = self.span(next.chain_name(), name);
        if self.unobserved(&span) {
            // Nobody listens: skip the clock reads.
            return next.run(ctx);
        }
        let start = Instant::now();
        let result = span.in_scope(|| next.run(ctx));
        self.report(&span, name, start, &result);
        result
    }

    crate::asynchronous::async_hooks!();
}

impl Logging {
    /// The span of one execution of `name`.
    #[inline]
    fn span(&self, chain: Option<&str>, name: &str) -> tracing::Span {
        let chain = chain.unwrap_or("");
        at_level!(
            self.config.level,
            span!(
                "event",
                chain,
                event = name,
                outcome = Empty,
                duration_us = Empty,
                error_kind = Empty,
                otel.name = name,
                otel.status_code = Empty,
                otel.status_description = Empty,
                error.type = Empty
            )
        )
    }

    /// `true` when neither the span nor the closing log event would be seen.
    #[inline]
    fn unobserved(&self, span: &tracing::Span) -> bool {
        span.is_disabled() && !enabled(self.config.level) && !enabled(self.config.failure_level)
    }

    /// Records the outcome and duration on the span and logs the closing event.
    fn report(&self, span: &tracing::Span, name: &str, start: Instant, result: &EventResult) {
        let duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.record("duration_us", duration_us);
        let _entered = span.enter();
        match result {
            Ok(()) => {
                span.record("outcome", "success");
                span.record("otel.status_code", "ok");
                at_level!(self.config.level, event!(event = name, outcome = "success", duration_us, "event succeeded"));
            }
            Err(error) => {
                let kind = error.kind().as_str();
                span.record("outcome", "failure");
                span.record("error_kind", kind);
                span.record("otel.status_code", "error");
                span.record("error.type", kind);
                if !span.is_disabled() {
                    span.record("otel.status_description", error.to_string());
                }
                at_level!(
                    self.config.failure_level,
                    event!(event = name, outcome = "failure", duration_us, error_kind = kind, error = %error, "event failed")
                );
            }
        }
    }
}

#[cfg(feature = "async")]
mod async_form;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_lowercase_and_unknown_fields_are_rejected() {
        let c: LoggingConfig = serde_json::from_str(r#"{"failure_level": "error"}"#).expect("parses");
        assert_eq!(c.failure_level.to_tracing(), tracing::Level::ERROR);
        assert_eq!(c.level, LogLevel::Info);
        assert!(serde_json::from_str::<LoggingConfig>(r#"{"lvl": "info"}"#).is_err());
        assert!(serde_json::from_str::<LoggingConfig>(r#"{"level": "loud"}"#).is_err());
    }

    #[test]
    fn passes_results_through_without_a_subscriber() {
        let event = eventchains_core::FnEvent::new("e", |_| Err(eventchains_core::EventError::new("no")));
        let stack: Vec<std::sync::Arc<dyn EventMiddleware>> = vec![std::sync::Arc::new(Logging::default())];
        let err = Next::new(&event, &stack).run(&mut EventContext::new()).expect_err("fails");
        assert_eq!(err.message(), "no");
    }
}
