//! The three fault-tolerance modes, end to end, with the exact semantics of docs/design.md.

use eventchains_core::{
    ChainStatus, ErrorKind, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, FnMiddleware, Origin,
};

fn chain(mode: FaultToleranceMode, middleware_fails_on: &'static str) -> EventChain {
    EventChain::new()
        .fault_tolerance(mode)
        .middleware(FnMiddleware::new("gate", move |event, ctx, next| {
            if event.name() == middleware_fails_on {
                return Err(EventError::middleware("gate closed"));
            }
            next.run(ctx)
        }))
        .event(FnEvent::new("a", |ctx| {
            ctx.set("a", true);
            Ok(())
        }))
        .event(FnEvent::new("b", |_| Err(EventError::new("b broke"))))
        .event(FnEvent::new("c", |ctx| {
            ctx.set("c", true);
            Ok(())
        }))
        .event(FnEvent::new("d", |ctx| {
            ctx.set("d", true);
            Ok(())
        }))
}

#[test]
fn strict_stops_at_the_first_event_failure() {
    let mut ctx = EventContext::new();
    let r = chain(FaultToleranceMode::Strict, "none").execute(&mut ctx);
    assert_eq!(r.status(), ChainStatus::Failed);
    assert_eq!(r.events_run(), 2);
    assert!(!ctx.contains("c"));
    assert_eq!(r.fatal_failure().map(|f| f.event()), Some("b"));
}

#[test]
fn lenient_records_every_failure_and_goes_on() {
    let mut ctx = EventContext::new();
    let r = chain(FaultToleranceMode::Lenient, "c").execute(&mut ctx);
    assert_eq!(r.status(), ChainStatus::CompletedWithWarnings);
    assert_eq!(r.events_run(), 4);
    let kinds: Vec<_> = r.failures().iter().map(|f| (f.event(), f.kind())).collect();
    assert_eq!(kinds, [("b", ErrorKind::Event), ("c", ErrorKind::Middleware)]);
    assert!(!ctx.contains("c"), "the gate refused c, so c never ran");
    assert_eq!(ctx.get::<bool>("d"), Some(true));
}

#[test]
fn best_effort_goes_on_after_event_failures_but_stops_on_middleware_failures() {
    let mut ctx = EventContext::new();
    let r = chain(FaultToleranceMode::BestEffort, "none").execute(&mut ctx);
    assert_eq!(r.status(), ChainStatus::CompletedWithWarnings);
    assert_eq!(ctx.get::<bool>("d"), Some(true));

    let mut ctx = EventContext::new();
    let r = chain(FaultToleranceMode::BestEffort, "c").execute(&mut ctx);
    assert_eq!(r.status(), ChainStatus::Failed);
    assert_eq!(r.events_run(), 3);
    assert_eq!(r.fatal_failure().map(|f| f.origin()), Some(Origin::Middleware));
    assert!(!ctx.contains("d"));
}

#[test]
fn an_empty_chain_completes() {
    let r = EventChain::new().execute(&mut EventContext::new());
    assert_eq!(r.status(), ChainStatus::Completed);
    assert_eq!(r.events_total(), 0);
}

#[test]
fn result_serializes_to_json() {
    let r = chain(FaultToleranceMode::Lenient, "none").execute(&mut EventContext::new());
    let json = serde_json::to_value(&r).expect("serializes");
    assert_eq!(json["status"], "completed_with_warnings");
    assert_eq!(json["failures"][0]["event"], "b");
    assert_eq!(json["failures"][0]["kind"], "event");
    assert_eq!(json["failures"][0]["message"], "b broke");
}
