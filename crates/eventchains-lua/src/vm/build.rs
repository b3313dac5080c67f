//! Building a script's [`Vm`]: the one place a VM is made, for the first load
//! of a script ([`LuaChainBuilder::load_str`](crate::LuaChainBuilder::load_str))
//! and for every other thread ([`Script::new_vm`](crate::script::Script::new_vm)).
//!
//! [`VmConfig::run`] is the pipeline, in this order (each step relies on the
//! ones before it):
//!
//! 1. a VM with the sandbox's libraries ([`Sandbox::open`]), its collector
//!    paused (see `collector` below), and the restricted globals ([`Sandbox::restrict`]);
//! 2. the bridge (the VM's frame stack and limit state) as app data, the root
//!    `ctx` and `next`;
//! 3. the bounded library functions, then (LuaJIT) the nesting count of the C
//!    functions that call back into Lua, then the limit wrappers of
//!    `pcall`/`xpcall`/`coroutine` (C closures on Lua 5.4/5.5,
//!    `limit_calls.rs`; the limit prelude elsewhere);
//! 4. the host's functions;
//! 5. the lockdown ([`lock_down`]): read-only library views and the script's
//!    own environment; nothing is installed after it;
//! 6. the caps ([`VmBase::apply_limits`]);
//! 7. the script's chunk, compiled (or loaded from bytecode) and run under the caps.
//!
//! The VM then gets the script's functions ([`VmBase::into_vm`]) and, when
//! the script has Lua middleware, the `event` records they are called with.

use mlua::Function;
use mlua::chunk::ChunkMode;

use super::{Vm, VmBase, next_function};
use crate::async_calls::AsyncCalls;
use crate::bridge::{Bridge, CallState};
use crate::error::LoadError;
use crate::event_records::EventRecords;
use crate::host_fn::HostFn;
use crate::limits::Limits;
use crate::lua_error::{is_memory_error, lua_error_message};
use crate::raw_call::RawCaller;
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
use crate::sandbox::{BOUND_C_CALLS, C_NESTING_PRELUDE, LIMIT_PRELUDE};
use crate::sandbox::{CLOSE_REFUSED, Sandbox, lock_down, to_be_closed_line};
use crate::spec::Functions;
use std::cell::OnceCell;
use std::rc::Rc;

/// The compiled script a VM is made from.
pub(crate) enum Code<'a> {
    /// Lua source (the first VM; compiled here).
    Source(&'a str),
    /// Bytecode dumped by the first VM (every other VM).
    Bytecode(&'a [u8]),
}

/// What every VM of one script is built with (the same on every thread).
#[derive(Clone, Copy)]
pub(crate) struct VmConfig<'a> {
    /// The script's name in messages (`orders.lua`).
    pub(crate) script: &'a str,
    pub(crate) sandbox: Sandbox,
    pub(crate) host_fns: &'a [HostFn],
    pub(crate) limits: Limits,
}

/// A VM whose script's top-level code has run.
pub(crate) struct Ran {
    /// The VM, without the script's functions yet.
    pub(crate) vm: VmBase,
    /// What the chunk returned (the script table, to validate).
    pub(crate) returned: mlua::Value,
    /// The chunk's bytecode, when it was compiled from source and asked for.
    pub(crate) bytecode: Option<Vec<u8>>,
}

impl VmConfig<'_> {
    /// Builds a sandboxed VM and runs `code` in it (see the module docs);
    /// with `dump`, source code's bytecode is returned too.
    pub(crate) fn run(&self, code: Code<'_>, dump: bool) -> Result<Ran, LoadError> {
        let vm = self.base()?;
        let (returned, bytecode) = vm.run_chunk(code, dump)?;
        Ok(Ran { vm, returned, bytecode })
    }

    /// Steps 1 to 6: the VM, ready for the script's chunk (its collector running again).
    fn base(&self) -> Result<VmBase, LoadError> {
        let vm_error = |e: mlua::Error| self.vm_error(e);
        let lua = self.sandbox.open().map_err(vm_error)?;
        collector::pause(&lua);
        self.sandbox.restrict(&lua).map_err(vm_error)?;
        let bridge = Rc::new(Bridge::new(self.limits));
        lua.set_app_data(bridge.clone());
        let ctx = crate::fast_ctx::install_root(&lua).map_err(vm_error)?;
        let ctx_ptr = ctx.0.cast_const();
        #[cfg(feature = "luau")]
        crate::context_proxy::install_luau_iteration(&lua, &bridge).map_err(vm_error)?;
        let next_fn = next_function(&lua, &bridge, ctx_ptr).map_err(vm_error)?;
        let calls = Rc::new(AsyncCalls::default());
        lua.set_app_data(calls.clone());
        // The bounded library functions first, so that the limit prelude's
        // wrappers (LuaJIT's C nesting count) wrap them in turn.
        crate::bounded_lib::install(&lua, &bridge).map_err(vm_error)?;
        limit_prelude(&lua, &bridge).map_err(vm_error)?;
        for host_fn in self.host_fns {
            host_fn.install(&lua).map_err(vm_error)?;
        }
        let env = lock_down(&lua).map_err(vm_error)?;
        collector::resume(&lua).map_err(vm_error)?;
        let base = VmBase {
            lua,
            bridge,
            ctx_ptr,
            next_fn,
            async_next_fn: OnceCell::new(),
            calls,
            env,
            script: self.script.to_owned(),
        };
        base.apply_limits(self.limits).map_err(vm_error)?;
        Ok(base)
    }

    fn vm_error(&self, e: mlua::Error) -> LoadError {
        LoadError::Vm { script: self.script.to_owned(), message: lua_error_message(&e) }
    }
}

/// Lua 5.4 and 5.5: the limit wrappers as C closures
/// ([`crate::limit_calls`]) over [`limit_hit`] and [`resume_depth`], all
/// made in one raw call (a function of its own, so profiles show its cost).
///
/// `limit_hit()` (whether the running call has hit a limit) and
/// `resume_depth(delta, co)` (a resume of `co` starts, `delta > 0`: its
/// hook mirrored and the nesting counted, `false` when too deep; or ends)
/// are C closures over the bridge (light userdata upvalue), cheaper to
/// make, and to call on every resume, than two mlua callbacks.
///
/// The bridge outlives every call of them: they are reachable only as
/// upvalues of the limit wrappers (never by scripts), which run only while
/// the VM runs Lua code; the VM's app data holds an `Rc` of the bridge
/// until the VM is closed (it is never removed), and no Lua code runs
/// while it closes (the sandbox refuses `__gc`).
#[cfg(any(feature = "lua54", feature = "lua55"))]
#[inline(never)]
fn limit_prelude(lua: &mlua::Lua, bridge: &Rc<Bridge>) -> mlua::Result<()> {
    use mlua::ffi;
    let bridge = Rc::as_ptr(bridge).cast_mut().cast::<std::ffi::c_void>();
    // SAFETY: `exec_raw` runs this in a protected call (memory errors are
    // reported) with the globals at 1; the two closures at 2 and 3 are the
    // stack `install_in` requires.
    unsafe {
        lua.exec_raw::<()>(lua.globals(), |state| {
            ffi::lua_pushlightuserdata(state, bridge);
            ffi::lua_pushcclosure(state, limit_hit, 1);
            ffi::lua_pushlightuserdata(state, bridge);
            ffi::lua_pushcclosure(state, resume_depth, 1);
            crate::limit_calls::install_in(state);
        })
    }
}

/// The bridge of a [`limit_hit`] or [`resume_depth`] closure (upvalue 1).
///
/// # Safety
///
/// Called from a closure made by [`limit_prelude`], while its VM runs.
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe fn upvalue_bridge<'a>(state: *mut mlua::ffi::lua_State) -> &'a Bridge {
    // SAFETY: the caller's contract; the upvalue is the light userdata of
    // the VM's bridge, alive while the VM runs (see `limit_prelude`).
    unsafe { &*mlua::ffi::lua_touserdata(state, mlua::ffi::lua_upvalueindex(1)).cast::<Bridge>() }
}

/// Lowers the resume count of the VM whose `resume_depth` closure (made by
/// [`limit_prelude`]) is at `idx`, as `resume_depth(-1)` does, without
/// calling it: nothing here allocates or raises, so a resume can lower its
/// count where an error would leave it raised (see
/// `crate::limit_calls::run_resume`).
///
/// # Safety
///
/// `idx` holds a `resume_depth` closure made by [`limit_prelude`] of the VM
/// running on `state` (its bridge alive, as for every call of it); one free
/// stack slot.
#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) unsafe fn leave_resume(state: *mut mlua::ffi::lua_State, idx: std::ffi::c_int) {
    use mlua::ffi;
    // SAFETY: the caller's contract: `lua_getupvalue` pushes the closure's
    // upvalue 1 (the bridge's light userdata; a push into the free slot,
    // no allocation), popped at once; the bridge outlives the VM's calls.
    unsafe {
        ffi::lua_getupvalue(state, idx, 1);
        let bridge = ffi::lua_touserdata(state, -1).cast::<Bridge>().cast_const();
        ffi::lua_pop(state, 1);
        (*bridge).leave_resume();
    }
}

/// `limit_hit()`: see [`limit_prelude`].
///
/// # Safety
///
/// Called by Lua as a closure made by [`limit_prelude`].
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe extern "C-unwind" fn limit_hit(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: the caller's contract; one value pushed (a C function has
    // `LUA_MINSTACK` slots).
    unsafe {
        let hit = upvalue_bridge(state).limit_hit();
        mlua::ffi::lua_pushboolean(state, std::ffi::c_int::from(hit));
        1
    }
}

/// `resume_depth(delta, co)`: see [`limit_prelude`]. `co` is the
/// coroutine about to be resumed (a thread, or nil when there is none).
///
/// # Safety
///
/// Called by Lua as a closure made by [`limit_prelude`].
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe extern "C-unwind" fn resume_depth(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: the caller's contract; reads of the two arguments (absent
    // ones read as 0 and none); one value pushed.
    unsafe {
        let bridge = upvalue_bridge(state);
        let allowed = if ffi::lua_tointeger(state, 1) > 0 {
            if ffi::lua_type(state, 2) == ffi::LUA_TTHREAD {
                // The coroutine about to be resumed and the running thread,
                // both of this VM, on this thread.
                bridge.count_hook().mirror(state, ffi::lua_tothread(state, 2));
            }
            bridge.enter_resume()
        } else {
            bridge.leave_resume();
            true
        };
        ffi::lua_pushboolean(state, std::ffi::c_int::from(allowed));
        1
    }
}

/// Other engines: `limit_hit` and `resume_depth` as mlua callbacks (see the Lua 5.4 version, [`limit_prelude`]).
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
fn limit_functions(lua: &mlua::Lua, bridge: &Rc<Bridge>) -> mlua::Result<(Function, Function)> {
    let hit_bridge = bridge.clone();
    let limit_hit = lua.create_function(move |_, ()| Ok(hit_bridge.limit_hit()))?;
    let resume_bridge = bridge.clone();
    // `resume_depth(delta, co)`: 1 before a resume (`false`: refused, too
    // deep), -1 after it, 0 only checks `co` (before a close). An async
    // execution's coroutine is refused with an error.
    let resume_depth = lua.create_function(move |lua, (delta, co): (i32, mlua::Value)| {
        if delta >= 0
            && let mlua::Value::Thread(co) = &co
            && crate::execution_threads::is_marked(lua, co)?
        {
            return Err(mlua::Error::runtime(crate::execution_threads::REFUSED));
        }
        Ok(if delta == 0 {
            true
        } else if delta > 0 {
            if let mlua::Value::Thread(co) = co {
                // SAFETY: the coroutine about to be resumed and the
                // running thread, both of this VM, on this thread.
                unsafe { resume_bridge.count_hook().mirror(lua.state(), co.state()) };
            }
            resume_bridge.enter_resume()
        } else {
            resume_bridge.leave_resume();
            true
        })
    })?;
    Ok((limit_hit, resume_depth))
}

/// Other engines: runs [`C_NESTING_PRELUDE`] (LuaJIT) and [`LIMIT_PRELUDE`]
/// with [`limit_functions`].
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
#[inline(never)]
fn limit_prelude(lua: &mlua::Lua, bridge: &Rc<Bridge>) -> mlua::Result<()> {
    let (limit_hit, resume_depth) = limit_functions(lua, bridge)?;
    if BOUND_C_CALLS {
        C_NESTING_PRELUDE.load(lua).call::<()>(())?;
    }
    LIMIT_PRELUDE.load(lua).call::<()>((limit_hit, resume_depth))
}

impl VmBase {
    /// Installs `limits`: the count hook (the interrupt on Luau) and the memory cap.
    pub(crate) fn apply_limits(&self, limits: Limits) -> mlua::Result<()> {
        self.bridge.set_limits(limits);
        // Installed for the VM (async executions' coroutines get it from mlua);
        // on a VM without instruction or time caps it is then turned off and
        // only a call that runs under a deadline (a timeout middleware's, an
        // enclosing call's) turns it on (see `crate::count_hook`).
        let bridge = self.bridge.clone();
        let calls = self.calls.clone();
        #[cfg(not(feature = "luau"))]
        self.lua.set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(crate::HOOK_INTERVAL),
            move |lua, _| {
                // SAFETY: the thread the hook fires on (mlua makes it `lua`'s
                // state during the callback), on this thread.
                unsafe { bridge.count_hook().after_signal(lua.state()) };
                bridge.tick()?;
                calls.tick(lua, &bridge)
            },
        )?;
        // SAFETY: the VM's main thread, on its own thread, no Lua code running (loading).
        unsafe {
            self.bridge.count_hook().configure(
                self.lua.state(),
                limits.instructions.is_some(),
                limits.timeout.is_some(),
            );
        }
        // Luau has no hooks: its interrupt runs at every function call and loop back-edge.
        #[cfg(feature = "luau")]
        self.lua.set_interrupt(move |lua| {
            bridge.tick()?;
            calls.tick(lua, &bridge)
        });
        self.lua.set_memory_limit(crate::memory_ceiling::vm_limit(limits.memory_bytes))?;
        Ok(())
    }

    /// Lowers the VM's caps to `limits` (the script's own `limits`, once its table is read).
    pub(crate) fn lower_limits(&self, limits: Limits) -> Result<(), LoadError> {
        self.apply_limits(limits).map_err(|e| LoadError::Vm { script: self.script.clone(), message: e.to_string() })
    }

    /// Compiles (or loads) the script and runs its top-level code under the
    /// limits. Returns the value it returned
    /// and, for source code when `dump` is set, its bytecode.
    fn run_chunk(&self, code: Code<'_>, dump: bool) -> Result<(mlua::Value, Option<Vec<u8>>), LoadError> {
        let script = self.script.as_str();
        // Luau compiles before loading (it cannot dump a loaded function).
        let precompiled = match code {
            Code::Source(src) if dump => precompile(src),
            _ => None,
        };
        let code = match &precompiled {
            Some(bytecode) => Code::Bytecode(bytecode),
            None => code,
        };
        let is_source = matches!(code, Code::Source(_)) || precompiled.is_some();
        // A to-be-closed variable is declared with the attribute name `close`,
        // an identifier, which the text holds as written (Lua builds no name
        // from escapes): text without it has none and is not scanned.
        let scan = match code {
            Code::Source(source) => source.contains("close"),
            Code::Bytecode(_) => precompiled.is_some(),
        };
        // The close check reads a dump of source code (Lua 5.4/5.5).
        let dump_source =
            matches!(code, Code::Source(_)) && (dump || (scan && cfg!(any(feature = "lua54", feature = "lua55"))));
        let (function, dumped) = match raw_compile::compile(&self.lua, &self.env.env, script, &code, dump_source) {
            Some(compiled) => compiled,
            None => {
                let function = self.compile_checked(&code, is_source)?;
                let dumped = if dump_source { dump_function(&function) } else { None };
                (function, dumped)
            }
        };
        // The cache's bytecode, or a dump made only for the close check.
        let (bytecode, scanned) = match precompiled {
            Some(bytecode) => (Some(bytecode), None),
            None if dump => (dumped, None),
            None => (None, dumped),
        };
        // Read from the compiled code (the dump just made, if any), so no
        // comment or spacing can hide one (bytecode from the cache was
        // checked when it was compiled).
        if scan {
            match to_be_closed_line(&function, bytecode.as_deref().or(scanned.as_deref())) {
                Ok(None) => {}
                Ok(Some(line)) => {
                    return Err(LoadError::Syntax {
                        script: script.to_owned(),
                        line,
                        message: CLOSE_REFUSED.to_owned(),
                    });
                }
                Err(message) => return Err(LoadError::Vm { script: script.to_owned(), message }),
            }
        }
        let state = CallState::default();
        let main = self.lua.state();
        let (result, hit) = self.bridge.call(&state, None, None, |scope| {
            // SAFETY: the VM's main thread, on this thread, alive for the call.
            unsafe { scope.run_lua(main, || function.call::<mlua::Value>(())) }
        });
        let frozen = self.env.freeze.call::<()>(());
        let result = match (result, hit) {
            // It finished, but after its time was up.
            (Ok(_), Some(hit)) => Err(crate::bridge::limit_error(hit)),
            (result, _) => result,
        };
        match result.and_then(|value| frozen.map(|()| value)) {
            Ok(value) => Ok((value, bytecode)),
            Err(e) => Err(match hit {
                Some(hit) => LoadError::Limit { script: script.to_owned(), message: hit.describe() },
                None if is_memory_error(&e) => LoadError::Limit {
                    script: script.to_owned(),
                    message: super::memory_message(self.bridge_limits(), ""),
                },
                None => LoadError::Runtime { script: script.to_owned(), message: lua_error_message(&e) },
            }),
        }
    }

    /// `code` compiled (or loaded) through mlua's `Chunk`, with the script's
    /// environment: the path that reports why a chunk does not load (and
    /// Luau's; see [`raw_compile`]).
    fn compile_checked(&self, code: &Code<'_>, is_source: bool) -> Result<Function, LoadError> {
        let script = self.script.as_str();
        let chunk = match *code {
            Code::Source(src) => self.lua.load(src).set_name(format!("@{script}")).set_mode(ChunkMode::Text),
            Code::Bytecode(b) => self.lua.load(b).set_name(format!("@{script}")).set_mode(ChunkMode::Binary),
        }
        .set_environment(self.env.env.clone());
        chunk.into_function().map_err(|e| match &e {
            mlua::Error::SyntaxError { message, .. } => LoadError::syntax(script, message),
            // The compiler's own limits (e.g. "C stack overflow" on absurd nesting).
            other if is_source => LoadError::syntax(script, &lua_error_message(other)),
            other => LoadError::Vm { script: script.to_owned(), message: lua_error_message(other) },
        })
    }

    /// The VM running `functions`, for a chain with events named `event_names`.
    pub(crate) fn into_vm<'a>(
        self,
        functions: Functions,
        event_names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vm, LoadError> {
        let script = self.script.clone();
        build_vm(self, functions, event_names).map_err(|e| LoadError::Vm { script, message: e.to_string() })
    }
}

fn build_vm<'a>(
    base: VmBase,
    functions: Functions,
    event_names: impl IntoIterator<Item = &'a str>,
) -> mlua::Result<Vm> {
    let Functions { handlers, middleware } = functions;
    let lua = &base.lua;
    let middleware: Vec<_> = middleware
        .into_iter()
        .map(|f| f.map(|f| lua.create_registry_value(f)).transpose())
        .collect::<Result<_, _>>()?;
    let next_fn = lua.create_registry_value(&base.next_fn)?;
    let raw = RawCaller::new(lua)?;
    // Only Lua middleware is called with an `event` record.
    let with_records = middleware.iter().any(Option::is_some);
    let event_records = EventRecords::new(event_names.into_iter().filter(|_| with_records), |name| {
        base.event_record(name).and_then(|r| lua.create_registry_value(r))
    })?;
    Ok(Vm { base, handlers, middleware, next_fn, raw, event_records })
}

mod raw_compile;

/// The garbage collector while a VM is built.
///
/// Everything steps 1 to 5 make stays alive as long as the VM (libraries,
/// wrappers, views), so collecting during them only marks live objects again
/// and again: left running, the incremental collector went through a cycle
/// or two per VM (about 7 % of building one, callgrind). It is paused from
/// the moment the libraries are open and resumed before the caps are set and
/// the script's chunk is compiled and run, in the state a cycle ending right
/// then would leave: the next cycle starts once the heap has grown by its
/// current size (the default pause of 200 %), as it would have after the last
/// cycle of a running collector. Lua 5.4 and LuaJIT; other engines keep their
/// collector running.
mod collector {
    use mlua::Lua;

    /// Stops the collector (see the module docs).
    pub(super) fn pause(lua: &Lua) {
        if cfg!(any(feature = "lua54", feature = "luajit")) {
            lua.gc_stop();
        }
    }

    /// Restarts the collector with the next cycle a heap's size away.
    #[cfg(feature = "lua54")]
    pub(super) fn resume(lua: &Lua) -> mlua::Result<()> {
        let kbytes = std::ffi::c_int::try_from(lua.used_memory() / 1024).unwrap_or(std::ffi::c_int::MAX);
        // SAFETY: `lua_gc` with these options neither raises errors nor
        // touches the stack. A step of negative size only lowers the debt
        // (`debt = data * 1024 + debt`, lapi.c): no collection work is done.
        unsafe {
            lua.exec_raw::<()>((), |state| {
                mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCRESTART, 0);
                mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSTEP, -kbytes);
            })
        }
    }

    /// LuaJIT: a restart with `-1` sets the threshold to the heap times the pause.
    #[cfg(feature = "luajit")]
    pub(super) fn resume(lua: &Lua) -> mlua::Result<()> {
        // SAFETY: `lua_gc(LUA_GCRESTART)` only sets the threshold (lj_api.c).
        unsafe {
            lua.exec_raw::<()>((), |state| {
                mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCRESTART, -1);
            })
        }
    }

    /// Other engines: the collector was not paused.
    #[cfg(not(any(feature = "lua54", feature = "luajit")))]
    pub(super) fn resume(_: &Lua) -> mlua::Result<()> {
        Ok(())
    }
}

/// The bytecode of a loaded function, with line information (every engine but Luau).
#[cfg(not(feature = "luau"))]
fn dump_function(function: &Function) -> Option<Vec<u8>> {
    Some(function.dump(false))
}

/// Luau cannot dump a loaded function: its bytecode comes from [`precompile`].
#[cfg(feature = "luau")]
fn dump_function(_: &Function) -> Option<Vec<u8>> {
    None
}

/// Luau: `src` compiled to bytecode (with line information) by the Luau
/// compiler, as `Lua::load` would compile it. `None` on a syntax error: loading
/// the text then reports it with the script's name and line.
#[cfg(feature = "luau")]
fn precompile(src: &str) -> Option<Vec<u8>> {
    mlua::chunk::Compiler::new().compile(src).ok()
}

/// Other engines dump the loaded function instead (see [`dump_function`]).
#[cfg(not(feature = "luau"))]
fn precompile(_: &str) -> Option<Vec<u8>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(limits: Limits) -> VmConfig<'static> {
        VmConfig { script: "build.lua", sandbox: Sandbox::default(), host_fns: &[], limits }
    }

    fn run(source: &str, limits: Limits) -> Result<Ran, LoadError> {
        config(limits).run(Code::Source(source), false)
    }

    #[test]
    fn the_collector_runs_once_the_vm_is_built() {
        let Ran { vm, .. } = run("return { events = {} }", Limits::default()).expect("loads");
        // (LuaJIT cannot tell; there the churn below fails when the collector stays stopped.)
        #[cfg(not(feature = "luajit"))]
        assert!(vm.lua().gc_is_running(), "paused while building, resumed before the script ran");
        #[cfg(feature = "luajit")]
        drop(vm);
        // Garbage of the script's own code is collected (the collector runs under the caps).
        let limits = Limits { instructions: None, memory_bytes: Some(4 << 20), timeout: None };
        let churn = "for i = 1, 200000 do local t = { i, i + 1, tostring(i) } end return { events = {} }";
        assert!(run(churn, limits).is_ok(), "garbage collected while the chunk runs");
    }

    #[test]
    fn every_vm_is_bounded_by_the_machines_memory() {
        let ceiling = crate::memory_ceiling::ceiling();
        for (cap, expected) in [(None, ceiling), (Some(usize::MAX), ceiling), (Some(8 << 20), 8 << 20)] {
            let Ran { vm, .. } =
                run("return { events = {} }", Limits { memory_bytes: cap, ..Limits::UNLIMITED }).expect("loads");
            // (mlua hands back the limit it replaces.)
            let limit = vm.lua().set_memory_limit(expected).expect("memory control");
            assert_eq!(
                limit, expected,
                "cap {cap:?}: never 0, which is no limit (and an abort when the system refuses)"
            );
        }
    }

    #[test]
    fn the_async_next_is_made_on_first_use_and_kept() {
        let Ran { vm, .. } = run("return { events = {} }", Limits::default()).expect("loads");
        assert!(vm.async_next_fn.get().is_none(), "not made for a VM that never runs asynchronously");
        let first = vm.async_next().expect("made");
        let again = vm.async_next().expect("kept");
        assert_eq!(first, again, "one function for every call");
    }

    #[test]
    fn event_records_are_made_only_for_lua_middleware() {
        let vm_of = |source: &str| {
            let Ran { vm, returned, .. } = run(source, Limits::default()).expect("loads");
            let (spec, functions) = crate::spec::parse(vm.lua(), "build.lua", returned, usize::MAX).expect("valid");
            vm.into_vm(functions, spec.event_names()).expect("vm")
        };
        let events = "events = { { name = 'a', handler = function() end }, { name = 'b', handler = function() end } }";
        assert_eq!(vm_of(&format!("return {{ {events} }}")).event_records.len(), 0);
        let with_middleware = format!("return {{ middleware = {{ function(e, c, n) return n(c) end }}, {events} }}");
        assert_eq!(vm_of(&with_middleware).event_records.len(), 2);
    }
}
