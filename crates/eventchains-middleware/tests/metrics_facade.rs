//! What the middleware emit through the `metrics` facade, read from
//! `metrics-util`'s debugging recorder installed for the test's thread only
//! (`metrics::with_local_recorder`), so tests do not see each other's series.

#[path = "common/recorder.rs"]
mod recorder;

use std::time::Duration;

use eventchains_core::{
    ErrorKind, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry, Value,
};
use eventchains_middleware::telemetry::names;
use eventchains_middleware::{Metrics, MetricsHandle, register_all};
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

/// The handle finds an event's figures by where the caller keeps its name;
/// a name rewritten in place (same address, same length, other text) is a
/// different event, and so is a chain name rewritten in place.
#[test]
fn names_rewritten_at_the_same_address_are_counted_under_their_new_text() {
    let handle = MetricsHandle::with_shards(1);
    let mut event = String::from("alpha");
    let mut chain = String::from("north");
    let rec = recorded(|| {
        handle.record_in(Some(&chain), &event, Duration::from_micros(1), None);
        event.replace_range(.., "omega");
        handle.record_in(Some(&chain), &event, Duration::from_micros(1), None);
        chain.replace_range(.., "south");
        handle.record_in(Some(&chain), &event, Duration::from_micros(1), Some(ErrorKind::Timeout));
    });
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.event("alpha").map(|m| m.executions), Some(1));
    assert_eq!(snapshot.event("omega").map(|m| (m.successes, m.failures)), Some((1, 1)));
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", "north"), ("event", "alpha")]), 1);
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", "north"), ("event", "omega")]), 1);
    assert_eq!(
        rec.counter(names::EVENT_EXECUTIONS, &[("chain", "south"), ("event", "omega"), ("error_kind", "timeout")]),
        1
    );
    assert_eq!(rec.samples(names::EVENT_DURATION, &[("chain", "south"), ("event", "omega")]), 1);
    // Names of every length (the comparison reads them in words) and an
    // unnamed chain beside a chain named "".
    let handle = MetricsHandle::with_shards(1);
    let long = "x".repeat(40);
    let lengths: Vec<String> = (0..=40).map(|n| long[..n].to_owned()).collect();
    let rec = recorded(|| {
        for round in 0..3 {
            for name in &lengths {
                handle.record_in(if round == 2 { Some("") } else { None }, name, Duration::from_micros(1), None);
            }
        }
    });
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.events.len(), 41);
    assert!(snapshot.events.values().all(|m| m.executions == 3), "{snapshot:?}");
    assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &[("chain", "")]), 41 * 3);
    // One series per (chain, event): the unnamed chain and "" share the label.
    assert_eq!(rec.find(names::EVENT_EXECUTIONS, &[]).len(), 41);
}

/// More events than the handle's cache has slots, in two chains sharing one
/// handle: every execution is counted under its own event and chain.
#[test]
fn many_events_in_two_chains_are_counted_exactly() {
    let metrics = Metrics::new();
    let handle = metrics.handle();
    let build = |name: &str, metrics: Metrics| {
        (0..50).fold(EventChain::new().named(name).middleware(metrics), |chain, i| {
            chain.event(FnEvent::new(
                format!("e{i}"),
                move |_| if i % 7 == 0 { Err(EventError::new("no")) } else { Ok(()) },
            ))
        })
    };
    let (a, b) = (build("a", metrics.clone()), build("b", metrics).fault_tolerance(FaultToleranceMode::Lenient));
    let a = a.fault_tolerance(FaultToleranceMode::Lenient);
    let rec = recorded(|| {
        for _ in 0..4 {
            a.execute(&mut EventContext::new());
            b.execute(&mut EventContext::new());
        }
    });
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.events.len(), 50);
    for i in 0..50 {
        let name = format!("e{i}");
        let m = snapshot.event(&name).expect("recorded");
        let failures = if i % 7 == 0 { 8 } else { 0 };
        assert_eq!((m.executions, m.failures), (8, failures), "{name}");
        for chain in ["a", "b"] {
            let outcome = if failures > 0 { "failure" } else { "success" };
            let labels = [("chain", chain), ("event", name.as_str()), ("outcome", outcome)];
            assert_eq!(rec.counter(names::EVENT_EXECUTIONS, &labels), 4, "{chain} {name}");
            assert_eq!(rec.samples(names::EVENT_DURATION, &labels[..2]), 4, "{chain} {name}");
        }
    }
}
