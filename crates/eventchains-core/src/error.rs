//! [`EventError`]: the typed error of an event or a middleware, and [`EventResult`].

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What an event (or a middleware around it) returns. An alias of `Result`, so
/// `?` works inside events.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into an
/// [`EventError`] of kind [`ErrorKind::Event`] with `?`, keeping it as the source.
///
/// ```
/// use eventchains_core::{EventContext, EventResult};
/// fn parse_qty(ctx: &mut EventContext) -> EventResult {
///     let raw: String = ctx.try_get("qty_text")?;   // ContextError -> EventError
///     let qty: i64 = raw.trim().parse()?;           // ParseIntError -> EventError
///     ctx.set("qty", qty);
///     Ok(())
/// }
/// let mut ctx = EventContext::new();
/// ctx.set("qty_text", " 42 ");
/// parse_qty(&mut ctx).unwrap();
/// assert_eq!(ctx.get::<i64>("qty"), Some(42));
/// ctx.set("qty_text", "forty");
/// assert!(parse_qty(&mut ctx).unwrap_err().message().contains("invalid digit"));
/// ```
pub type EventResult<T = ()> = Result<T, EventError>;

/// Which part of the chain a failure belongs to. The fault-tolerance mode
/// decides on it: [`FaultToleranceMode::BestEffort`](crate::FaultToleranceMode)
/// goes on after event failures but stops on middleware failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The event itself failed (its own error, its panic, its overrun).
    Event,
    /// A middleware failed (infrastructure: a rate limiter, a breaker, a panic in a middleware).
    Middleware,
}

/// What kind of failure an [`EventError`] is. Serialized in `snake_case`
/// (`"event"`, `"middleware"`, `"timeout"`, `"limit_exceeded"`, `"panic"`, `"cancelled"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The event returned an error.
    Event,
    /// A middleware returned an error of its own.
    Middleware,
    /// A deadline passed (the timeout middleware, a Lua wall-clock limit).
    Timeout,
    /// A resource limit was hit (instruction count, memory, rate limit).
    LimitExceeded,
    /// Code panicked; the panic was caught and turned into this error.
    Panic,
    /// A middleware refused to run the event (open circuit breaker, chaos skip).
    Cancelled,
}

impl ErrorKind {
    /// The `snake_case` name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Event => "event",
            ErrorKind::Middleware => "middleware",
            ErrorKind::Timeout => "timeout",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Panic => "panic",
            ErrorKind::Cancelled => "cancelled",
        }
    }

    /// The origin a failure of this kind has unless said otherwise.
    fn default_origin(self) -> Origin {
        match self {
            ErrorKind::Middleware | ErrorKind::Cancelled => Origin::Middleware,
            ErrorKind::Event | ErrorKind::Timeout | ErrorKind::LimitExceeded | ErrorKind::Panic => Origin::Event,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of an event or a middleware: a kind, an origin, a message and an
/// optional source error.
///
/// Like `anyhow::Error`, `EventError` does not itself implement
/// `std::error::Error`, so that every error type converts into it with `?`; it
/// converts into `Box<dyn Error + Send + Sync>` when one is needed.
///
/// ```
/// use eventchains_core::{ErrorKind, EventError, Origin};
/// let e = EventError::timeout("took 120 ms, limit 100 ms");
/// assert_eq!(e.kind(), ErrorKind::Timeout);
/// assert_eq!(e.origin(), Origin::Event);
/// assert_eq!(e.to_string(), "timeout: took 120 ms, limit 100 ms");
/// let m = EventError::middleware("rate limit exceeded");
/// assert_eq!(m.origin(), Origin::Middleware);
/// ```
#[derive(Clone)]
pub struct EventError {
    kind: ErrorKind,
    origin: Origin,
    message: Cow<'static, str>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl EventError {
    /// An error of `kind` with its default origin (middleware for
    /// [`ErrorKind::Middleware`] and [`ErrorKind::Cancelled`], event otherwise).
    pub fn with_kind(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        EventError { kind, origin: kind.default_origin(), message: message.into(), source: None }
    }

    /// An event failure with a message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::Event, message)
    }

    /// A middleware failure with a message.
    pub fn middleware(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::Middleware, message)
    }

    /// A deadline overrun (origin: the event).
    pub fn timeout(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::Timeout, message)
    }

    /// A resource limit hit (origin: the event).
    pub fn limit_exceeded(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::LimitExceeded, message)
    }

    /// A caught panic; `origin` says where it happened.
    pub fn panic(origin: Origin, message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::Panic, message).with_origin(origin)
    }

    /// The event was not run because a middleware refused it (origin: middleware).
    pub fn cancelled(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(ErrorKind::Cancelled, message)
    }

    /// An event failure whose message is the source's `Display`.
    pub fn from_source(source: impl StdError + Send + Sync + 'static) -> Self {
        let message = source.to_string();
        EventError::new(message).with_source(source)
    }

    /// Replaces the origin.
    #[must_use]
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Replaces the kind (the origin is kept).
    #[must_use]
    pub fn with_kind_of(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Attaches a source error.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Prefixes the message with `context: `.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = Cow::Owned(format!("{context}: {}", self.message));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the event or a middleware failed.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The source error, if any.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// `true` for panics.
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panic
    }
}

impl fmt::Display for EventError {
    /// `kind: message`, e.g. `event: invalid amount`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl fmt::Debug for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EventError");
        d.field("kind", &self.kind).field("origin", &self.origin).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for EventError {
    fn from(source: E) -> Self {
        EventError::from_source(source)
    }
}

/// The standard-error view of an [`EventError`], for `Box<dyn Error>` users.
#[derive(Debug)]
struct StdEventError(EventError);

impl fmt::Display for StdEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for StdEventError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<EventError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(e: EventError) -> Self {
        Box::new(StdEventError(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_keeps_the_source() {
        fn parse() -> EventResult<i64> {
            Ok("x".parse::<i64>()?)
        }
        let e = parse().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Event);
        assert!(e.source().is_some());
        assert_eq!(e.message(), "invalid digit found in string");
    }

    #[test]
    fn kinds_have_sensible_origins() {
        assert_eq!(EventError::cancelled("open").origin(), Origin::Middleware);
        assert_eq!(EventError::limit_exceeded("x").origin(), Origin::Event);
        assert_eq!(EventError::panic(Origin::Middleware, "boom").origin(), Origin::Middleware);
        assert_eq!(EventError::timeout("x").with_origin(Origin::Middleware).kind(), ErrorKind::Timeout);
    }

    #[test]
    fn converts_to_boxed_std_error_with_source_chain() {
        let inner = std::io::Error::other("disk");
        let boxed: Box<dyn StdError + Send + Sync> = EventError::new("write failed").with_source(inner).into();
        assert_eq!(boxed.to_string(), "event: write failed");
        assert_eq!(boxed.source().map(|s| s.to_string()), Some("disk".to_owned()));
    }

    #[test]
    fn context_prefixes_the_message() {
        let e = EventError::new("no stock").context("reserve");
        assert_eq!(e.message(), "reserve: no stock");
        assert_eq!(serde_json::to_string(&ErrorKind::LimitExceeded).ok().as_deref(), Some("\"limit_exceeded\""));
    }
}
