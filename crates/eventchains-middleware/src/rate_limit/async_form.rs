//! The async form of [`RateLimit`]: a `wait` strategy awaits its token on the runtime's timer.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::RateLimit;

impl RateLimit {
    /// Takes a token as the sync form does; with strategy `wait` the wait
    /// for a reserved token is awaited ([`Clock::sleep_async`](crate::Clock::sleep_async))
    /// instead of blocking the thread; with `reject` it fails fast.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let wait = self.admit(next.chain_name(), event.name(), ctx)?;
        if !wait.is_zero() {
            self.clock.sleep_async(wait).await;
        }
        next.run(ctx).await
    }
}

crate::asynchronous::async_forms!(RateLimit);
