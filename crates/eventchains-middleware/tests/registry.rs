//! Building middleware by name, as scripts do, and reaching their state
//! through `Handles`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{
    ChainStatus, ErrorKind, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry,
    Value,
};
use eventchains_middleware::{
    Caps, CircuitState, Handles, ManualClock, enabled_names, register_all, register_all_with,
};

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
    assert!(
        err.to_string().ends_with("`strategy`: expected one of \"fail_fast\", \"wait\", got the string \"later\""),
        "{err}"
    );
    let timeout = map(&[("timeout_ms", Value::Int(20)), ("per_event", map(&[("export", Value::Int(500))]))]);
    registry.build("timeout", &timeout).expect("per-event limits");
}

#[test]
fn lua_style_configs_decode_with_the_core_rules() {
    let mut registry = MiddlewareRegistry::new();
    register_all(&mut registry);
    let empty_table = || Value::Map(Default::default());
    // `timeout_ms = 100 * 1.5` is 150.0 in Lua: an integral float reads as an integer.
    let timeout = map(&[("timeout_ms", Value::Float(150.0)), ("per_event", empty_table())]);
    let t = registry.build("timeout", &timeout).expect("integral float and empty table");
    assert_eq!(t.name(), "timeout");
    // `retry_on = {}`: Lua's one empty table reads as the empty list the field expects.
    let retry = map(&[
        ("max_attempts", Value::Float(3.0)),
        ("initial_ms", Value::Float(5.0)),
        ("retry_on", empty_table()),
        ("budget", Value::Array(vec![])),
    ]);
    registry.build("retry", &retry).expect("floats and empty tables");
    let breaker = map(&[("failure_threshold", Value::Float(2.0)), ("trip_on", empty_table())]);
    registry.build("circuit_breaker", &breaker).expect("breaker");
    let limit = map(&[("burst", Value::Float(4.0)), ("rate_per_sec", Value::Int(5))]);
    registry.build("rate_limit", &limit).expect("rate limit");

    let err = registry.build("timeout", &map(&[("timeout_ms", Value::Float(150.5))])).err().expect("fraction");
    assert_eq!(
        err.to_string(),
        "invalid config for middleware `timeout`: `timeout_ms`: expected a non-negative integer, got the number 150.5"
    );
    let err = registry.build("retry", &map(&[("max_attempts", Value::Float(1e12))])).err().expect("too big");
    assert_eq!(
        err.to_string(),
        "invalid config for middleware `retry`: max_attempts: float 1000000000000.0 out of range for u32 (0..=4294967295)"
    );
    let err = registry.build("retry", &map(&[("budget", map(&[("ratio", "lots".into())]))])).err().expect("wrong type");
    assert_eq!(
        err.to_string(),
        "invalid config for middleware `retry`: `budget.ratio`: expected a number, got the string \"lots\""
    );
    let err = registry
        .build("retry", &map(&[("retry_on", Value::Array(vec!["event".into(), "boom".into()]))]))
        .err()
        .expect("bad kind");
    assert!(err.to_string().contains(r#"`retry_on[2]`: expected one of "event", "middleware""#), "{err}");
}

#[test]
fn script_configs_stay_inside_the_host_caps() {
    let mut registry = MiddlewareRegistry::new();
    register_all(&mut registry);
    let refused = |name: &str, config: Value| registry.build(name, &config).err().map(|e| e.to_string());
    let err = refused("retry", map(&[("initial_ms", Value::Int(3_600_000))])).expect("an hour of backoff");
    assert!(err.contains("initial_ms = 3600000 is above the host's cap of 60000 ms"), "{err}");
    assert!(refused("retry", map(&[("max_attempts", Value::Int(1000))])).is_some());
    let err = refused("rate_limit", map(&[("rate_per_sec", Value::Float(1e-6)), ("strategy", "wait".into())]))
        .expect("11 days per token");
    assert!(err.contains("rate_per_sec = 0.000001 with strategy \"wait\""), "{err}");
    assert!(refused("rate_limit", map(&[("rate_per_sec", Value::Float(1e-6))])).is_none(), "fail_fast is fine");

    // A host raises or lowers the caps through its handles.
    let caps = Caps::default().retry_max_attempts(100).max_wait(Duration::from_secs(3600));
    let mut generous = MiddlewareRegistry::new();
    register_all_with(&mut generous, &Handles::new().with_caps(caps));
    let long = map(&[
        ("max_attempts", Value::Int(100)),
        ("initial_ms", Value::Int(3_600_000)),
        ("max_ms", Value::Int(3_600_000)),
    ]);
    generous.build("retry", &long).expect("within the raised caps");
    let mut strict = MiddlewareRegistry::new();
    register_all_with(&mut strict, &Handles::new().with_caps(Caps::default().max_wait(Duration::from_millis(100))));
    let err = strict.build("retry", &Value::Nil).err().expect("default max_ms 1000 > 100").to_string();
    assert!(err.contains("max_ms = 1000 is above the host's cap of 100 ms (retry_max_delay)"), "{err}");
}

/// Runs a script-style retry (1000 s fixed backoff, up to 10 attempts, within
/// raised caps) around an always-failing event, in a chain that `bound` gives
/// a 3500 s deadline. (A deadline the chain takes from the system clock is
/// compared with the manual clock's time: they agree to within the real time
/// the test takes, far below the 500 s margin.)
fn retries_within(bound: impl FnOnce(EventChain, &MiddlewareRegistry) -> EventChain) {
    let clock = ManualClock::new();
    let handles = Handles::with_clock(clock.shared()).with_caps(Caps::default().max_wait(Duration::from_secs(3600)));
    let mut registry = MiddlewareRegistry::new();
    register_all_with(&mut registry, &handles);
    let retry = map(&[
        ("max_attempts", Value::Int(10)),
        ("backoff", "fixed".into()),
        ("initial_ms", Value::Int(1_000_000)),
        ("max_ms", Value::Int(1_000_000)),
    ]);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let chain = EventChain::new().middleware_arc(registry.build("retry", &retry).expect("within the caps")).event(
        FnEvent::new("flaky", move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Err(EventError::new("down"))
        }),
    );
    let result = bound(chain, &registry).execute(&mut EventContext::new());
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(calls.load(Ordering::SeqCst), 4, "three 1000 s waits fit in 3500 s, a fourth would not");
    assert_eq!(clock.slept(), Duration::from_secs(3000));
    assert_eq!(handles.retry("retry").stats().deadline_stops, 1);
}

#[test]
fn a_timeout_outside_bounds_retries_of_a_script_config() {
    retries_within(|chain, registry| {
        let timeout = map(&[("timeout_ms", Value::Int(3_500_000))]);
        chain.middleware_arc(registry.build("timeout", &timeout).expect("timeout"))
    });
}

#[test]
fn the_chains_event_time_limit_bounds_retries_of_a_script_config() {
    // What a script loader does with its own time cap: no timeout middleware needed.
    retries_within(|chain, _| chain.event_time_limit(Duration::from_secs(3500)));
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
