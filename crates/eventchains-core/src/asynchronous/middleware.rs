//! [`AsyncEventMiddleware`]: a wrapper that may await around the event,
//! [`AsyncNext`] to call inward, [`FnAsyncMiddleware`] for closures, and
//! [`MiddlewareEntry`]: a layer of an async chain.

use std::fmt;
use std::sync::Arc;

use crate::context::EventContext;
use crate::error::{EventError, EventResult, Origin};
use crate::middleware::{EventMiddleware, Next};

use super::event::EventRef;
use super::flavor::{BoxFuture, Flavor, LocalBoxFuture, Sendable};
use super::unwind::guarded;

/// A cross-cutting wrapper that may await around every event: the async
/// counterpart of [`EventMiddleware`].
///
/// It may run code before and after `next.run(ctx).await`, run it several
/// times ([`AsyncNext`] is `Copy`), not run it, change its result, or race it
/// against a timer (dropping the inner future stops the event at its next
/// await). Panics while building or polling the future are contained and
/// recorded with origin middleware.
///
/// A type can be both a sync and an async middleware: implement both traits
/// and return `Some(self)` from [`EventMiddleware::as_async`]; an async chain
/// then uses the async form around awaiting parts and the sync form around
/// sync events (as the middleware crate does for `timeout`, `retry`...).
///
/// ```
/// use eventchains_core::{AsyncEventMiddleware, AsyncNext, BoxFuture, EventContext, EventRef};
/// struct Audit;
/// impl AsyncEventMiddleware for Audit {
///     fn name(&self) -> &str { "audit" }
///     fn handle<'a>(&'a self, event: EventRef<'a>, ctx: &'a mut EventContext, next: AsyncNext<'a>) -> BoxFuture<'a> {
///         Box::pin(async move {
///             let result = next.run(ctx).await;
///             ctx.set("audited", event.name());
///             result
///         })
///     }
/// }
/// ```
pub trait AsyncEventMiddleware<M: Flavor = Sendable>: Send + Sync {
    /// The middleware's name, used in logs and panic messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Runs around `event`; await `next.run(ctx)` to run the inner middleware and the event.
    fn handle<'a>(&'a self, event: EventRef<'a, M>, ctx: &'a mut EventContext, next: AsyncNext<'a, M>)
    -> M::Future<'a>;
}

/// One middleware layer of an async chain: a sync middleware (used in its
/// async form around awaiting parts when it has one) or an async one.
pub enum MiddlewareEntry<M: Flavor = Sendable> {
    /// A sync middleware.
    Sync(Arc<dyn EventMiddleware>),
    /// An async middleware.
    Async(Arc<dyn AsyncEventMiddleware<M>>),
}

impl<M: Flavor> MiddlewareEntry<M> {
    /// The middleware's name.
    pub fn name(&self) -> &str {
        match self {
            MiddlewareEntry::Sync(m) => m.name(),
            MiddlewareEntry::Async(m) => m.name(),
        }
    }

    /// The form that can wrap an awaiting part, if there is one.
    pub fn async_form(&self) -> Option<&dyn AsyncEventMiddleware<M>> {
        match self {
            MiddlewareEntry::Sync(m) => M::async_form(&**m),
            MiddlewareEntry::Async(m) => Some(&**m),
        }
    }

    /// The sync middleware, if this layer is one.
    pub fn as_sync(&self) -> Option<&Arc<dyn EventMiddleware>> {
        match self {
            MiddlewareEntry::Sync(m) => Some(m),
            MiddlewareEntry::Async(_) => None,
        }
    }
}

impl<M: Flavor> Clone for MiddlewareEntry<M> {
    fn clone(&self) -> Self {
        match self {
            MiddlewareEntry::Sync(m) => MiddlewareEntry::Sync(m.clone()),
            MiddlewareEntry::Async(m) => MiddlewareEntry::Async(m.clone()),
        }
    }
}

impl<M: Flavor> fmt::Debug for MiddlewareEntry<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if matches!(self, MiddlewareEntry::Async(_)) { "Async" } else { "Sync" };
        f.debug_tuple(kind).field(&self.name()).finish()
    }
}

/// The rest of the middleware stack and the event, as seen by one async
/// middleware. `Copy`: a middleware may run it any number of times.
///
/// Layers with an async form run through it; the innermost run of sync
/// layers around a sync event runs synchronously through [`Next`], exactly
/// as in a sync chain (no allocation, no await).
pub struct AsyncNext<'a, M: Flavor = Sendable> {
    event: EventRef<'a, M>,
    /// Layers to run through their async forms, in registration order (the last is the next outermost).
    outer: &'a [MiddlewareEntry<M>],
    /// The innermost sync layers around a sync event, run through [`Next`].
    inner: &'a [Arc<dyn EventMiddleware>],
    chain: Option<&'a str>,
}

impl<'a, M: Flavor> AsyncNext<'a, M> {
    /// `event` wrapped in `outer` (registration order: the last runs first),
    /// all run through their async forms. The chain itself runs the
    /// innermost sync layers of a sync event synchronously (see
    /// [`with_sync_inner`](Self::with_sync_inner)).
    pub fn new(event: EventRef<'a, M>, outer: &'a [MiddlewareEntry<M>]) -> Self {
        AsyncNext { event, outer, inner: &[], chain: None }
    }

    /// The same `AsyncNext` with `inner` (registration order) run
    /// synchronously around the event, inside `outer`. Meant for a sync
    /// event: an async event cannot be wrapped by layers that do not await.
    #[must_use]
    pub fn with_sync_inner(mut self, inner: &'a [Arc<dyn EventMiddleware>]) -> Self {
        self.inner = inner;
        self
    }

    /// The same `AsyncNext`, telling the middleware the name of the chain.
    #[must_use]
    pub fn in_chain(mut self, chain: Option<&'a str>) -> Self {
        self.chain = chain;
        self
    }

    /// The name of the chain running the event, if it has one.
    pub fn chain_name(&self) -> Option<&'a str> {
        self.chain
    }

    /// The event this `AsyncNext` leads to.
    pub fn event(&self) -> EventRef<'a, M> {
        self.event
    }

    /// How many middleware are still to run before the event.
    pub fn remaining_middleware(&self) -> usize {
        self.outer.len() + self.inner.len()
    }

    /// Runs the inner middleware and then the event.
    ///
    /// A panic in the event or a middleware becomes an error of kind
    /// [`Panic`](crate::ErrorKind::Panic) with the matching [`Origin`]. A
    /// sync middleware without an async form cannot wrap an awaiting part:
    /// reaching one fails with kind middleware (see
    /// [`AsyncEventChain::check`](super::AsyncEventChain::check) to find this
    /// when the chain is built).
    pub async fn run(self, ctx: &mut EventContext) -> EventResult {
        match self.outer.split_last() {
            Some((layer, rest)) => {
                let next = AsyncNext { outer: rest, ..self };
                match layer.async_form() {
                    Some(middleware) => {
                        guarded(Origin::Middleware, middleware.name(), || middleware.handle(self.event, ctx, next))
                            .await
                    }
                    None => Err(blocking_layer(layer.name(), self.event.name())),
                }
            }
            None => match self.event {
                EventRef::Sync(event) => Next::new(event, self.inner).in_chain(self.chain).run(ctx),
                EventRef::Async(event) => guarded(Origin::Event, event.name(), || event.execute(ctx)).await,
            },
        }
    }
}

/// The failure of a sync-only middleware placed around an awaiting part.
#[cold]
fn blocking_layer(middleware: &str, event: &str) -> EventError {
    EventError::middleware(
        BlockingMiddlewareError { middleware: middleware.to_owned(), event: event.to_owned() }.to_string(),
    )
}

/// A sync-only middleware placed around an awaiting part of an
/// [`AsyncEventChain`] (see [`AsyncEventChain::check`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "middleware `{middleware}` is synchronous and cannot wrap the awaiting part of event `{event}`: \
     give it an async form (AsyncEventMiddleware) or register it inside every async middleware"
)]
pub struct BlockingMiddlewareError {
    /// The sync-only middleware.
    pub middleware: String,
    /// The first event it would have to wrap across an await.
    pub event: String,
}

impl<M: Flavor> Clone for AsyncNext<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Flavor> Copy for AsyncNext<'_, M> {}

impl<M: Flavor> fmt::Debug for AsyncNext<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncNext")
            .field("event", &self.event)
            .field("remaining_middleware", &self.remaining_middleware())
            .field("chain", &self.chain)
            .finish()
    }
}

/// An async middleware made of a name and a closure returning a boxed future.
///
/// ```
/// use eventchains_core::{AsyncEventChain, EventContext, FnAsyncMiddleware, FnEvent};
/// let chain = AsyncEventChain::new()
///     .async_middleware(FnAsyncMiddleware::new("count", |_event, ctx, next| {
///         Box::pin(async move {
///             tokio::task::yield_now().await;
///             let n: i64 = ctx.get_or("runs", 0);
///             ctx.set("runs", n + 1);
///             next.run(ctx).await
///         })
///     }))
///     .event(FnEvent::new("a", |_| Ok(())));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let mut ctx = EventContext::new();
/// assert!(rt.block_on(chain.execute(&mut ctx)).is_success());
/// assert_eq!(ctx.get::<i64>("runs"), Some(1));
/// ```
pub struct FnAsyncMiddleware<F> {
    name: String,
    f: F,
}

impl<F> FnAsyncMiddleware<F>
where
    F: for<'a> Fn(EventRef<'a>, &'a mut EventContext, AsyncNext<'a>) -> BoxFuture<'a> + Send + Sync,
{
    /// An async middleware called `name` that runs `f` (a `Send` future).
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnAsyncMiddleware { name: name.into(), f }
    }
}

impl<F> FnAsyncMiddleware<F>
where
    F: for<'a> Fn(EventRef<'a, super::Local>, &'a mut EventContext, AsyncNext<'a, super::Local>) -> LocalBoxFuture<'a>
        + Send
        + Sync,
{
    /// An async middleware of a [`Local`](super::Local) chain called `name` that runs `f`.
    pub fn local(name: impl Into<String>, f: F) -> Self {
        FnAsyncMiddleware { name: name.into(), f }
    }
}

impl<M, F> AsyncEventMiddleware<M> for FnAsyncMiddleware<F>
where
    M: Flavor,
    F: for<'a> Fn(EventRef<'a, M>, &'a mut EventContext, AsyncNext<'a, M>) -> M::Future<'a> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn handle<'a>(
        &'a self,
        event: EventRef<'a, M>,
        ctx: &'a mut EventContext,
        next: AsyncNext<'a, M>,
    ) -> M::Future<'a> {
        (self.f)(event, ctx, next)
    }
}

impl<F> fmt::Debug for FnAsyncMiddleware<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAsyncMiddleware").field("name", &self.name).finish_non_exhaustive()
    }
}
