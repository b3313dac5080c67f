//! The async form of [`CircuitBreaker`]: the same admission and records
//! around an awaited call; a trial call dropped mid-way gives its slot back.

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::{Admission, Circuit, CircuitBreaker, Outcome};

/// Gives a half-open trial slot back if the call is dropped before it ends.
struct TrialSlot<'a> {
    breaker: &'a CircuitBreaker,
    circuit: &'a Circuit,
    name: &'a str,
    armed: bool,
}

impl Drop for TrialSlot<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Neither a success nor a failure: the caller went away.
            self.breaker.after_trial(self.circuit, self.name, Outcome::Ignored, false);
        }
    }
}

impl CircuitBreaker {
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let name = event.name();
        let circuit = self.handle.circuit(name, &self.id);
        let admission = if circuit.state.load(std::sync::atomic::Ordering::Acquire) == super::CLOSED {
            Admission::Closed
        } else {
            self.admit(&circuit, name)?
        };
        let mut slot =
            TrialSlot { breaker: self, circuit: &circuit, name, armed: matches!(admission, Admission::Trial) };
        let start = self.call_start();
        let result = next.run(ctx).await;
        slot.armed = false;
        self.settle(&circuit, name, admission, start, &result);
        result
    }
}

crate::asynchronous::async_forms!(CircuitBreaker);
