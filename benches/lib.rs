//! Criterion benchmarks for the eventchains workspace; the benchmarks live in
//! `benches/benches/`. Run them with `cargo bench -p eventchains-benches`.
//!
//! This library holds the small fixtures they share.

use eventchains_core::{ChainableEvent, EventContext, EventMiddleware, EventResult, Next};

/// An event that does nothing: what is measured around it is the chain's own cost.
#[derive(Debug)]
pub struct NoopEvent;

impl ChainableEvent for NoopEvent {
    fn name(&self) -> &str {
        "noop"
    }
    fn execute(&self, _ctx: &mut EventContext) -> EventResult {
        Ok(())
    }
}

/// A middleware that only calls `next`: the cost of one layer of dispatch.
#[derive(Debug)]
pub struct PassThrough;

impl EventMiddleware for PassThrough {
    fn name(&self) -> &str {
        "pass_through"
    }
    fn handle(&self, _event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        next.run(ctx)
    }
}
