//! [`ScriptTimed`]: a registry middleware kept inside the script's time cap.

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
pub(crate) struct ScriptTimed {
    pub(crate) inner: Arc<dyn EventMiddleware>,
    pub(crate) limit: Duration,
}

impl EventMiddleware for ScriptTimed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let previous = ctx.narrow_deadline(Instant::now(), self.limit);
        let result = catch_unwind(AssertUnwindSafe(|| self.inner.handle(event, ctx, next)));
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
