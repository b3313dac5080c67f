//! [`CountHook`]: when a VM's count hook is installed.
//!
//! The limits are enforced by the VM's count hook ([`crate::bridge::Bridge::tick`]
//! every [`HOOK_INTERVAL`](crate::HOOK_INTERVAL) instructions). On Lua 5.4 and
//! 5.5 *any* count hook makes the interpreter call `luaG_traceexec` before
//! every VM instruction and `rethook` after every return, whatever the count:
//! ~470 of the seed chain's ~5,600 instructions per execution, ~7 ns per
//! instruction of a tight loop (docs/architecture.md, "Limits"). So:
//!
//! - a VM with an instruction or time cap of its own has the hook on all the
//!   time (every call needs it; switching it per call would only add work);
//! - except with the deadline signal ([`crate::deadline_signal`]) installed
//!   when the VM was configured: then only an instruction cap keeps it on; a
//!   time cap or a context deadline leaves it off, and when the watchdog
//!   finds the time up its signal's handler sets it on the Lua thread running
//!   then ([`crate::running_lua`], which calls keep up to date through
//!   [`CountHook::around`]), to fire at the next instruction;
//!   [`CountHook::after_signal`] puts it back when it fires;
//! - a VM without such caps has it off, and a call turns it on for itself, on
//!   the Lua thread it runs on, only while a deadline is running on this OS
//!   thread (the context's deadline, or the time cap of an enclosing call in
//!   another VM: [`Slot::timed`](crate::watchdog::Slot::timed)); the call
//!   turns it off again when it returns or unwinds;
//! - coroutines a script resumes run with the hook of the code that resumes
//!   them ([`CountHook::mirror`], called by the limit prelude's
//!   `coroutine.resume`), since Lua 5.4 hooks are per Lua thread and a
//!   coroutine keeps the one it was created with;
//! - async executions run in coroutines mlua creates with the VM's hook (they
//!   also need it for time slices and cancellation), as before.
//!
//! The hook is only ever set from the VM's own thread: Lua 5.4's
//! `lua_sethook` walks the thread's `CallInfo` list (`settraps`), which the
//! running interpreter pops and the GC frees (`luaE_shrinkCI`), so a
//! watchdog thread setting it would race with those frees. (The deadline
//! signal's handler runs on the VM's own thread, between two of its
//! instructions, as `lua.c`'s Ctrl-C handler does.)
//!
//! LuaJIT keeps one hook per VM (all its coroutines share it), so there
//! [`CountHook::mirror`] has nothing to do; once an async execution has run on
//! an uncapped VM, mlua has set the hook for the whole VM and it stays on.
//! Luau has no hooks: its interrupt stays installed (see
//! [`HOOK_INTERVAL`](crate::HOOK_INTERVAL)).

#[cfg(not(feature = "luau"))]
use std::cell::Cell;
#[cfg(not(feature = "luau"))]
use std::ffi::c_int;

#[cfg(not(feature = "luau"))]
use mlua::ffi;

/// A VM's count hook and whether it is on for every call.
#[derive(Default)]
pub(crate) struct CountHook {
    /// The hook function mlua installed for the VM (its global hook).
    #[cfg(not(feature = "luau"))]
    func: Cell<Option<ffi::lua_Hook>>,
    /// On for every call (the VM has an instruction cap, or a time cap and
    /// no deadline signal).
    #[cfg(not(feature = "luau"))]
    always: Cell<bool>,
    /// The deadline signal was installed when the VM was configured: its
    /// deadlines are enforced by the signal ([`crate::deadline_signal`]), and
    /// its calls name their Lua thread for the handler ([`crate::running_lua`]).
    #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
    signal: Cell<bool>,
    /// The VM's identity for [`crate::running_lua`].
    #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
    vm: Cell<Option<std::ptr::NonNull<std::ffi::c_void>>>,
}

/// The mask and count the hook runs with.
#[cfg(not(feature = "luau"))]
const MASK: c_int = ffi::LUA_MASKCOUNT;
#[cfg(not(feature = "luau"))]
const COUNT: c_int = crate::HOOK_INTERVAL as c_int;

impl CountHook {
    /// Takes the hook mlua has just installed on `state` (the VM's main
    /// thread) as the VM's hook, and leaves it on there if the VM keeps it on
    /// for every call (it has an `instruction_cap`, or a `time_cap` while no
    /// deadline signal is installed), else turns it off until a call needs
    /// it (or, with the signal, until the signal sets it).
    ///
    /// # Safety
    /// `state` is the main thread of a live VM, on the calling thread, with
    /// no Lua code of the VM running (at load time).
    pub(crate) unsafe fn configure(&self, state: *mut mlua::ffi::lua_State, instruction_cap: bool, time_cap: bool) {
        #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
        let signal = crate::deadline_signal::used_by_new_vms();
        #[cfg(not(all(unix, any(feature = "lua54", feature = "lua55"))))]
        let signal = false;
        #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
        {
            self.signal.set(signal);
            // SAFETY: the caller's contract: a live state.
            self.vm.set(std::ptr::NonNull::new(unsafe { crate::running_lua::vm_id(state) }));
        }
        let always = instruction_cap || (time_cap && !signal);
        #[cfg(not(feature = "luau"))]
        // SAFETY: the caller's contract: a live state on its own thread.
        unsafe {
            self.always.set(always);
            self.func.set(ffi::lua_gethook(state));
            if !always {
                ffi::lua_sethook(state, None, 0, 0);
            }
        }
        // Luau: the interrupt stays installed.
        #[cfg(feature = "luau")]
        let _ = (state, always);
    }

    /// Runs `f` (a call into Lua on `state`) with the hook on if `needed()`
    /// (asked only on a VM that does not keep the hook on):
    /// turns it on for the call if it is off, and off again when `f` returns
    /// or unwinds. When the VM has the hook on all the time, or `state` has
    /// it on already (an enclosing call, an async execution's coroutine), `f`
    /// just runs.
    ///
    /// # Safety
    /// `state` is a live Lua thread of the VM, on the calling thread.
    #[inline(always)]
    ///
    /// On a VM that uses the deadline signal the hook is left as it is (the
    /// signal sets it when a deadline passes) and `state` is named as the Lua
    /// thread running on this OS thread while `f` runs ([`crate::running_lua`]).
    pub(crate) unsafe fn around<R>(
        &self,
        state: *mut mlua::ffi::lua_State,
        needed: impl FnOnce() -> bool,
        f: impl FnOnce() -> R,
    ) -> R {
        #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
        if self.signal.get()
            && let Some(func) = self.func.get()
        {
            let _running = crate::running_lua::Running::enter(
                state,
                func,
                self.vm.get().map_or(std::ptr::null_mut(), std::ptr::NonNull::as_ptr),
            );
            return f();
        }
        #[cfg(not(feature = "luau"))]
        if !self.always.get() && needed() {
            // SAFETY: the caller's contract: a live state on its own thread.
            return unsafe { self.switched_on(state, f) };
        }
        #[cfg(feature = "luau")]
        let _ = (state, needed);
        f()
    }

    /// [`CountHook::around`] for a call that needs the hook on a VM that does not keep it on.
    ///
    /// # Safety
    /// As [`CountHook::around`].
    #[cfg(not(feature = "luau"))]
    #[cold]
    unsafe fn switched_on<R>(&self, state: *mut ffi::lua_State, f: impl FnOnce() -> R) -> R {
        /// Turns the hook off again, also when `f` unwinds.
        struct Off(*mut ffi::lua_State);
        impl Drop for Off {
            fn drop(&mut self) {
                // SAFETY: the state of `switched_on`, alive for the whole call.
                unsafe { ffi::lua_sethook(self.0, None, 0, 0) };
            }
        }
        // SAFETY: the caller's contract: a live state on its own thread; setting a hook from
        // the thread that runs the state is what `lua_sethook` allows.
        let _off = unsafe {
            if ffi::lua_gethook(state).is_some() {
                return f();
            }
            let Some(func) = self.func.get() else { return f() };
            ffi::lua_sethook(state, Some(func), MASK, COUNT);
            Off(state)
        };
        f()
    }

    /// Called by the count hook on `state`, the Lua thread it fires on,
    /// before the limits are checked: if the deadline signal set the hook
    /// (count [`SIGNAL_COUNT`](crate::running_lua::SIGNAL_COUNT)), puts it
    /// back as the VM runs without the signal: off, or on at the VM's
    /// interval if it keeps it on. The check then raises the timeout, or, for
    /// a signal whose deadline is gone (a stale one), the call runs on as before.
    ///
    /// # Safety
    /// `state` is a live Lua thread of the VM, on the calling thread (inside its hook).
    #[cfg(not(feature = "luau"))]
    #[inline]
    pub(crate) unsafe fn after_signal(&self, state: *mut mlua::ffi::lua_State) {
        #[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
        // SAFETY: the caller's contract: a live state on its own thread; a hook may set hooks.
        unsafe {
            if self.signal.get() && ffi::lua_gethookcount(state) == crate::running_lua::SIGNAL_COUNT {
                match self.func.get() {
                    Some(func) if self.always.get() => ffi::lua_sethook(state, Some(func), MASK, COUNT),
                    _ => ffi::lua_sethook(state, None, 0, 0),
                }
            }
        }
        #[cfg(not(all(unix, any(feature = "lua54", feature = "lua55"))))]
        let _ = state;
    }

    /// Gives the coroutine `co` the hook `from` (the Lua thread resuming it)
    /// runs with, before `from` resumes it. A coroutine keeps the hook of the
    /// thread that created it; one created while no deadline ran must not run
    /// unhooked inside a call that has one (nor the other way round, where it
    /// would only cost).
    ///
    /// # Safety
    /// `from` and `co` are live Lua threads of the VM, on the calling thread,
    /// and `co` is not running (suspended, or the caller's own thread).
    pub(crate) unsafe fn mirror(&self, from: *mut mlua::ffi::lua_State, co: *mut mlua::ffi::lua_State) {
        // One hook per VM on LuaJIT (shared by its coroutines); none on Luau.
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        // SAFETY: the caller's contract: both are live states on this thread.
        unsafe {
            // Also on a VM with caps: a coroutine its top-level code created
            // before the script's own `limits` lowered an uncapped host's
            // caps has no hook yet.
            if from == co {
                return;
            }
            let func = ffi::lua_gethook(from);
            if func.map(|f| f as usize) != ffi::lua_gethook(co).map(|f| f as usize) {
                ffi::lua_sethook(co, func, ffi::lua_gethookmask(from), ffi::lua_gethookcount(from));
            }
        }
        #[cfg(not(any(feature = "lua54", feature = "lua55")))]
        let _ = (from, co);
    }

    /// Whether `state` runs with a hook now (tests).
    #[cfg(all(test, not(feature = "luau")))]
    pub(crate) fn is_on(state: *mut mlua::ffi::lua_State) -> bool {
        // SAFETY: tests pass a live state of their own thread.
        unsafe { ffi::lua_gethook(state).is_some() }
    }
}

#[cfg(all(test, not(feature = "luau")))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use eventchains_core::EventContext;

    use super::*;
    use crate::host_fn::HostFn;
    use crate::lua_type::FnSignature;
    use crate::{Limits, LuaChain, LuaChainBuilder};

    /// `hooked()`: whether the Lua thread calling it runs with a count hook.
    fn hook_probe() -> HostFn {
        HostFn {
            name: "hooked".to_owned(),
            factory: Arc::new(|lua: &mlua::Lua| lua.create_function(|lua, ()| Ok(CountHook::is_on(lua.state())))),
            signature: FnSignature::of::<(), bool>(),
        }
    }

    fn chain(limits: Limits, src: &str) -> LuaChain {
        LuaChainBuilder::new()
            .limits(limits)
            .register_raw_fn(hook_probe())
            .load_str("hook.lua", src)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A deadline no test run reaches.
    fn far() -> Option<Instant> {
        Instant::now().checked_add(Duration::from_secs(3600))
    }

    /// Runs `chain` (with a context deadline if `deadline`) and returns `ctx.hooked`.
    fn hooked(chain: &LuaChain, deadline: bool, fail: bool) -> Option<bool> {
        let mut ctx = EventContext::new();
        ctx.set("fail", fail);
        if deadline {
            ctx.set_deadline(far());
        }
        let result = chain.execute(&mut ctx);
        assert_eq!(result.is_clean(), !fail, "{result:?}");
        ctx.get::<bool>("hooked")
    }

    const PROBE: &str = "return { events = { { name = 'p', handler = function(ctx) ctx.hooked = hooked() if ctx.fail then error('x') end end } } }";

    #[test]
    fn a_chain_without_caps_runs_unhooked_unless_a_deadline_runs() {
        let chain = chain(Limits::UNLIMITED, PROBE);
        assert_eq!(hooked(&chain, false, false), Some(false), "no caps, no deadline: no hook");
        assert_eq!(hooked(&chain, true, false), Some(true), "a context deadline turns it on");
        assert_eq!(hooked(&chain, false, false), Some(false), "and the end of the call off");
        // A call that fails under a deadline turns it off too.
        assert_eq!(hooked(&chain, true, true), Some(true));
        assert_eq!(hooked(&chain, false, false), Some(false));
        // A memory cap needs no hook.
        let chain = self::chain(Limits { memory_bytes: Some(64 << 20), ..Limits::UNLIMITED }, PROBE);
        assert_eq!(hooked(&chain, false, false), Some(false));
    }

    /// A raw host function `name` (no check point of its own) returning
    /// `f(idle)`, for the tests of the watchdog's idle race below.
    fn raw_idle_fn(
        name: &str,
        idle: &'static std::sync::atomic::AtomicBool,
        f: fn(&'static std::sync::atomic::AtomicBool) -> bool,
    ) -> HostFn {
        HostFn {
            name: name.to_owned(),
            factory: Arc::new(move |lua: &mlua::Lua| lua.create_function(move |_, ()| Ok(f(idle)))),
            signature: FnSignature::of::<(), bool>(),
        }
    }

    /// Raises the idle flag of a private watchdog (as its thread does when it goes idle).
    fn raise_idle(idle: &'static std::sync::atomic::AtomicBool) -> bool {
        idle.store(true, std::sync::atomic::Ordering::SeqCst);
        true
    }

    /// The count hook's tick is a check point of the watchdog's idle race
    /// (see [`crate::watchdog`]): a watchdog found idle while a timed call
    /// runs is woken by the call's next tick. The idle flag is raised by a
    /// raw host function (no check point of its own) on a watchdog private to
    /// the test's thread.
    #[test]
    fn a_hook_tick_wakes_an_idle_watchdog_while_a_timed_call_runs() {
        std::thread::spawn(|| {
            let idle = crate::watchdog::private_watchdog_for_this_thread();
            let chain = LuaChainBuilder::new()
                .limits(Limits { timeout: Some(Duration::from_secs(3600)), ..Limits::UNLIMITED })
                .register_raw_fn(raw_idle_fn("raise_idle", idle, raise_idle))
                .register_raw_fn(raw_idle_fn("idle", idle, |i| i.load(std::sync::atomic::Ordering::SeqCst)))
                .load_str(
                    "wake.lua",
                    "return { events = { { name = 'w', handler = function(ctx)
                       raise_idle()
                       local n = 0
                       for i = 1, 100000 do n = n + i end
                       ctx.after = idle()
                     end } } }",
                )
                .unwrap_or_else(|e| panic!("{e}"));
            let mut ctx = EventContext::new();
            let result = chain.execute(&mut ctx);
            assert!(result.is_clean(), "{result:?}");
            assert_eq!(ctx.get::<bool>("after"), Some(false), "the loop's hook ticks woke the watchdog");
        })
        .join()
        .expect("the test thread");
    }

    /// The other check points that run before code that may block: entering
    /// a registered host function and entering a middleware's `next` wake an
    /// idle watchdog too (seen from inside the function and from the event
    /// `next` runs, before any return-side check point).
    #[test]
    fn entering_a_host_function_or_next_wakes_an_idle_watchdog() {
        std::thread::spawn(|| {
            let idle = crate::watchdog::private_watchdog_for_this_thread();
            let mut events = eventchains_core::EventRegistry::new();
            events.register_event(
                "seen_by_next",
                eventchains_core::FnEvent::new("seen_by_next", move |ctx| {
                    ctx.set("next_entry", idle.load(std::sync::atomic::Ordering::SeqCst));
                    Ok(())
                }),
            );
            let chain = LuaChainBuilder::new()
                .limits(Limits { timeout: Some(Duration::from_secs(3600)), ..Limits::UNLIMITED })
                .event_registry(events)
                .register_raw_fn(raw_idle_fn("raise_idle", idle, raise_idle))
                .register_fn("idle_inside", move |()| idle.load(std::sync::atomic::Ordering::SeqCst))
                .load_str(
                    "entry.lua",
                    "return {
                       middleware = { function(event, ctx, next) raise_idle() return next(ctx) end },
                       events = {
                         { name = 'host', handler = function(ctx) raise_idle() ctx.host_entry = idle_inside() end },
                         { name = 'next', rust = 'seen_by_next' },
                       } }",
                )
                .unwrap_or_else(|e| panic!("{e}"));
            let mut ctx = EventContext::new();
            let result = chain.execute(&mut ctx);
            assert!(result.is_clean(), "{result:?}");
            assert_eq!(ctx.get::<bool>("host_entry"), Some(false), "entering the host function woke it");
            assert_eq!(ctx.get::<bool>("next_entry"), Some(false), "entering next woke it");
        })
        .join()
        .expect("the test thread");
    }

    #[test]
    fn a_vm_with_caps_keeps_the_hook_on() {
        for limits in [
            Limits::default(),
            Limits { instructions: Some(1_000_000), ..Limits::UNLIMITED },
            Limits { timeout: Some(Duration::from_secs(3600)), ..Limits::UNLIMITED },
        ] {
            let chain = chain(limits, PROBE);
            assert_eq!(hooked(&chain, false, false), Some(true), "{limits:?}");
            assert_eq!(hooked(&chain, true, true), Some(true), "{limits:?}");
            assert_eq!(hooked(&chain, false, false), Some(true), "{limits:?}");
        }
    }

    #[test]
    fn a_call_inside_a_timed_call_of_another_vm_runs_hooked() {
        let chain = chain(Limits::UNLIMITED, PROBE);
        // An enclosing call with a time cap (e.g. a Lua middleware of a
        // capped script around this chain) on this thread.
        let slot = crate::watchdog::thread_slot();
        let outer = slot.push(Some(Duration::from_secs(3600)), None);
        assert_eq!(hooked(&chain, false, false), Some(true));
        slot.pop(outer);
        assert_eq!(hooked(&chain, false, false), Some(false));
        // An untimed enclosing call changes nothing.
        let outer = slot.push(None, None);
        assert_eq!(hooked(&chain, false, false), Some(false));
        slot.pop(outer);
    }

    #[test]
    fn a_coroutine_runs_with_the_hook_of_the_code_resuming_it() {
        // Created while loading (no hook), resumed by calls with and without a deadline.
        let chain = chain(
            Limits::UNLIMITED,
            "local co = coroutine.wrap(function() while true do coroutine.yield(hooked()) end end)
             local raw = coroutine.create(function() while true do coroutine.yield(hooked()) end end)
             return { events = { { name = 'p', handler = function(ctx)
               ctx.hooked = co()
               local _, h = coroutine.resume(raw)
               ctx.raw = h
             end } } }",
        );
        for deadline in [false, true, false, true] {
            let mut ctx = EventContext::new();
            if deadline {
                ctx.set_deadline(far());
            }
            assert!(chain.execute(&mut ctx).is_clean());
            assert_eq!(ctx.get::<bool>("hooked"), Some(deadline), "coroutine.wrap, deadline: {deadline}");
            assert_eq!(ctx.get::<bool>("raw"), Some(deadline), "coroutine.resume, deadline: {deadline}");
        }
    }

    #[test]
    fn a_coroutine_made_before_the_scripts_own_caps_runs_hooked_under_them() {
        // The host sets no caps: the top-level code runs unhooked; then the
        // script's `limits` give the VM an instruction cap.
        let chain = chain(
            Limits::UNLIMITED,
            "local co = coroutine.wrap(function() while true do coroutine.yield(hooked()) end end)
             return { limits = { instructions = 1000000 },
                      events = { { name = 'p', handler = function(ctx) ctx.hooked = co() end } } }",
        );
        let mut ctx = EventContext::new();
        assert!(chain.execute(&mut ctx).is_clean());
        assert_eq!(ctx.get::<bool>("hooked"), Some(true));
    }

    #[test]
    fn a_deadline_stops_a_loop_of_a_chain_without_caps() {
        // A deadline already passed: the loop can only end by being stopped.
        let chain = chain(
            Limits::UNLIMITED,
            "return { events = { { name = 'spin', handler = function() while true do end end } } }",
        );
        let mut ctx = EventContext::new();
        ctx.set_deadline(Some(Instant::now()));
        let result = chain.execute(&mut ctx);
        assert_eq!(result.failures()[0].message(), "the context's deadline passed in event `spin`");
    }

    #[test]
    fn the_hook_goes_off_when_the_call_unwinds() {
        let lua = mlua::Lua::new();
        let hook = CountHook::default();
        lua.set_global_hook(mlua::HookTriggers::new().every_nth_instruction(1000), |_, _| Ok(mlua::VmState::Continue))
            .expect("hook");
        let state = lua.state();
        // SAFETY: the main thread of `lua`, on this thread, nothing running.
        unsafe { hook.configure(state, false, false) };
        assert!(!CountHook::is_on(state));
        // SAFETY: as above.
        let on = unsafe { hook.around(state, || true, || CountHook::is_on(state)) };
        assert!(on);
        assert!(!CountHook::is_on(state));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: as above.
            unsafe { hook.around(state, || true, || panic!("inside the call")) }
        }));
        assert!(unwound.is_err());
        assert!(!CountHook::is_on(state), "off again after the panic");
        // Not needed: not turned on.
        // SAFETY: as above.
        assert!(!unsafe { hook.around(state, || false, || CountHook::is_on(state)) });
    }
}
