//! [`AsyncEventChain`]: a chain executed as a future, mixing sync and async
//! events and middleware.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::context::EventContext;
use crate::error::{EventError, EventResult};
use crate::event::ChainableEvent;
use crate::fault_tolerance::FaultToleranceMode;
use crate::middleware::{EventMiddleware, Next};
use crate::result::ChainResult;
use crate::tally::Tally;

use super::event::{AsyncChainableEvent, EventRef};
use super::flavor::{Flavor, Local, Sendable};
use super::middleware::{AsyncEventMiddleware, AsyncNext, BlockingMiddlewareError, MiddlewareEntry};

/// One event of an async chain: a sync or an async one.
pub enum EventEntry<M: Flavor = Sendable> {
    /// A sync event.
    Sync(Arc<dyn ChainableEvent>),
    /// An async event.
    Async(Arc<dyn AsyncChainableEvent<M>>),
}

impl<M: Flavor> EventEntry<M> {
    /// The event's name.
    pub fn name(&self) -> &str {
        self.as_ref().name()
    }

    /// The event as middleware see it.
    pub fn as_ref(&self) -> EventRef<'_, M> {
        match self {
            EventEntry::Sync(e) => EventRef::Sync(&**e),
            EventEntry::Async(e) => EventRef::Async(&**e),
        }
    }
}

impl<M: Flavor> Clone for EventEntry<M> {
    fn clone(&self) -> Self {
        match self {
            EventEntry::Sync(e) => EventEntry::Sync(e.clone()),
            EventEntry::Async(e) => EventEntry::Async(e.clone()),
        }
    }
}

impl<M: Flavor> fmt::Debug for EventEntry<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A chain executed as a future: events run FIFO, each wrapped in the
/// middleware LIFO, with the fault-tolerance mode and [`ChainResult`] of
/// [`EventChain`](crate::EventChain), exactly.
///
/// Events and middleware may be sync ([`ChainableEvent`],
/// [`EventMiddleware`]) or async ([`AsyncChainableEvent`],
/// [`AsyncEventMiddleware`]). A sync event whose middleware are all sync runs
/// exactly as in [`EventChain::execute`](crate::EventChain::execute), with no
/// boxing, allocation or await. Around an awaiting part (an async event, or an
/// async middleware further in) every middleware runs in its async form; a
/// sync middleware that has none makes that event fail with kind middleware
/// ([`check`](Self::check) finds this up front).
///
/// The execution future is `Send` in the [`Sendable`] flavor (the default)
/// and can be `tokio::spawn`ed; [`LocalAsyncEventChain`] accepts futures that
/// stay on one thread. Cancellation: see [`execute_cancellable`](Self::execute_cancellable).
///
/// ```
/// use eventchains_core::{AsyncEventChain, EventContext, FnAsyncEvent, FnEvent};
/// let chain = AsyncEventChain::new()
///     .event(FnEvent::new("validate", |ctx| {
///         ctx.set("valid", true);
///         Ok(())
///     }))
///     .async_event(FnAsyncEvent::new("reserve", |ctx| {
///         Box::pin(async move {
///             tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///             ctx.set("reserved", true);
///             Ok(())
///         })
///     }));
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// let mut ctx = EventContext::new();
/// let result = rt.block_on(chain.execute(&mut ctx));
/// assert!(result.is_success());
/// assert_eq!(ctx.get::<bool>("reserved"), Some(true));
/// ```
pub struct AsyncEventChain<M: Flavor = Sendable> {
    name: Option<String>,
    events: Vec<EventEntry<M>>,
    /// In registration order; the last one is the outermost.
    middleware: Vec<MiddlewareEntry<M>>,
    /// The innermost sync layers (a prefix of `middleware`), run through
    /// [`Next`] around sync events.
    sync_inner: Vec<Arc<dyn EventMiddleware>>,
    mode: FaultToleranceMode,
    event_time_limit: Option<Duration>,
}

/// An [`AsyncEventChain`] whose futures may stay on one thread (see [`Flavor`]).
pub type LocalAsyncEventChain = AsyncEventChain<Local>;

impl<M: Flavor> Default for AsyncEventChain<M> {
    fn default() -> Self {
        AsyncEventChain {
            name: None,
            events: Vec::new(),
            middleware: Vec::new(),
            sync_inner: Vec::new(),
            mode: FaultToleranceMode::default(),
            event_time_limit: None,
        }
    }
}

impl<M: Flavor> Clone for AsyncEventChain<M> {
    fn clone(&self) -> Self {
        AsyncEventChain {
            name: self.name.clone(),
            events: self.events.clone(),
            middleware: self.middleware.clone(),
            sync_inner: self.sync_inner.clone(),
            mode: self.mode,
            event_time_limit: self.event_time_limit,
        }
    }
}

impl AsyncEventChain<Sendable> {
    /// An empty chain in [`FaultToleranceMode::Strict`] whose futures are `Send`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl AsyncEventChain<Local> {
    /// An empty chain in [`FaultToleranceMode::Strict`] whose futures may stay on one thread.
    pub fn new_local() -> Self {
        Self::default()
    }
}

impl<M: Flavor> AsyncEventChain<M> {
    /// Names the chain (used in logs and errors).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a sync event at the end.
    #[must_use]
    pub fn event(mut self, event: impl ChainableEvent + 'static) -> Self {
        self.add_event_entry(EventEntry::Sync(Arc::new(event)));
        self
    }

    /// Adds an async event at the end.
    #[must_use]
    pub fn async_event(mut self, event: impl AsyncChainableEvent<M> + 'static) -> Self {
        self.add_event_entry(EventEntry::Async(Arc::new(event)));
        self
    }

    /// Adds a sync middleware; it becomes the outermost.
    #[must_use]
    pub fn middleware(mut self, middleware: impl EventMiddleware + 'static) -> Self {
        self.add_middleware_entry(MiddlewareEntry::Sync(Arc::new(middleware)));
        self
    }

    /// Adds an async middleware; it becomes the outermost.
    #[must_use]
    pub fn async_middleware(mut self, middleware: impl AsyncEventMiddleware<M> + 'static) -> Self {
        self.add_middleware_entry(MiddlewareEntry::Async(Arc::new(middleware)));
        self
    }

    /// Sets the fault-tolerance mode.
    #[must_use]
    pub fn fault_tolerance(mut self, mode: FaultToleranceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Gives every event, its middleware included, a deadline `limit` after
    /// it starts, as [`EventChain::event_time_limit`](crate::EventChain::event_time_limit)
    /// does (the deadline is put back after each event, also when the
    /// execution is dropped mid-way).
    #[must_use]
    pub fn event_time_limit(mut self, limit: Duration) -> Self {
        self.event_time_limit = Some(limit);
        self
    }

    /// Sets or clears the per-event deadline of an existing chain.
    pub fn set_event_time_limit(&mut self, limit: Option<Duration>) -> &mut Self {
        self.event_time_limit = limit;
        self
    }

    /// Changes the fault-tolerance mode of an existing chain.
    pub fn set_fault_tolerance(&mut self, mode: FaultToleranceMode) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Adds an event (sync or async) at the end of an existing chain.
    pub fn add_event_entry(&mut self, event: EventEntry<M>) -> &mut Self {
        self.events.push(event);
        self
    }

    /// Adds a shared sync event at the end of an existing chain.
    pub fn add_event_arc(&mut self, event: Arc<dyn ChainableEvent>) -> &mut Self {
        self.add_event_entry(EventEntry::Sync(event))
    }

    /// Adds a shared async event at the end of an existing chain.
    pub fn add_async_event_arc(&mut self, event: Arc<dyn AsyncChainableEvent<M>>) -> &mut Self {
        self.add_event_entry(EventEntry::Async(event))
    }

    /// Adds a middleware (sync or async) to an existing chain; it becomes the outermost.
    pub fn add_middleware_entry(&mut self, middleware: MiddlewareEntry<M>) -> &mut Self {
        if let (true, MiddlewareEntry::Sync(m)) = (self.sync_inner.len() == self.middleware.len(), &middleware) {
            self.sync_inner.push(m.clone());
        }
        self.middleware.push(middleware);
        self
    }

    /// Adds a shared sync middleware to an existing chain; it becomes the outermost.
    pub fn add_middleware_arc(&mut self, middleware: Arc<dyn EventMiddleware>) -> &mut Self {
        self.add_middleware_entry(MiddlewareEntry::Sync(middleware))
    }

    /// Adds a shared async middleware to an existing chain; it becomes the outermost.
    pub fn add_async_middleware_arc(&mut self, middleware: Arc<dyn AsyncEventMiddleware<M>>) -> &mut Self {
        self.add_middleware_entry(MiddlewareEntry::Async(middleware))
    }

    /// The chain's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The fault-tolerance mode.
    pub fn mode(&self) -> FaultToleranceMode {
        self.mode
    }

    /// The per-event deadline, if one is set.
    pub fn time_limit(&self) -> Option<Duration> {
        self.event_time_limit
    }

    /// The events, in execution order.
    pub fn events(&self) -> &[EventEntry<M>] {
        &self.events
    }

    /// The middleware, in registration order (the last is the outermost).
    pub fn middleware_stack(&self) -> &[MiddlewareEntry<M>] {
        &self.middleware
    }

    /// The event names, in execution order.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(EventEntry::name)
    }

    /// The middleware names from the outermost (runs first) to the innermost.
    pub fn middleware_names(&self) -> impl Iterator<Item = &str> {
        self.middleware.iter().rev().map(MiddlewareEntry::name)
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// `true` if the chain has no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Finds a sync-only middleware that would have to wrap an awaiting part
    /// (an async event, or an async-only middleware registered before it).
    /// Such a chain runs, but every event it concerns fails with kind
    /// middleware; hosts building chains from scripts call this to refuse them
    /// up front.
    ///
    /// ```
    /// use eventchains_core::{AsyncEventChain, FnAsyncEvent, FnMiddleware};
    /// let chain = AsyncEventChain::new()
    ///     .middleware(FnMiddleware::new("sync_only", |_, ctx, next| next.run(ctx)))
    ///     .async_event(FnAsyncEvent::new("io", |_| Box::pin(async { Ok(()) })));
    /// let err = chain.check().unwrap_err();
    /// assert_eq!((err.middleware.as_str(), err.event.as_str()), ("sync_only", "io"));
    /// ```
    pub fn check(&self) -> Result<(), BlockingMiddlewareError> {
        let outer = &self.middleware[self.sync_inner.len()..];
        for event in &self.events {
            let layers = if event.as_ref().is_async() { &self.middleware[..] } else { outer };
            if let Some(layer) = layers.iter().find(|layer| layer.async_form().is_none()) {
                return Err(BlockingMiddlewareError {
                    middleware: layer.name().to_owned(),
                    event: event.name().to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The event at `index` in its middleware, as a future.
    fn run_event<'a>(
        &'a self,
        event: &'a EventEntry<M>,
        ctx: &'a mut EventContext,
    ) -> impl Future<Output = EventResult> {
        let next = match event {
            EventEntry::Sync(e) => AsyncNext::new(EventRef::Sync(&**e), &self.middleware[self.sync_inner.len()..])
                .with_sync_inner(&self.sync_inner),
            EventEntry::Async(e) => AsyncNext::new(EventRef::Async(&**e), &self.middleware),
        };
        next.in_chain(self.name.as_deref()).run(ctx)
    }

    /// Runs every event, in order, each wrapped in the middleware, on `ctx`.
    ///
    /// Panics are contained as in the sync chain (kind
    /// [`Panic`](crate::ErrorKind::Panic), origin event or middleware). If the
    /// context carries a cancellation token ([`EventContext::set_cancellation`])
    /// the execution stops when it is cancelled (see
    /// [`execute_cancellable`](Self::execute_cancellable)).
    ///
    /// Dropping the future stops the execution at its current await: the
    /// context keeps what the events that ran wrote, and what the interrupted
    /// event wrote before its await; deadlines narrowed by the chain and by the
    /// middleware crate's async middleware are put back.
    pub async fn execute(&self, ctx: &mut EventContext) -> ChainResult {
        let token = ctx.cancellation().cloned();
        let mut tally = Tally::new(self.events.len());
        let all_sync = self.sync_inner.len() == self.middleware.len();
        for (index, event) in self.events.iter().enumerate() {
            if ctx.is_cancelled() {
                tally.record(event.name(), index, cancelled(self.name(), event.name(), "before"));
                return tally.stopped(index);
            }
            let outcome = match (event, all_sync, self.event_time_limit) {
                // The sync path of `EventChain::execute`: no future, no allocation.
                (EventEntry::Sync(e), true, None) => {
                    Some(Next::new(&**e, &self.sync_inner).in_chain(self.name()).run(ctx))
                }
                (EventEntry::Sync(e), true, Some(limit)) => Some(
                    Next::new(&**e, &self.sync_inner)
                        .in_chain(self.name())
                        .run(&mut ctx.deadline_scope(Instant::now(), limit)),
                ),
                (_, _, None) => until_cancelled(token.as_ref(), self.run_event(event, ctx)).await,
                (_, _, Some(limit)) => {
                    let mut scope = ctx.deadline_scope(Instant::now(), limit);
                    until_cancelled(token.as_ref(), self.run_event(event, &mut scope)).await
                }
            };
            let outcome = match outcome {
                Some(outcome) => outcome,
                None => {
                    tally.record(event.name(), index, cancelled(self.name(), event.name(), "during"));
                    return tally.stopped(index + 1);
                }
            };
            if let Err(error) = outcome {
                // A cancelled execution stops whatever the mode, also when the
                // event noticed first and failed on its own.
                if token.as_ref().is_some_and(CancellationToken::is_cancelled) {
                    tally.record(event.name(), index, error);
                    return tally.stopped(index + 1);
                }
                if let Some(stopped) = tally.fail(self.mode, event.name(), index, error) {
                    return stopped;
                }
            }
        }
        tally.finished()
    }

    /// Runs the chain like [`execute`](Self::execute) with `token` as the
    /// execution's cancel handle (the context's previous token is put back
    /// afterwards, also if the future is dropped).
    ///
    /// Cancelling the token drops the pending await of the running event at
    /// once and ends the execution with a failure of kind
    /// [`Cancelled`](crate::ErrorKind::Cancelled) and status `Failed`, whatever
    /// the fault-tolerance mode; a token cancelled before the start runs no
    /// event. Events see it through [`EventContext::is_cancelled`] (the Lua
    /// layer stops a running handler at its next hook).
    ///
    /// ```
    /// use eventchains_core::{AsyncEventChain, ErrorKind, EventContext, FnEvent};
    /// use tokio_util::sync::CancellationToken;
    /// let chain = AsyncEventChain::new().event(FnEvent::new("a", |ctx| {
    ///     ctx.set("ran", true);
    ///     Ok(())
    /// }));
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mut ctx = EventContext::new();
    /// let result = rt.block_on(chain.execute_cancellable(&mut ctx, token));
    /// assert_eq!(result.failures()[0].kind(), ErrorKind::Cancelled);
    /// assert_eq!(result.events_run(), 0);
    /// assert!(!ctx.contains("ran"));
    /// ```
    pub async fn execute_cancellable(&self, ctx: &mut EventContext, token: CancellationToken) -> ChainResult {
        let scope = CancelScope::new(ctx, token);
        self.execute(scope.ctx).await
    }
}

/// Puts the context's previous cancellation token back when dropped.
struct CancelScope<'c> {
    ctx: &'c mut EventContext,
    previous: Option<CancellationToken>,
}

impl<'c> CancelScope<'c> {
    fn new(ctx: &'c mut EventContext, token: CancellationToken) -> Self {
        let previous = ctx.set_cancellation(Some(token));
        CancelScope { ctx, previous }
    }
}

impl Drop for CancelScope<'_> {
    fn drop(&mut self) {
        self.ctx.set_cancellation(self.previous.take());
    }
}

/// The failure of a cancelled execution.
#[cold]
fn cancelled(chain: Option<&str>, event: &str, when: &str) -> EventError {
    match chain {
        Some(chain) => EventError::cancelled(format!("execution of chain `{chain}` cancelled {when} event `{event}`")),
        None => EventError::cancelled(format!("execution cancelled {when} event `{event}`")),
    }
}

/// Runs `future` unless `token` is cancelled first (`None` then: the future is dropped).
async fn until_cancelled<F: Future<Output = EventResult>>(
    token: Option<&CancellationToken>,
    future: F,
) -> Option<EventResult> {
    let Some(token) = token else {
        return Some(future.await);
    };
    let mut future = pin!(future);
    let mut cancelled = pin!(token.cancelled());
    poll_fn(|cx| {
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

impl<M: Flavor> fmt::Debug for AsyncEventChain<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncEventChain")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("events", &self.events)
            .field("middleware", &self.middleware_names().collect::<Vec<_>>())
            .field("event_time_limit", &self.event_time_limit)
            .finish()
    }
}

impl<M: Flavor> From<crate::EventChain> for AsyncEventChain<M> {
    /// The same events, middleware, name, mode and time limit, all sync.
    fn from(chain: crate::EventChain) -> Self {
        let mut out = AsyncEventChain {
            name: chain.name().map(str::to_owned),
            mode: chain.mode(),
            event_time_limit: chain.time_limit(),
            ..AsyncEventChain::default()
        };
        for event in chain.events() {
            out.add_event_arc(event.clone());
        }
        for middleware in chain.middleware_stack() {
            out.add_middleware_arc(middleware.clone());
        }
        out
    }
}
