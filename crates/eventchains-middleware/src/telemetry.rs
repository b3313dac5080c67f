//! What this crate emits through the [`metrics`](https://docs.rs/metrics)
//! facade: the metric names ([`names`]), [`describe`] for exporters that
//! show descriptions, and the functions the middleware call on their rare
//! paths (breaker transitions, rejections, retries).
//!
//! Every emitter is a no-op without the `metrics` feature. With it and no
//! recorder installed, the facade's no-op recorder takes the call; the hot
//! path of [`Metrics`](crate::Metrics) caches its handles so that costs one
//! branch per series. Names follow the Prometheus and OpenTelemetry
//! conventions (`_total` for counters, base units, `snake_case` labels); the
//! table in `docs/middleware.md` lists every name and label.

/// The names of every metric and label this crate emits.
pub mod names {
    /// Counter: event executions seen by the `metrics` middleware; labels
    /// `chain`, `event`, `outcome` (`success` / `failure`) and, on failures,
    /// `error_kind` (`event`, `middleware`, `timeout`, `limit_exceeded`, `panic`, `cancelled`).
    pub const EVENT_EXECUTIONS: &str = "eventchains_event_executions_total";
    /// Histogram, seconds: duration of each event execution; labels `chain`, `event`.
    pub const EVENT_DURATION: &str = "eventchains_event_duration_seconds";
    /// Counter: re-runs of a failed event by `retry`; labels `chain`, `event`.
    pub const RETRY_ATTEMPTS: &str = "eventchains_retry_attempts_total";
    /// Counter: retries refused by an exhausted retry budget; labels `chain`, `event`.
    pub const RETRY_BUDGET_EXHAUSTED: &str = "eventchains_retry_budget_exhausted_total";
    /// Gauge: 1 for the current state of a circuit, 0 for the two others;
    /// labels `breaker` (the handle id), `event`, `state` (`closed`, `open`, `half_open`).
    pub const BREAKER_STATE: &str = "eventchains_circuit_breaker_state";
    /// Counter: state changes of a circuit; labels `breaker`, `event`, `from`, `to`.
    pub const BREAKER_TRANSITIONS: &str = "eventchains_circuit_breaker_transitions_total";
    /// Counter: calls refused by an open or saturated half-open circuit; labels `breaker`, `event`.
    pub const BREAKER_REJECTIONS: &str = "eventchains_circuit_breaker_rejected_calls_total";
    /// Counter: events refused by `rate_limit`; labels `limiter` (the handle id), `chain`, `event`.
    pub const RATE_LIMIT_REJECTIONS: &str = "eventchains_rate_limit_rejections_total";
    /// Counter: events refused by `concurrency_limit`; labels `limiter`, `chain`,
    /// `event`, `reason` (`saturated` when it failed fast, `wait_timeout` after waiting).
    pub const CONCURRENCY_REJECTIONS: &str = "eventchains_concurrency_limit_rejections_total";
    /// Label: the chain's name (`""` for an unnamed chain).
    pub const CHAIN: &str = "chain";
    /// Label: the event's name.
    pub const EVENT: &str = "event";
    /// Label: `success` or `failure`.
    pub const OUTCOME: &str = "outcome";
    /// Label: the error kind of a failure.
    pub const ERROR_KIND: &str = "error_kind";
}

/// Registers the description and unit of every metric above with the
/// installed recorder. Call it once after installing one (the CLI does);
/// without the `metrics` feature it does nothing.
pub fn describe() {
    #[cfg(feature = "metrics")]
    {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_counter!(
            names::EVENT_EXECUTIONS,
            Unit::Count,
            "Event executions by chain, event, outcome and error kind."
        );
        describe_histogram!(names::EVENT_DURATION, Unit::Seconds, "Duration of event executions.");
        describe_counter!(names::RETRY_ATTEMPTS, Unit::Count, "Re-runs of failed events by the retry middleware.");
        describe_counter!(names::RETRY_BUDGET_EXHAUSTED, Unit::Count, "Retries refused by an exhausted retry budget.");
        describe_gauge!(names::BREAKER_STATE, "1 for the current state of a circuit, 0 for the others.");
        describe_counter!(names::BREAKER_TRANSITIONS, Unit::Count, "Circuit breaker state changes.");
        describe_counter!(names::BREAKER_REJECTIONS, Unit::Count, "Calls refused by a circuit breaker.");
        describe_counter!(names::RATE_LIMIT_REJECTIONS, Unit::Count, "Events refused by a rate limit.");
        describe_counter!(names::CONCURRENCY_REJECTIONS, Unit::Count, "Events refused by a concurrency limit.");
    }
}

/// Counts a retry of `event` (`exhausted`: refused by the budget instead).
#[cfg_attr(not(feature = "retry"), allow(dead_code))]
pub(crate) fn retry(chain: Option<&str>, event: &str, exhausted: bool) {
    #[cfg(feature = "metrics")]
    {
        let name = if exhausted { names::RETRY_BUDGET_EXHAUSTED } else { names::RETRY_ATTEMPTS };
        metrics::counter!(name, names::CHAIN => chain.unwrap_or("").to_owned(), names::EVENT => event.to_owned())
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (chain, event, exhausted);
}

/// Records that the circuit `breaker`/`event` went from state `from` to `to`
/// (state names as in [`names::BREAKER_STATE`]); `from == to` only sets the gauge.
#[cfg_attr(not(feature = "circuit_breaker"), allow(dead_code))]
pub(crate) fn breaker_transition(breaker: &str, event: &str, from: &'static str, to: &'static str) {
    #[cfg(feature = "metrics")]
    {
        for state in ["closed", "open", "half_open"] {
            metrics::gauge!(names::BREAKER_STATE, "breaker" => breaker.to_owned(), names::EVENT => event.to_owned(), "state" => state)
                .set(if state == to { 1.0 } else { 0.0 });
        }
        if from != to {
            metrics::counter!(
                names::BREAKER_TRANSITIONS,
                "breaker" => breaker.to_owned(),
                names::EVENT => event.to_owned(),
                "from" => from,
                "to" => to
            )
            .increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (breaker, event, from, to);
}

/// Counts a call refused by the circuit `breaker`/`event`.
#[cfg_attr(not(feature = "circuit_breaker"), allow(dead_code))]
pub(crate) fn breaker_rejection(breaker: &str, event: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::BREAKER_REJECTIONS, "breaker" => breaker.to_owned(), names::EVENT => event.to_owned())
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (breaker, event);
}

/// Counts an event refused by a limiter: `metric` is
/// [`names::RATE_LIMIT_REJECTIONS`] or [`names::CONCURRENCY_REJECTIONS`]
/// (which also gets `reason`).
#[cfg_attr(not(any(feature = "rate_limit", feature = "concurrency_limit")), allow(dead_code))]
pub(crate) fn rejection(
    metric: &'static str,
    limiter: &str,
    chain: Option<&str>,
    event: &str,
    reason: Option<&'static str>,
) {
    #[cfg(feature = "metrics")]
    {
        let mut labels = vec![
            metrics::Label::new("limiter", limiter.to_owned()),
            metrics::Label::new(names::CHAIN, chain.unwrap_or("").to_owned()),
            metrics::Label::new(names::EVENT, event.to_owned()),
        ];
        if let Some(reason) = reason {
            labels.push(metrics::Label::new("reason", reason));
        }
        metrics::counter!(metric, labels).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (metric, limiter, chain, event, reason);
}
