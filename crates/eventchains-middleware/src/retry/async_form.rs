//! The async form of [`Retry`]: the same decisions, waiting on the runtime's timer.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::Retry;

impl Retry {
    /// The sync form's loop, awaiting each attempt and each delay
    /// ([`Clock::sleep_async`](crate::Clock::sleep_async): tokio's timer, never
    /// `thread::sleep`). Dropped during a delay, it stops there.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let (chain, event) = (next.chain_name(), event.name());
        let snapshot = self.begin(ctx);
        let mut attempt = 1;
        loop {
            let result = next.run(ctx).await;
            let delay = match self.after_attempt(chain, event, attempt, result, ctx) {
                Ok(done) => return done,
                Err(delay) => delay,
            };
            self.clock.sleep_async(delay).await;
            self.before_retry(chain, event, snapshot.as_ref(), ctx);
            attempt += 1;
        }
    }
}

crate::asynchronous::async_forms!(Retry);
