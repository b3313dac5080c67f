//! The resilience4j-style circuit breaker through the registry, configured as
//! a script would configure it, and what it reports to the `metrics` facade.

#[path = "common/recorder.rs"]
mod recorder;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{
    ChainStatus, ErrorKind, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry,
    Value,
};
use eventchains_middleware::telemetry::names;
use eventchains_middleware::{CircuitState, Handles, ManualClock, register_all_with};
use recorder::recorded;

fn config(json: serde_json::Value) -> Value {
    Value::from_json(json)
}

/// A registry whose middleware read `clock`.
fn registry(clock: &ManualClock) -> (MiddlewareRegistry, Handles) {
    let mut registry = MiddlewareRegistry::new();
    let handles = Handles::with_clock(clock.shared());
    register_all_with(&mut registry, &handles);
    (registry, handles)
}

#[test]
fn a_failure_rate_breaker_opens_on_an_alternating_pattern() {
    let clock = ManualClock::new();
    let (registry, handles) = registry(&clock);
    let breaker = registry
        .build("circuit_breaker", &config(serde_json::json!({"failure_rate": 0.5, "window": 10, "minimum_calls": 10})))
        .expect("valid config");
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let chain = EventChain::new().middleware_arc(breaker).event(FnEvent::new("flaky", move |_| {
        // Fails every second call: success, failure, success, ...
        if counter.fetch_add(1, Ordering::SeqCst) % 2 == 1 { Err(EventError::new("down")) } else { Ok(()) }
    }));
    let circuits = handles.circuit_breaker("circuit_breaker");
    for i in 0..9 {
        chain.execute(&mut EventContext::new());
        assert_eq!(circuits.state("flaky"), CircuitState::Closed, "after call {}", i + 1);
    }
    // The tenth call fills the window: 5 failures in 10 calls is a rate of 0.5.
    chain.execute(&mut EventContext::new());
    assert_eq!(circuits.state("flaky"), CircuitState::Open);
    let refused = chain.execute(&mut EventContext::new());
    assert_eq!(refused.failures()[0].kind(), ErrorKind::Cancelled);
    assert_eq!(calls.load(Ordering::SeqCst), 10, "the open circuit did not run the event");
    // The consecutive mode (the default) never opens on the same pattern.
    let consecutive =
        registry.build("circuit_breaker", &config(serde_json::json!({"id": "consecutive"}))).expect("valid");
    let counter = Arc::new(AtomicU32::new(0));
    let chain = EventChain::new().middleware_arc(consecutive).event(FnEvent::new("flaky", move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) % 2 == 1 { Err(EventError::new("down")) } else { Ok(()) }
    }));
    for _ in 0..40 {
        chain.execute(&mut EventContext::new());
    }
    assert_eq!(handles.circuit_breaker("consecutive").state("flaky"), CircuitState::Closed);
}

#[test]
fn slow_calls_over_the_threshold_open_a_slow_call_rate_breaker() {
    let clock = ManualClock::new();
    let (registry, handles) = registry(&clock);
    let breaker = registry
        .build(
            "circuit_breaker",
            &config(serde_json::json!({
                "slow_call_rate": 0.5, "slow_call_ms": 100, "window": 4, "minimum_calls": 4, "open_ms": 1000
            })),
        )
        .expect("valid config");
    let took_ms = Arc::new(AtomicU32::new(0));
    let (took, event_clock) = (took_ms.clone(), clock.clone());
    let chain = EventChain::new().middleware_arc(breaker).event(FnEvent::new("query", move |_| {
        // The event "takes" as long as the test says: it moves the manual clock.
        event_clock.advance(Duration::from_millis(u64::from(took.load(Ordering::SeqCst))));
        Ok(())
    }));
    let circuits = handles.circuit_breaker("circuit_breaker");
    // Three fast calls and one at 99 ms: none is slow.
    for ms in [1, 5, 10, 99] {
        took_ms.store(ms, Ordering::SeqCst);
        assert!(chain.execute(&mut EventContext::new()).is_success());
    }
    assert_eq!(circuits.state("query"), CircuitState::Closed);
    // Two calls at or over 100 ms: 2 slow in the last 4 calls is a rate of 0.5.
    took_ms.store(100, Ordering::SeqCst);
    assert!(chain.execute(&mut EventContext::new()).is_success());
    assert_eq!(circuits.state("query"), CircuitState::Closed);
    took_ms.store(250, Ordering::SeqCst);
    assert!(chain.execute(&mut EventContext::new()).is_success(), "slow calls still succeed");
    assert_eq!(circuits.state("query"), CircuitState::Open);
    assert_eq!(chain.execute(&mut EventContext::new()).status(), ChainStatus::Failed);
    // After the wait a fast trial closes it again.
    clock.advance(Duration::from_millis(1000));
    took_ms.store(1, Ordering::SeqCst);
    assert!(chain.execute(&mut EventContext::new()).is_success());
    assert_eq!(circuits.state("query"), CircuitState::Closed);
}

#[test]
fn the_wait_moves_an_open_circuit_to_half_open_by_itself() {
    use eventchains_middleware::{CircuitBreaker, CircuitBreakerConfig};
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::new(
        CircuitBreakerConfig::default().failure_rate(Some(1.0)).window(Some(2)).half_open_max_calls(2).open_ms(50),
    )
    .expect("valid")
    .with_clock(clock.shared());
    let probe = breaker.clone();
    let chain = EventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(breaker)
        .event(FnEvent::new("e", |_| Err(EventError::new("down"))));
    chain.execute(&mut EventContext::new());
    chain.execute(&mut EventContext::new());
    assert_eq!(probe.state("e"), CircuitState::Open);
    clock.advance(Duration::from_millis(50));
    assert_eq!(probe.state("e"), CircuitState::HalfOpen, "no call needed");
    // Rate mode judges the two permitted trials together: both fail, it reopens.
    chain.execute(&mut EventContext::new());
    assert_eq!(probe.state("e"), CircuitState::HalfOpen);
    chain.execute(&mut EventContext::new());
    assert_eq!(probe.state("e"), CircuitState::Open);
}

#[test]
fn invalid_rate_configs_are_rejected_with_the_reason() {
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock);
    for (json, reason) in [
        (serde_json::json!({"failure_rate": 1.5}), "failure_rate must be in (0, 1]"),
        (serde_json::json!({"failure_rate": 0.5, "window": 10, "window_ms": 100}), "not both"),
        (serde_json::json!({"failure_rate": 0.5, "window": 0}), "at least 1"),
        (serde_json::json!({"window": 10}), "needs failure_rate or slow_call_rate"),
        (serde_json::json!({"failure_rate": 0.5, "windw": 10}), "unknown key `windw` (did you mean `window`?)"),
    ] {
        let err = registry.build("circuit_breaker", &config(json.clone())).err().expect("rejected").to_string();
        assert!(err.contains(reason), "{json}: {err}");
    }
}

#[test]
fn breaker_state_and_transitions_reach_the_metrics_facade() {
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock);
    let chain = EventChain::new()
        .named("payments")
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware_arc(
            registry
                .build(
                    "circuit_breaker",
                    &config(serde_json::json!({"id": "pay", "failure_threshold": 2, "open_ms": 10})),
                )
                .expect("valid"),
        )
        .event(FnEvent::new("charge", |_| Err(EventError::new("down"))));
    let state = |rec: &recorder::Recorded, s: &str| {
        rec.gauge(names::BREAKER_STATE, &[("breaker", "pay"), ("event", "charge"), ("state", s)])
    };
    let before = recorded(|| {
        chain.execute(&mut EventContext::new());
    });
    assert_eq!(state(&before, "closed"), Some(1.0));
    assert_eq!(state(&before, "open"), Some(0.0));
    let after = recorded(|| {
        chain.execute(&mut EventContext::new()); // second failure: opens
        chain.execute(&mut EventContext::new()); // refused
    });
    assert_eq!(state(&after, "open"), Some(1.0));
    assert_eq!(state(&after, "closed"), Some(0.0));
    let opened = [("breaker", "pay"), ("event", "charge"), ("from", "closed"), ("to", "open")];
    assert_eq!(after.counter(names::BREAKER_TRANSITIONS, &opened), 1);
    assert_eq!(after.counter(names::BREAKER_REJECTIONS, &[("breaker", "pay"), ("event", "charge")]), 1);
}
