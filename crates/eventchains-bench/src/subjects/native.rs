//! The seed chain on our own [`EventChain`]: Rust events, the hard-coded baseline.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use eventchains_core::{
    AsyncChainableEvent, AsyncEventChain, BoxFuture, ChainResult, ChainableEvent, EventChain, EventContext, EventError,
    EventMiddleware, EventResult, Next, Value,
};

use super::{SUFFIX, SeedOutcome};

/// Adds 1 to `counter`.
#[derive(Debug, Clone, Copy)]
pub struct Increment;

impl ChainableEvent for Increment {
    fn name(&self) -> &str {
        "increment"
    }
    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        let n: i64 = ctx.try_get("counter")?;
        ctx.set("counter", n + 1);
        Ok(())
    }
}

/// Appends `" -> processed"` to `message`, in place.
#[derive(Debug, Clone, Copy)]
pub struct Append;

impl ChainableEvent for Append {
    fn name(&self) -> &str {
        "append"
    }
    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        match ctx.value_mut("message") {
            Some(Value::String(s)) => {
                s.push_str(SUFFIX);
                Ok(())
            }
            _ => Err(EventError::new("`message` is not a string")),
        }
    }
}

/// A middleware that only calls `next`: one layer of dispatch.
#[derive(Debug, Clone, Copy)]
pub struct PassThrough;

impl EventMiddleware for PassThrough {
    fn name(&self) -> &str {
        "pass_through"
    }
    fn handle(&self, _event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        next.run(ctx)
    }
}

/// Something that runs a chain on a context: our [`EventChain`], and the Lua chain.
pub trait RunsChain {
    /// Runs the chain once on `ctx`.
    fn run(&self, ctx: &mut EventContext) -> ChainResult;
}

impl RunsChain for EventChain {
    fn run(&self, ctx: &mut EventContext) -> ChainResult {
        self.execute(ctx)
    }
}

impl RunsChain for AsyncEventChain {
    /// Polls the execution future to its end with a no-op waker: what an
    /// `.await` of it costs inside a task, without any runtime around it.
    fn run(&self, ctx: &mut EventContext) -> ChainResult {
        poll_to_end(self.execute(ctx))
    }
}

/// Polls `future` until it is ready, with a no-op waker (for futures that
/// need no reactor: the async seed chains await nothing).
pub fn poll_to_end<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// [`Increment`] as an async event that awaits nothing.
#[derive(Debug, Clone, Copy)]
pub struct AsyncIncrement;

impl AsyncChainableEvent for AsyncIncrement {
    fn name(&self) -> &str {
        "increment"
    }
    fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> BoxFuture<'a> {
        Box::pin(async move { Increment.execute(ctx) })
    }
}

/// [`Append`] as an async event that awaits nothing.
#[derive(Debug, Clone, Copy)]
pub struct AsyncAppend;

impl AsyncChainableEvent for AsyncAppend {
    fn name(&self) -> &str {
        "append"
    }
    fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> BoxFuture<'a> {
        Box::pin(async move { Append.execute(ctx) })
    }
}

/// The seed chain on an [`AsyncEventChain`], its two events sync: what the
/// async path adds to the sync one.
pub fn async_seed_chain() -> AsyncEventChain {
    seed_chain().into()
}

/// The seed chain on an [`AsyncEventChain`] with both events async (awaiting
/// nothing): what a boxed future per event adds.
pub fn async_events_seed_chain() -> AsyncEventChain {
    AsyncEventChain::new().named("seed").async_event(AsyncIncrement).async_event(AsyncAppend)
}

/// A chain doing the seed chain's work, built once, with a reused context.
#[derive(Debug, Clone)]
pub struct ChainSeed<C> {
    chain: C,
    ctx: EventContext,
}

/// The seed chain built from Rust events: the hard-coded baseline.
pub type NativeSeed = ChainSeed<EventChain>;

impl ChainSeed<EventChain> {
    /// The two-event seed chain.
    pub fn new() -> Self {
        Self::from_chain(seed_chain())
    }
}

impl Default for ChainSeed<EventChain> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: RunsChain> ChainSeed<C> {
    /// Wraps any chain that does the seed chain's work.
    pub fn from_chain(chain: C) -> Self {
        ChainSeed { chain, ctx: seed_context() }
    }

    /// Gives the context `extra` more keys (`k0`, `k1`, ...) beside the seed's two.
    pub fn with_extra_keys(mut self, extra: usize) -> Self {
        for i in 0..extra {
            self.ctx.set(format!("k{i}"), i as i64);
        }
        self
    }

    /// Resets `counter`/`message` in place, runs the chain, reads both back.
    pub fn execute(&mut self) -> SeedOutcome {
        match self.ctx.value_mut("counter") {
            Some(v) => *v = Value::Int(0),
            None => {
                self.ctx.set("counter", 0);
            }
        }
        match self.ctx.value_mut("message") {
            Some(Value::String(s)) => {
                s.clear();
                s.push_str("start");
            }
            _ => {
                self.ctx.set("message", "start");
            }
        }
        let result = self.chain.run(&mut self.ctx);
        debug_assert!(result.is_success(), "{result:?}");
        outcome(&self.ctx)
    }

    /// The chain.
    pub fn chain(&self) -> &C {
        &self.chain
    }
}

/// The seed chain: `increment` then `append`.
pub fn seed_chain() -> EventChain {
    EventChain::new().named("seed").event(Increment).event(Append)
}

/// What the seed chain left in `ctx`: `counter` and the length of `message`.
pub fn outcome(ctx: &EventContext) -> SeedOutcome {
    SeedOutcome { counter: ctx.get_or("counter", -1), message_len: ctx.get::<&str>("message").map_or(0, str::len) }
}

/// One execution in the per-request shape: a fresh context holding
/// `counter = 0, message = "start"`, the chain, both fields read back; the
/// context is dropped afterwards (the `fresh_context` scenario).
pub fn execute_fresh<C: RunsChain>(chain: &C) -> SeedOutcome {
    let mut ctx = seed_context();
    let result = chain.run(&mut ctx);
    debug_assert!(result.is_success(), "{result:?}");
    outcome(&ctx)
}

/// `counter = 0, message = "start"`.
pub fn seed_context() -> EventContext {
    let mut ctx = EventContext::new();
    ctx.set("counter", 0);
    ctx.set("message", "start");
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_seed_chain_repeatedly() {
        let mut s = NativeSeed::new().with_extra_keys(3);
        for _ in 0..3 {
            assert_eq!(s.execute(), SeedOutcome::expected());
        }
        assert_eq!(s.chain().len(), 2);
    }

    #[test]
    fn the_async_seed_chains_give_the_same_outcome() {
        for chain in [async_seed_chain(), async_events_seed_chain()] {
            let mut s = ChainSeed::from_chain(chain);
            for _ in 0..3 {
                assert_eq!(s.execute(), SeedOutcome::expected());
            }
        }
    }

    #[test]
    fn a_fresh_context_per_execution_gives_the_same_outcome() {
        let chain = seed_chain();
        for _ in 0..3 {
            assert_eq!(execute_fresh(&chain), SeedOutcome::expected());
        }
        let failing = EventChain::new().event(Append).event(Increment);
        let mut ctx = EventContext::new();
        assert!(!failing.run(&mut ctx).is_success());
        assert_eq!(outcome(&ctx), SeedOutcome { counter: -1, message_len: 0 });
    }
}
