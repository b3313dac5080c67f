//! [`AsyncCalls`]: what a VM knows about the coroutine it is resuming for an
//! async execution, and what that coroutine asked for when it yielded.
//!
//! In an async execution every Lua handler and middleware runs as a coroutine
//! (see [`crate::coroutine_exec`]). A coroutine never awaits anything itself:
//! an async host function (or a middleware's `next`) records a [`Request`]
//! here and yields the [`REQUEST`] marker; the Rust side that resumed it takes
//! the request, awaits it outside of Lua (where the context and the chain's
//! `Next` are ordinary borrows), and resumes the coroutine with the result.
//! So no future that borrows the context ever lives in the Lua heap, and a
//! dropped execution leaves nothing behind that Lua could run later.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use mlua::{Lua, MultiValue, VmState};

use crate::bridge::{Bridge, LimitHit};

/// The values an awaited host function produced, converted in the VM when
/// the coroutine is resumed (`Err`: the message of the Lua error to raise).
pub(crate) type HostOutput = Result<Box<dyn FnOnce(&Lua) -> mlua::Result<MultiValue>>, String>;

/// An async host function's pending call.
pub(crate) type HostFuture = Pin<Box<dyn Future<Output = HostOutput>>>;

/// What a coroutine yielded for.
pub(crate) enum Request {
    /// The result of an async host function.
    Host {
        /// The function's name (for errors).
        name: Rc<str>,
        /// Its pending call.
        future: HostFuture,
    },
    /// A middleware's `next(ctx)`.
    Next,
}

/// The value a coroutine yields when it made a [`Request`] (a light userdata
/// scripts cannot forge: they cannot create light userdata).
pub(crate) static REQUEST: u8 = 0;

/// The [`REQUEST`] marker as a Lua value.
pub(crate) fn request_marker() -> mlua::LightUserData {
    mlua::LightUserData(std::ptr::addr_of!(REQUEST).cast_mut().cast::<c_void>())
}

/// Hook ticks (of [`crate::HOOK_INTERVAL`] instructions, 10,000 in all) an
/// async call runs before the hook yields it to the other executions of its
/// thread. Engines whose hook can yield: Lua 5.4 and 5.5 (count hook) and
/// Luau (its interrupt; there a tick is a call or a loop iteration, so a slice
/// is 10,000 of those). LuaJIT cannot yield from a hook.
pub(crate) const TICKS_PER_SLICE: u32 = 10_000 / crate::HOOK_INTERVAL;

/// Whether the hook can yield an async call (see [`TICKS_PER_SLICE`]).
const HOOK_YIELDS: bool = cfg!(any(feature = "lua54", feature = "lua55", feature = "luau"));

/// A VM's async state: the coroutine being resumed and its request.
#[derive(Default)]
pub(crate) struct AsyncCalls {
    /// The Lua state of the coroutine being resumed (null: none is).
    running: Cell<usize>,
    /// What it asked for when it yielded.
    request: RefCell<Option<Request>>,
    /// Whether its execution was cancelled (set for the duration of a resume).
    cancel: RefCell<Option<Rc<dyn Fn() -> bool>>>,
    /// Hook ticks since it was last resumed.
    ticks: Cell<u32>,
    /// Finished coroutines, for reuse.
    pool: RefCell<Vec<mlua::Thread>>,
}

impl AsyncCalls {
    /// Runs `f` (one resume) with the coroutine of state `thread` as the running one.
    pub(crate) fn resuming<R>(
        &self,
        thread: *mut mlua::ffi::lua_State,
        cancel: Option<Rc<dyn Fn() -> bool>>,
        f: impl FnOnce() -> R,
    ) -> R {
        struct Reset<'a>(&'a AsyncCalls, usize);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.running.set(self.1);
                self.0.cancel.replace(None);
            }
        }
        let outer = self.running.replace(thread as usize);
        self.cancel.replace(cancel);
        self.ticks.set(0);
        let _reset = Reset(self, outer);
        f()
    }

    /// Whether the Lua code calling an async function runs in the coroutine
    /// being resumed (not in a coroutine the script created, not in a
    /// synchronous call).
    pub(crate) fn is_running(&self, lua: &Lua) -> bool {
        let running = self.running.get();
        running != 0 && lua.current_thread().state() as usize == running
    }

    /// A finished coroutine to reuse, if one is kept.
    pub(crate) fn take_thread(&self) -> Option<mlua::Thread> {
        self.pool.borrow_mut().pop()
    }

    /// Keeps a finished coroutine for reuse (at most `max`).
    pub(crate) fn put_thread(&self, thread: mlua::Thread, max: usize) {
        let mut pool = self.pool.borrow_mut();
        if pool.len() < max {
            pool.push(thread);
        }
    }

    /// Records what the running coroutine yields for.
    pub(crate) fn set_request(&self, request: Request) {
        self.request.replace(Some(request));
    }

    /// Takes what the coroutine yielded for (`None`: a plain yield).
    pub(crate) fn take_request(&self) -> Option<Request> {
        self.request.take()
    }

    /// The part of the count hook for async calls: stops a cancelled
    /// execution, and yields a long-running one to the other executions of
    /// the thread now and then. Costs one load when no async call runs.
    #[inline]
    pub(crate) fn tick(&self, lua: &Lua, bridge: &Bridge) -> mlua::Result<VmState> {
        if self.running.get() == 0 {
            return Ok(VmState::Continue);
        }
        self.async_tick(lua, bridge)
    }

    #[cold]
    fn async_tick(&self, lua: &Lua, bridge: &Bridge) -> mlua::Result<VmState> {
        if self.cancel.borrow().as_ref().is_some_and(|cancelled| cancelled()) {
            return Err(bridge.stop(LimitHit::Cancelled));
        }
        let ticks = self.ticks.get() + 1;
        self.ticks.set(ticks);
        if HOOK_YIELDS && ticks >= TICKS_PER_SLICE && self.is_running(lua) {
            // mlua yields only where the engine allows it (not across a C
            // call); the runner resumes a coroutine that yielded for nothing.
            self.ticks.set(0);
            return Ok(VmState::Yield);
        }
        Ok(VmState::Continue)
    }
}
