//! [`AsyncChainableEvent`]: a unit of work that awaits, [`FnAsyncEvent`] for
//! closures, and [`EventRef`]: a sync or an async event as middleware see it.

use std::fmt;

use crate::context::EventContext;
use crate::event::ChainableEvent;

use super::flavor::{BoxFuture, Flavor, LocalBoxFuture, Sendable};

/// A unit of work that awaits (I/O, timers, other services): the async
/// counterpart of [`ChainableEvent`].
///
/// Like a sync event it is shared by every execution (`&self`, `Send + Sync`)
/// and keeps per-execution state in the context. `execute` returns a boxed
/// future of the chain's [`Flavor`]: a [`BoxFuture`](super::BoxFuture)
/// (`Send`) by default, a [`LocalBoxFuture`](super::LocalBoxFuture) for
/// [`Local`](super::Local) chains. Write the body as `Box::pin(async move { ... })`.
/// Long waits should stop when [`EventContext::is_cancelled`] turns true; the
/// chain also drops the future at once when the execution is cancelled.
///
/// ```
/// use eventchains_core::{AsyncChainableEvent, BoxFuture, EventContext};
/// struct Lookup;
/// impl AsyncChainableEvent for Lookup {
///     fn name(&self) -> &str { "lookup" }
///     fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> BoxFuture<'a> {
///         Box::pin(async move {
///             let sku: String = ctx.try_get("sku")?;
///             tokio::task::yield_now().await; // an HTTP call, a query...
///             ctx.set("stock", if sku == "A1" { 3 } else { 0 });
///             Ok(())
///         })
///     }
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let mut ctx = EventContext::new();
/// ctx.set("sku", "A1");
/// rt.block_on(Lookup.execute(&mut ctx)).unwrap();
/// assert_eq!(ctx.get::<i64>("stock"), Some(3));
/// ```
pub trait AsyncChainableEvent<M: Flavor = Sendable>: Send + Sync {
    /// The event's name, used in results, logs and per-event middleware state.
    fn name(&self) -> &str;

    /// Runs the event on the shared context.
    fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> M::Future<'a>;
}

/// An async event made of a name and a closure returning a boxed future.
///
/// ```
/// use eventchains_core::{AsyncEventChain, EventContext, FnAsyncEvent};
/// let chain = AsyncEventChain::new().async_event(FnAsyncEvent::new("wait", |ctx| {
///     Box::pin(async move {
///         tokio::task::yield_now().await;
///         ctx.set("waited", true);
///         Ok(())
///     })
/// }));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let mut ctx = EventContext::new();
/// assert!(rt.block_on(chain.execute(&mut ctx)).is_success());
/// assert_eq!(ctx.get::<bool>("waited"), Some(true));
/// ```
pub struct FnAsyncEvent<F> {
    name: String,
    f: F,
}

impl<F> FnAsyncEvent<F>
where
    F: for<'a> Fn(&'a mut EventContext) -> BoxFuture<'a> + Send + Sync,
{
    /// An async event called `name` that runs `f` (a `Send` future).
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnAsyncEvent { name: name.into(), f }
    }
}

impl<F> FnAsyncEvent<F>
where
    F: for<'a> Fn(&'a mut EventContext) -> LocalBoxFuture<'a> + Send + Sync,
{
    /// An async event of a [`Local`](super::Local) chain called `name` that
    /// runs `f` (its future may hold what cannot leave the thread).
    pub fn local(name: impl Into<String>, f: F) -> Self {
        FnAsyncEvent { name: name.into(), f }
    }
}

impl<M, F> AsyncChainableEvent<M> for FnAsyncEvent<F>
where
    M: Flavor,
    F: for<'a> Fn(&'a mut EventContext) -> M::Future<'a> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> M::Future<'a> {
        (self.f)(ctx)
    }
}

impl<F> fmt::Debug for FnAsyncEvent<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAsyncEvent").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The event an async middleware wraps: a sync or an async one.
pub enum EventRef<'a, M: Flavor = Sendable> {
    /// A sync event (it runs to its end without awaiting).
    Sync(&'a dyn ChainableEvent),
    /// An async event.
    Async(&'a dyn AsyncChainableEvent<M>),
}

impl<'a, M: Flavor> EventRef<'a, M> {
    /// The event's name.
    pub fn name(&self) -> &'a str {
        match *self {
            EventRef::Sync(event) => event.name(),
            EventRef::Async(event) => event.name(),
        }
    }

    /// `true` for an async event.
    pub fn is_async(&self) -> bool {
        matches!(self, EventRef::Async(_))
    }
}

impl<M: Flavor> Clone for EventRef<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Flavor> Copy for EventRef<'_, M> {}

impl<M: Flavor> fmt::Debug for EventRef<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_async() { "Async" } else { "Sync" };
        f.debug_tuple(kind).field(&self.name()).finish()
    }
}
