//! Property tests: for any sequence of succeeding, failing and panicking events,
//! any stack of (sometimes failing) middleware and each fault-tolerance mode, the
//! chain does exactly what a simple reference model says. With the `async`
//! feature the same model also checks `AsyncEventChain`, with every mix of
//! sync and async events and middleware.

use std::collections::BTreeSet;
use std::sync::Arc;

use eventchains_core::{
    ChainResult, ChainStatus, ChainableEvent, ErrorKind, EventChain, EventContext, EventError, EventMiddleware,
    EventResult, FaultToleranceMode, Next, Origin, Value,
};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Fail,
    Panic,
}

#[derive(Clone, Debug)]
struct MwSpec {
    /// Indices of the events for which this middleware fails before calling `next`.
    fails_on: BTreeSet<usize>,
}

fn push(ctx: &mut EventContext, key: &str, entry: Value) {
    match ctx.value_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(entry),
        None => {
            ctx.set(key, Value::Array(vec![entry]));
        }
    }
}

struct ModelEvent {
    index: usize,
    name: String,
    outcome: Outcome,
}

impl ChainableEvent for ModelEvent {
    fn name(&self) -> &str {
        &self.name
    }
    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        self.body(ctx)
    }
}

impl ModelEvent {
    fn body(&self, ctx: &mut EventContext) -> EventResult {
        // What the previous event wrote must be visible here.
        let previous = ctx.value("last").cloned().unwrap_or(Value::Nil);
        push(ctx, "seen", previous);
        push(ctx, "bodies", Value::from(self.index as i64));
        ctx.set("last", self.index as i64);
        match self.outcome {
            Outcome::Ok => Ok(()),
            Outcome::Fail => Err(EventError::new(format!("event {} failed", self.index))),
            Outcome::Panic => panic!("event {} panicked", self.index),
        }
    }
}

struct ModelMiddleware {
    id: usize,
    spec: MwSpec,
}

impl EventMiddleware for ModelMiddleware {
    fn name(&self) -> &str {
        "model"
    }
    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let index = self.enter(event.name(), ctx)?;
        let result = next.run(ctx);
        self.leave(index, ctx);
        result
    }

    #[cfg(feature = "async")]
    fn as_async(&self) -> Option<&dyn eventchains_core::AsyncEventMiddleware> {
        Some(self)
    }
}

impl ModelMiddleware {
    /// The part before `next`: the event's index, or this middleware's refusal.
    fn enter(&self, event: &str, ctx: &mut EventContext) -> EventResult<usize> {
        let index: usize = event.trim_start_matches('e').parse().expect("event names are e<index>");
        push(ctx, "enter", Value::from(format!("m{}:e{index}", self.id)));
        if self.spec.fails_on.contains(&index) {
            return Err(EventError::middleware(format!("m{} refused e{index}", self.id)));
        }
        Ok(index)
    }

    fn leave(&self, index: usize, ctx: &mut EventContext) {
        push(ctx, "leave", Value::from(format!("m{}:e{index}", self.id)));
    }
}

/// What the reference model predicts.
#[derive(Debug, PartialEq)]
struct Prediction {
    status: ChainStatus,
    events_run: usize,
    failures: Vec<(usize, ErrorKind, Origin)>,
    bodies: Vec<i64>,
    seen: Vec<Value>,
    enter: Vec<String>,
    leave: Vec<String>,
}

fn model(events: &[Outcome], middleware: &[MwSpec], mode: FaultToleranceMode) -> Prediction {
    let mut p = Prediction {
        status: ChainStatus::Completed,
        events_run: 0,
        failures: vec![],
        bodies: vec![],
        seen: vec![],
        enter: vec![],
        leave: vec![],
    };
    let mut last = Value::Nil;
    for (i, outcome) in events.iter().enumerate() {
        p.events_run = i + 1;
        // Outermost first: the last registered middleware runs first.
        let mut entered = vec![];
        let mut failure = None;
        for (id, spec) in middleware.iter().enumerate().rev() {
            p.enter.push(format!("m{id}:e{i}"));
            if spec.fails_on.contains(&i) {
                failure = Some((i, ErrorKind::Middleware, Origin::Middleware));
                break;
            }
            entered.push(id);
        }
        if failure.is_none() {
            p.seen.push(last.clone());
            p.bodies.push(i as i64);
            last = Value::Int(i as i64);
            failure = match outcome {
                Outcome::Ok => None,
                Outcome::Fail => Some((i, ErrorKind::Event, Origin::Event)),
                Outcome::Panic => Some((i, ErrorKind::Panic, Origin::Event)),
            };
        }
        for id in entered.iter().rev() {
            p.leave.push(format!("m{id}:e{i}"));
        }
        if let Some(f) = failure {
            p.failures.push(f);
            // docs/design.md: Strict stops on any failure, Lenient never, BestEffort on middleware failures.
            let stops = match mode {
                FaultToleranceMode::Strict => true,
                FaultToleranceMode::Lenient => false,
                FaultToleranceMode::BestEffort => f.2 == Origin::Middleware,
                other => panic!("the model does not know mode {other}: extend it"),
            };
            if stops {
                p.status = ChainStatus::Failed;
                return p;
            }
        }
    }
    if !p.failures.is_empty() {
        p.status = ChainStatus::CompletedWithWarnings;
    }
    p
}

/// The events of this test panic on purpose; keep the default hook's report out of the output.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fn strings(ctx: &EventContext, key: &str) -> Vec<String> {
    ctx.get::<Vec<String>>(key).unwrap_or_default()
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![6 => Just(Outcome::Ok), 3 => Just(Outcome::Fail), 1 => Just(Outcome::Panic)]
}

fn mode() -> impl Strategy<Value = FaultToleranceMode> {
    prop_oneof![
        Just(FaultToleranceMode::Strict),
        Just(FaultToleranceMode::Lenient),
        Just(FaultToleranceMode::BestEffort)
    ]
}

/// Events, middleware and a mode.
type Scenario = (Vec<Outcome>, Vec<MwSpec>, FaultToleranceMode);

fn scenario() -> impl Strategy<Value = Scenario> {
    (0usize..12).prop_flat_map(|n| {
        let mw = prop::collection::vec(
            prop::collection::btree_set(0..n.max(1), 0..=n.min(2)).prop_map(|fails_on| MwSpec { fails_on }),
            0..5,
        );
        (prop::collection::vec(outcome(), n), mw, mode())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn chain_matches_reference_model((events, middleware, mode) in scenario()) {
        quiet_panics();
        let mut chain = EventChain::new().fault_tolerance(mode);
        for (index, outcome) in events.iter().enumerate() {
            chain.add_event(ModelEvent { index, name: format!("e{index}"), outcome: *outcome });
        }
        for (id, spec) in middleware.iter().enumerate() {
            chain.add_middleware_arc(Arc::new(ModelMiddleware { id, spec: spec.clone() }));
        }
        let expected = model(&events, &middleware, mode);

        // Run twice: a chain is reusable and executions do not leak into each other.
        for _ in 0..2 {
            let mut ctx = EventContext::new();
            let result = chain.execute(&mut ctx);
            check(&result, &ctx, &expected)?;
        }
    }
}

fn check(result: &ChainResult, ctx: &EventContext, expected: &Prediction) -> Result<(), TestCaseError> {
    let actual = Prediction {
        status: result.status(),
        events_run: result.events_run(),
        failures: result.failures().iter().map(|f| (f.index(), f.kind(), f.origin())).collect(),
        bodies: ctx.get::<Vec<i64>>("bodies").unwrap_or_default(),
        seen: ctx.get::<Vec<Value>>("seen").unwrap_or_default(),
        enter: strings(ctx, "enter"),
        leave: strings(ctx, "leave"),
    };
    prop_assert_eq!(&actual, expected);
    for f in result.failures() {
        prop_assert_eq!(f.event(), format!("e{}", f.index()));
    }
    Ok(())
}

/// The same model against `AsyncEventChain`: each event sync or async, each
/// middleware a sync one with an async form or an async-only one.
#[cfg(feature = "async")]
mod async_chain {
    use eventchains_core::{
        AsyncChainableEvent, AsyncEventChain, AsyncEventMiddleware, AsyncNext, BoxFuture, EventRef,
    };

    use super::*;

    /// An async-only middleware with the model's behaviour.
    struct AsyncOnly(ModelMiddleware);

    impl AsyncEventMiddleware for ModelMiddleware {
        fn name(&self) -> &str {
            "model"
        }
        fn handle<'a>(&'a self, event: EventRef<'a>, ctx: &'a mut EventContext, next: AsyncNext<'a>) -> BoxFuture<'a> {
            Box::pin(async move {
                let index = self.enter(event.name(), ctx)?;
                tokio::task::yield_now().await;
                let result = next.run(ctx).await;
                self.leave(index, ctx);
                result
            })
        }
    }

    impl AsyncEventMiddleware for AsyncOnly {
        fn name(&self) -> &str {
            "model_async"
        }
        fn handle<'a>(&'a self, event: EventRef<'a>, ctx: &'a mut EventContext, next: AsyncNext<'a>) -> BoxFuture<'a> {
            AsyncEventMiddleware::handle(&self.0, event, ctx, next)
        }
    }

    impl AsyncChainableEvent for ModelEvent {
        fn name(&self) -> &str {
            &self.name
        }
        fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> BoxFuture<'a> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                self.body(ctx)
            })
        }
    }

    /// A scenario, which events are async, which middleware are async-only.
    fn flavored() -> impl Strategy<Value = (Scenario, Vec<bool>, Vec<bool>)> {
        scenario().prop_flat_map(|s| {
            let (n, m) = (s.0.len(), s.1.len());
            (Just(s), prop::collection::vec(any::<bool>(), n), prop::collection::vec(any::<bool>(), m))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn async_chain_matches_reference_model(((events, middleware, mode), async_events, async_middleware) in flavored()) {
            quiet_panics();
            let mut chain = AsyncEventChain::new().fault_tolerance(mode);
            for (index, outcome) in events.iter().enumerate() {
                let event = ModelEvent { index, name: format!("e{index}"), outcome: *outcome };
                if async_events[index] {
                    chain.add_async_event_arc(Arc::new(event));
                } else {
                    chain.add_event_arc(Arc::new(event));
                }
            }
            for (id, spec) in middleware.iter().enumerate() {
                let m = ModelMiddleware { id, spec: spec.clone() };
                if async_middleware[id] {
                    chain.add_async_middleware_arc(Arc::new(AsyncOnly(m)));
                } else {
                    chain.add_middleware_arc(Arc::new(m));
                }
            }
            prop_assert!(chain.check().is_ok());
            let expected = model(&events, &middleware, mode);
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            for _ in 0..2 {
                let mut ctx = EventContext::new();
                let result = rt.block_on(chain.execute(&mut ctx));
                check(&result, &ctx, &expected)?;
            }
        }
    }
}
