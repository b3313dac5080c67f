//! The async form of [`Logging`]: the span is entered at every poll
//! ([`tracing::Instrument`]), so what the event logs between its awaits
//! stays inside it, and nothing leaks into other tasks while it waits.

use std::time::Instant;

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};
use tracing::Instrument;

use super::Logging;

impl Logging {
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let name = event.name();
        let span = self.span(next.chain_name(), name);
        if self.unobserved(&span) {
            return next.run(ctx).await;
        }
        let start = Instant::now();
        let result = next.run(ctx).instrument(span.clone()).await;
        self.report(&span, name, start, &result);
        result
    }
}

crate::asynchronous::async_forms!(Logging);
