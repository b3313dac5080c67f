//! The memory account of what scripts write into the context: the one owner
//! of context-write accounting (the root `ctx` fast path, nested views and
//! the merge of returned tables all charge through it).
//!
//! Values in the context are Rust memory that the Lua VM's memory limit does
//! not see. What scripts add counts against the memory cap over the *whole
//! execution*, not per call: the running total travels with the context (a
//! private extension, written back when a call ends or before a middleware's
//! `next`), so eight events writing 60 MB each under a 64 MiB cap fail at the
//! second one. Each write is charged incrementally (the size of what it stores
//! minus the size of what it replaces, see [`crate::value_size`]); nothing
//! walks the context on a write, except once when the running total says the
//! cap would be passed: the context is then measured as a whole (bounded by
//! the cap) and the write fails only if the context really is that large
//! (values removed by Rust code, or a context reused across executions, do not
//! count twice). Detached tables that a call still holds (see
//! [`crate::views`]) count until the call ends.

use eventchains_core::EventContext;

use crate::value_size::measure_map;

/// Bytes scripts have added to a context (carried by the context).
#[derive(Clone, Copy, Debug)]
struct ScriptBytes(usize);

/// One call's side of the account.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CtxMemory {
    /// The running total, once read from the context.
    bytes: Option<usize>,
    /// Whether the total changed since it was read.
    changed: bool,
    /// Bytes of detached tables the call holds (part of the total, not of the context).
    held: usize,
}

/// The context as a whole would exceed the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverCap;

impl CtxMemory {
    fn total(&mut self, ctx: &EventContext) -> usize {
        *self.bytes.get_or_insert_with(|| ctx.extensions().get::<ScriptBytes>().map_or(0, |b| b.0))
    }

    /// The bytes that may still be added under `cap`, according to the running total.
    pub(crate) fn budget(&mut self, ctx: &EventContext, cap: usize) -> usize {
        cap.saturating_sub(self.total(ctx))
    }

    /// Makes sure `grow` more bytes fit under `cap`; when the running total
    /// says no, measures the context as a whole first (see the module docs).
    pub(crate) fn reserve(&mut self, ctx: &EventContext, cap: usize, grow: usize) -> Result<(), OverCap> {
        let total = self.total(ctx);
        if total.checked_add(grow).is_some_and(|t| t <= cap) {
            return Ok(());
        }
        let Some(room) = cap.checked_sub(grow) else { return Err(OverCap) };
        match measure_map(ctx.values(), usize::MAX, room).map(|real| real.saturating_add(self.held)) {
            Ok(real) if real < total && real <= room => {
                self.bytes = Some(real);
                self.changed = true;
                Ok(())
            }
            _ => Err(OverCap),
        }
    }

    /// Whether the account has nothing to give back to the context (no
    /// total read, nothing held): true of every call that charged nothing.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.bytes.is_none() && self.held == 0
    }

    /// Records that `old` bytes were replaced by `new` bytes.
    pub(crate) fn record(&mut self, ctx: &EventContext, old: usize, new: usize) {
        if old == new {
            return;
        }
        let total = self.total(ctx);
        self.bytes = Some(total.saturating_add(new).saturating_sub(old));
        self.changed = true;
    }

    /// Records that the call now holds `kept` more and `released` fewer bytes
    /// of detached tables (see [`crate::views`]).
    pub(crate) fn hold(&mut self, ctx: &EventContext, kept: usize, released: usize) {
        self.held = self.held.saturating_add(kept).saturating_sub(released);
        self.record(ctx, released, kept);
    }

    /// Releases every detached table the call holds.
    pub(crate) fn release_held(&mut self, ctx: &EventContext) {
        let held = std::mem::take(&mut self.held);
        self.record(ctx, held, 0);
    }

    /// Writes the total back into the context (the call ends, or lets other
    /// code run on the context); the next use reads it again.
    pub(crate) fn flush(&mut self, ctx: &mut EventContext) {
        let bytes = self.bytes.take();
        if !std::mem::take(&mut self.changed) {
            return;
        }
        let bytes = bytes.unwrap_or_default();
        if let Some(carried) = ctx.extensions_mut().get_mut::<ScriptBytes>() {
            carried.0 = bytes;
            return;
        }
        // Absent, or shared with a cloned context: this context gets its own.
        if bytes != 0 || ctx.extensions().get::<ScriptBytes>().is_some() {
            ctx.extensions_mut().insert(ScriptBytes(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_travels_with_the_context_and_is_corrected_by_measuring() {
        let mut ctx = EventContext::new();
        let mut call = CtxMemory::default();
        assert_eq!(call.budget(&ctx, 1000), 1000);
        call.record(&ctx, 0, 600);
        call.flush(&mut ctx);
        let mut next_call = CtxMemory::default();
        assert_eq!(next_call.budget(&ctx, 1000), 400, "carried by the context");
        // The context is in fact empty (say Rust code removed the values): measuring corrects the total.
        assert_eq!(next_call.reserve(&ctx, 1000, 500), Ok(()));
        assert!(next_call.budget(&ctx, 1000) > 900);
        ctx.set("big", "x".repeat(900));
        let mut third = CtxMemory::default();
        third.record(&ctx, 0, 0);
        assert_eq!(third.reserve(&ctx, 1000, 500), Err(OverCap), "really over the cap");
        // A clone gets its own account.
        let mut copy = ctx.clone();
        let mut on_copy = CtxMemory::default();
        on_copy.record(&copy, 0, 7);
        on_copy.flush(&mut copy);
        assert_ne!(CtxMemory::default().budget(&copy, 1000), CtxMemory::default().budget(&ctx, 1000));
    }
}
