//! The seed chain on the reference crate `event_chains` 0.2.1 from crates.io.

use event_chains::{ChainableEvent, EventChain, EventContext, EventResult};

use super::{SUFFIX, SeedOutcome};

struct Increment;

impl ChainableEvent for Increment {
    fn execute(&self, ctx: &mut EventContext) -> EventResult<()> {
        match ctx.get::<i64>("counter") {
            Some(n) => {
                ctx.set("counter", n + 1);
                EventResult::Success(())
            }
            None => EventResult::Failure("`counter` is missing".to_owned()),
        }
    }
    fn name(&self) -> &str {
        "increment"
    }
}

struct Append;

impl ChainableEvent for Append {
    fn execute(&self, ctx: &mut EventContext) -> EventResult<()> {
        // The crate's context stores `Box<dyn Any>` and `get` clones: read, append, store back.
        match ctx.get::<String>("message") {
            Some(mut s) => {
                s.push_str(SUFFIX);
                ctx.set("message", s);
                EventResult::Success(())
            }
            None => EventResult::Failure("`message` is missing".to_owned()),
        }
    }
    fn name(&self) -> &str {
        "append"
    }
}

/// What the chain left in `ctx` (the crate's `get` clones the string).
fn outcome(ctx: &EventContext) -> SeedOutcome {
    SeedOutcome {
        counter: ctx.get::<i64>("counter").unwrap_or(-1),
        message_len: ctx.get::<String>("message").map_or(0, |s| s.len()),
    }
}

/// The seed chain on `event_chains` 0.2.1, built once, context reused.
pub struct ReferenceSeed {
    chain: EventChain,
    ctx: EventContext,
}

impl ReferenceSeed {
    /// Builds the two-event chain.
    pub fn new() -> Self {
        ReferenceSeed { chain: EventChain::new().event(Increment).event(Append), ctx: EventContext::new() }
    }

    /// Resets `counter`/`message`, runs the chain, reads both back.
    pub fn execute(&mut self) -> SeedOutcome {
        self.ctx.set("counter", 0i64);
        self.ctx.set("message", String::from("start"));
        let result = self.chain.execute(&mut self.ctx);
        debug_assert!(result.failures.is_empty());
        outcome(&self.ctx)
    }

    /// The per-request shape: a fresh context of the crate with the two seed
    /// values, the chain, both fields read back.
    pub fn execute_fresh(&self) -> SeedOutcome {
        let mut ctx = EventContext::new();
        ctx.set("counter", 0i64);
        ctx.set("message", String::from("start"));
        let result = self.chain.execute(&mut ctx);
        debug_assert!(result.failures.is_empty());
        outcome(&ctx)
    }
}

impl Default for ReferenceSeed {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ReferenceSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceSeed").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_seed_chain_repeatedly() {
        let mut s = ReferenceSeed::new();
        for _ in 0..3 {
            assert_eq!(s.execute(), SeedOutcome::expected());
            assert_eq!(s.execute_fresh(), SeedOutcome::expected());
        }
    }
}
