//! [`ScriptTimed`]: a registry middleware kept inside the script's time cap.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventchains_core::{
    AsyncEventMiddleware, AsyncNext, ChainableEvent, EventContext, EventError, EventMiddleware, EventRef, EventResult,
    Local, LocalBoxFuture, Next,
};

/// A Rust middleware the script named (`{ "retry", initial_ms = 500 }`), run
/// with the context's deadline narrowed to the script's wall-clock cap.
///
/// The Lua layer enforces its time cap on Lua code itself (see
/// `crate::watchdog`); Rust middleware wait on their own clocks and know only
/// [`EventContext::deadline`]. Narrowing the deadline around each named
/// middleware (the outermost one sets it: `start + timeout`; inner ones can
/// only keep or shorten it) means no config a script writes (a long backoff, a
/// slow rate with `strategy = "wait"`, injected latency) can make the host
/// wait past the event's time cap: deadline-aware middleware refuse the wait.
/// The previous deadline is restored afterwards, also when the middleware
/// panics.
///
/// Only the outermost one reads the clock (about 25 ns with a vDSO, several
/// hundred without): an inner one, started later with a cap at least as
/// long, cannot narrow a deadline that is already at or before the outer
/// one's `start + limit`, so it leaves it as it is.
pub(crate) struct ScriptTimed {
    pub(crate) inner: Arc<dyn EventMiddleware>,
    pub(crate) limit: Duration,
}

impl EventMiddleware for ScriptTimed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let enclosing = ENCLOSING.get();
        let covered = matches!(
            (enclosing, ctx.deadline()),
            (Some(outer), Some(deadline)) if outer.limit <= self.limit && deadline <= outer.deadline
        );
        let previous = ctx.deadline();
        if !covered {
            ctx.narrow_deadline(Instant::now(), self.limit);
            if let Some(deadline) = ctx.deadline() {
                ENCLOSING.set(Some(Narrowed { deadline, limit: self.limit }));
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.inner.handle(event, ctx, next)));
        ENCLOSING.set(enclosing);
        ctx.set_deadline(previous);
        match result {
            Ok(result) => result,
            Err(payload) => resume_unwind(payload),
        }
    }

    fn as_local_async(&self) -> Option<&dyn AsyncEventMiddleware<Local>> {
        self.inner.as_local_async().map(|_| self as &dyn AsyncEventMiddleware<Local>)
    }
}

/// The async form, when the host middleware has one: the same narrowed
/// deadline, put back when the call ends or its future is dropped.
impl AsyncEventMiddleware<Local> for ScriptTimed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn handle<'a>(
        &'a self,
        event: EventRef<'a, Local>,
        ctx: &'a mut EventContext,
        next: AsyncNext<'a, Local>,
    ) -> LocalBoxFuture<'a> {
        Box::pin(async move {
            let Some(inner) = self.inner.as_local_async() else {
                return Err(EventError::middleware(format!("`{}` has no async form", self.inner.name())));
            };
            let mut scoped = ctx.deadline_scope(Instant::now(), self.limit);
            inner.handle(event, &mut scoped, next).await
        })
    }
}

/// The deadline the innermost running [`ScriptTimed`] of this thread set, and its cap.
#[derive(Clone, Copy)]
struct Narrowed {
    deadline: Instant,
    limit: Duration,
}

thread_local! {
    /// Set while a `ScriptTimed` that narrowed the deadline runs (restored when it returns).
    static ENCLOSING: Cell<Option<Narrowed>> = const { Cell::new(None) };
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use eventchains_core::EventChain;

    use super::*;

    /// Records the deadline it sees, then runs the rest.
    struct Probe(Arc<Mutex<Vec<Option<Instant>>>>);

    impl EventMiddleware for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn handle(&self, _: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
            self.0.lock().expect("probe").push(ctx.deadline());
            next.run(ctx)
        }
    }

    struct Noop;

    impl ChainableEvent for Noop {
        fn name(&self) -> &str {
            "noop"
        }
        fn execute(&self, _: &mut EventContext) -> EventResult {
            Ok(())
        }
    }

    fn timed(seen: &Arc<Mutex<Vec<Option<Instant>>>>, limit: Duration) -> ScriptTimed {
        ScriptTimed { inner: Arc::new(Probe(seen.clone())), limit }
    }

    /// The deadlines seen by an outer and an inner timed middleware with these caps.
    fn seen_by(outer: Duration, inner: Duration) -> Vec<Option<Instant>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        // The last added is outermost.
        let chain = EventChain::new().event(Noop).middleware(timed(&seen, inner)).middleware(timed(&seen, outer));
        let mut ctx = EventContext::new();
        let before = Instant::now();
        assert!(chain.execute(&mut ctx).is_success());
        assert_eq!(ctx.deadline(), None, "restored");
        let seen = seen.lock().expect("probe").clone();
        assert!(seen.iter().all(|d| d.is_some_and(|d| d >= before)), "{seen:?}");
        seen
    }

    #[test]
    fn an_inner_timed_middleware_keeps_the_outer_deadline_and_a_shorter_cap_narrows_it() {
        let hour = Duration::from_secs(3600);
        let same = seen_by(hour, hour);
        assert_eq!(same[0], same[1], "the inner one keeps the outer deadline");
        let shorter = seen_by(hour, Duration::from_secs(1));
        assert!(shorter[1] < shorter[0], "a shorter inner cap narrows it: {shorter:?}");
        let longer = seen_by(Duration::from_secs(1), hour);
        assert_eq!(longer[0], longer[1], "a longer inner cap cannot widen it");
    }
}
