//! Turning panics in events and middleware into [`EventError`]s.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{EventError, EventResult, Origin};

/// Runs `f`, turning a panic into an [`EventError`] of kind panic that names
/// the component (`name` is only called when a panic happened).
///
/// The context may be left half-updated by the panicking code; the chain's
/// fault-tolerance mode decides whether later events still run on it.
#[inline]
pub(crate) fn guard<'n>(
    origin: Origin,
    name: impl FnOnce() -> &'n str,
    f: impl FnOnce() -> EventResult,
) -> EventResult {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(panic_error(origin, name(), &*payload)),
    }
}

/// The error of a caught panic of the component `name`.
#[cold]
pub(crate) fn panic_error(origin: Origin, name: &str, payload: &(dyn Any + Send)) -> EventError {
    let what = match origin {
        Origin::Event => "event",
        Origin::Middleware => "middleware",
    };
    EventError::panic(origin, format!("{what} `{name}` panicked: {}", panic_message(payload)))
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn panics_become_errors_with_origin_and_name() {
        let err = guard(Origin::Event, || "charge", || panic!("card {} declined", 42)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panic);
        assert_eq!(err.origin(), Origin::Event);
        assert_eq!(err.message(), "event `charge` panicked: card 42 declined");
    }

    #[test]
    fn non_panicking_results_pass_through() {
        assert!(guard(Origin::Middleware, || unreachable!(), || Ok(())).is_ok());
        let err = guard(Origin::Middleware, || "m", || Err(EventError::new("x"))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Event);
    }

    #[test]
    fn odd_payloads_have_a_message() {
        let err = guard(Origin::Event, || "e", || std::panic::panic_any(7u8)).unwrap_err();
        assert!(err.message().ends_with("non-string panic payload"));
    }
}
