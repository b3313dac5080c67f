//! # eventchains-core
//!
//! The EventChains pattern: a chain runs its **events in FIFO order** and wraps
//! every event in its **middleware in LIFO order** (the last added is the
//! outermost). A shared [`EventContext`] flows through the chain, and a
//! [`FaultToleranceMode`] decides what a failure does to the rest of it.
//!
//! This crate holds the traits, the context, the chain, its results and the
//! registries through which scripts and the CLI name Rust middleware and events.
//! Every other eventchains crate, and third-party middleware crates, build on it.
//!
//! ```
//! use eventchains_core::{EventChain, EventContext, FnEvent, FnMiddleware};
//!
//! let chain = EventChain::new()
//!     .middleware(FnMiddleware::new("trace", |event, ctx, next| {
//!         let before: i64 = ctx.get_or("calls", 0);
//!         ctx.set("calls", before + 1);
//!         next.run(ctx)
//!     }))
//!     .event(FnEvent::new("increment", |ctx| {
//!         let n: i64 = ctx.try_get("counter")?;
//!         ctx.set("counter", n + 1);
//!         Ok(())
//!     }));
//!
//! let mut ctx = EventContext::new();
//! ctx.set("counter", 41);
//! assert!(chain.execute(&mut ctx).is_success());
//! assert_eq!(ctx.get::<i64>("counter"), Some(42));
//! assert_eq!(ctx.get::<i64>("calls"), Some(1));
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
mod asynchronous;
mod chain;
mod config_schema;
mod context;
mod decode;
mod error;
mod event;
mod extensions;
mod fault_tolerance;
mod from_value;
pub mod map;
mod middleware;
mod panic_guard;
mod registry;
mod result;
mod tally;
mod value;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use asynchronous::{
    AsyncChainableEvent, AsyncEventChain, AsyncEventMiddleware, AsyncNext, BlockingMiddlewareError, BoxFuture,
    EventEntry, EventRef, Flavor, FnAsyncEvent, FnAsyncMiddleware, Local, LocalAsyncEventChain, LocalBoxFuture,
    MiddlewareEntry, Sendable,
};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use tokio_util::sync::CancellationToken;

pub use chain::EventChain;
pub use config_schema::{ConfigField, ConfigMismatch, ConfigSchema, closest_name};
pub use context::{ContextError, DeadlineScope, EventContext};
pub use decode::{DecodeError, decode};
pub use error::{ErrorKind, EventError, EventResult, Origin, ResultExt};
pub use event::{ChainableEvent, FnEvent};
pub use extensions::Extensions;
pub use fault_tolerance::{FaultToleranceMode, UnknownModeError};
pub use from_value::{FromValue, OutOfRange};
pub use middleware::{EventMiddleware, FnMiddleware, Next};
pub use panic_guard::panic_message;
pub use registry::{EventRegistry, MiddlewareRegistry, Registry, RegistryError, decode_config};
pub use result::{ChainResult, ChainStatus, EventFailure};
pub use value::{Map, MapHasher, Value};
