//! The async form of [`Chaos`]: injected latency is awaited on the runtime's timer.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::{Chaos, Verdict};

impl Chaos {
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let (latency, verdict) = self.plan(event.name(), ctx);
        if !latency.is_zero() {
            self.clock.sleep_async(latency).await;
        }
        match verdict {
            Verdict::Run => next.run(ctx).await,
            Verdict::Done(result) => result,
        }
    }
}

crate::asynchronous::async_forms!(Chaos);
