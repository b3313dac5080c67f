//! The async form of [`ConcurrencyLimit`]: a refused execution awaits a slot
//! (tokio's `Notify` and timer) instead of blocking its thread.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use eventchains_core::{AsyncNext, EventContext, EventRef, EventResult, Flavor};

use super::{ConcurrencyLimit, Permit, Slot};

/// Un-counts a waiter however its wait ends (a dropped future included).
struct Waiting<'a>(&'a Slot);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slot {
    /// Waits up to `wait` (tokio's timer) for a free slot.
    async fn acquire_within_async(&self, max: u32, wait: Duration) -> bool {
        let mut timer = pin!(tokio::time::sleep(wait));
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(self);
        loop {
            let mut freed = pin!(self.freed_async.notified());
            // Registered before the check: a release in between wakes it.
            freed.as_mut().enable();
            if self.try_acquire(max) {
                return true;
            }
            let woken = poll_fn(|cx| {
                if freed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(true);
                }
                timer.as_mut().poll(cx).map(|()| false)
            })
            .await;
            if !woken {
                return self.try_acquire(max);
            }
        }
    }
}

impl ConcurrencyLimit {
    /// Admits as the sync form does, awaiting a slot for up to `wait_ms`
    /// (never past the deadline); the slot is given back when the call ends
    /// or its future is dropped.
    async fn run_async<M: Flavor>(
        &self,
        event: EventRef<'_, M>,
        ctx: &mut EventContext,
        next: AsyncNext<'_, M>,
    ) -> EventResult {
        let chain = next.chain_name();
        let slot = self.slot_for(chain, event.name());
        if !slot.try_acquire(self.config.max) {
            let admitted = match self.patience(ctx) {
                Ok(wait) => slot.acquire_within_async(self.config.max, wait).await,
                Err(refusal) => return Err(self.refuse(refusal, chain, event.name())),
            };
            self.after_wait(admitted, chain, event.name())?;
        }
        self.handle.inner.admitted.fetch_add(1, Ordering::Relaxed);
        let _permit = Permit(&slot);
        next.run(ctx).await
    }
}

crate::asynchronous::async_forms!(ConcurrencyLimit);
