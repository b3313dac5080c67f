//! The per-VM bridge between Lua code and the chain's [`EventContext`]: the
//! one call path of the crate.
//!
//! Every Lua call (a handler, a middleware, a script's top-level code) runs
//! inside [`Bridge::call`], which builds the call's frame ([`CallScope`]: the
//! `&mut EventContext` it was given as a raw pointer, the middleware's
//! [`Next`], the call's watchdog ticket) on its own stack, makes it current
//! while the closure runs and makes the outer frame current again when it
//! returns or unwinds. The pointer is only dereferenced through the current
//! frame, i.e. while the borrow it came from is alive and no Rust code uses
//! it. Frames nest because a Lua middleware's `next` runs the inner
//! middleware and the event (possibly Lua again) inside its own call. What a
//! call keeps for its whole life ([`CallState`]: instruction count, memory
//! account, views, the result of `next`) is owned by the caller, so a call
//! run as a coroutine can enter a scope per resume (see docs/architecture.md,
//! "One call path").
//!
//! The bridge also enforces the per-call limits: the VM's count hook calls
//! [`Bridge::tick`] every [`HOOK_INTERVAL`](crate::HOOK_INTERVAL) instructions
//! (on Luau, the VM interrupt calls it at every function call and loop
//! iteration). Wall-clock time is watched by [`crate::watchdog`]: every frame
//! is published in the thread's [`Slot`] and [`Bridge::check_time`] (one
//! atomic load) stops the running call once the watchdog says its time, or an
//! enclosing call's, is up.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventchains_core::{EventContext, EventError, EventResult, Next};
use mlua::VmState;

use crate::count_hook::CountHook;
use crate::ctx_memory::CtxMemory;
use crate::limits::{Limits, describe_bytes};
use crate::views::Views;
use crate::watchdog::{Expiry, Slot, Ticket, cap_ns, thread_slot};

/// Which frame a context proxy is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// The innermost running call (the root `ctx` given to every call).
    Current,
    /// One call only: the proxy was created during it (nested tables).
    Frame(u64),
}

/// A limit that was hit by the running call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// The instruction cap (in instructions).
    Instructions(u64),
    /// The wall-clock cap.
    Timeout(Duration),
    /// The context's deadline (set by a timeout middleware) passed.
    Deadline,
    /// The time of an enclosing call (a Lua middleware around this call) is up.
    Enclosing,
    /// Values written to the context by the call outgrew the memory cap (in bytes).
    CtxMemory(usize),
    /// The execution was cancelled through its handle (async executions).
    Cancelled,
}

impl LimitHit {
    /// "instruction limit (1000) exceeded", ...
    pub(crate) fn describe(self) -> String {
        match self {
            LimitHit::Instructions(n) => format!("instruction limit ({n}) exceeded"),
            LimitHit::Timeout(d) => format!("wall-clock limit ({} ms) exceeded", d.as_millis()),
            LimitHit::Deadline => "the context's deadline passed".to_owned(),
            LimitHit::Enclosing => "the time limit of an enclosing call passed".to_owned(),
            LimitHit::CtxMemory(bytes) => {
                format!("memory limit ({}) exceeded by values written to ctx", describe_bytes(Some(bytes)))
            }
            LimitHit::Cancelled => "the execution was cancelled".to_owned(),
        }
    }

    /// The failure of `what` (e.g. "event `spin`") for this hit.
    pub(crate) fn to_error(self, what: &str) -> EventError {
        let message = format!("{} in {what}", self.describe());
        match self {
            LimitHit::Instructions(_) | LimitHit::CtxMemory(_) => EventError::limit_exceeded(message),
            LimitHit::Timeout(_) | LimitHit::Deadline | LimitHit::Enclosing => EventError::timeout(message),
            LimitHit::Cancelled => EventError::cancelled(message),
        }
    }
}

/// How many coroutines a script may resume inside one another (Lua 5.4's own
/// C-stack limit stops it near 200; LuaJIT has none and would overflow the thread's stack).
pub(crate) const MAX_NESTED_RESUMES: u32 = 150;

/// What one Lua call keeps for its whole life: its instruction count, its
/// side of the context's memory account, the views it read and the result of
/// its last `next`.
///
/// A synchronous call enters its scope once ([`Bridge::call`]); a call that
/// runs as a coroutine keeps its `CallState` in its future and enters a scope
/// around each resume, so that what it counted and read carries over from one
/// resume to the next while the frame is current only during the resume.
#[derive(Default)]
pub(crate) struct CallState {
    /// The call's identity (0 until it first enters a scope; see [`Binding::Frame`]).
    id: Cell<u64>,
    ticks: Cell<u64>,
    /// Work done by library calls ([`Bridge::charge`]), in instructions.
    charged: Cell<u64>,
    /// The call's side of the context's memory account.
    memory: Cell<CtxMemory>,
    /// Identities of the tables the call read out of the context (boxed on
    /// first use: most calls read no nested table).
    views: Cell<Option<Box<Views>>>,
    /// The result of the last `next` call of a middleware.
    next_result: Cell<Option<EventResult>>,
}

impl CallState {
    /// The work library calls charged to the call so far (tests compare
    /// what two implementations of a library function charge).
    #[cfg(all(test, any(feature = "lua54", feature = "lua55")))]
    pub(crate) fn charged(&self) -> u64 {
        self.charged.get()
    }

    /// The result of the middleware's last `next` call, if it made one.
    pub(crate) fn take_next_result(&self) -> Option<EventResult> {
        self.next_result.take()
    }

    /// Records the result of the middleware's `next` when the caller ran it
    /// outside of the call's scope (an async execution awaits it between two
    /// resumes, see [`CallState::before_next`]).
    pub(crate) fn set_next_result(&self, result: EventResult) {
        self.next_result.set(Some(result));
    }

    /// Before the caller runs a middleware's `next` between two entries of
    /// its scope: other code changes the context now, so the views the call
    /// read are forgotten (its memory account went back to the context when
    /// its last entry left).
    pub(crate) fn before_next(&self) {
        if let Some(mut views) = self.views.take() {
            views.reset();
            self.views.set(Some(views));
        }
    }
}

/// The frame of the running call, current while its [`Bridge::call`] runs.
///
/// It lives on the stack of `Bridge::call`; the bridge points at the
/// innermost one (and each at the one around it) only while it is current.
pub(crate) struct CallScope<'a> {
    bridge: &'a Bridge,
    state: &'a CallState,
    /// The context of the call (null while a script's top-level code runs).
    ctx: *mut EventContext,
    /// The rest of the stack, for a middleware's `next`.
    next: Option<Next<'a>>,
    /// The frame as published to the watchdog.
    ticket: Ticket,
    /// The frame around this one (null for the outermost).
    outer: *const CallScope<'static>,
}

/// The per-VM state shared by the context proxies, `next` and the limit hook:
/// which call is running ([`CallScope`]s nest) and the limit it hit.
pub(crate) struct Bridge {
    /// The innermost running call's scope (null: none runs).
    current: Cell<*const CallScope<'static>>,
    next_id: Cell<u64>,
    hit: Cell<Option<LimitHit>>,
    /// Set while Rust code holds a reference into the context (guards against
    /// finalizers re-entering the proxy during an allocation).
    busy: Cell<bool>,
    limits: Cell<Limits>,
    /// The time cap of `limits`, as the watchdog takes it.
    timeout_ns: Cell<u64>,
    /// This thread's frames as the watchdog sees them (VMs never change threads).
    slot: Arc<Slot>,
    /// Coroutines resumed inside one another by the running execution (see
    /// [`Bridge::enter_resume`]); reset when an outermost call starts.
    resumes: Cell<u32>,
    /// When the VM's count hook is on.
    hook: CountHook,
    /// Whether a nested view was ever handed out as a light userdata in this
    /// VM (see [`Bridge::light_view`]).
    light_views: Cell<bool>,
}

impl Bridge {
    pub(crate) fn new(limits: Limits) -> Self {
        Bridge {
            current: Cell::new(std::ptr::null()),
            next_id: Cell::new(1),
            hit: Cell::new(None),
            busy: Cell::new(false),
            limits: Cell::new(limits),
            timeout_ns: Cell::new(cap_ns(limits.timeout)),
            slot: thread_slot(),
            resumes: Cell::new(0),
            hook: CountHook::default(),
            light_views: Cell::new(false),
        }
    }

    /// Makes `next` the id of the next call (tests: ids past what a light
    /// userdata view encodes, see [`crate::view_handle`]).
    #[cfg(test)]
    pub(crate) fn skip_call_ids(&self, next: u64) {
        self.next_id.set(next);
    }

    /// The light userdata standing for table `elem` of call `frame`
    /// ([`crate::view_handle::encode`]), remembering that this VM has handed
    /// one out (`None`: the ids do not fit; use a full userdata).
    #[inline]
    pub(crate) fn light_view(&self, frame: u64, elem: crate::views::ElemId) -> Option<*mut c_void> {
        let handle = crate::view_handle::encode(frame, elem)?;
        self.light_views.set(true);
        Some(handle)
    }

    /// Whether this VM has ever handed out a light-userdata view. Until it
    /// has, every light userdata the `ctx` metatable sees is the root (scripts
    /// cannot make light userdata), so the root's fast path skips telling a
    /// view from the root: the seed chain, which reads no nested table, pays
    /// one load for views (callgrind: the check cost it 145 instructions per
    /// execution).
    #[inline(always)]
    pub(crate) fn light_views(&self) -> bool {
        self.light_views.get()
    }

    /// When the VM's count hook is on (see [`crate::count_hook`]).
    pub(crate) fn count_hook(&self) -> &CountHook {
        &self.hook
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.limits.get()
    }

    /// Replaces the limits (the first VM learns the script's own limits after loading it).
    pub(crate) fn set_limits(&self, limits: Limits) {
        self.limits.set(limits);
        self.timeout_ns.set(cap_ns(limits.timeout));
    }

    /// Runs `f` as one Lua call on `ctx` (and `next`, for a middleware; no
    /// context while a script's top-level code runs), with `state` as the
    /// call's lasting state. Returns what `f` returned and the limit that
    /// stopped the call, if one did.
    ///
    /// The call's frame is current exactly while `f` runs: proxies, `next`
    /// and the limit hook reach `ctx` through it, and nothing else can (the
    /// frame is made current again for the outer call when `f` returns or
    /// unwinds). A call that finished after its time was up (long C work at
    /// its end) reports the timeout all the same.
    pub(crate) fn call<R>(
        &self,
        state: &CallState,
        ctx: Option<&mut EventContext>,
        next: Option<Next<'_>>,
        f: impl FnOnce(&CallScope<'_>) -> R,
    ) -> (R, Option<LimitHit>) {
        self.enter(state, ctx, next, self.timeout_ns.get(), f)
    }

    /// Runs `f` as one entry of a call that runs as a coroutine (one resume,
    /// or one poll of a host future it waits for; no `next`: an async
    /// middleware's `next` runs between entries). Like [`Bridge::call`], but
    /// the wall-clock cap is what is left of the VM's cap after `ran`, the
    /// time the call ran in its earlier entries (time spent waiting between
    /// entries is not counted); the time this entry runs is added to `ran`.
    /// A call whose time is already used up is stopped at its first check.
    pub(crate) fn resume<R>(
        &self,
        state: &CallState,
        ctx: &mut EventContext,
        ran: &mut Duration,
        f: impl FnOnce(&CallScope<'_>) -> R,
    ) -> (R, Option<LimitHit>) {
        let cap = self.limits.get().timeout;
        let left = cap.map(|t| t.saturating_sub(*ran));
        if let (Some(Duration::ZERO), Some(t)) = (left, cap) {
            self.hit.set(Some(LimitHit::Timeout(t)));
        }
        let started = Instant::now();
        /// Adds the entry's running time to `ran`, also when `f` unwinds.
        struct Ran<'r>(&'r mut Duration, Instant);
        impl Drop for Ran<'_> {
            fn drop(&mut self) {
                *self.0 = self.0.saturating_add(self.1.elapsed());
            }
        }
        let _ran = Ran(ran, started);
        self.enter(state, Some(ctx), None, cap_ns(left), f)
    }

    /// Stops the running call with `hit` (e.g. its execution was cancelled).
    /// Returns the Lua error to raise; like every limit, it cannot be caught.
    pub(crate) fn stop(&self, hit: LimitHit) -> mlua::Error {
        self.hit.set(Some(hit));
        limit_error(hit)
    }

    /// [`Bridge::call`] with a time cap of `timeout_ns` for this entry.
    #[inline(always)]
    fn enter<R>(
        &self,
        state: &CallState,
        ctx: Option<&mut EventContext>,
        next: Option<Next<'_>>,
        timeout_ns: u64,
        f: impl FnOnce(&CallScope<'_>) -> R,
    ) -> (R, Option<LimitHit>) {
        let outer = self.current.get();
        if outer.is_null() {
            // A limit error can unwind past a `leave_resume`: no count survives an execution.
            self.resumes.set(0);
        }
        // A Lua error (e.g. out of memory) raised while `busy` was set skips
        // its reset; no reference into a context can outlive a call boundary.
        self.busy.set(false);
        if state.id.get() == 0 {
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            state.id.set(id);
        }
        let deadline = ctx.as_ref().and_then(|c| c.deadline());
        let ticket = self.slot.push_ns(timeout_ns, deadline);
        /// Withdraws the call's frame from the watchdog's slot, also when `f`
        /// unwinds (declared before `Restore`, so it runs after it).
        struct Pop<'s>(&'s Slot, Ticket);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                self.0.pop(self.1);
            }
        }
        let pop = Pop(&self.slot, ticket);
        let scope = CallScope {
            bridge: self,
            state,
            ctx: ctx.map_or(std::ptr::null_mut(), |c| c as *mut EventContext),
            next,
            ticket,
            outer,
        };
        /// Makes the outer frame current again, also when `f` unwinds.
        struct Restore<'s, 'a>(&'s CallScope<'a>);
        impl Drop for Restore<'_, '_> {
            fn drop(&mut self) {
                self.0.leave();
            }
        }
        // The pointer is cleared by `Restore` before `scope` goes out of
        // scope, on every path; `Restore` is local to this function.
        self.current.set((&raw const scope).cast::<CallScope<'static>>());
        let restore = Restore(&scope);
        let result = f(&scope);
        drop(restore);
        let mut hit = self.hit.take();
        if hit.is_none()
            && self.slot.any_fired()
            && let Some(fired) = self.slot.fired()
            && fired.seq == scope.ticket.seq
        {
            hit = Some(self.expiry_hit(fired.why));
        }
        drop(pop);
        (result, hit)
    }

    /// Runs `f` on the innermost running call's scope (`None` when no call runs).
    #[inline]
    pub(crate) fn with_scope<R>(&self, f: impl FnOnce(&CallScope<'_>) -> R) -> Option<R> {
        let current = self.current.get();
        // SAFETY: `current` is null or points at the scope of a `Bridge::call`
        // that is still running (it resets the pointer before its scope is
        // dropped, also when unwinding), on this thread (the bridge is not
        // `Sync`). The reference cannot escape `f`.
        unsafe { current.as_ref() }.map(f)
    }

    /// The hit for this VM's frame whose own time is up.
    fn expiry_hit(&self, why: Expiry) -> LimitHit {
        match (why, self.limits.get().timeout) {
            (Expiry::OwnTimeout, Some(t)) => LimitHit::Timeout(t),
            _ => LimitHit::Deadline,
        }
    }

    /// Counts `work` instructions done by a library call for the running call
    /// (work a single C call does in proportion to its arguments, which the
    /// count hook does not see), then checks the caps like the hook does.
    pub(crate) fn charge(&self, work: u64) -> mlua::Result<()> {
        self.count(0, work)?;
        self.check_time()
    }

    /// Adds `ticks` hook ticks and `work` instructions to the running call and
    /// enforces the instruction cap.
    fn count(&self, ticks: u64, work: u64) -> mlua::Result<()> {
        if let Some(hit) = self.hit.get() {
            // Keep unwinding: the script caught the first error (pcall).
            return Err(limit_error(hit));
        }
        let limits = self.limits.get();
        let Some(max) = limits.max_ticks() else { return Ok(()) };
        let over = self.with_scope(|scope| {
            let state = scope.state;
            let ticks = state.ticks.get() + ticks;
            let charged = state.charged.get().saturating_add(work);
            state.ticks.set(ticks);
            state.charged.set(charged);
            ticks.saturating_add(charged / u64::from(crate::HOOK_INTERVAL)) > max
        });
        if over == Some(true) {
            let hit = LimitHit::Instructions(limits.instructions.unwrap_or_default());
            self.hit.set(Some(hit));
            return Err(limit_error(hit));
        }
        Ok(())
    }

    /// Wakes the watchdog if it sleeps while a timed frame runs (the backstop
    /// described in [`crate::watchdog`]); also done by [`Bridge::check_time`].
    #[inline]
    pub(crate) fn wake_idle_watchdog(&self) {
        self.slot.wake_idle_watchdog();
    }

    /// Stops the running call if the watchdog says its time (or an enclosing
    /// call's) is up: one atomic load unless it is. Called by the count hook,
    /// by library functions that can work long in one call, and when a
    /// middleware's `next` returns.
    #[inline]
    pub(crate) fn check_time(&self) -> mlua::Result<()> {
        self.slot.wake_idle_watchdog();
        if let Some(hit) = self.hit.get() {
            return Err(limit_error(hit));
        }
        if !self.slot.any_fired() {
            return Ok(());
        }
        self.check_time_slow()
    }

    #[cold]
    fn check_time_slow(&self) -> mlua::Result<()> {
        let Some(fired) = self.slot.fired() else { return Ok(()) };
        let Some(seq) = self.with_scope(|s| s.ticket.seq) else { return Ok(()) };
        let hit = match fired.seq.cmp(&seq) {
            std::cmp::Ordering::Equal => self.expiry_hit(fired.why),
            std::cmp::Ordering::Less => LimitHit::Enclosing,
            // A frame inside ours (not running now: we are).
            std::cmp::Ordering::Greater => return Ok(()),
        };
        self.hit.set(Some(hit));
        Err(limit_error(hit))
    }

    /// The identity of the innermost call.
    pub(crate) fn current_frame(&self) -> Option<u64> {
        self.with_scope(|s| s.state.id.get())
    }

    /// The innermost call's context, if a call is running and no Rust code
    /// holds a reference into it (the fast path of the root `ctx`).
    #[inline]
    pub(crate) fn current_ctx_ptr(&self) -> Option<*mut EventContext> {
        if self.busy.get() {
            return None;
        }
        self.with_scope(|s| s.ctx).filter(|p| !p.is_null())
    }

    /// Marks Rust code as holding a reference into the context (see `CallScope::with_ctx`).
    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy.set(busy);
    }

    /// Runs the innermost call's `next` (a middleware's `next(ctx)`): forgets
    /// the call's views and hands its memory account on with the context
    /// first (other code changes the context now), keeps the result for the
    /// middleware's return, and checks the call's time when it returns (time
    /// spent inside `next` counts against the middleware's own cap). Returns
    /// what Lua gets: `true`, or `false` and the message.
    pub(crate) fn run_next(&self) -> mlua::Result<(bool, Option<String>)> {
        // A check point: the inner chain may run long.
        self.wake_idle_watchdog();
        let reply = self.with_scope(|scope| {
            let (Some(next), false) = (scope.next, scope.ctx.is_null()) else {
                return Err("next() can only be called by the middleware it was given to, during its call".to_owned());
            };
            scope.with_ctx(Binding::Current, |ctx| {
                scope.before_next(ctx);
                // Inner calls use the context now (they start their own frames).
                self.busy.set(false);
                let result = next.run(ctx);
                let reply = match &result {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.message().to_owned())),
                };
                scope.state.next_result.set(Some(result));
                reply
            })
        });
        let reply = reply.unwrap_or_else(|| Err("next() called outside of a middleware call".to_owned()));
        let reply = reply.map_err(mlua::Error::runtime)?;
        self.check_time()?;
        Ok(reply)
    }

    /// Runs `f` on the context the binding refers to and the running call's views.
    pub(crate) fn with_views<R>(
        &self,
        binding: Binding,
        f: impl FnOnce(&mut EventContext, &mut Views) -> R,
    ) -> Result<R, String> {
        self.with_scope(|scope| {
            let mut views = scope.state.views.take().unwrap_or_default();
            let result = scope.with_ctx(binding, |ctx| f(ctx, &mut views));
            scope.state.views.set(Some(views));
            result
        })
        .unwrap_or_else(|| Err("ctx used outside of a handler or middleware call".to_owned()))
    }

    /// Runs `f` on the running call's side of the memory account (`None`
    /// when no call is running or when there is no memory cap).
    #[inline]
    fn with_memory<R>(&self, f: impl FnOnce(&mut CtxMemory, usize) -> R) -> Option<R> {
        let cap = self.limits.get().memory_bytes?;
        self.with_scope(|scope| {
            let mut memory = scope.state.memory.get();
            let result = f(&mut memory, cap);
            scope.state.memory.set(memory);
            result
        })
    }

    /// The bytes the running call may still add to `ctx` (no cap: `usize::MAX`).
    pub(crate) fn ctx_budget(&self, ctx: &EventContext) -> usize {
        self.with_memory(|m, cap| m.budget(ctx, cap)).unwrap_or(usize::MAX)
    }

    /// Charges the replacement of `old` bytes of `ctx` by `new` bytes; `false`
    /// (nothing recorded) if the context would then exceed the memory cap.
    // Always inlined: the root's fast `__newindex` calls it on every write
    // (left to LLVM it was outlined after the nested-view fast path was
    // added: +50 instructions per execution of the seed chain, ~25 of them
    // back this way; callgrind).
    // Written out rather than through `with_memory`: LLVM outlined that
    // closure once the root's `__newindex` grew the nested-view check (+27
    // instructions per execution of the seed chain; callgrind).
    #[inline(always)]
    pub(crate) fn charge_ctx(&self, ctx: &EventContext, old: usize, new: usize) -> bool {
        let Some(cap) = self.limits.get().memory_bytes else { return true };
        // SAFETY: as in `with_scope`: null or the scope of a running call on
        // this thread; the reference does not outlive this function.
        let Some(scope) = (unsafe { self.current.get().as_ref() }) else { return true };
        let mut memory = scope.state.memory.get();
        let fits = new <= old || memory.reserve(ctx, cap, new - old).is_ok();
        if fits {
            memory.record(ctx, old, new);
        }
        scope.state.memory.set(memory);
        fits
    }

    /// Makes sure `grow` more bytes fit in `ctx` under the memory cap (see
    /// [`crate::ctx_memory`]); `false` if they do not.
    pub(crate) fn reserve(&self, ctx: &EventContext, grow: usize) -> bool {
        self.with_memory(|m, cap| m.reserve(ctx, cap, grow).is_ok()).unwrap_or(true)
    }

    /// Records that `old` bytes of `ctx` were replaced by `new` bytes (already
    /// checked), and that the call now holds `kept` more and `released` fewer
    /// bytes of detached tables.
    pub(crate) fn record(&self, ctx: &EventContext, old: usize, new: usize, kept: usize, released: usize) {
        self.with_memory(|m, _| {
            m.record(ctx, old, new);
            m.hold(ctx, kept, released);
        });
    }

    /// Stops the running call: its writes to the context outgrew the memory cap.
    /// Returns the Lua error to raise.
    pub(crate) fn ctx_memory_exceeded(&self) -> mlua::Error {
        let hit = LimitHit::CtxMemory(self.limits.get().memory_bytes.unwrap_or_default());
        self.hit.set(Some(hit));
        limit_error(hit)
    }

    /// Counts a `coroutine.resume` inside the running ones: `false` (refused)
    /// beyond [`MAX_NESTED_RESUMES`]. Every resume nests the engine's C (and
    /// so the thread's) stack; LuaJIT has no bound of its own.
    pub(crate) fn enter_resume(&self) -> bool {
        let n = self.resumes.get();
        if n >= MAX_NESTED_RESUMES {
            return false;
        }
        self.resumes.set(n + 1);
        true
    }

    /// The resume counted by [`Bridge::enter_resume`] returned.
    pub(crate) fn leave_resume(&self) {
        self.resumes.set(self.resumes.get().saturating_sub(1));
    }

    /// `true` while the running call has hit a limit (it is being unwound).
    pub(crate) fn limit_hit(&self) -> bool {
        self.hit.get().is_some()
    }

    /// The count hook: enforces the instruction cap and the deadlines.
    pub(crate) fn tick(&self) -> mlua::Result<VmState> {
        self.count(1, 0)?;
        self.check_time()?;
        Ok(VmState::Continue)
    }
}

impl CallScope<'_> {
    /// Runs `f`, this call's Lua code on Lua thread `state`, with the VM's
    /// count hook on if the call needs it: always on a VM with caps of its
    /// own, else while a deadline runs on this thread (the context's, or an
    /// enclosing call's time cap), see [`crate::count_hook`].
    ///
    /// # Safety
    /// `state` is a live Lua thread of this call's VM, on the calling thread.
    #[inline(always)]
    pub(crate) unsafe fn run_lua<R>(&self, state: *mut mlua::ffi::lua_State, f: impl FnOnce() -> R) -> R {
        let bridge = self.bridge;
        // SAFETY: the caller's contract.
        unsafe { bridge.hook.around(state, || bridge.slot.timed(), f) }
    }

    /// Runs `f` on this call's context if `binding` refers to this call.
    fn with_ctx<R>(&self, binding: Binding, f: impl FnOnce(&mut EventContext) -> R) -> Result<R, String> {
        if let Binding::Frame(id) = binding
            && id != self.state.id.get()
        {
            return Err(
                "this value belongs to a call that is over (or to an outer call); read it again from ctx".to_owned()
            );
        }
        if self.ctx.is_null() {
            return Err("ctx is not available while the script is loading".to_owned());
        }
        let busy = &self.bridge.busy;
        if busy.replace(true) {
            return Err("ctx cannot be used re-entrantly (from a finalizer)".to_owned());
        }
        struct Release<'b>(&'b Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _release = Release(busy);
        // SAFETY: `ctx` comes from the `&mut EventContext` given to
        // `Bridge::call`, which borrows it until this scope is no longer
        // current. This scope is the innermost one (callers reach it through
        // `Bridge::with_scope`), so the Lua call is running and no Rust code
        // uses that borrow; `busy` rules out a second reference made by
        // re-entrant Lua code (finalizers) while `f` runs.
        Ok(f(unsafe { &mut *self.ctx }))
    }

    /// Before a middleware's `next` runs other code on the context: forgets
    /// the call's views and writes the memory account back into the context.
    fn before_next(&self, ctx: &mut EventContext) {
        self.state.before_next();
        self.settle(ctx);
    }

    /// Releases what the call held and writes its memory account back into `ctx`.
    fn settle(&self, ctx: &mut EventContext) {
        let mut memory = self.state.memory.get();
        if !memory.is_idle() {
            memory.release_held(ctx);
            memory.flush(ctx);
            self.state.memory.set(memory);
        }
    }

    /// The frame stops being current: the outer call's becomes current again
    /// and the memory account goes back to the context.
    fn leave(&self) {
        if !self.ctx.is_null() {
            // SAFETY: as in `with_ctx`: the call is over (or unwinding) and
            // the borrow `ctx` came from is alive until `Bridge::call` returns.
            self.settle(unsafe { &mut *self.ctx });
        }
        self.bridge.current.set(self.outer);
    }
}

/// The Lua error that unwinds a call stopped by `hit`.
pub(crate) fn limit_error(hit: LimitHit) -> mlua::Error {
    mlua::Error::runtime(hit.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` as a call of `bridge` on `ctx` and returns the limit hit.
    fn run(bridge: &Bridge, ctx: &mut EventContext, f: impl FnOnce()) -> Option<LimitHit> {
        bridge.call(&CallState::default(), Some(ctx), None, |_| f()).1
    }

    fn read(bridge: &Bridge, binding: Binding) -> Result<Option<i64>, String> {
        bridge.with_views(binding, |ctx, _| ctx.get::<i64>("a"))
    }

    #[test]
    fn scopes_nest_and_stale_bindings_are_refused() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        let mut inner_ctx = EventContext::new();
        assert!(read(&bridge, Binding::Current).is_err(), "no call runs");
        let outer_state = CallState::default();
        let (outer_id, _) = bridge.call(&outer_state, Some(&mut ctx), None, |_| {
            let outer_id = bridge.current_frame().expect("frame");
            bridge.with_views(Binding::Current, |c, _| c.set("a", 1)).expect("current");
            assert_eq!(read(&bridge, Binding::Frame(outer_id)), Ok(Some(1)));
            assert!(read(&bridge, Binding::Frame(outer_id + 100)).is_err());
            assert!(bridge.run_next().is_err(), "a handler has no next");
            // An inner call (say, an event run by a middleware's next) binds `Current` to its context.
            run(&bridge, &mut inner_ctx, || {
                assert_eq!(read(&bridge, Binding::Current), Ok(None));
                assert!(read(&bridge, Binding::Frame(outer_id)).is_err(), "not the innermost call");
            });
            assert_eq!(read(&bridge, Binding::Frame(outer_id)), Ok(Some(1)), "current again");
            outer_id
        });
        assert!(read(&bridge, Binding::Frame(outer_id)).is_err(), "over");
        assert_eq!(ctx.get::<i64>("a"), Some(1));
    }

    #[test]
    fn a_panicking_call_leaves_no_frame_behind() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bridge, &mut ctx, || panic!("x"))));
        assert!(unwound.is_err());
        assert!(bridge.current_frame().is_none());
        assert!(bridge.current_ctx_ptr().is_none());
    }

    /// A call that unwinds withdraws its frame from the watchdog too: no
    /// deadline of it stays published (it would keep the count hook on and
    /// could time out later calls on the thread).
    #[test]
    fn a_panicking_call_withdraws_its_watchdog_frame() {
        let bridge = Bridge::new(Limits { timeout: Some(Duration::from_secs(3600)), ..Limits::UNLIMITED });
        let mut ctx = EventContext::new();
        let depth = bridge.slot.depth();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&bridge, &mut ctx, || {
                assert_eq!(bridge.slot.depth(), depth + 1, "the frame is published");
                assert!(bridge.slot.timed());
                panic!("x")
            })
        }));
        assert!(unwound.is_err());
        assert_eq!(bridge.slot.depth(), depth, "the frame is withdrawn");
        assert!(!bridge.slot.timed(), "no deadline left on the thread");
    }

    #[test]
    fn a_call_state_carries_its_counts_over_entries() {
        // One call entered twice (as a coroutine is, per resume): its count goes on.
        let cap = 3 * u64::from(crate::HOOK_INTERVAL);
        let bridge = Bridge::new(Limits { instructions: Some(cap), ..Limits::UNLIMITED });
        let state = CallState::default();
        let mut ctx = EventContext::new();
        let (id, hit) = bridge.call(&state, Some(&mut ctx), None, |_| {
            assert!(bridge.tick().is_ok());
            assert!(bridge.tick().is_ok());
            bridge.current_frame()
        });
        assert_eq!(hit, None);
        let (again, hit) = bridge.call(&state, Some(&mut ctx), None, |_| {
            assert!(bridge.tick().is_ok());
            assert!(bridge.tick().is_err(), "the fourth tick of the same call");
            bridge.current_frame()
        });
        assert_eq!(id, again, "the same call");
        assert_eq!(hit, Some(LimitHit::Instructions(cap)));
        // A new call starts from zero.
        assert_eq!(run(&bridge, &mut ctx, || assert!(bridge.tick().is_ok())), None);
    }

    #[test]
    fn resumed_entries_add_up_their_running_time_against_the_cap() {
        // No watchdog involved: the cap is checked against the time run so far
        // when an entry starts, so the outcome does not depend on speed.
        let cap = Duration::from_secs(3600);
        let bridge = Bridge::new(Limits { timeout: Some(cap), ..Limits::UNLIMITED });
        let state = CallState::default();
        let mut ctx = EventContext::new();
        let mut ran = Duration::ZERO;
        let (first, hit) = bridge.resume(&state, &mut ctx, &mut ran, |_| {
            std::thread::sleep(Duration::from_millis(2));
            bridge.current_frame()
        });
        assert_eq!(hit, None);
        assert!(ran >= Duration::from_millis(2), "the entry's time is added: {ran:?}");
        // Time used up in earlier entries: the next one is stopped at its first check.
        ran = cap;
        let (again, hit) = bridge.resume(&state, &mut ctx, &mut ran, |_| {
            assert!(bridge.tick().is_err(), "no time left");
            bridge.current_frame()
        });
        assert_eq!(first, again, "the same call");
        assert_eq!(hit, Some(LimitHit::Timeout(cap)));
        // Cancelling stops the running call like a limit.
        let (error, hit) = bridge.call(&state, Some(&mut ctx), None, |_| bridge.stop(LimitHit::Cancelled));
        assert_eq!(hit, Some(LimitHit::Cancelled));
        assert_eq!(error.to_string(), limit_error(LimitHit::Cancelled).to_string());
        // A new call has the whole cap.
        assert_eq!(run(&bridge, &mut ctx, || assert!(bridge.tick().is_ok())), None);
    }

    #[test]
    fn instruction_limit_trips_and_is_cleared_when_the_call_ends() {
        let cap = 2 * u64::from(crate::HOOK_INTERVAL);
        let bridge = Bridge::new(Limits { instructions: Some(cap), ..Limits::UNLIMITED });
        let mut ctx = EventContext::new();
        let hit = run(&bridge, &mut ctx, || {
            assert!(bridge.tick().is_ok());
            assert!(bridge.tick().is_ok());
            assert!(bridge.tick().is_err());
            assert!(bridge.limit_hit());
            assert!(bridge.tick().is_err(), "keeps failing until the call ends");
        });
        assert_eq!(hit, Some(LimitHit::Instructions(cap)));
        assert!(!bridge.limit_hit());
    }

    #[test]
    fn context_deadline_is_honoured() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(Instant::now()));
        let hit = run(&bridge, &mut ctx, || {
            let start = Instant::now();
            // The watchdog flags the frame at its next scan (30 s: a hang detector only).
            while bridge.tick().is_ok() {
                assert!(start.elapsed() < Duration::from_secs(30), "the deadline was never enforced");
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert_eq!(hit, Some(LimitHit::Deadline));
    }

    #[test]
    fn a_call_that_ends_after_its_time_is_up_still_reports_the_timeout() {
        let bridge = Bridge::new(Limits { timeout: Some(Duration::from_millis(1)), ..Limits::UNLIMITED });
        let mut ctx = EventContext::new();
        let hit = run(&bridge, &mut ctx, || {
            let start = Instant::now();
            while !bridge.slot.any_fired() {
                assert!(start.elapsed() < Duration::from_secs(30), "the timeout was never enforced");
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert_eq!(hit, Some(LimitHit::Timeout(Duration::from_millis(1))));
        assert!(!bridge.slot.any_fired(), "the flag goes with the frame");
    }

    #[test]
    fn an_enclosing_frames_expiry_stops_the_inner_call_and_then_the_outer_one() {
        let bridge = Bridge::new(Limits { timeout: Some(Duration::from_millis(1)), ..Limits::UNLIMITED });
        let inner_vm = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        let mut inner_ctx = EventContext::new();
        let outer = run(&bridge, &mut ctx, || {
            let inner = run(&inner_vm, &mut inner_ctx, || {
                let start = Instant::now();
                while inner_vm.check_time().is_ok() {
                    assert!(start.elapsed() < Duration::from_secs(30), "the timeout was never enforced");
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            assert_eq!(inner, Some(LimitHit::Enclosing));
            assert!(bridge.check_time().is_err(), "the outer call stops as soon as control is back");
        });
        assert_eq!(outer, Some(LimitHit::Timeout(Duration::from_millis(1))));
    }
}
