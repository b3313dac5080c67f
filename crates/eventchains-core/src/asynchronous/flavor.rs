//! [`Flavor`]: whether the futures of an async chain are `Send` ([`Sendable`])
//! or may stay on one thread ([`Local`]).

use std::future::Future;
use std::pin::Pin;

use crate::error::EventResult;
use crate::middleware::EventMiddleware;

use super::middleware::AsyncEventMiddleware;

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T = EventResult> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed future that stays on the thread that made it.
pub type LocalBoxFuture<'a, T = EventResult> = Pin<Box<dyn Future<Output = T> + 'a>>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sendable {}
    impl Sealed for super::Local {}
}

/// Whether the async events and middleware of a chain return `Send` futures.
///
/// - [`Sendable`] (the default): every future is a [`BoxFuture`], so an
///   execution of an [`AsyncEventChain`](super::AsyncEventChain) is `Send` and
///   can be `tokio::spawn`ed onto a multi-thread runtime.
/// - [`Local`]: futures are [`LocalBoxFuture`]s and may hold what cannot
///   leave a thread (a Lua coroutine of a VM per thread, an `Rc`); run the
///   execution on a current-thread runtime or a `LocalSet`
///   (`tokio::task::spawn_local`).
///
/// The events and middleware themselves are `Send + Sync` in both flavors
/// (one chain serves many threads); only the futures of one execution differ.
/// Sealed: these two are the only flavors.
pub trait Flavor: sealed::Sealed + Sized + Send + Sync + 'static {
    /// The boxed future an async event or middleware of this flavor returns.
    type Future<'a>: Future<Output = EventResult> + Unpin + 'a;

    /// Boxes a future that is `Send` (any flavor accepts one).
    fn boxed<'a>(future: impl Future<Output = EventResult> + Send + 'a) -> Self::Future<'a>;

    /// The async form of a sync middleware in this flavor, if it has one
    /// ([`EventMiddleware::as_async`] or [`EventMiddleware::as_local_async`]).
    fn async_form(middleware: &dyn EventMiddleware) -> Option<&dyn AsyncEventMiddleware<Self>>;
}

/// The flavor whose futures are `Send` (see [`Flavor`]).
#[derive(Debug)]
pub enum Sendable {}

/// The flavor whose futures may stay on one thread (see [`Flavor`]).
#[derive(Debug)]
pub enum Local {}

impl Flavor for Sendable {
    type Future<'a> = BoxFuture<'a>;

    fn boxed<'a>(future: impl Future<Output = EventResult> + Send + 'a) -> Self::Future<'a> {
        Box::pin(future)
    }

    fn async_form(middleware: &dyn EventMiddleware) -> Option<&dyn AsyncEventMiddleware<Self>> {
        middleware.as_async()
    }
}

impl Flavor for Local {
    type Future<'a> = LocalBoxFuture<'a>;

    fn boxed<'a>(future: impl Future<Output = EventResult> + Send + 'a) -> Self::Future<'a> {
        Box::pin(future)
    }

    fn async_form(middleware: &dyn EventMiddleware) -> Option<&dyn AsyncEventMiddleware<Self>> {
        middleware.as_local_async()
    }
}
