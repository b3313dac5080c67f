//! [`EventMiddleware`]: a wrapper around every event, [`Next`] to call inward,
//! and [`FnMiddleware`] for closures.

use std::fmt;
use std::sync::Arc;

use crate::context::EventContext;
use crate::error::{EventResult, Origin};
use crate::event::ChainableEvent;
use crate::panic_guard::guard;

/// A cross-cutting wrapper run around every event of a chain.
///
/// The chain's middleware wrap each event in LIFO order: the last one added is
/// the outermost, so it runs first and finishes last. A middleware may run code
/// before and after `next.run(ctx)`, call it several times (retry), not call it
/// (skip or refuse the event) or change its result.
///
/// ```
/// use eventchains_core::{ChainableEvent, EventContext, EventMiddleware, EventResult, Next};
/// struct Audit;
/// impl EventMiddleware for Audit {
///     fn name(&self) -> &str { "audit" }
///     fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
///         let result = next.run(ctx);
///         let seen: i64 = ctx.get_or("audited", 0);
///         ctx.set("audited", seen + 1);
///         result
///     }
/// }
/// ```
pub trait EventMiddleware: Send + Sync {
    /// The middleware's name, used in logs and panic messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Runs around `event`; call `next.run(ctx)` to run the inner middleware and the event.
    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult;

    /// This middleware's async form, for an
    /// [`AsyncEventChain`](crate::AsyncEventChain) to use around awaiting
    /// parts (default: none, so it can only wrap sync events there). A type
    /// implementing both traits returns `Some(self)`.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    fn as_async(&self) -> Option<&dyn crate::AsyncEventMiddleware> {
        None
    }

    /// This middleware's async form for a
    /// [`LocalAsyncEventChain`](crate::LocalAsyncEventChain) (default: none).
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    fn as_local_async(&self) -> Option<&dyn crate::AsyncEventMiddleware<crate::Local>> {
        None
    }
}

/// The rest of the middleware stack and the event, as seen by one middleware.
///
/// `Next` is `Copy`: a middleware may run it any number of times (a retry does).
#[derive(Clone, Copy)]
pub struct Next<'a> {
    event: &'a dyn ChainableEvent,
    /// Middleware still to run, in registration order: the last is the next outermost.
    inner: &'a [Arc<dyn EventMiddleware>],
    /// The name of the chain running the event, if it has one.
    chain: Option<&'a str>,
}

impl<'a> Next<'a> {
    /// `event` wrapped in `middleware` (given in registration order, so the
    /// last one runs first). This is how the chain runs each event; it is
    /// public so that custom executors and tests can do the same.
    pub fn new(event: &'a dyn ChainableEvent, middleware: &'a [Arc<dyn EventMiddleware>]) -> Self {
        Next { event, inner: middleware, chain: None }
    }

    /// The same `Next`, telling the middleware that the event runs in the
    /// chain named `chain` ([`EventChain::execute`](crate::EventChain::execute)
    /// sets it from [`EventChain::named`](crate::EventChain::named)).
    ///
    /// ```
    /// use eventchains_core::{EventChain, EventContext, FnEvent, FnMiddleware};
    /// let chain = EventChain::new()
    ///     .named("orders")
    ///     .middleware(FnMiddleware::new("label", |_event, ctx, next| {
    ///         ctx.set("chain", next.chain_name().unwrap_or("?"));
    ///         next.run(ctx)
    ///     }))
    ///     .event(FnEvent::new("a", |_| Ok(())));
    /// let mut ctx = EventContext::new();
    /// chain.execute(&mut ctx);
    /// assert_eq!(ctx.get::<&str>("chain"), Some("orders"));
    /// ```
    #[must_use]
    pub fn in_chain(mut self, chain: Option<&'a str>) -> Self {
        self.chain = chain;
        self
    }

    /// The name of the chain running the event, for labels in logs and
    /// metrics; `None` for an unnamed chain or a `Next` built without one.
    pub fn chain_name(&self) -> Option<&'a str> {
        self.chain
    }

    /// Runs the inner middleware and then the event.
    ///
    /// A panic in the event or in a middleware is caught here and returned as
    /// an error of kind [`ErrorKind::Panic`](crate::ErrorKind::Panic) with the
    /// matching [`Origin`], so outer middleware see it like any failure.
    pub fn run(self, ctx: &mut EventContext) -> EventResult {
        match self.inner.split_last() {
            Some((middleware, rest)) => {
                let next = Next { event: self.event, inner: rest, chain: self.chain };
                guard(Origin::Middleware, || middleware.name(), || middleware.handle(self.event, ctx, next))
            }
            None => guard(Origin::Event, || self.event.name(), || self.event.execute(ctx)),
        }
    }

    /// The event this `Next` leads to.
    pub fn event(&self) -> &'a dyn ChainableEvent {
        self.event
    }

    /// How many middleware are still to run before the event.
    pub fn remaining_middleware(&self) -> usize {
        self.inner.len()
    }
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("event", &self.event.name())
            .field("remaining_middleware", &self.inner.len())
            .field("chain", &self.chain)
            .finish()
    }
}

/// A middleware made of a name and a closure.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent, FnMiddleware};
/// let chain = EventChain::new()
///     .middleware(FnMiddleware::new("count", |_event, ctx, next| {
///         let n: i64 = ctx.get_or("runs", 0);
///         ctx.set("runs", n + 1);
///         next.run(ctx)
///     }))
///     .event(FnEvent::new("a", |_| Ok(())))
///     .event(FnEvent::new("b", |_| Ok(())));
/// let mut ctx = EventContext::new();
/// chain.execute(&mut ctx);
/// assert_eq!(ctx.get::<i64>("runs"), Some(2));
/// ```
pub struct FnMiddleware<F> {
    name: String,
    f: F,
}

impl<F> FnMiddleware<F>
where
    F: Fn(&dyn ChainableEvent, &mut EventContext, Next<'_>) -> EventResult + Send + Sync,
{
    /// A middleware called `name` that runs `f`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnMiddleware { name: name.into(), f }
    }
}

impl<F> EventMiddleware for FnMiddleware<F>
where
    F: Fn(&dyn ChainableEvent, &mut EventContext, Next<'_>) -> EventResult + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        (self.f)(event, ctx, next)
    }
}

impl<F> fmt::Debug for FnMiddleware<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnMiddleware").field("name", &self.name).finish_non_exhaustive()
    }
}
