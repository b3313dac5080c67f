//! [`Tally`]: the failures of one execution and the fault-tolerance decision
//! on each, shared by the sync and the async chain.

use crate::error::EventError;
use crate::fault_tolerance::FaultToleranceMode;
use crate::result::{ChainResult, ChainStatus, EventFailure};

/// The failures recorded so far in one execution of a chain of `total` events.
pub(crate) struct Tally {
    failures: Vec<EventFailure>,
    total: usize,
}

impl Tally {
    #[inline]
    pub(crate) fn new(total: usize) -> Self {
        Tally { failures: Vec::new(), total }
    }

    /// Records the failure of event `index`; `Some(result)` if `mode` stops the chain on it.
    pub(crate) fn fail(
        &mut self,
        mode: FaultToleranceMode,
        event: &str,
        index: usize,
        error: EventError,
    ) -> Option<ChainResult> {
        let stop = mode.stops_on(error.origin());
        self.record(event, index, error);
        stop.then(|| self.stopped(index + 1))
    }

    /// Records the failure of event `index`, whatever the mode decides.
    pub(crate) fn record(&mut self, event: &str, index: usize, error: EventError) {
        self.failures.push(EventFailure::new(event, index, error));
    }

    /// The result of an execution stopped after `events_run` events.
    pub(crate) fn stopped(&mut self, events_run: usize) -> ChainResult {
        ChainResult::new(ChainStatus::Failed, std::mem::take(&mut self.failures), events_run, self.total)
    }

    /// The result of an execution that ran every event.
    #[inline]
    pub(crate) fn finished(self) -> ChainResult {
        let status = if self.failures.is_empty() { ChainStatus::Completed } else { ChainStatus::CompletedWithWarnings };
        ChainResult::new(status, self.failures, self.total, self.total)
    }
}
