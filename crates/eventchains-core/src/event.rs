//! [`ChainableEvent`]: a unit of work, and [`FnEvent`] for closures.

use std::fmt;

use crate::context::EventContext;
use crate::error::EventResult;

/// A unit of work in a chain.
///
/// Events are shared by every execution of a chain, possibly on many threads at
/// once, so `execute` takes `&self`; per-execution state belongs in the context.
///
/// ```
/// use eventchains_core::{ChainableEvent, EventContext, EventResult};
/// struct Increment;
/// impl ChainableEvent for Increment {
///     fn name(&self) -> &str { "increment" }
///     fn execute(&self, ctx: &mut EventContext) -> EventResult {
///         let n: i64 = ctx.get_or("counter", 0);
///         ctx.set("counter", n + 1);
///         Ok(())
///     }
/// }
/// let mut ctx = EventContext::new();
/// Increment.execute(&mut ctx).unwrap();
/// assert_eq!(ctx.get::<i64>("counter"), Some(1));
/// ```
pub trait ChainableEvent: Send + Sync {
    /// The event's name, used in results, logs and per-event middleware state.
    fn name(&self) -> &str;

    /// Runs the event on the shared context.
    fn execute(&self, ctx: &mut EventContext) -> EventResult;
}

/// An event made of a name and a closure.
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent};
/// let chain = EventChain::new().event(FnEvent::new("greet", |ctx| {
///     ctx.set("greeting", "hello");
///     Ok(())
/// }));
/// let mut ctx = EventContext::new();
/// assert!(chain.execute(&mut ctx).is_success());
/// assert_eq!(ctx.get::<&str>("greeting"), Some("hello"));
/// ```
pub struct FnEvent<F> {
    name: String,
    f: F,
}

impl<F> FnEvent<F>
where
    F: Fn(&mut EventContext) -> EventResult + Send + Sync,
{
    /// An event called `name` that runs `f`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnEvent { name: name.into(), f }
    }
}

impl<F> ChainableEvent for FnEvent<F>
where
    F: Fn(&mut EventContext) -> EventResult + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        (self.f)(ctx)
    }
}

impl<F> fmt::Debug for FnEvent<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnEvent").field("name", &self.name).finish_non_exhaustive()
    }
}
