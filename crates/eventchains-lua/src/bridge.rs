//! The per-VM bridge between Lua code and the chain's [`EventContext`].
//!
//! Each Lua call (a handler or a middleware) runs inside a [`Frame`] that
//! holds a pointer to the `&mut EventContext` it was given. The frame is pushed
//! right before the call and popped right after it (by [`FrameGuard`]'s `Drop`),
//! so the pointer is only ever dereferenced while the borrow it came from is
//! alive. Frames form a stack because a Lua middleware's `next` runs the inner
//! middleware and the event (possibly Lua again) inside its own call.
//!
//! The bridge also enforces the per-call limits: the VM's count hook calls
//! [`Bridge::tick`] every [`HOOK_INTERVAL`](crate::HOOK_INTERVAL) instructions
//! (on Luau, the VM interrupt calls it at every function call and loop
//! iteration). Wall-clock time is watched by [`crate::watchdog`]: every frame
//! is published in the thread's [`Slot`] and [`Bridge::check_time`] (one
//! atomic load) stops the running call once the watchdog says its time, or an
//! enclosing call's, is up.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventchains_core::{EventContext, EventError, EventResult, Map, Next};
use mlua::VmState;

use crate::ctx_memory::CtxMemory;
use crate::limits::{Limits, describe_bytes};
use crate::views::Views;
use crate::watchdog::{Expiry, Slot, Ticket, thread_slot};

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

/// How many recently used context keys the fast path remembers.
const KEY_SLOTS: usize = 32;

/// Where a key is in a context map.
pub(crate) enum KeyLookup {
    /// At this index.
    Found(usize),
    /// Not in the map (the key is valid UTF-8).
    Missing,
    /// The key is not valid UTF-8 (it cannot be in the map).
    NotUtf8,
}

/// One running Lua call.
struct Frame {
    id: u64,
    ctx: *mut EventContext,
    /// The rest of the stack, for a middleware's `next` (lifetime erased, see [`Bridge::enter`]).
    next: Option<Next<'static>>,
    /// The result of the last `next` call of this middleware frame.
    next_result: Option<EventResult>,
    ticks: u64,
    /// Work done by library calls ([`Bridge::charge`]), in instructions.
    charged: u64,
    /// The call's side of the context's memory account.
    memory: CtxMemory,
    /// Identities of the tables the call read out of the context.
    /// (Boxed on first use: most calls read no nested table, and a frame is
    /// moved on every push and pop.)
    views: Option<Box<Views>>,
    /// The frame as published to the watchdog.
    ticket: Ticket,
}

/// What a finished frame leaves behind.
pub(crate) struct FrameOutcome {
    /// The limit that stopped the call, if one did.
    pub(crate) hit: Option<LimitHit>,
    /// The result of the middleware's last `next` call, if it made one.
    pub(crate) next_result: Option<EventResult>,
}

/// The per-VM state shared by the context proxies, `next` and the limit hook.
pub(crate) struct Bridge {
    frames: RefCell<Vec<Frame>>,
    next_id: Cell<u64>,
    hit: Cell<Option<LimitHit>>,
    /// Set while Rust code holds a reference into the context (guards against
    /// finalizers re-entering the proxy during an allocation).
    busy: Cell<bool>,
    limits: Cell<Limits>,
    /// This thread's frames as the watchdog sees them (VMs never change threads).
    slot: Arc<Slot>,
    /// Lua string pointer -> index of that key in the last context map it was
    /// found in. Scripts use the same key strings (interned constants) on
    /// every execution, and contexts of one chain usually have the same key
    /// order, so this skips hashing; every hit is verified by comparing keys.
    key_slots: [Cell<(usize, usize)>; KEY_SLOTS],
    /// Coroutines resumed inside one another by the running execution (see
    /// [`Bridge::enter_resume`]); reset when an outermost call starts.
    resumes: Cell<u32>,
}

impl Bridge {
    pub(crate) fn new(limits: Limits) -> Self {
        Bridge {
            frames: RefCell::new(Vec::with_capacity(8)),
            next_id: Cell::new(1),
            hit: Cell::new(None),
            busy: Cell::new(false),
            limits: Cell::new(limits),
            slot: thread_slot(),
            key_slots: std::array::from_fn(|_| Cell::new((0, 0))),
            resumes: Cell::new(0),
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.limits.get()
    }

    /// Replaces the limits (the first VM learns the script's own limits after loading it).
    pub(crate) fn set_limits(&self, limits: Limits) {
        self.limits.set(limits);
    }

    /// Pushes a frame for a call on `ctx` (and `next`, for a middleware).
    ///
    /// The returned guard pops the frame when dropped; it borrows `ctx` for its
    /// whole life, which is what makes the stored pointer valid.
    pub(crate) fn enter<'a>(&'a self, ctx: &'a mut EventContext, next: Option<Next<'a>>) -> FrameGuard<'a> {
        // SAFETY: only the lifetime changes. The frame (and with it this copy
        // of `next`) is removed by the guard's `Drop`, before `'a` ends, and is
        // never handed out beyond a single `next` call made during the frame.
        let next = next.map(|n| unsafe { std::mem::transmute::<Next<'a>, Next<'static>>(n) });
        let deadline = ctx.deadline();
        let id = self.push(ctx as *mut EventContext, next, deadline);
        FrameGuard { bridge: self, id, _ctx: PhantomData }
    }

    /// A frame without a context, for running the script's top-level code under the limits.
    pub(crate) fn enter_load(&self) -> LoadGuard<'_> {
        let id = self.push(std::ptr::null_mut(), None, None);
        LoadGuard { bridge: self, id }
    }

    fn push(&self, ctx: *mut EventContext, next: Option<Next<'static>>, deadline: Option<Instant>) -> u64 {
        let id = self.new_id();
        self.push_frame(self.limits.get().timeout, deadline, |ticket| Frame {
            id,
            ctx,
            next,
            next_result: None,
            ticks: 0,
            charged: 0,
            memory: CtxMemory::default(),
            views: None,
            ticket,
        });
        id
    }

    fn new_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Publishes a frame with time cap `timeout` and pushes the frame `make`
    /// builds with its ticket.
    // Always inlined, and the frame built by a closure: the frame is then
    // built in place (moving a built frame in cost ~60 instructions per call
    // of the seed chain, callgrind).
    #[inline(always)]
    fn push_frame(&self, timeout: Option<Duration>, deadline: Option<Instant>, make: impl FnOnce(Ticket) -> Frame) {
        // A Lua error (e.g. out of memory) raised while `busy` was set skips
        // its reset; no reference into a context can outlive a call boundary.
        self.busy.set(false);
        if self.frames.borrow().is_empty() {
            // A limit error can unwind past a `leave_resume`: no count survives an execution.
            self.resumes.set(0);
        }
        let ticket = self.slot.push(timeout, deadline);
        self.frames.borrow_mut().push(make(ticket));
    }

    fn pop(&self, id: u64) -> FrameOutcome {
        self.pop_frame(id, |mut frame, hit| {
            if let Some(f) = frame.as_mut()
                && !f.ctx.is_null()
                && self.limits.get().memory_bytes.is_some()
            {
                // SAFETY: the frame's guard is being finished or dropped: the
                // borrow the pointer came from is alive and the Lua call is over.
                let ctx = unsafe { &mut *f.ctx };
                f.memory.release_held(ctx);
                f.memory.flush(ctx);
            }
            FrameOutcome { hit, next_result: frame.and_then(|f| f.next_result) }
        })
    }

    /// Pops the innermost frame (`id`), withdraws it from the watchdog, and
    /// hands it to `f` with the limit that stopped it, if one did.
    // Always inlined, the frame handed to a closure: returning it moved it once more.
    #[inline(always)]
    fn pop_frame<R>(&self, id: u64, f: impl FnOnce(Option<Frame>, Option<LimitHit>) -> R) -> R {
        let frame = {
            let mut frames = self.frames.borrow_mut();
            debug_assert_eq!(frames.last().map(|f| f.id), Some(id), "frames are strictly nested");
            frames.pop()
        };
        let mut hit = self.hit.take();
        if let Some(frame) = &frame {
            // A call that finished after its time was up (long C work at its
            // end) overran its cap all the same.
            if hit.is_none()
                && self.slot.any_fired()
                && let Some(fired) = self.slot.fired()
                && fired.seq == frame.ticket.seq
            {
                hit = Some(self.expiry_hit(fired.why));
            }
            self.slot.pop(frame.ticket);
        }
        f(frame, hit)
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
        let mut frames = self.frames.borrow_mut();
        let Some(frame) = frames.last_mut() else { return Ok(()) };
        frame.ticks += ticks;
        frame.charged = frame.charged.saturating_add(work);
        if frame.ticks.saturating_add(frame.charged / u64::from(crate::HOOK_INTERVAL)) > max {
            let hit = LimitHit::Instructions(limits.instructions.unwrap_or_default());
            self.hit.set(Some(hit));
            return Err(limit_error(hit));
        }
        Ok(())
    }

    /// Stops the running call if the watchdog says its time (or an enclosing
    /// call's) is up: one atomic load unless it is. Called by the count hook,
    /// by library functions that can work long in one call, and when a
    /// middleware's `next` returns.
    #[inline]
    pub(crate) fn check_time(&self) -> mlua::Result<()> {
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
        let Some(seq) = self.frames.borrow().last().map(|f| f.ticket.seq) else { return Ok(()) };
        let hit = match fired.seq.cmp(&seq) {
            std::cmp::Ordering::Equal => self.expiry_hit(fired.why),
            std::cmp::Ordering::Less => LimitHit::Enclosing,
            // A frame inside ours (not running now: we are).
            std::cmp::Ordering::Greater => return Ok(()),
        };
        self.hit.set(Some(hit));
        Err(limit_error(hit))
    }

    /// The id of the innermost frame.
    pub(crate) fn current_frame(&self) -> Option<u64> {
        self.frames.borrow().last().map(|f| f.id)
    }

    /// Runs `f` on the context the binding refers to.
    ///
    /// Errors (as Lua error messages) when no call is running, when the proxy
    /// belongs to a call that is over, or when re-entered from a finalizer.
    pub(crate) fn with_ctx<R>(&self, binding: Binding, f: impl FnOnce(&mut EventContext) -> R) -> Result<R, String> {
        let ptr = {
            let frames = self.frames.borrow();
            match (frames.last(), binding) {
                (None, _) => return Err("ctx used outside of a handler or middleware call".to_owned()),
                (Some(top), Binding::Frame(id)) if top.id != id => {
                    return Err("this value belongs to a call that is over (or to an outer call); \
                                read it again from ctx"
                        .to_owned());
                }
                (Some(top), _) => top.ctx,
            }
        };
        if ptr.is_null() {
            return Err("ctx is not available while the script is loading".to_owned());
        }
        if self.busy.replace(true) {
            return Err("ctx cannot be used re-entrantly (from a finalizer)".to_owned());
        }
        struct Release<'b>(&'b Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _release = Release(&self.busy);
        // SAFETY: `ptr` comes from the `&mut EventContext` of the innermost
        // frame, whose guard keeps that borrow alive until the frame is popped.
        // While the frame is the innermost one, no Rust code uses that borrow
        // (the Lua call is running), and `busy` rules out a second reference
        // made by re-entrant Lua code (finalizers) while `f` runs.
        Ok(f(unsafe { &mut *ptr }))
    }

    /// The innermost frame's context, if a call is running and no Rust code
    /// holds a reference into it (the fast path of the root `ctx`).
    pub(crate) fn current_ctx_ptr(&self) -> Option<*mut EventContext> {
        if self.busy.get() {
            return None;
        }
        let frames = self.frames.try_borrow().ok()?;
        frames.last().map(|f| f.ctx).filter(|p| !p.is_null())
    }

    /// Finds `key` (the bytes of the Lua string at `key_ptr`) in `map`.
    pub(crate) fn find_key(&self, map: &Map, key_ptr: *const u8, key: &[u8]) -> KeyLookup {
        let slot = &self.key_slots[(key_ptr as usize >> 4) % KEY_SLOTS];
        let (ptr, index) = slot.get();
        if ptr == key_ptr as usize
            && let Some((k, _)) = map.get_index(index)
            && k.as_bytes() == key
        {
            return KeyLookup::Found(index);
        }
        let Ok(text) = std::str::from_utf8(key) else { return KeyLookup::NotUtf8 };
        match map.get_index_of(text) {
            Some(index) => {
                slot.set((key_ptr as usize, index));
                KeyLookup::Found(index)
            }
            None => KeyLookup::Missing,
        }
    }

    /// Remembers that the key at `key_ptr` is at `index`.
    pub(crate) fn remember_key(&self, key_ptr: *const u8, index: usize) {
        self.key_slots[(key_ptr as usize >> 4) % KEY_SLOTS].set((key_ptr as usize, index));
    }

    /// Marks Rust code as holding a reference into the context (see [`Bridge::with_ctx`]).
    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy.set(busy);
    }

    /// The context and `next` of the innermost frame, for a middleware's `next(ctx)`.
    pub(crate) fn next_of_current(&self) -> Result<(*mut EventContext, Next<'static>), String> {
        let frames = self.frames.borrow();
        match frames.last() {
            Some(Frame { ctx, next: Some(next), .. }) if !ctx.is_null() => Ok((*ctx, *next)),
            _ => Err("next() can only be called by the middleware it was given to, during its call".to_owned()),
        }
    }

    /// Records the result of a `next` call in the innermost frame.
    pub(crate) fn record_next_result(&self, result: EventResult) {
        if let Some(frame) = self.frames.borrow_mut().last_mut() {
            frame.next_result = Some(result);
        }
    }

    /// Runs `f` on the context the binding refers to and the running call's views.
    pub(crate) fn with_views<R>(
        &self,
        binding: Binding,
        f: impl FnOnce(&mut EventContext, &mut Views) -> R,
    ) -> Result<R, String> {
        let mut views = match self.frames.try_borrow_mut() {
            Ok(mut frames) => frames.last_mut().and_then(|top| top.views.take()).unwrap_or_default(),
            Err(_) => return Err("ctx cannot be used re-entrantly".to_owned()),
        };
        let result = self.with_ctx(binding, |ctx| f(ctx, &mut views));
        if let Ok(mut frames) = self.frames.try_borrow_mut()
            && let Some(top) = frames.last_mut()
        {
            top.views = Some(views);
        }
        result
    }

    /// Runs `f` on the running call's side of the memory account (`None`
    /// when no call is running or when there is no memory cap).
    fn with_memory<R>(&self, f: impl FnOnce(&mut CtxMemory, usize) -> R) -> Option<R> {
        let cap = self.limits.get().memory_bytes?;
        let mut frames = self.frames.try_borrow_mut().ok()?;
        frames.last_mut().map(|top| f(&mut top.memory, cap))
    }

    /// The bytes the running call may still add to `ctx` (no cap: `usize::MAX`).
    pub(crate) fn ctx_budget(&self, ctx: &EventContext) -> usize {
        self.with_memory(|m, cap| m.budget(ctx, cap)).unwrap_or(usize::MAX)
    }

    /// Charges the replacement of `old` bytes of `ctx` by `new` bytes; `false`
    /// (nothing recorded) if the context would then exceed the memory cap.
    pub(crate) fn charge_ctx(&self, ctx: &EventContext, old: usize, new: usize) -> bool {
        self.with_memory(|m, cap| {
            if new > old && m.reserve(ctx, cap, new - old).is_err() {
                return false;
            }
            m.record(ctx, old, new);
            true
        })
        .unwrap_or(true)
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

    /// Before a middleware's `next` runs other code on the context: forgets
    /// the call's views and writes the memory account back into the context.
    pub(crate) fn before_next(&self, ctx: &mut EventContext) {
        if let Ok(mut frames) = self.frames.try_borrow_mut()
            && let Some(top) = frames.last_mut()
        {
            if let Some(views) = top.views.as_mut() {
                views.reset();
            }
            if self.limits.get().memory_bytes.is_some() {
                top.memory.release_held(ctx);
                top.memory.flush(ctx);
            }
        }
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

/// A call that runs as a coroutine (async executions), between two resumes:
/// what its frame holds while it is not the running call.
///
/// The frame is pushed only while the coroutine runs ([`Bridge::resume_scope`])
/// and popped when it yields, so several calls of one VM can be in flight on
/// a thread and each sees its own `ctx` while it runs. The frame keeps its id
/// across resumes (views it handed out stay valid), and its instruction count,
/// memory account and time run on over the whole call.
pub(crate) struct Suspended {
    id: u64,
    ticks: u64,
    charged: u64,
    memory: CtxMemory,
    views: Option<Box<Views>>,
    next_result: Option<EventResult>,
    /// A limit hit while it ran (raised again as soon as it resumes).
    hit: Option<LimitHit>,
    /// Time it has run so far, summed over its resumes (not time spent waiting).
    ran: Duration,
}

impl Suspended {
    /// Before the middleware's `next` runs other code on `ctx` (this call's
    /// context): what [`Bridge::before_next`] does for a synchronous `next`.
    pub(crate) fn before_next(&mut self, bridge: &Bridge, ctx: &mut EventContext) {
        if let Some(views) = self.views.as_mut() {
            views.reset();
        }
        if bridge.limits.get().memory_bytes.is_some() {
            self.memory.release_held(ctx);
            self.memory.flush(ctx);
        }
    }

    /// Records the result of the middleware's `next`.
    pub(crate) fn set_next_result(&mut self, result: EventResult) {
        self.next_result = Some(result);
    }
}

impl Bridge {
    /// The state of a new call that will run as a coroutine.
    pub(crate) fn new_suspended(&self) -> Suspended {
        Suspended {
            id: self.new_id(),
            ticks: 0,
            charged: 0,
            memory: CtxMemory::default(),
            views: None,
            next_result: None,
            hit: None,
            ran: Duration::ZERO,
        }
    }

    /// Runs `f` (exactly one resume of `call`'s coroutine) with `call` as the
    /// running call on `ctx`. Its wall-clock cap is what is left of the VM's
    /// time cap after the time it ran so far. When `f` returns
    /// [`ResumeExit::Suspend`] (or unwinds) the frame is saved back into
    /// `call`; on [`ResumeExit::Finish`] it is popped for good, as a
    /// synchronous call's frame is, and its outcome returned.
    pub(crate) fn with_resumed<R>(
        &self,
        ctx: &mut EventContext,
        call: &mut Suspended,
        f: impl FnOnce() -> (R, ResumeExit),
    ) -> (R, Option<FrameOutcome>) {
        let deadline = ctx.deadline();
        let timeout = self.limits.get().timeout.map(|t| t.saturating_sub(call.ran));
        if let Some(hit) = call.hit.take() {
            self.hit.set(Some(hit));
        } else if timeout == Some(Duration::ZERO)
            && let Some(t) = self.limits.get().timeout
        {
            self.hit.set(Some(LimitHit::Timeout(t)));
        }
        self.push_frame(timeout, deadline, |ticket| Frame {
            id: call.id,
            ctx: ctx as *mut EventContext,
            next: None,
            next_result: call.next_result.take(),
            ticks: call.ticks,
            charged: call.charged,
            memory: std::mem::take(&mut call.memory),
            views: call.views.take(),
            ticket,
        });
        let mut scope = ResumeScope { bridge: self, call, started: Instant::now(), finished: false };
        // `scope` is dropped on every path (also when `f` unwinds): the frame
        // never outlives this function, and so never the borrow of `ctx`.
        let (r, exit) = f();
        let outcome = match exit {
            ResumeExit::Suspend => None,
            ResumeExit::Finish => {
                scope.finished = true;
                Some(self.pop(scope.call.id))
            }
        };
        drop(scope);
        (r, outcome)
    }

    /// Stops the running call with `hit` (e.g. its execution was cancelled).
    /// Returns the Lua error to raise; like every limit, it cannot be caught.
    pub(crate) fn stop(&self, hit: LimitHit) -> mlua::Error {
        self.hit.set(Some(hit));
        limit_error(hit)
    }
}

/// How a resume ended (see [`Bridge::with_resumed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResumeExit {
    /// The coroutine yielded: the call goes on later.
    Suspend,
    /// The coroutine ended (returned or raised).
    Finish,
}

/// The running call of a coroutine, during one resume (see [`Bridge::with_resumed`]).
struct ResumeScope<'a> {
    bridge: &'a Bridge,
    call: &'a mut Suspended,
    started: Instant,
    finished: bool,
}

impl Drop for ResumeScope<'_> {
    /// Unless the call finished, it is suspended: its frame is saved.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let call = &mut *self.call;
        call.ran = call.ran.saturating_add(self.started.elapsed());
        self.bridge.pop_frame(call.id, |frame, hit| {
            call.hit = hit;
            if let Some(f) = frame {
                call.ticks = f.ticks;
                call.charged = f.charged;
                call.memory = f.memory;
                call.views = f.views;
                call.next_result = f.next_result;
            }
        });
    }
}

/// The Lua error that unwinds a call stopped by `hit`.
pub(crate) fn limit_error(hit: LimitHit) -> mlua::Error {
    mlua::Error::runtime(hit.describe())
}

/// Pops its frame when dropped (also on unwinding).
pub(crate) struct FrameGuard<'a> {
    bridge: &'a Bridge,
    id: u64,
    _ctx: PhantomData<&'a mut EventContext>,
}

impl FrameGuard<'_> {
    /// Pops the frame and returns what it left behind.
    pub(crate) fn finish(self) -> FrameOutcome {
        let outcome = self.bridge.pop(self.id);
        std::mem::forget(self);
        outcome
    }
}

impl Drop for FrameGuard<'_> {
    fn drop(&mut self) {
        let _ = self.bridge.pop(self.id);
    }
}

/// The frame of a script's top-level code (no context).
pub(crate) struct LoadGuard<'a> {
    bridge: &'a Bridge,
    id: u64,
}

impl LoadGuard<'_> {
    /// Pops the frame and returns the limit hit, if any.
    pub(crate) fn finish(self) -> Option<LimitHit> {
        let outcome = self.bridge.pop(self.id);
        std::mem::forget(self);
        outcome.hit
    }
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        let _ = self.bridge.pop(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_nest_and_stale_bindings_are_refused() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        assert!(bridge.with_ctx(Binding::Current, |_| ()).is_err());
        let outer = bridge.enter(&mut ctx, None);
        let outer_id = bridge.current_frame().expect("frame");
        bridge.with_ctx(Binding::Current, |c| c.set("a", 1)).expect("current");
        assert!(bridge.with_ctx(Binding::Frame(outer_id), |_| ()).is_ok());
        assert!(bridge.with_ctx(Binding::Frame(outer_id + 100), |_| ()).is_err());
        assert!(bridge.next_of_current().is_err());
        outer.finish();
        assert!(bridge.with_ctx(Binding::Frame(outer_id), |_| ()).is_err());
        assert_eq!(ctx.get::<i64>("a"), Some(1));
    }

    #[test]
    fn instruction_limit_trips_and_is_cleared_on_pop() {
        let cap = 2 * u64::from(crate::HOOK_INTERVAL);
        let bridge = Bridge::new(Limits { instructions: Some(cap), ..Limits::UNLIMITED });
        let mut ctx = EventContext::new();
        let guard = bridge.enter(&mut ctx, None);
        assert!(bridge.tick().is_ok());
        assert!(bridge.tick().is_ok());
        assert!(bridge.tick().is_err());
        assert!(bridge.limit_hit());
        assert!(bridge.tick().is_err(), "keeps failing until the frame is popped");
        assert_eq!(guard.finish().hit, Some(LimitHit::Instructions(cap)));
        assert!(!bridge.limit_hit());
    }

    #[test]
    fn key_slots_are_verified_and_survive_index_shifts() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut map = Map::default();
        map.insert("a".into(), eventchains_core::Value::Int(1));
        map.insert("b".into(), eventchains_core::Value::Int(2));
        let b_ptr = "b".as_ptr();
        assert!(matches!(bridge.find_key(&map, b_ptr, b"b"), KeyLookup::Found(1)));
        assert!(matches!(bridge.find_key(&map, b_ptr, b"b"), KeyLookup::Found(1)), "cached");
        map.shift_remove("a");
        assert!(matches!(bridge.find_key(&map, b_ptr, b"b"), KeyLookup::Found(0)), "stale slot re-resolved");
        assert!(matches!(bridge.find_key(&map, "zz".as_ptr(), b"zz"), KeyLookup::Missing));
        assert!(matches!(bridge.find_key(&map, "x".as_ptr(), &[0xff]), KeyLookup::NotUtf8));
        // A slot pointing at another key with the same pointer is not trusted.
        bridge.remember_key(b_ptr, 0);
        map.insert("c".into(), eventchains_core::Value::Int(3));
        map.swap_indices(0, 1);
        assert!(matches!(bridge.find_key(&map, b_ptr, b"b"), KeyLookup::Found(1)));
    }

    #[test]
    fn context_deadline_is_honoured() {
        let bridge = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(Instant::now()));
        let guard = bridge.enter(&mut ctx, None);
        let start = Instant::now();
        // The watchdog flags the frame at its next scan (30 s: a hang detector only).
        while bridge.tick().is_ok() {
            assert!(start.elapsed() < Duration::from_secs(30), "the deadline was never enforced");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(guard.finish().hit, Some(LimitHit::Deadline));
    }

    #[test]
    fn a_call_that_ends_after_its_time_is_up_still_reports_the_timeout() {
        let bridge = Bridge::new(Limits { timeout: Some(Duration::from_millis(1)), ..Limits::UNLIMITED });
        let mut ctx = EventContext::new();
        let guard = bridge.enter(&mut ctx, None);
        let start = Instant::now();
        while !bridge.slot.any_fired() {
            assert!(start.elapsed() < Duration::from_secs(30), "the timeout was never enforced");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(guard.finish().hit, Some(LimitHit::Timeout(Duration::from_millis(1))));
        assert!(!bridge.slot.any_fired(), "the flag goes with the frame");
    }

    #[test]
    fn an_enclosing_frames_expiry_stops_the_inner_call_and_then_the_outer_one() {
        let bridge = Bridge::new(Limits { timeout: Some(Duration::from_millis(1)), ..Limits::UNLIMITED });
        let inner_vm = Bridge::new(Limits::UNLIMITED);
        let mut ctx = EventContext::new();
        let mut inner_ctx = EventContext::new();
        let outer = bridge.enter(&mut ctx, None);
        let inner = inner_vm.enter(&mut inner_ctx, None);
        let start = Instant::now();
        while inner_vm.check_time().is_ok() {
            assert!(start.elapsed() < Duration::from_secs(30), "the timeout was never enforced");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(inner.finish().hit, Some(LimitHit::Enclosing));
        assert!(bridge.check_time().is_err(), "the outer call stops as soon as control is back");
        assert_eq!(outer.finish().hit, Some(LimitHit::Timeout(Duration::from_millis(1))));
    }
}
