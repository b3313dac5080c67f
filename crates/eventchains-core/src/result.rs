//! [`ChainResult`], [`ChainStatus`] and [`EventFailure`]: what a chain execution returns.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ErrorKind, EventError, Origin};

/// How a chain execution ended. Serialized as `"completed"`,
/// `"completed_with_warnings"` or `"failed"`. New statuses may be added in
/// minor releases (`#[non_exhaustive]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainStatus {
    /// Every event ran and nothing failed.
    Completed,
    /// The chain ran to its end, but failures were recorded on the way.
    CompletedWithWarnings,
    /// A failure stopped the chain.
    Failed,
}

impl ChainStatus {
    /// The `snake_case` name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Completed => "completed",
            ChainStatus::CompletedWithWarnings => "completed_with_warnings",
            ChainStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded failure: which event (name and position) and the error.
///
/// Serializes as `{"event", "index", "kind", "origin", "message"}`.
#[derive(Clone, Debug)]
pub struct EventFailure {
    event: String,
    index: usize,
    error: EventError,
}

impl EventFailure {
    /// A failure of the event at `index` called `event`.
    pub fn new(event: impl Into<String>, index: usize, error: EventError) -> Self {
        EventFailure { event: event.into(), index, error }
    }

    /// The name of the event during which the failure happened.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The position of that event in the chain (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// Whether the event or a middleware failed.
    pub fn origin(&self) -> Origin {
        self.error.origin()
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        self.error.message()
    }

    /// The full error, with its source.
    pub fn error(&self) -> &EventError {
        &self.error
    }
}

impl fmt::Display for EventFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event `{}` (#{}): {}", self.event, self.index, self.error)
    }
}

impl Serialize for EventFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("EventFailure", 5)?;
        s.serialize_field("event", &self.event)?;
        s.serialize_field("index", &self.index)?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("origin", &self.origin())?;
        s.serialize_field("message", self.message())?;
        s.end()
    }
}

/// What one execution of a chain returns.
///
/// Events run in order and the chain never skips one, so the events that ran
/// are exactly the first [`events_run`](Self::events_run) events of the chain;
/// those that failed are listed in [`failures`](Self::failures), in order.
///
/// ```
/// use eventchains_core::{ChainStatus, EventChain, EventContext, EventError, FnEvent};
/// let chain = EventChain::new()
///     .event(FnEvent::new("ok", |_| Ok(())))
///     .event(FnEvent::new("bad", |_| Err(EventError::new("nope"))))
///     .event(FnEvent::new("never", |_| Ok(())));
/// let result = chain.execute(&mut EventContext::new());
/// assert_eq!(result.status(), ChainStatus::Failed);
/// assert_eq!(result.events_run(), 2);
/// assert_eq!(result.failures()[0].event(), "bad");
/// assert_eq!(
///     serde_json::to_value(&result).unwrap(),
///     serde_json::json!({"status": "failed", "events_run": 2, "events_total": 3,
///         "failures": [{"event": "bad", "index": 1, "kind": "event", "origin": "event", "message": "nope"}]})
/// );
/// ```
#[derive(Clone, Debug)]
pub struct ChainResult {
    status: ChainStatus,
    failures: Vec<EventFailure>,
    events_run: usize,
    events_total: usize,
}

impl ChainResult {
    /// A result; used by executors other than [`EventChain`](crate::EventChain) (and by tests).
    pub fn new(status: ChainStatus, failures: Vec<EventFailure>, events_run: usize, events_total: usize) -> Self {
        ChainResult { status, failures, events_run, events_total }
    }

    /// How the execution ended.
    pub fn status(&self) -> ChainStatus {
        self.status
    }

    /// `true` unless the chain [`Failed`](ChainStatus::Failed).
    pub fn is_success(&self) -> bool {
        self.status != ChainStatus::Failed
    }

    /// `true` if the chain completed with no failure at all.
    pub fn is_clean(&self) -> bool {
        self.status == ChainStatus::Completed
    }

    /// The recorded failures, in the order they happened.
    pub fn failures(&self) -> &[EventFailure] {
        &self.failures
    }

    /// Takes the failures out.
    pub fn into_failures(self) -> Vec<EventFailure> {
        self.failures
    }

    /// How many events ran: the first `events_run` events of the chain.
    pub fn events_run(&self) -> usize {
        self.events_run
    }

    /// How many events the chain has.
    pub fn events_total(&self) -> usize {
        self.events_total
    }

    /// `true` if the event at `index` ran.
    pub fn ran(&self, index: usize) -> bool {
        index < self.events_run
    }

    /// The failure that stopped the chain, if it [`Failed`](ChainStatus::Failed).
    pub fn fatal_failure(&self) -> Option<&EventFailure> {
        match self.status {
            ChainStatus::Failed => self.failures.last(),
            _ => None,
        }
    }
}

impl Serialize for ChainResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ChainResult", 4)?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("events_run", &self.events_run)?;
        s.serialize_field("events_total", &self.events_total)?;
        s.serialize_field("failures", &self.failures)?;
        s.end()
    }
}

impl fmt::Display for ChainResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{} events run", self.status, self.events_run, self.events_total)?;
        if !self.failures.is_empty() {
            write!(f, ", {} failure(s)", self.failures.len())?;
        }
        f.write_str(")")
    }
}
