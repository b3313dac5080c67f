//! Building middleware by name, as scripts do, and reaching their state
//! through `Handles`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{
    ChainStatus, ErrorKind, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry,
    Value,
};
use eventchains_middleware::{CircuitState, Handles, ManualClock, enabled_names, register_all, register_all_with};

fn map(pairs: &[(&str, Value)]) -> Value {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn every_enabled_middleware_is_registered_under_its_snake_case_name() {
    let mut registry = MiddlewareRegistry::new();
    register_all(&mut registry);
    assert_eq!(registry.names().collect::<Vec<_>>(), enabled_names());
    for name in enabled_names() {
        let m = registry.build(name, &Value::Nil).unwrap_or_else(|e| panic!("{name} builds from nil: {e}"));
        assert_eq!(m.name(), name);
        let empty = registry.build(name, &map(&[]));
        assert!(empty.is_ok(), "{name} builds from an empty map");
        let err = registry.build(name, &map(&[("no_such_key", Value::Int(1))])).err().expect("typo rejected");
        assert!(err.to_string().contains("unknown key `no_such_key`; allowed keys: "), "{name}: {err}");
    }
}

#[test]
fn script_style_configs_build_and_bad_values_explain_themselves() {
    let mut registry = MiddlewareRegistry::new();
    register_all(&mut registry);
    let retry = map(&[
        ("max_attempts", Value::Int(3)),
        ("backoff", "exponential".into()),
        ("initial_ms", Value::Int(5)),
        ("retry_on", Value::Array(vec!["event".into(), "timeout".into()])),
        ("budget", map(&[("ratio", Value::Float(0.5)), ("min_per_sec", Value::Int(2))])),
    ]);
    registry.build("retry", &retry).expect("script config");
    let err = registry.build("retry", &map(&[("max_attempts", Value::Int(0))])).err().expect("rejected");
    assert_eq!(err.to_string(), "invalid config for middleware `retry`: retry: max_attempts must be at least 1");
    let err = registry.build("rate_limit", &map(&[("strategy", "later".into())])).err().expect("bad variant");
    assert!(err.to_string().ends_with("`strategy`: expected one of \"fail_fast\", \"wait\", got the string \"later\""), "{err}");
    let timeout = map(&[("timeout_ms", Value::Int(20)), ("per_event", map(&[("export", Value::Int(500))]))]);
    registry.build("timeout", &timeout).expect("per-event limits");
}

#[test]
fn handles_share_state_by_id_and_use_the_injected_clock() {
    let clock = ManualClock::new();
    let handles = Handles::with_clock(clock.shared());
    let mut registry = MiddlewareRegistry::new();
    register_all_with(&mut registry, &handles);

    // Fetched before the middleware exists: the same state.
    let payments = handles.circuit_breaker("payments");
    let breaker_config =
        map(&[("id", "payments".into()), ("failure_threshold", Value::Int(2)), ("open_ms", Value::Int(1000))]);
    let build_chain = || {
        EventChain::new()
            .fault_tolerance(FaultToleranceMode::Lenient)
            .middleware_arc(registry.build("circuit_breaker", &breaker_config).expect("builds"))
            .middleware_arc(registry.build("metrics", &Value::Nil).expect("builds"))
            .event(FnEvent::new("charge", |_| Err(EventError::new("gateway down"))))
    };
    let first = build_chain();
    first.execute(&mut EventContext::new());
    // A second build (say, after a hot reload) shares the circuit.
    let second = build_chain();
    second.execute(&mut EventContext::new());
    assert_eq!(payments.state("charge"), CircuitState::Open);
    let refused = second.execute(&mut EventContext::new());
    assert_eq!(refused.failures()[0].kind(), ErrorKind::Cancelled);
    assert_eq!(handles.circuit_breaker("circuit_breaker").states().len(), 0, "other ids are separate");

    clock.advance(Duration::from_millis(1000));
    first.execute(&mut EventContext::new());
    assert_eq!(payments.state("charge"), CircuitState::Open, "the trial failed");

    let snapshot = handles.metrics("metrics").snapshot();
    let charge = snapshot.event("charge").expect("recorded");
    assert_eq!(charge.executions, 4);
    assert_eq!(charge.failures_by_kind.get("event"), Some(&3));
    assert_eq!(charge.failures_by_kind.get("cancelled"), Some(&1));
    assert_eq!(handles.circuit_breaker_ids(), ["circuit_breaker", "payments"]);
}

#[test]
fn registry_built_retry_sleeps_on_the_handles_clock() {
    let clock = ManualClock::new();
    let handles = Handles::with_clock(clock.shared());
    let mut registry = MiddlewareRegistry::new();
    register_all_with(&mut registry, &handles);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let config = map(&[("max_attempts", Value::Int(4)), ("backoff", "linear".into()), ("initial_ms", Value::Int(5))]);
    let chain =
        EventChain::new().middleware_arc(registry.build("retry", &config).expect("builds")).event(FnEvent::new(
            "flaky",
            move |_| {
                if c.fetch_add(1, Ordering::SeqCst) < 3 { Err(EventError::new("busy")) } else { Ok(()) }
            },
        ));
    assert_eq!(chain.execute(&mut EventContext::new()).status(), ChainStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(clock.slept(), Duration::from_millis(5 + 10 + 15));
    let stats = handles.retry("retry").stats();
    assert_eq!((stats.retries, stats.recovered), (3, 1));
}
