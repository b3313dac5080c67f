//! The async form of [`Timeout`]: the inner future is dropped at the deadline.

use eventchains_core::{AsyncNext, EventContext, EventError, EventRef, EventResult, Flavor};

use super::Timeout;

impl Timeout {
    /// Runs the inner middleware and the event on tokio's timer: at the
    /// limit the inner future is dropped (whatever it awaited is abandoned,
    /// the code after its await never runs) and the event fails with kind
    /// `timeout`. A sync part that overruns without awaiting is judged as
    /// in the sync form.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let name = event.name();
        let limit = self.limit_of(name);
        let start = self.clock.now();
        let mut scope = ctx.deadline_scope(start, limit);
        match tokio::time::timeout(limit, next.run(&mut scope)).await {
            Ok(result) => {
                drop(scope);
                self.judge(name, start, limit, result)
            }
            Err(_elapsed) => Err(EventError::timeout(format!(
                "event `{name}` did not finish within {} ms; its pending work was dropped",
                limit.as_millis()
            ))),
        }
    }
}

crate::asynchronous::async_forms!(Timeout);
