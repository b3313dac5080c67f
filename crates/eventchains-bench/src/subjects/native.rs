//! The seed chain on our own [`EventChain`]: Rust events, the hard-coded baseline.

use eventchains_core::{ChainableEvent, EventChain, EventContext, EventMiddleware, EventResult, Next};

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
            Some(eventchains_core::Value::String(s)) => {
                s.push_str(SUFFIX);
                Ok(())
            }
            _ => Err(eventchains_core::EventError::new("`message` is not a string")),
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

/// The seed chain built once from Rust events, with a reused context.
#[derive(Debug, Clone)]
pub struct NativeSeed {
    chain: EventChain,
    ctx: EventContext,
}

impl NativeSeed {
    /// The two-event seed chain.
    pub fn new() -> Self {
        Self::from_chain(seed_chain())
    }

    /// Wraps any chain that does the seed chain's work.
    pub fn from_chain(chain: EventChain) -> Self {
        NativeSeed { chain, ctx: seed_context() }
    }

    /// Gives the context `extra` more keys (`k0`, `k1`, ...) beside the seed's two.
    pub fn with_extra_keys(mut self, extra: usize) -> Self {
        for i in 0..extra {
            self.ctx.set(format!("k{i}"), i as i64);
        }
        self
    }

    /// Resets `counter`/`message`, runs the chain, reads both back.
    pub fn execute(&mut self) -> SeedOutcome {
        match self.ctx.value_mut("counter") {
            Some(v) => *v = eventchains_core::Value::Int(0),
            None => {
                self.ctx.set("counter", 0);
            }
        }
        match self.ctx.value_mut("message") {
            Some(eventchains_core::Value::String(s)) => {
                s.clear();
                s.push_str("start");
            }
            _ => {
                self.ctx.set("message", "start");
            }
        }
        let result = self.chain.execute(&mut self.ctx);
        debug_assert!(result.is_success(), "{result:?}");
        SeedOutcome {
            counter: self.ctx.get_or("counter", -1),
            message_len: self.ctx.get::<&str>("message").map_or(0, str::len),
        }
    }

    /// The chain (for threads that share it).
    pub fn chain(&self) -> &EventChain {
        &self.chain
    }
}

impl Default for NativeSeed {
    fn default() -> Self {
        Self::new()
    }
}

/// The seed chain: `increment` then `append`.
pub fn seed_chain() -> EventChain {
    EventChain::new().named("seed").event(Increment).event(Append)
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
}
