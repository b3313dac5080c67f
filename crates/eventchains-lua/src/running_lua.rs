//! The Lua thread running Lua code on this OS thread, as the deadline
//! signal's handler reads it ([`crate::deadline_signal`]).
//!
//! A thread-local initialised with `const` and without a destructor (so
//! reading it from a signal handler allocates nothing and cannot fail): the
//! innermost Lua thread (`lua_State`) of a VM that uses the deadline signal
//! that runs Lua code on this OS thread, and that VM's count hook function.
//! It is kept true at every switch:
//!
//! - a call into Lua (a handler, a middleware, a script's top level, the
//!   resume of an async execution's coroutine) names its thread for its
//!   duration and names the outer one again when it returns or unwinds
//!   ([`Running`], an RAII guard; calls nest through a middleware's `next`,
//!   also into other VMs);
//! - `coroutine.resume` and the functions of `coroutine.wrap` (C closures of
//!   [`crate::limit_calls`]) name the coroutine exactly while `lua_resume`
//!   runs ([`switch`] before it, back after it); nothing between the two
//!   switches can raise (`lua_resume` reports the coroutine's errors as a
//!   status), so no error unwinds past the switch back.
//!
//! Writes go in an order the handler, which interrupts this thread between
//! two instructions, can rely on: the state is cleared, the hook written,
//! then the state; the handler reads the state, then the hook. A handler
//! that lands in between sees no state and does nothing; the watchdog sends
//! the signal again at its next scan while the call runs.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering, compiler_fence};

use mlua::ffi;

/// What the handler reads.
struct Record {
    /// The running Lua thread (null: none of a VM using the signal).
    state: AtomicPtr<ffi::lua_State>,
    /// Its VM's count hook (an `ffi::lua_Hook`).
    hook: AtomicPtr<()>,
    /// Its VM's identity ([`vm_id`]).
    vm: AtomicPtr<std::ffi::c_void>,
}

thread_local! {
    static RUNNING: Record = const {
        Record { state: AtomicPtr::new(null_mut()), hook: AtomicPtr::new(null_mut()), vm: AtomicPtr::new(null_mut()) }
    };
}

/// Names `state` (of a VM whose count hook is `hook`) as the running Lua
/// thread until dropped, then the one named before.
pub(crate) struct Running {
    state: *mut ffi::lua_State,
    hook: *mut (),
    vm: *mut std::ffi::c_void,
}

impl Running {
    /// `state` (of the VM `vm`, see [`vm_id`]) runs Lua code now, on this thread.
    #[inline]
    pub(crate) fn enter(state: *mut ffi::lua_State, hook: ffi::lua_Hook, vm: *mut std::ffi::c_void) -> Running {
        RUNNING.with(|r| {
            let previous = Running {
                state: r.state.load(Ordering::Relaxed),
                hook: r.hook.load(Ordering::Relaxed),
                vm: r.vm.load(Ordering::Relaxed),
            };
            set(r, &Running { state, hook: hook as *mut (), vm });
            previous
        })
    }
}

impl Drop for Running {
    #[inline]
    fn drop(&mut self) {
        RUNNING.with(|r| set(r, self));
    }
}

/// Writes the record in the order the handler relies on (module doc).
#[inline(always)]
fn set(r: &Record, to: &Running) {
    r.state.store(null_mut(), Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    r.hook.store(to.hook, Ordering::Relaxed);
    r.vm.store(to.vm, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    r.state.store(to.state, Ordering::Relaxed);
}

/// The identity of the VM `state` belongs to, shared by all its threads:
/// its allocator's user data (mlua gives each VM its own).
///
/// # Safety
/// `state` is a live Lua thread.
#[inline]
pub(crate) unsafe fn vm_id(state: *mut ffi::lua_State) -> *mut std::ffi::c_void {
    let mut ud = null_mut();
    // SAFETY: the caller's contract: reads the state's global allocator fields only.
    unsafe { ffi::lua_getallocf(state, &raw mut ud) };
    ud
}

/// If `from` is the running Lua thread, names `to` (a thread of the same VM)
/// instead and returns `true` (a coroutine switch: the hook stays).
#[inline]
pub(crate) fn switch(from: *mut ffi::lua_State, to: *mut ffi::lua_State) -> bool {
    RUNNING.with(|r| {
        let named = r.state.load(Ordering::Relaxed) == from && !from.is_null();
        if named {
            r.state.store(to, Ordering::Relaxed);
        }
        named
    })
}

/// The running Lua thread now named (tests).
#[cfg(test)]
pub(crate) fn named() -> *mut ffi::lua_State {
    RUNNING.with(|r| r.state.load(Ordering::Relaxed))
}

/// The signal handler's work: sets the count hook, to fire at the next
/// instruction, on the Lua thread named as running here, unless that thread
/// has a hook already (it ticks soon anyway).
///
/// Async-signal-safe: it reads a `const` thread-local without a destructor
/// (`try_with` cannot allocate or panic for it), and calls `lua_gethookmask`
/// and `lua_sethook`, which Lua allows in a signal handler (ldebug.c). The
/// named thread is alive: it is named only while it runs Lua code on this
/// thread (a call holds its VM, a resume its coroutine).
pub(crate) fn arm_hook() {
    let _ = RUNNING.try_with(|r| {
        let state = r.state.load(Ordering::Relaxed);
        if state.is_null() {
            return;
        }
        compiler_fence(Ordering::SeqCst);
        let hook = r.hook.load(Ordering::Relaxed);
        if hook.is_null() {
            return;
        }
        // SAFETY: `hook` was stored from an `ffi::lua_Hook` (`Running::enter`);
        // `state` is alive and runs on this thread (above). A count of 1: the
        // next instruction runs the hook, which turns this off again
        // (`CountHook::after_signal`).
        unsafe {
            if ffi::lua_gethookmask(state) != 0 {
                return;
            }
            let hook = std::mem::transmute::<*mut (), ffi::lua_Hook>(hook);
            ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, SIGNAL_COUNT);
        }
    });
}

/// The count the handler sets the hook with (the VM's own hook never uses it:
/// it counts [`HOOK_INTERVAL`](crate::HOOK_INTERVAL) instructions).
pub(crate) const SIGNAL_COUNT: std::ffi::c_int = 1;

const _: () = assert!(crate::HOOK_INTERVAL as std::ffi::c_int != SIGNAL_COUNT);

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use eventchains_core::{EventContext, EventRegistry, FnEvent};

    use super::*;
    use crate::host_fn::HostFn;
    use crate::lua_type::FnSignature;
    use crate::{Limits, LuaChain, LuaChainBuilder};

    /// A raw host function `name` returning `f(lua)`.
    fn probe<R: mlua::IntoLua + 'static>(name: &str, f: fn(&mlua::Lua) -> R, signature: FnSignature) -> HostFn {
        HostFn {
            name: name.to_owned(),
            factory: Arc::new(move |lua: &mlua::Lua| lua.create_function(move |lua, ()| Ok(f(lua)))),
            signature,
        }
    }

    /// `me()`: whether the Lua thread calling it is the one named as running;
    /// `hooked()`: whether it runs with a hook; `arm()`: what the signal
    /// handler does; `state()`: its address.
    fn probes(builder: LuaChainBuilder) -> LuaChainBuilder {
        builder
            .register_raw_fn(probe("me", |lua| named() == lua.state(), FnSignature::of::<(), bool>()))
            .register_raw_fn(probe(
                "hooked",
                // SAFETY: the calling thread's own state.
                |lua| unsafe { ffi::lua_gethook(lua.state()).is_some() },
                FnSignature::of::<(), bool>(),
            ))
            .register_raw_fn(probe(
                "arm",
                |_| {
                    arm_hook();
                    true
                },
                FnSignature::of::<(), bool>(),
            ))
            .register_raw_fn(probe("state", |lua| lua.state() as usize as i64, FnSignature::of::<(), i64>()))
    }

    /// A time cap no test reaches (and the only CPU cap).
    const TIME_ONLY: Limits =
        Limits { instructions: None, memory_bytes: None, timeout: Some(Duration::from_secs(3600)) };

    fn load(builder: LuaChainBuilder, limits: Limits, src: &str) -> LuaChain {
        probes(builder).limits(limits).load_str("running.lua", src).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(chain: &LuaChain) -> EventContext {
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{result:?}");
        ctx
    }

    /// Runs `test` on a thread of its own whose VMs act as if the signal were installed.
    fn with_signal(test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            crate::deadline_signal::act_as_installed_on_this_thread();
            test();
        })
        .join()
        .expect("the test thread");
    }

    #[test]
    fn the_running_thread_is_named_in_calls_and_coroutines_and_cleared_after() {
        with_signal(|| {
            let chain = load(
                LuaChainBuilder::new(),
                TIME_ONLY,
                "local made = coroutine.wrap(function() while true do coroutine.yield(me()) end end)
                 return {
                   middleware = { function(event, ctx, next) ctx.m = me() local ok = next(ctx) ctx.m_after = me() return ok end },
                   events = { { name = 'h', handler = function(ctx)
                     ctx.h = me()
                     ctx.wrap = coroutine.wrap(function() return me() end)()
                     local _, r = coroutine.resume(coroutine.create(function() return me() end))
                     ctx.resume = r
                     ctx.made = made()
                     local co = coroutine.create(function() coroutine.yield(me()) return me() end)
                     local _, y = coroutine.resume(co)
                     ctx.between = me()
                     local _, z = coroutine.resume(co)
                     ctx.yielded = y and z
                     local ok = pcall(coroutine.wrap(function() error('x') end))
                     ctx.after_error = (not ok) and me()
                     ctx.nested = coroutine.wrap(function()
                       return coroutine.wrap(function() return me() end)() and me()
                     end)()
                     ctx.h_after = me()
                   end } } }",
            );
            assert!(named().is_null(), "no call runs");
            let ctx = run(&chain);
            for key in [
                "m",
                "m_after",
                "h",
                "wrap",
                "resume",
                "made",
                "between",
                "yielded",
                "after_error",
                "nested",
                "h_after",
            ] {
                assert_eq!(ctx.get::<bool>(key), Some(true), "{key}");
            }
            assert!(named().is_null(), "restored when the call returned");
        });
    }

    /// A limit error or a panic unwinds the call: the outer record comes back.
    #[test]
    fn the_record_is_restored_when_a_call_fails_or_panics() {
        with_signal(|| {
            let chain = load(
                LuaChainBuilder::new().register_fn("boom", |()| -> bool { panic!("host panic") }),
                Limits { instructions: Some(100_000), ..TIME_ONLY },
                "return { events = {
                   { name = 'loop', handler = function() coroutine.wrap(function() while true do end end)() end },
                   { name = 'panic', handler = function() boom() end } } }",
            );
            let mut ctx = EventContext::new();
            let result = chain.execute(&mut ctx);
            assert!(!result.is_clean());
            assert!(named().is_null());
        });
    }

    #[test]
    fn a_nested_call_into_another_vm_names_the_inner_thread_then_the_outer_again() {
        with_signal(|| {
            let inner = Arc::new(load(
                LuaChainBuilder::new(),
                Limits::UNLIMITED,
                "return { events = { { name = 'inner', handler = function(ctx) ctx.inner = me() ctx.inner_state = state() end } } }",
            ));
            let mut events = EventRegistry::new();
            events.register_event(
                "run_inner",
                FnEvent::new("run_inner", move |ctx| {
                    let result = inner.execute(ctx);
                    assert!(result.is_clean(), "{result:?}");
                    Ok(())
                }),
            );
            let outer = load(
                LuaChainBuilder::new().event_registry(events),
                TIME_ONLY,
                "return {
                   middleware = { function(event, ctx, next) local ok = next(ctx) ctx.outer_after = me() ctx.outer_state = state() return ok end },
                   events = { { name = 'run_inner', rust = 'run_inner' } } }",
            );
            let ctx = run(&outer);
            assert_eq!(ctx.get::<bool>("inner"), Some(true));
            assert_eq!(ctx.get::<bool>("outer_after"), Some(true));
            assert_ne!(ctx.get::<i64>("inner_state"), ctx.get::<i64>("outer_state"), "two VMs");
            assert!(named().is_null());
        });
    }

    #[test]
    fn with_the_signal_a_time_cap_or_a_context_deadline_leaves_the_hook_off() {
        with_signal(|| {
            let src = "return { events = { { name = 'p', handler = function(ctx) ctx.hooked = hooked() end } } }";
            let chain = load(LuaChainBuilder::new(), TIME_ONLY, src);
            assert_eq!(run(&chain).get::<bool>("hooked"), Some(false), "time cap only");
            let chain = load(LuaChainBuilder::new(), Limits::UNLIMITED, src);
            let mut ctx = EventContext::new();
            ctx.set_deadline(std::time::Instant::now().checked_add(Duration::from_secs(3600)));
            assert!(chain.execute(&mut ctx).is_clean());
            assert_eq!(ctx.get::<bool>("hooked"), Some(false), "context deadline only");
            // An instruction cap still needs the hook.
            let chain = load(LuaChainBuilder::new(), Limits::default(), src);
            assert_eq!(run(&chain).get::<bool>("hooked"), Some(true), "instruction cap");
        });
        // Without the signal: as before.
        let src = "return { events = { { name = 'p', handler = function(ctx) ctx.hooked = hooked() end } } }";
        let chain = load(LuaChainBuilder::new(), TIME_ONLY, src);
        assert_eq!(run(&chain).get::<bool>("hooked"), Some(true), "no signal: the time cap keeps the hook on");
    }

    /// A signal landing inside a host function of a call whose time is not
    /// up: the hook fires at the next instruction, finds nothing fired and
    /// turns itself off; the call runs on. On a VM that keeps its hook on, it
    /// leaves the hook as it was.
    #[test]
    fn a_signal_inside_a_call_whose_time_is_not_up_changes_nothing() {
        with_signal(|| {
            let src = "return { events = { { name = 'p', handler = function(ctx)
                         arm()
                         local n = 0 for i = 1, 10 do n = n + i end
                         ctx.n = n
                         ctx.after = hooked()
                         ctx.co = coroutine.wrap(function() arm() local m = 1 m = m + 1 return hooked() end)()
                       end } } }";
            let chain = load(LuaChainBuilder::new(), TIME_ONLY, src);
            for _ in 0..3 {
                let ctx = run(&chain);
                assert_eq!(ctx.get::<i64>("n"), Some(55));
                assert_eq!(ctx.get::<bool>("after"), Some(false), "the hook turned itself off");
                assert_eq!(ctx.get::<bool>("co"), Some(false), "in a coroutine too");
            }
            let chain = load(LuaChainBuilder::new(), Limits::default(), src);
            let ctx = run(&chain);
            assert_eq!(ctx.get::<i64>("n"), Some(55));
            assert_eq!(ctx.get::<bool>("after"), Some(true), "a VM with an instruction cap keeps its hook");
        });
    }

    /// A signal landing outside any call sets nothing; one whose hook is
    /// still set when the call has ended (stale) is turned off at the next
    /// call's first instruction, which runs normally.
    #[test]
    fn a_signal_outside_a_call_or_a_stale_one_leaves_the_vm_as_it_was() {
        with_signal(|| {
            let chain = load(
                LuaChainBuilder::new(),
                TIME_ONLY,
                "return { events = { { name = 'p', handler = function(ctx) ctx.state = state() ctx.hooked = hooked() end } } }",
            );
            let state = run(&chain).get::<i64>("state").expect("state") as usize as *mut ffi::lua_State;
            arm_hook();
            // SAFETY: the main thread of the chain's VM on this thread, alive with `chain`.
            assert!(unsafe { ffi::lua_gethook(state) }.is_none(), "outside a call: nothing set");
            // A stale one: the hook set as the handler sets it, after the call.
            // SAFETY: as above; nothing runs.
            unsafe {
                let hook = global_hook();
                ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, SIGNAL_COUNT);
            }
            let ctx = run(&chain);
            assert_eq!(ctx.get::<bool>("hooked"), Some(false), "turned off at the first instruction");
            // SAFETY: as above.
            assert!(unsafe { ffi::lua_gethook(state) }.is_none());
        });
    }

    /// mlua's hook function for global hooks (one function for every VM: it
    /// runs the callback of the VM it fires in).
    fn global_hook() -> ffi::lua_Hook {
        let lua = mlua::Lua::new();
        lua.set_global_hook(mlua::HookTriggers::new().every_nth_instruction(1000), |_, _| Ok(mlua::VmState::Continue))
            .expect("hook");
        // SAFETY: the main thread of `lua`, on this thread.
        unsafe { ffi::lua_gethook(lua.state()) }.expect("set")
    }
}
