//! The async form of [`Timing`]: the duration spans the awaits.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::Timing;

impl Timing {
    /// Times `next` from before its first poll to its result, awaits included.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        if self.unobserved() {
            return next.run(ctx).await;
        }
        let start = self.clock.now();
        let result = next.run(ctx).await;
        self.report(ctx, event.name(), start);
        result
    }
}

crate::asynchronous::async_forms!(Timing);
