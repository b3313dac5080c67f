//! The bulkhead through the registry: fail fast, bounded waits, deadlines,
//! scopes, and its rejections through the `metrics` facade. No test sleeps:
//! threads meet at barriers, or spin on the handle's `waiting()` count.

#[path = "common/recorder.rs"]
mod recorder;

use std::sync::{Arc, Barrier, Mutex};

use eventchains_core::{
    ChainableEvent, ErrorKind, EventChain, EventContext, EventMiddleware, EventResult, FnEvent, MiddlewareRegistry,
    Next, Origin, Value,
};
use eventchains_middleware::telemetry::names;
use eventchains_middleware::{Caps, Clock, Handles, ManualClock, register_all_with};

fn build(registry: &MiddlewareRegistry, json: serde_json::Value) -> Arc<dyn EventMiddleware> {
    registry.build("concurrency_limit", &Value::from_json(json)).expect("valid config")
}

fn registry() -> (MiddlewareRegistry, Handles, ManualClock) {
    let clock = ManualClock::new();
    let mut registry = MiddlewareRegistry::new();
    // Waits of ten minutes on the manual clock: above the default cap of one minute.
    let caps = Caps::default().concurrency_max_wait(std::time::Duration::from_secs(3600));
    let handles = Handles::with_clock(clock.shared()).with_caps(caps);
    register_all_with(&mut registry, &handles);
    (registry, handles, clock)
}

/// Runs `event` under `limit` as the chain `chain` would.
fn call(
    limit: &Arc<dyn EventMiddleware>,
    chain: &str,
    event: &dyn ChainableEvent,
    ctx: &mut EventContext,
) -> EventResult {
    Next::new(event, std::slice::from_ref(limit)).in_chain(Some(chain)).run(ctx)
}

#[test]
fn max_two_without_waiting_admits_two_of_four_threads_and_fails_the_others_fast() {
    let (registry, handles, _) = registry();
    let limit = build(&registry, serde_json::json!({"max": 2, "wait_ms": 0}));
    // The two admitted events hold their slots until the two refused threads
    // have their answer: all four meet at this barrier.
    let barrier = Arc::new(Barrier::new(4));
    let inside = barrier.clone();
    let chain =
        Arc::new(EventChain::new().named("orders").middleware_arc(limit).event(FnEvent::new("work", move |_| {
            inside.wait();
            Ok(())
        })));
    let results = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (chain, barrier, results) = (chain.clone(), barrier.clone(), results.clone());
            s.spawn(move || {
                let result = chain.execute(&mut EventContext::new());
                let failure = result.failures().first().map(|f| (f.kind(), f.origin(), f.message().to_owned()));
                if failure.is_some() {
                    barrier.wait(); // refused: release the admitted ones
                }
                results.lock().expect("not poisoned").push(failure);
            });
        }
    });
    let results = results.lock().expect("not poisoned");
    let refused: Vec<_> = results.iter().flatten().collect();
    assert_eq!(results.len() - refused.len(), 2, "{results:?}");
    assert_eq!(refused.len(), 2, "{results:?}");
    for (kind, origin, message) in refused {
        assert_eq!((*kind, *origin), (ErrorKind::LimitExceeded, Origin::Middleware));
        assert!(message.starts_with("concurrency limit reached (saturated)"), "{message}");
        assert!(message.contains("chain `orders`"), "{message}");
    }
    let stats = handles.concurrency_limit("concurrency_limit").stats();
    assert_eq!((stats.admitted, stats.rejected, stats.waited), (2, 2, 0));
    assert_eq!(handles.concurrency_limit("concurrency_limit").in_flight(Some("orders"), None), 0);
}

#[test]
fn a_waiting_execution_gets_the_slot_when_it_frees() {
    let (registry, handles, _) = registry();
    let limit = build(&registry, serde_json::json!({"max": 1, "wait_ms": 600_000}));
    let state = handles.concurrency_limit("concurrency_limit");
    let watcher = state.clone();
    let first = Arc::new(Barrier::new(2));
    let entered = first.clone();
    let chain = Arc::new(EventChain::new().named("c").middleware_arc(limit).event(FnEvent::new("work", move |ctx| {
        if ctx.get::<bool>("holder") == Some(true) {
            entered.wait();
            // Hold the slot until the other execution is waiting for it.
            while watcher.waiting() == 0 {
                std::thread::yield_now();
            }
        }
        Ok(())
    })));
    std::thread::scope(|s| {
        let holder = chain.clone();
        let h = s.spawn(move || {
            let mut ctx = EventContext::new();
            ctx.set("holder", true);
            holder.execute(&mut ctx).is_success()
        });
        first.wait(); // the holder is inside its event
        assert!(chain.execute(&mut EventContext::new()).is_success(), "admitted after waiting");
        assert!(h.join().expect("no panic"));
    });
    let stats = state.stats();
    assert_eq!((stats.admitted, stats.waited, stats.rejected), (2, 1, 0));
}

#[test]
fn waits_end_at_wait_ms_and_at_the_deadline() {
    let (registry, _, clock) = registry();
    let limit = build(&registry, serde_json::json!({"max": 1, "wait_ms": 1}));
    let nested_limit = limit.clone();
    // While the outer execution holds the only slot, a nested one waits 1 ms and gives up.
    let outer = FnEvent::new("outer", move |ctx| {
        let inner = FnEvent::new("inner", |_| Ok(()));
        let err = call(&nested_limit, "c", &inner, ctx).expect_err("no slot");
        assert!(err.message().starts_with("concurrency limit reached (wait_timeout)"), "{err}");
        Ok(())
    });
    call(&limit, "c", &outer, &mut EventContext::new()).expect("outer runs");

    let patient = build(&registry, serde_json::json!({"id": "patient", "max": 1, "wait_ms": 600_000}));
    let nested = patient.clone();
    let outer = FnEvent::new("outer", move |ctx| {
        // A deadline that has passed leaves no time to wait: refused at once.
        ctx.set_deadline(Some(clock.now()));
        let inner = FnEvent::new("inner", |_| Ok(()));
        let err = call(&nested, "c", &inner, ctx).expect_err("no time");
        assert!(err.message().starts_with("concurrency limit reached (deadline)"), "{err}");
        Ok(())
    });
    call(&patient, "c", &outer, &mut EventContext::new()).expect("outer runs");
}

#[test]
fn scopes_decide_which_executions_share_a_limit() {
    let (registry, _, _) = registry();
    // Nested calls while the outer one holds a slot of a limit of 1.
    let try_nested = |config: serde_json::Value, chain: &'static str, event: &'static str| {
        let limit = build(&registry, config);
        let nested = limit.clone();
        let admitted = Arc::new(Mutex::new(None));
        let seen = admitted.clone();
        let outer = FnEvent::new("outer", move |ctx| {
            let inner = FnEvent::new(event, |_| Ok(()));
            *seen.lock().expect("not poisoned") = Some(call(&nested, chain, &inner, ctx).is_ok());
            Ok(())
        });
        call(&limit, "a", &outer, &mut EventContext::new()).expect("outer runs");
        admitted.lock().expect("not poisoned").expect("nested call made")
    };
    assert!(!try_nested(serde_json::json!({"id": "s1", "max": 1}), "a", "other"), "same chain");
    assert!(try_nested(serde_json::json!({"id": "s2", "max": 1}), "b", "other"), "another chain");
    assert!(try_nested(serde_json::json!({"id": "s3", "max": 1, "scope": "event"}), "a", "other"), "another event");
    assert!(!try_nested(serde_json::json!({"id": "s4", "max": 1, "scope": "event"}), "a", "outer"), "same event");
    assert!(!try_nested(serde_json::json!({"id": "s5", "max": 1, "scope": "global"}), "b", "other"), "global");
}

#[test]
fn invalid_configs_and_panics_leave_no_slot_taken() {
    let (registry, handles, _) = registry();
    for (json, reason) in [
        (serde_json::json!({"max": 0}), "max must be at least 1"),
        (serde_json::json!({"max": 1, "wait": 5}), "unknown key `wait`"),
        (
            serde_json::json!({"max": 1, "wait_ms": 7_200_000}),
            "above the host's cap of 3600000 ms (concurrency_max_wait)",
        ),
        (
            serde_json::json!({"scope": "thread"}),
            r#"`scope`: expected one of "chain", "event", "global", got the string "thread""#,
        ),
    ] {
        let err = registry.build("concurrency_limit", &Value::from_json(json.clone())).err().expect("rejected");
        assert!(err.to_string().contains(reason), "{json}: {err}");
    }
    let limit = build(&registry, serde_json::json!({"max": 1}));
    let boom = FnEvent::new("boom", |_| panic!("inside"));
    let err = call(&limit, "c", &boom, &mut EventContext::new()).expect_err("panics are failures");
    assert_eq!(err.kind(), ErrorKind::Panic);
    assert_eq!(handles.concurrency_limit("concurrency_limit").in_flight(Some("c"), None), 0);
    call(&limit, "c", &FnEvent::new("ok", |_| Ok(())), &mut EventContext::new()).expect("the slot was given back");
}

#[test]
fn rejections_reach_the_metrics_facade_with_their_reason() {
    let (registry, _, _) = registry();
    let limit = build(&registry, serde_json::json!({"id": "bulkhead", "max": 1}));
    let nested = limit.clone();
    let outer = FnEvent::new("outer", move |ctx| {
        let _ = call(&nested, "orders", &FnEvent::new("inner", |_| Ok(())), ctx);
        Ok(())
    });
    let rec = recorder::recorded(|| {
        call(&limit, "orders", &outer, &mut EventContext::new()).expect("outer runs");
    });
    let labels = [("limiter", "bulkhead"), ("chain", "orders"), ("event", "inner"), ("reason", "saturated")];
    assert_eq!(rec.counter(names::CONCURRENCY_REJECTIONS, &labels), 1);
    assert_eq!(rec.counter(names::CONCURRENCY_REJECTIONS, &[]), 1);
}
