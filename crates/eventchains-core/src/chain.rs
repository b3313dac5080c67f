//! [`EventChain`]: events run FIFO, each wrapped in the middleware LIFO.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::EventContext;
use crate::event::ChainableEvent;
use crate::fault_tolerance::FaultToleranceMode;
use crate::middleware::{EventMiddleware, Next};
use crate::result::ChainResult;
use crate::tally::Tally;

/// A chain of events wrapped in middleware, with a fault-tolerance mode.
///
/// Built once, executed any number of times through `&self`, concurrently from
/// many threads (`EventChain` is `Send + Sync`); every execution has its own
/// [`EventContext`]. Events run in the order they were added (FIFO); around
/// each event the middleware run in reverse order of registration (LIFO: the
/// last added is the outermost).
///
/// Executing allocates nothing per event: one `Vec` for the failures, and only
/// if one happens.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, ChainStatus};
/// let chain = EventChain::new()
///     .fault_tolerance(FaultToleranceMode::Lenient)
///     .event(FnEvent::new("increment", |ctx| {
///         let n: i64 = ctx.try_get("counter")?;
///         ctx.set("counter", n + 1);
///         Ok(())
///     }))
///     .event(FnEvent::new("charge", |ctx| {
///         if ctx.get_or("total", 0.0) <= 0.0 {
///             return Err(EventError::new("invalid amount"));
///         }
///         Ok(())
///     }));
/// let mut ctx = EventContext::new();
/// ctx.set("counter", 0);
/// let result = chain.execute(&mut ctx);
/// assert_eq!(result.status(), ChainStatus::CompletedWithWarnings);
/// assert_eq!(ctx.get::<i64>("counter"), Some(1));
/// assert_eq!(result.failures()[0].message(), "invalid amount");
/// ```
#[derive(Clone, Default)]
pub struct EventChain {
    name: Option<String>,
    events: Vec<Arc<dyn ChainableEvent>>,
    /// In registration order; the last one is the outermost.
    middleware: Vec<Arc<dyn EventMiddleware>>,
    mode: FaultToleranceMode,
    /// A deadline for each event, its middleware included (see `event_time_limit`).
    event_time_limit: Option<Duration>,
}

impl EventChain {
    /// An empty chain in [`FaultToleranceMode::Strict`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the chain (used in logs and errors).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds an event at the end.
    #[must_use]
    pub fn event(mut self, event: impl ChainableEvent + 'static) -> Self {
        self.add_event(event);
        self
    }

    /// Adds a shared event at the end.
    #[must_use]
    pub fn event_arc(mut self, event: Arc<dyn ChainableEvent>) -> Self {
        self.add_event_arc(event);
        self
    }

    /// Adds a boxed event at the end.
    #[must_use]
    pub fn event_boxed(self, event: Box<dyn ChainableEvent>) -> Self {
        self.event_arc(Arc::from(event))
    }

    /// Adds a middleware; it becomes the outermost.
    #[must_use]
    pub fn middleware(mut self, middleware: impl EventMiddleware + 'static) -> Self {
        self.add_middleware(middleware);
        self
    }

    /// Adds a shared middleware; it becomes the outermost.
    #[must_use]
    pub fn middleware_arc(mut self, middleware: Arc<dyn EventMiddleware>) -> Self {
        self.add_middleware_arc(middleware);
        self
    }

    /// Adds a boxed middleware; it becomes the outermost.
    #[must_use]
    pub fn middleware_boxed(self, middleware: Box<dyn EventMiddleware>) -> Self {
        self.middleware_arc(Arc::from(middleware))
    }

    /// Sets the fault-tolerance mode.
    #[must_use]
    pub fn fault_tolerance(mut self, mode: FaultToleranceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Gives every event, its middleware included, a deadline `limit` after it
    /// starts: before running an event's middleware stack the chain narrows
    /// the context's deadline ([`EventContext::narrow_deadline`]; an earlier
    /// deadline the caller set wins, and a limit past the range of `Instant`
    /// is no limit) and restores it afterwards.
    ///
    /// The chain does not pre-empt anything: code that honours the deadline
    /// stops at it (the Lua layer's handlers; retry backoff, rate-limit waits
    /// and injected latency of the middleware crate). Use a `timeout`
    /// middleware to also report overruns. A host or script loader sets this
    /// to bound, by its own time cap, everything a script configured around
    /// an event.
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventchains_core::{EventChain, EventContext, FnEvent};
    /// let chain = EventChain::new().event_time_limit(Duration::from_secs(2)).event(FnEvent::new("e", |ctx| {
    ///     assert!(ctx.deadline().is_some());
    ///     Ok(())
    /// }));
    /// let mut ctx = EventContext::new();
    /// assert!(chain.execute(&mut ctx).is_clean());
    /// assert_eq!(ctx.deadline(), None); // restored after each event
    /// ```
    #[must_use]
    pub fn event_time_limit(mut self, limit: Duration) -> Self {
        self.event_time_limit = Some(limit);
        self
    }

    /// Sets or clears the per-event deadline of an existing chain (see
    /// [`event_time_limit`](Self::event_time_limit)).
    pub fn set_event_time_limit(&mut self, limit: Option<Duration>) -> &mut Self {
        self.event_time_limit = limit;
        self
    }

    /// The per-event deadline, if one is set.
    pub fn time_limit(&self) -> Option<Duration> {
        self.event_time_limit
    }

    /// Adds an event at the end of an existing chain.
    pub fn add_event(&mut self, event: impl ChainableEvent + 'static) -> &mut Self {
        self.add_event_arc(Arc::new(event))
    }

    /// Adds a shared event at the end of an existing chain.
    pub fn add_event_arc(&mut self, event: Arc<dyn ChainableEvent>) -> &mut Self {
        self.events.push(event);
        self
    }

    /// Adds a middleware to an existing chain; it becomes the outermost.
    pub fn add_middleware(&mut self, middleware: impl EventMiddleware + 'static) -> &mut Self {
        self.add_middleware_arc(Arc::new(middleware))
    }

    /// Adds a shared middleware to an existing chain; it becomes the outermost.
    pub fn add_middleware_arc(&mut self, middleware: Arc<dyn EventMiddleware>) -> &mut Self {
        self.middleware.push(middleware);
        self
    }

    /// Changes the fault-tolerance mode of an existing chain.
    pub fn set_fault_tolerance(&mut self, mode: FaultToleranceMode) -> &mut Self {
        self.mode = mode;
        self
    }

    /// The chain's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The fault-tolerance mode.
    pub fn mode(&self) -> FaultToleranceMode {
        self.mode
    }

    /// The events, in execution order.
    pub fn events(&self) -> &[Arc<dyn ChainableEvent>] {
        &self.events
    }

    /// The middleware, in registration order (the last is the outermost).
    pub fn middleware_stack(&self) -> &[Arc<dyn EventMiddleware>] {
        &self.middleware
    }

    /// The event names, in execution order.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.name())
    }

    /// The middleware names from the outermost (runs first) to the innermost.
    pub fn middleware_names(&self) -> impl Iterator<Item = &str> {
        self.middleware.iter().rev().map(|m| m.name())
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// `true` if the chain has no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Runs every event, in order, each wrapped in the middleware, on `ctx`.
    ///
    /// Panics in events and middleware are caught and recorded as failures of
    /// kind [`Panic`](crate::ErrorKind::Panic); the fault-tolerance mode then
    /// decides whether the chain goes on.
    pub fn execute(&self, ctx: &mut EventContext) -> ChainResult {
        let mut tally = Tally::new(self.events.len());
        let chain = self.name.as_deref();
        for (index, event) in self.events.iter().enumerate() {
            let next = Next::new(&**event, &self.middleware).in_chain(chain);
            let outcome = match self.event_time_limit {
                None => next.run(ctx),
                Some(limit) => next.run(&mut ctx.deadline_scope(Instant::now(), limit)),
            };
            if let Err(error) = outcome
                && let Some(stopped) = tally.fail(self.mode, event.name(), index, error)
            {
                return stopped;
            }
        }
        tally.finished()
    }
}

impl fmt::Debug for EventChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventChain")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("events", &self.event_names().collect::<Vec<_>>())
            .field("middleware", &self.middleware_names().collect::<Vec<_>>())
            .field("event_time_limit", &self.event_time_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, EventError, Origin};
    use crate::event::FnEvent;
    use crate::middleware::FnMiddleware;
    use crate::result::{ChainStatus, EventFailure};

    fn log(ctx: &mut EventContext, entry: String) {
        match ctx.value_mut("log").and_then(crate::Value::as_array_mut) {
            Some(a) => a.push(entry.into()),
            None => {
                ctx.set("log", vec![entry]);
            }
        }
    }

    fn tracer(
        name: &'static str,
    ) -> FnMiddleware<impl Fn(&dyn ChainableEvent, &mut EventContext, Next<'_>) -> crate::EventResult + Send + Sync>
    {
        FnMiddleware::new(name, move |event, ctx, next| {
            log(ctx, format!("{name}>{}", event.name()));
            let r = next.run(ctx);
            log(ctx, format!("{name}<{}", event.name()));
            r
        })
    }

    #[test]
    fn events_fifo_middleware_lifo() {
        let chain = EventChain::new()
            .middleware(tracer("m1"))
            .middleware(tracer("m2"))
            .event(FnEvent::new("a", |ctx| {
                log(ctx, "a".into());
                Ok(())
            }))
            .event(FnEvent::new("b", |ctx| {
                log(ctx, "b".into());
                Ok(())
            }));
        let mut ctx = EventContext::new();
        assert!(chain.execute(&mut ctx).is_clean());
        let log: Vec<String> = ctx.get("log").expect("log");
        assert_eq!(log, ["m2>a", "m1>a", "a", "m1<a", "m2<a", "m2>b", "m1>b", "b", "m1<b", "m2<b"]);
        assert_eq!(chain.middleware_names().collect::<Vec<_>>(), ["m2", "m1"]);
    }

    #[test]
    fn panic_in_event_is_contained_and_chain_stays_usable() {
        let chain = EventChain::new()
            .fault_tolerance(FaultToleranceMode::Lenient)
            .event(FnEvent::new("boom", |_| panic!("kaboom")))
            .event(FnEvent::new("after", |ctx| {
                ctx.set("after", true);
                Ok(())
            }));
        for _ in 0..2 {
            let mut ctx = EventContext::new();
            let r = chain.execute(&mut ctx);
            assert_eq!(r.status(), ChainStatus::CompletedWithWarnings);
            assert_eq!(r.failures()[0].kind(), ErrorKind::Panic);
            assert_eq!(r.failures()[0].origin(), Origin::Event);
            assert!(r.failures()[0].message().contains("kaboom"));
            assert_eq!(ctx.get::<bool>("after"), Some(true));
        }
    }

    #[test]
    fn panic_in_middleware_is_a_middleware_failure() {
        let chain = EventChain::new()
            .fault_tolerance(FaultToleranceMode::BestEffort)
            .middleware(FnMiddleware::new("broken", |_, _, _| panic!("bad infra")))
            .event(FnEvent::new("a", |_| Ok(())))
            .event(FnEvent::new("b", |_| Ok(())));
        let r = chain.execute(&mut EventContext::new());
        assert_eq!(r.status(), ChainStatus::Failed);
        assert_eq!(r.events_run(), 1);
        assert_eq!(r.failures()[0].origin(), Origin::Middleware);
        assert_eq!(r.failures()[0].message(), "middleware `broken` panicked: bad infra");
    }

    #[test]
    fn outer_middleware_sees_inner_failures() {
        let chain = EventChain::new()
            .fault_tolerance(FaultToleranceMode::Lenient)
            .middleware(FnMiddleware::new("swallow", |_, ctx, next| {
                if let Err(e) = next.run(ctx) {
                    ctx.set("swallowed", e.kind().as_str());
                }
                Ok(())
            }))
            .event(FnEvent::new("boom", |_| panic!("x")));
        let mut ctx = EventContext::new();
        assert!(chain.execute(&mut ctx).is_clean());
        assert_eq!(ctx.get::<&str>("swallowed"), Some("panic"));
    }

    #[test]
    fn run_time_additions_and_boxed_items() {
        let mut chain = EventChain::new().named("dyn");
        chain.add_event(FnEvent::new("a", |_| Ok(())));
        let boxed: Box<dyn ChainableEvent> = Box::new(FnEvent::new("b", |_| Err(EventError::new("no"))));
        let chain = chain.event_boxed(boxed);
        assert_eq!(chain.event_names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(chain.name(), Some("dyn"));
        assert_eq!(chain.len(), 2);
        let r = chain.execute(&mut EventContext::new());
        assert_eq!(r.fatal_failure().map(EventFailure::event), Some("b"));
    }

    #[test]
    fn event_time_limit_narrows_each_events_deadline_and_restores_it() {
        let chain = EventChain::new()
            .event_time_limit(Duration::from_secs(10))
            .middleware(FnMiddleware::new("sees", |_, ctx, next| {
                ctx.set("seen_by_middleware", ctx.deadline().is_some());
                next.run(ctx)
            }))
            .event(FnEvent::new("a", |ctx| {
                let left = ctx.deadline().map(|d| d.saturating_duration_since(Instant::now()));
                ctx.set("within", left.is_some_and(|l| l <= Duration::from_secs(10)));
                Ok(())
            }));
        let mut ctx = EventContext::new();
        assert!(chain.execute(&mut ctx).is_clean());
        assert_eq!(ctx.get::<bool>("seen_by_middleware"), Some(true));
        assert_eq!(ctx.get::<bool>("within"), Some(true));
        assert_eq!(ctx.deadline(), None);
        // An earlier deadline of the caller wins and is restored; Duration::MAX is no limit.
        let early = Instant::now() + Duration::from_millis(1);
        ctx.set_deadline(Some(early));
        let check = EventChain::new().event_time_limit(Duration::MAX).event(FnEvent::new("b", move |ctx| {
            assert_eq!(ctx.deadline(), Some(early));
            Ok(())
        }));
        assert!(check.execute(&mut ctx).is_clean());
        assert_eq!(ctx.deadline(), Some(early));
        assert_eq!(check.time_limit(), Some(Duration::MAX));
    }

    #[test]
    fn chain_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<EventChain>();
        check::<EventContext>();
        check::<ChainResult>();
    }
}
