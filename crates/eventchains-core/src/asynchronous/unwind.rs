//! [`Guarded`]: the async form of the chain's panic containment.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{EventResult, Origin};
use crate::panic_guard::panic_error;

/// A future made by `make` on its first poll, turning a panic (while making
/// it or in any poll) into an error of kind panic that names the component.
/// After a panic the inner future is dropped and never polled again.
pub(crate) struct Guarded<'n, M, F> {
    origin: Origin,
    name: &'n str,
    state: State<M, F>,
}

enum State<M, F> {
    Make(M),
    Run(F),
    Done,
}

/// Contains panics of the future `make` builds (see [`Guarded`]).
pub(crate) fn guarded<'n, M, F>(origin: Origin, name: &'n str, make: M) -> Guarded<'n, M, F>
where
    M: FnOnce() -> F,
    F: Future<Output = EventResult> + Unpin,
{
    Guarded { origin, name, state: State::Make(make) }
}

// The inner future is Unpin (a boxed future, or the chain's own Unpin futures),
// and `make` is only moved out, never pinned.
impl<M, F: Unpin> Unpin for Guarded<'_, M, F> {}

impl<M, F> Future for Guarded<'_, M, F>
where
    M: FnOnce() -> F,
    F: Future<Output = EventResult> + Unpin,
{
    type Output = EventResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<EventResult> {
        let this = self.get_mut();
        match std::mem::replace(&mut this.state, State::Done) {
            State::Make(make) => match catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => this.state = State::Run(future),
                Err(payload) => return Poll::Ready(Err(panic_error(this.origin, this.name, &*payload))),
            },
            other => this.state = other,
        }
        let State::Run(future) = &mut this.state else {
            return Poll::Ready(Err(crate::EventError::middleware("async chain component polled after it finished")));
        };
        match catch_unwind(AssertUnwindSafe(|| Pin::new(future).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                this.state = State::Done;
                Poll::Ready(result)
            }
            Err(payload) => {
                this.state = State::Done;
                Poll::Ready(Err(panic_error(this.origin, this.name, &*payload)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::asynchronous::BoxFuture;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    #[test]
    fn panics_while_making_or_polling_become_errors() {
        let made = guarded(Origin::Middleware, "m", || -> BoxFuture<'static> { panic!("in make") });
        let err = block_on(made).expect_err("panic");
        assert_eq!((err.kind(), err.origin()), (ErrorKind::Panic, Origin::Middleware));
        assert_eq!(err.message(), "middleware `m` panicked: in make");

        let polled = guarded(Origin::Event, "e", || -> BoxFuture<'static> {
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("after an await")
            })
        });
        let err = block_on(polled).expect_err("panic");
        assert_eq!((err.kind(), err.origin()), (ErrorKind::Panic, Origin::Event));
        assert_eq!(err.message(), "event `e` panicked: after an await");
    }

    #[test]
    fn results_pass_through() {
        let ok = guarded(Origin::Event, "e", || -> BoxFuture<'static> { Box::pin(async { Ok(()) }) });
        assert!(block_on(ok).is_ok());
    }
}
