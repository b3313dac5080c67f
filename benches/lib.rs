//! Criterion benchmarks for the eventchains workspace; the benchmarks live in
//! `benches/benches/`. Run them with `cargo bench -p eventchains-benches`.
//!
//! This library holds the small fixtures they share.

use eventchains_core::{ChainableEvent, EventContext, EventResult};

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

/// A middleware that only calls `next`: the cost of one layer of dispatch
/// (shared with the measurement suite's scaling scenarios).
pub use eventchains_bench::subjects::native::PassThrough;
