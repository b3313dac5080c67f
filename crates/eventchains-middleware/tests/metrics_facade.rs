//! What the middleware emit through the `metrics` facade, read from
//! `metrics-util`'s debugging recorder installed for the test's thread only
//! (`metrics::with_local_recorder`), so tests do not see each other's series.

#[path = "common/recorder.rs"]
mod recorder;

use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry, Value};
use eventchains_middleware::telemetry::names;
use eventchains_middleware::{Metrics, register_all};
use recorder::recorded;

#[test]
fn a_lenient_chain_run_ten_times_counts_outcomes_kinds_and_durations() {
    let metrics = Metrics::new();
    let handle = metrics.handle();
    let chain = EventChain::new()
        .named("orders")
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(metrics)
        .event(FnEvent::new("ok", |_| Ok(())))
        .event(FnEvent::new("bad", |_| Err(EventError::new("no"))));
    let rec = recorded(|| {
        for _ in 0..10 {
            chain.execute(&mut EventContext::new());
        }
    });
    let ok = [("chain", "orders"), ("event", "ok")];
    let bad = [("chain", "orders"), ("event", "bad")];
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[ok[0], ok[1], ("outcome", "success")]), 10);
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[ok[0], ok[1], ("outcome", "failure")]), 0);
    assert_eq!(
        rec.counter(names::EVENT_EXECUTIONS, &[bad[0], bad[1], ("outcome", "failure"), ("error_kind", "event")]),
        10
    );
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[bad[0], bad[1], ("outcome", "success")]), 0);
    // One series per (event, outcome, kind), no duplicates across shards; the
    // success series of an event exists from its first execution (at 0 for `bad`).
    assert_eq!(rec.find(names::EVENT_EXECUTIONS, &[]).len(), 3, "{:#?}", rec.series);
    assert_eq!(rec.samples(names::EVENT_DURATION, &ok), 10);
    assert_eq!(rec.samples(names::EVENT_DURATION, &bad), 10);
    // The JSON snapshot is a view of the same executions.
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.event("ok").map(|m| m.successes), Some(10));
    assert_eq!(snapshot.event("bad").map(|m| m.failures_by_kind["event"]), Some(10));
}

#[test]
fn registry_built_metrics_label_by_chain_and_shared_handles_keep_chains_apart() {
    let mut registry = MiddlewareRegistry::new();
    let handles = register_all(&mut registry);
    let build = |name: &str| {
        EventChain::new()
            .named(name)
            .middleware_arc(registry.build("metrics", &Value::Nil).expect("valid"))
            .event(FnEvent::new("step", |_| Ok(())))
    };
    let (a, b, unnamed) =
        (build("a"), build("b"), EventChain::new().middleware(Metrics::new()).event(FnEvent::new("step", |_| Ok(()))));
    let rec = recorded(|| {
        for _ in 0..3 {
            a.execute(&mut EventContext::new());
        }
        b.execute(&mut EventContext::new());
        unnamed.execute(&mut EventContext::new());
    });
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", "a"), ("event", "step")]), 3);
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", "b"), ("event", "step")]), 1);
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", ""), ("event", "step")]), 1);
    // Both chains share the registry's `metrics` handle, which adds them up.
    assert_eq!(handles.metrics("metrics").snapshot().event("step").map(|m| m.executions), Some(4));
}

#[test]
fn without_a_recorder_nothing_is_emitted_and_the_snapshot_still_counts() {
    let metrics = Metrics::new();
    let handle = metrics.handle();
    let chain = EventChain::new().middleware(metrics).event(FnEvent::new("e", |_| Ok(())));
    chain.execute(&mut EventContext::new());
    // Series registered with no recorder stay no-ops; after a reset they are
    // registered again with the recorder of the moment.
    let rec = recorded(|| {
        chain.execute(&mut EventContext::new());
    });
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[]), 0);
    assert_eq!(handle.snapshot().event("e").map(|m| m.executions), Some(2));
    handle.reset();
    let rec = recorded(|| {
        chain.execute(&mut EventContext::new());
    });
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("event", "e")]), 1);
}
