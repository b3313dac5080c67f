//! [`DeadlineScope`]: a narrowed deadline that is put back when the scope ends.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::EventContext;

/// A context whose deadline is narrowed for as long as this scope lives (see
/// [`EventContext::deadline_scope`]); dropping it restores the previous
/// deadline, also when the scope is dropped inside an abandoned future.
#[derive(Debug)]
pub struct DeadlineScope<'c> {
    ctx: &'c mut EventContext,
    previous: Option<Instant>,
}

impl<'c> DeadlineScope<'c> {
    pub(super) fn new(ctx: &'c mut EventContext, start: Instant, limit: Duration) -> Self {
        let previous = ctx.narrow_deadline(start, limit);
        DeadlineScope { ctx, previous }
    }
}

impl Deref for DeadlineScope<'_> {
    type Target = EventContext;
    fn deref(&self) -> &EventContext {
        self.ctx
    }
}

impl DerefMut for DeadlineScope<'_> {
    fn deref_mut(&mut self) -> &mut EventContext {
        self.ctx
    }
}

impl Drop for DeadlineScope<'_> {
    fn drop(&mut self) {
        self.ctx.set_deadline(self.previous);
    }
}
