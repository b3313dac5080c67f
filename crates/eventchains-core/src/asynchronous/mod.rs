//! Async execution (cargo feature `async`): [`AsyncEventChain`] runs a chain as
//! a future, with sync and async events and middleware side by side. See
//! docs/async.md for the model.

mod chain;
mod event;
mod flavor;
mod middleware;
mod unwind;

pub use chain::{AsyncEventChain, EventEntry, LocalAsyncEventChain};
pub use event::{AsyncChainableEvent, EventRef, FnAsyncEvent};
pub use flavor::{BoxFuture, Flavor, Local, LocalBoxFuture, Sendable};
pub use middleware::{AsyncEventMiddleware, AsyncNext, BlockingMiddlewareError, FnAsyncMiddleware, MiddlewareEntry};
