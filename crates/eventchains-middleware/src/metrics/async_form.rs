//! The async form of [`Metrics`]: the same records, the duration spanning the awaits.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::Metrics;

impl Metrics {
    /// Records `next` as the sync form does; an execution dropped mid-way records nothing.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let start = self.clock.now();
        let result = next.run(ctx).await;
        let elapsed = self.clock.now().saturating_duration_since(start);
        self.handle.record_in(next.chain_name(), event.name(), elapsed, result.as_ref().err().map(|e| e.kind()));
        result
    }
}

crate::asynchronous::async_forms!(Metrics);
