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
///
/// A recorded message is at most [`MAX_MESSAGE_BYTES`](Self::MAX_MESSAGE_BYTES)
/// (4 KiB) plus a marker: a longer one is cut on a character boundary and ends
/// with `… [truncated, N bytes]` (N: its full length), and a source error whose
/// text is longer is dropped, so that a chain recording many failures (a
/// `lenient` chain whose events fail with 25 MB messages) keeps a few KiB each.
///
/// ```
/// use eventchains_core::{EventError, EventFailure};
/// let failure = EventFailure::new("load", 0, EventError::new("x".repeat(10_000)));
/// assert_eq!(failure.message().len(), EventFailure::MAX_MESSAGE_BYTES + "… [truncated, 10000 bytes]".len());
/// assert!(failure.message().ends_with("xx… [truncated, 10000 bytes]"));
/// ```
#[derive(Clone, Debug)]
pub struct EventFailure {
    event: String,
    index: usize,
    error: EventError,
}

impl EventFailure {
    /// The most bytes of a recorded message before the truncation marker.
    pub const MAX_MESSAGE_BYTES: usize = 4096;

    /// A failure of the event at `index` called `event` (its message bounded
    /// to [`MAX_MESSAGE_BYTES`](Self::MAX_MESSAGE_BYTES)).
    pub fn new(event: impl Into<String>, index: usize, error: EventError) -> Self {
        EventFailure { event: event.into(), index, error: error.bounded(Self::MAX_MESSAGE_BYTES) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary_with_a_marker() {
        // 'é' is two bytes: 4095 ASCII bytes then 'é' straddles the cap.
        let message = format!("{}é{}", "a".repeat(4095), "b".repeat(100));
        let failure = EventFailure::new("e", 0, EventError::timeout(message.clone()));
        assert_eq!(failure.message(), format!("{}… [truncated, {} bytes]", "a".repeat(4095), message.len()));
        assert_eq!(failure.kind(), ErrorKind::Timeout, "kind and origin are kept");
        let exact = "z".repeat(EventFailure::MAX_MESSAGE_BYTES);
        assert_eq!(EventFailure::new("e", 0, EventError::new(exact.clone())).message(), exact, "at the cap: unchanged");
    }

    #[test]
    fn twenty_huge_failures_keep_about_eighty_kib() {
        let huge = "x".repeat(25 << 20);
        let failures: Vec<EventFailure> =
            (0..20).map(|i| EventFailure::new("big", i, EventError::new(huge.clone()))).collect();
        drop(huge);
        let kept: usize = failures.iter().map(|f| f.message().len()).sum();
        assert!(kept <= 20 * (EventFailure::MAX_MESSAGE_BYTES + 64), "{kept} bytes kept");
        assert!(failures.iter().all(|f| f.message().ends_with(&format!("[truncated, {} bytes]", 25 << 20))));
    }

    #[test]
    fn large_sources_are_dropped_small_ones_kept() {
        let big = std::io::Error::other("y".repeat(5000));
        let failure = EventFailure::new("e", 0, EventError::new("write failed").with_source(big));
        assert!(failure.error().source().is_none());
        let small = std::io::Error::other("disk full");
        let failure = EventFailure::new("e", 0, EventError::new("write failed").with_source(small));
        assert_eq!(failure.error().source().map(|s| s.to_string()).as_deref(), Some("disk full"));
    }
}
