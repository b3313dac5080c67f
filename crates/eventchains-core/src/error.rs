//! [`EventError`]: the typed error of an event or a middleware, and [`EventResult`].

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What an event (or a middleware around it) returns. An alias of `Result`, so
/// `?` works inside events.
///
/// The common standard errors (io, parsing, `serde_json`, the core's own
/// errors) convert into an [`EventError`] of kind [`ErrorKind::Event`] with
/// `?`, keeping the error as the source; see [`EventError`] for the rest.
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
///
/// Exhaustive on purpose: the fault-tolerance modes are defined over exactly
/// these two origins.
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
///
/// New kinds may be added in minor releases (`#[non_exhaustive]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// Every kind, in [`index`](Self::index) order.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Event,
        ErrorKind::Middleware,
        ErrorKind::Timeout,
        ErrorKind::LimitExceeded,
        ErrorKind::Panic,
        ErrorKind::Cancelled,
    ];

    /// How many kinds there are (`ALL.len()`), for tables indexed by kind.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index in `0..COUNT`, the position in [`ALL`](Self::ALL): for
    /// per-kind counters in an array and kind sets as bit masks.
    ///
    /// ```
    /// use eventchains_core::ErrorKind;
    /// for (i, kind) in ErrorKind::ALL.iter().enumerate() {
    ///     assert_eq!(kind.index(), i);
    /// }
    /// ```
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            ErrorKind::Event => 0,
            ErrorKind::Middleware => 1,
            ErrorKind::Timeout => 2,
            ErrorKind::LimitExceeded => 3,
            ErrorKind::Panic => 4,
            ErrorKind::Cancelled => 5,
        }
    }

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
/// `EventError` implements [`std::error::Error`] (its [`source`](StdError::source)
/// is the attached error), so it converts into `Box<dyn Error + Send + Sync>`
/// (`tower::BoxError`) and back. `?` converts the common standard errors
/// (io, number and UTF-8 parsing, `serde_json`, the core's own errors, boxed
/// errors, `String` and `&str` messages) into it; other error types use
/// [`EventError::from_error`] or [`ResultExt::event_err`].
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
    /// "Retry in N ms", if the failure knows (kept in milliseconds so that it
    /// fits beside `kind` and `origin` without growing the error).
    retry_after_ms: Option<std::num::NonZeroU32>,
}

impl EventError {
    /// An error of `kind` with its default origin (middleware for
    /// [`ErrorKind::Middleware`] and [`ErrorKind::Cancelled`], event otherwise).
    pub fn with_kind(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        EventError { kind, origin: kind.default_origin(), message: message.into(), source: None, retry_after_ms: None }
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

    /// An event failure whose message is the error's `Display`, keeping the
    /// error as the source: `.map_err(EventError::from_error)` for error types
    /// `?` does not convert by itself.
    pub fn from_error(source: impl StdError + Send + Sync + 'static) -> Self {
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

    /// Says when a retry may succeed ("retry in 200 ms", as an HTTP
    /// `Retry-After` or a gRPC push-back): a `retry` middleware waits at least
    /// that long before the next attempt. Kept in whole milliseconds (rounded
    /// up, at most `u32::MAX` ms); a zero duration clears the hint.
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventchains_core::EventError;
    /// let e = EventError::new("busy").with_retry_after(Duration::from_micros(1500));
    /// assert_eq!(e.retry_after(), Some(Duration::from_millis(2)));
    /// assert_eq!(EventError::new("down").retry_after(), None);
    /// ```
    #[must_use]
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        let ms = after.as_nanos().div_ceil(1_000_000);
        self.retry_after_ms = std::num::NonZeroU32::new(u32::try_from(ms).unwrap_or(u32::MAX));
        self
    }

    /// The retry hint set by [`with_retry_after`](Self::with_retry_after), if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after_ms.map(|ms| std::time::Duration::from_millis(u64::from(ms.get())))
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

    /// This error with a message of at most `max` bytes (cut on a character
    /// boundary, then `… [truncated, N bytes]` with N the full length) and
    /// without a source whose text is longer than `max` bytes, so that the
    /// error holds no large buffer. Short messages are kept as they are.
    #[must_use]
    pub(crate) fn bounded(mut self, max: usize) -> Self {
        if self.message.len() > max {
            let mut end = max;
            while !self.message.is_char_boundary(end) {
                end -= 1;
            }
            let full = self.message.len();
            // A fresh string: truncating the old one would keep its whole buffer.
            self.message = Cow::Owned(format!("{}… [truncated, {full} bytes]", &self.message[..end]));
        }
        if self.source.as_deref().is_some_and(|s| longer_than(s, max)) {
            self.source = None;
        }
        self
    }

    /// `true` for panics.
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panic
    }
}

/// Whether `item` displays as more than `max` bytes, found without building the text.
fn longer_than(item: &dyn fmt::Display, max: usize) -> bool {
    struct Counter {
        left: usize,
    }
    impl fmt::Write for Counter {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.left = self.left.checked_sub(s.len()).ok_or(fmt::Error)?;
            Ok(())
        }
    }
    fmt::write(&mut Counter { left: max }, format_args!("{item}")).is_err()
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
        if let Some(after) = self.retry_after() {
            d.field("retry_after", &after);
        }
        d.finish()
    }
}

impl StdError for EventError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

/// `?` on the standard errors events meet most: each becomes an event failure
/// ([`ErrorKind::Event`]) whose message is the error's `Display` and whose
/// source is the error. For other error types use [`EventError::from_error`]
/// or [`ResultExt::event_err`].
macro_rules! from_std_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for EventError {
            fn from(source: $t) -> Self {
                EventError::from_error(source)
            }
        }
    )*};
}
from_std_errors!(
    std::io::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::ParseBoolError,
    std::char::ParseCharError,
    std::str::Utf8Error,
    std::string::FromUtf8Error,
    std::net::AddrParseError,
    std::time::SystemTimeError,
    std::fmt::Error,
    serde_json::Error,
    crate::context::ContextError,
    crate::decode::DecodeError,
    crate::registry::RegistryError,
    crate::fault_tolerance::UnknownModeError,
);

impl From<Box<dyn StdError + Send + Sync + 'static>> for EventError {
    /// A boxed error (`tower::BoxError`, `anyhow`'s `into()`): an `EventError`
    /// that was boxed comes back unchanged; anything else becomes an event
    /// failure with the box as its source.
    fn from(boxed: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        match boxed.downcast::<EventError>() {
            Ok(event_error) => *event_error,
            Err(other) => {
                let message = other.to_string();
                EventError { source: Some(Arc::from(other)), ..EventError::new(message) }
            }
        }
    }
}

impl From<String> for EventError {
    /// An event failure with this message (`Err("no stock".to_owned())?`).
    fn from(message: String) -> Self {
        EventError::new(message)
    }
}

impl From<&str> for EventError {
    /// An event failure with this message (`Err("no stock")?`).
    fn from(message: &str) -> Self {
        EventError::new(message.to_owned())
    }
}

/// `.event_err()` on any `Result` whose error is a standard error: the error
/// becomes an event failure ([`EventError::from_error`]) keeping it as the
/// source. For the common std errors, `?` alone does this.
///
/// ```
/// use eventchains_core::{EventResult, ResultExt};
/// #[derive(Debug)]
/// struct Declined;
/// impl std::fmt::Display for Declined {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("card declined") }
/// }
/// impl std::error::Error for Declined {}
///
/// fn charge() -> Result<(), Declined> { Err(Declined) }
/// fn event() -> EventResult {
///     charge().event_err()?;
///     Ok(())
/// }
/// let e = event().unwrap_err();
/// assert_eq!(e.message(), "card declined");
/// assert!(std::error::Error::source(&e).is_some());
/// ```
pub trait ResultExt<T> {
    /// Converts the error into an [`EventError`] of kind [`ErrorKind::Event`].
    fn event_err(self) -> EventResult<T>;
}

impl<T, E: StdError + Send + Sync + 'static> ResultExt<T> for Result<T, E> {
    #[inline]
    fn event_err(self) -> EventResult<T> {
        self.map_err(EventError::from_error)
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
        let back = EventError::from(boxed);
        assert_eq!((back.kind(), back.message()), (ErrorKind::Event, "write failed"), "unboxed, not wrapped");
    }

    #[test]
    fn boxed_foreign_errors_become_event_failures_with_their_source() {
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(std::io::Error::other("socket closed"));
        let e = EventError::from(boxed);
        assert_eq!(e.kind(), ErrorKind::Event);
        assert_eq!(e.message(), "socket closed");
        assert_eq!(StdError::source(&e).map(|s| s.to_string()).as_deref(), Some("socket closed"));
    }

    #[test]
    fn question_mark_converts_std_errors_and_messages() {
        fn io() -> EventResult {
            Err(std::io::Error::other("eof"))?
        }
        fn float() -> EventResult<f64> {
            Ok("x".parse::<f64>()?)
        }
        fn utf8() -> EventResult<String> {
            Ok(String::from_utf8(vec![0xff])?)
        }
        fn json() -> EventResult<i64> {
            Ok(serde_json::from_str("{")?)
        }
        fn context() -> EventResult<i64> {
            Ok(crate::EventContext::new().try_get::<i64>("k")?)
        }
        fn decoded() -> EventResult<u8> {
            Ok(crate::decode(&crate::Value::Int(300))?)
        }
        fn text() -> EventResult {
            Err("no stock")?
        }
        fn owned() -> EventResult {
            Err(format!("{} left", 0))?
        }
        assert_eq!(io().unwrap_err().message(), "eof");
        assert!(float().unwrap_err().source().is_some());
        assert!(utf8().unwrap_err().message().contains("invalid utf-8"));
        assert!(json().is_err());
        assert_eq!(context().unwrap_err().message(), "context key `k` is missing");
        assert_eq!(decoded().unwrap_err().message(), "integer 300 out of range for u8 (0..=255)");
        assert_eq!(text().unwrap_err().message(), "no stock");
        assert!(text().unwrap_err().source().is_none());
        assert_eq!(owned().unwrap_err().message(), "0 left");
    }

    #[test]
    fn event_error_is_a_send_sync_std_error() {
        fn check<E: StdError + Send + Sync + 'static>() {}
        check::<EventError>();
        let e = EventError::timeout("late").with_source(std::fmt::Error);
        let dyn_e: &dyn StdError = &e;
        assert_eq!(dyn_e.to_string(), "timeout: late");
        assert!(dyn_e.source().is_some());
        assert!(StdError::source(&EventError::new("plain")).is_none());
    }

    #[test]
    fn context_prefixes_the_message() {
        let e = EventError::new("no stock").context("reserve");
        assert_eq!(e.message(), "reserve: no stock");
        assert_eq!(serde_json::to_string(&ErrorKind::LimitExceeded).ok().as_deref(), Some("\"limit_exceeded\""));
    }
}
