//! The limit prelude's wrappers as C closures (Lua 5.4 and 5.5): `pcall`,
//! `xpcall`, `coroutine.resume` and `coroutine.wrap` re-raise a limit error
//! (a script cannot catch its way past a limit) and bound how deep
//! coroutines resume one another. The other engines run
//! `LIMIT_PRELUDE` (sandbox.rs), the same in Lua.
//!
//! Built in Lua, these were eight functions to load in every new VM (about
//! 2,500 instructions each). `pcall` and `xpcall` are the base library's own
//! code (`luaB_pcall`, `luaB_xpcall`: `lua_pcallk` with a continuation, so a
//! coroutine, e.g. an async execution, still yields through them) with the
//! limit check added to the continuation. `coroutine.resume` and the
//! functions of `coroutine.wrap` run the engine's `coroutine.resume` (a C
//! function without upvalues) in their own frame, so its argument errors name
//! the function the script called, as an unwrapped call's would
//! (`bad argument #1 to 'wrap'` where the Lua wrapper said `'create'`).
//!
//! Upvalues: `pcall`, `xpcall` and the message handler guard: 1
//! `limit_hit()` (whether the running call has hit a limit); the guard 2 the
//! script's handler. `resume`: 1 `limit_hit`, 2 `resume_depth(delta, co)`
//! (`false` when one more nested resume is refused), 3 the engine's
//! `coroutine.resume`; `wrap` the same three, its functions those three and
//! 4 their coroutine.
//!
//! No Rust value with a destructor is alive when Lua may raise an error.

use std::ffi::c_int;

use mlua::ffi;

use crate::execution_threads::{REFUSED, is_execution_thread};
use crate::raw_fields::{get_field, set_field};

/// Why a resume is refused (as the Lua prelude says it).
const TOO_DEEP: &str = "too many nested coroutines (each coroutine.resume nests the C stack)";

/// Replaces `pcall`, `xpcall`, `coroutine.resume`, `coroutine.wrap` and
/// `coroutine.close` in the globals (the coroutine functions only when
/// `coroutine` is there), on a stack holding the globals at 1, `limit_hit`
/// at 2 and `resume_depth` at 3 (and nothing else); leaves it empty. The VM build runs it in the raw
/// call that makes those two functions (`vm/build.rs`, `limit_prelude`).
///
/// # Safety
///
/// The stack as above, room for three more values; raises only memory
/// errors (call it protected).
pub(crate) unsafe fn install_in(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract; each step leaves the stack at those three.
    unsafe {
        for (name, function) in [(c"pcall", pcall as ffi::lua_CFunction), (c"xpcall", xpcall)] {
            ffi::lua_pushvalue(state, 2);
            ffi::lua_pushcclosure(state, function, 1);
            set_field(state, 1, name);
        }
        get_field(state, 1, c"coroutine");
        if ffi::lua_type(state, 4) == ffi::LUA_TTABLE {
            get_field(state, 4, c"resume"); // 5: the engine's resume
            if ffi::lua_tocfunction(state, 5).is_some() && ffi::lua_getupvalue(state, 5, 1).is_null() {
                for (name, function) in [(c"resume", resume as ffi::lua_CFunction), (c"wrap", wrap)] {
                    ffi::lua_pushvalue(state, 2);
                    ffi::lua_pushvalue(state, 3);
                    ffi::lua_pushvalue(state, 5);
                    ffi::lua_pushcclosure(state, function, 3);
                    set_field(state, 4, name);
                }
                ffi::lua_settop(state, 4);
                get_field(state, 4, c"close"); // 5: the engine's close
                if ffi::lua_tocfunction(state, 5).is_some() && ffi::lua_getupvalue(state, 5, 1).is_null() {
                    ffi::lua_pushcclosure(state, close, 1);
                    set_field(state, 4, c"close");
                }
            }
        }
        ffi::lua_settop(state, 0);
    }
}

/// Whether the running call has hit a limit (`limit_hit()`, upvalue 1).
unsafe fn limit_hit(state: *mut ffi::lua_State) -> bool {
    // SAFETY: (caller) a closure of this module. The results of a resume
    // may fill the frame's stack: room is made (or "stack overflow" raised).
    unsafe {
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_call(state, 0, 1);
        let hit = ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_settop(state, -2);
        hit
    }
}

/// The end of `pcall` and `xpcall` (also their continuation after a yield):
/// the results, or `false` and the error, which is raised again when the
/// call has hit a limit. `extra`: values below the results (xpcall's two).
unsafe extern "C-unwind" fn finish(state: *mut ffi::lua_State, status: c_int, extra: ffi::lua_KContext) -> c_int {
    // SAFETY: a frame of `pcall` or `xpcall`; the error on top on failure.
    unsafe {
        if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
            if limit_hit(state) {
                ffi::lua_error(state);
            }
            ffi::lua_pushboolean(state, 0);
            ffi::lua_pushvalue(state, -2);
            return 2;
        }
        ffi::lua_gettop(state) - extra as c_int
    }
}

/// `pcall(f, ...)` (as `luaB_pcall`, see [`finish`]).
unsafe extern "C-unwind" fn pcall(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install`.
    unsafe {
        ffi::luaL_checkany(state, 1);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_insert(state, 1);
        let status = ffi::lua_pcallk(state, ffi::lua_gettop(state) - 2, ffi::LUA_MULTRET, 0, 0, Some(finish));
        finish(state, status, 0)
    }
}

/// `xpcall(f, handler, ...)` (as `luaB_xpcall`), the handler guarded: Lua
/// runs a message handler for an error raised by the limit hook with hooks
/// disabled, so it is skipped once a limit is hit.
unsafe extern "C-unwind" fn xpcall(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install`.
    unsafe {
        let n = ffi::lua_gettop(state);
        ffi::luaL_checktype(state, 2, ffi::LUA_TFUNCTION);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_pushvalue(state, 2);
        ffi::lua_pushcclosure(state, guard, 2);
        ffi::lua_replace(state, 2);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_rotate(state, 3, 2);
        let status = ffi::lua_pcallk(state, n - 2, ffi::LUA_MULTRET, 2, 2, Some(finish));
        finish(state, status, 2)
    }
}

/// `xpcall`'s message handler: the error as is once a limit is hit, else
/// what the script's handler (upvalue 2) returns.
unsafe extern "C-unwind" fn guard(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `xpcall`.
    unsafe {
        if limit_hit(state) {
            ffi::lua_settop(state, 1);
            return 1;
        }
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}

/// `resume_depth(1, co)` for the coroutine at `co` (0: none): counts a
/// resume; `false` when it is refused (too deep). A resume is uncounted by
/// [`leave_resume`], which calls nothing.
unsafe fn enter_resume(state: *mut ffi::lua_State, co: c_int) -> bool {
    // SAFETY: (caller) a closure of this module (upvalue 2). The results of
    // the resume just run may fill the frame's stack: room is made (or
    // "stack overflow" raised).
    unsafe {
        ffi::luaL_checkstack(state, 3, std::ptr::null());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_pushinteger(state, 1);
        if co == 0 {
            ffi::lua_pushnil(state);
        } else {
            ffi::lua_pushvalue(state, co);
        }
        ffi::lua_call(state, 2, 1);
        let allowed = ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_settop(state, -2);
        allowed
    }
}

/// Raises [`TOO_DEEP`] at the caller's line (as `error(TOO_DEEP, 2)` in the Lua wrapper).
unsafe fn too_deep(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: (caller) a C function's frame; room for two values.
    unsafe { raise_at_caller(state, TOO_DEEP) }
}

/// Raises `message` at the caller's line.
unsafe fn raise_at_caller(state: *mut ffi::lua_State, message: &str) -> c_int {
    // SAFETY: (caller) a C function's frame; room for two values.
    unsafe {
        ffi::luaL_where(state, 1);
        ffi::lua_pushlstring(state, message.as_ptr().cast(), message.len());
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    }
}

/// Resumes the coroutine at 1 with this frame's other arguments, lowers
/// the resume depth (counted by the caller) and returns the number of
/// results (on top: `true` and the values, or `false` and the error).
///
/// A coroutine is resumed here as the engine's `coroutine.resume` does it
/// (lcorolib.c's `luaB_coresume` and `auxresume`, the same on 5.4 and 5.5),
/// so that the coroutine is named the Lua thread running on this OS thread
/// (for the deadline signal, `crate::running_lua`) exactly while
/// `lua_resume` runs: `lua_resume` reports the coroutine's errors as a
/// status and raises none, and nothing else between the two switches can
/// raise. (Calling the engine's function between them left a window: its
/// "too many results" message is a new string, a memory error there unwound
/// past the switch back, and a protected call of a host function catching
/// it left the record naming a coroutine the collector could then free.)
///
/// The depth is lowered the same way, before anything that can raise (a
/// message string, moving the results, a call): [`leave_resume`] neither
/// allocates nor calls. (Lowering it after, through `resume_depth(-1)`, left
/// it raised whenever the message or that call raised, e.g. a memory error
/// or "stack overflow" with a million arguments on the stack; the nesting
/// bound then refused every later resume of the execution.)
///
/// # Safety
/// A closure of this module (upvalue 2 `resume_depth`) with a live thread of
/// this VM at 1, its arguments above, one resume counted.
unsafe fn run_resume(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: (caller) as `auxresume`: room checked before each move.
    unsafe {
        let co = ffi::lua_tothread(state, 1);
        let narg = ffi::lua_gettop(state) - 1;
        if ffi::lua_checkstack(co, narg) == 0 {
            leave_resume(state);
            ffi::lua_pushstring(state, c"too many arguments to resume".as_ptr());
            return resume_failed(state);
        }
        ffi::lua_xmove(state, co, narg);
        let mut nres: c_int = 0;
        #[cfg(unix)]
        let switched = crate::running_lua::switch(state, co);
        let status = ffi::lua_resume(co, state, narg, &raw mut nres);
        #[cfg(unix)]
        if switched {
            crate::running_lua::switch(co, state);
        }
        leave_resume(state);
        if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
            ffi::lua_xmove(co, state, 1); // the error
            return resume_failed(state);
        }
        if ffi::lua_checkstack(state, nres + 1) == 0 {
            ffi::lua_pop(co, nres);
            ffi::lua_pushstring(state, c"too many results to resume".as_ptr());
            return resume_failed(state);
        }
        ffi::lua_xmove(co, state, nres);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_insert(state, -(nres + 1));
        nres + 1
    }
}

/// Lowers the resume depth a resume counted, without calling
/// `resume_depth` (upvalue 2): see [`crate::vm::leave_resume`].
///
/// # Safety
/// A closure of this module with a free stack slot (a C function's frame
/// has `LUA_MINSTACK` above its arguments; the callers push at most a few).
unsafe fn leave_resume(state: *mut ffi::lua_State) {
    // SAFETY: (caller) upvalue 2 is the `resume_depth` closure `install_in` got.
    unsafe { crate::vm::leave_resume(state, ffi::lua_upvalueindex(2)) }
}

/// The engine's `coroutine.resume` (upvalue 3, a C function without
/// upvalues) in this frame: for a first argument that is not a thread, so
/// that it raises its argument error, as an unwrapped call's.
unsafe fn raw_resume(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: (caller) a closure of this module; `install` checked upvalue 3.
    unsafe {
        let Some(raw_resume) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(3)) else {
            return ffi::luaL_error(state, c"coroutine.resume is not a C function".as_ptr());
        };
        raw_resume(state)
    }
}

/// A failed resume's results: `false` under the error on top.
///
/// # Safety
/// A C function's frame with the error on top and room for one value.
unsafe fn resume_failed(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: (caller) a value on top; `lua_insert` moves it within the stack.
    unsafe {
        ffi::lua_pushboolean(state, 0);
        ffi::lua_insert(state, -2);
    }
    2
}

/// `coroutine.resume(co, ...)`: refused past the nesting bound; a failed
/// resume's error raised again when the call has hit a limit.
unsafe extern "C-unwind" fn resume(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install`; a C function has room for the
    // two values the mark check reads.
    unsafe {
        if ffi::lua_type(state, 1) != ffi::LUA_TTHREAD {
            // Its argument error, before anything is counted (an error
            // raised after the count would leave it raised).
            return raw_resume(state);
        }
        if is_execution_thread(state, 1) {
            return raise_at_caller(state, REFUSED);
        }
        if !enter_resume(state, 1) {
            return too_deep(state);
        }
        let results = run_resume(state);
        let first = ffi::lua_gettop(state) - results + 1;
        if results >= 2 && ffi::lua_toboolean(state, first) == 0 && limit_hit(state) {
            ffi::lua_settop(state, first + 1);
            ffi::lua_error(state);
        }
        results
    }
}

/// `coroutine.close(co)`, refusing an execution's coroutine (see
/// [`crate::execution_threads`]); then the engine's (upvalue 1, a C
/// function without upvalues, run in this frame: its errors name `close`).
unsafe extern "C-unwind" fn close(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install`; a C function has room for the
    // two values the mark check reads.
    unsafe {
        if is_execution_thread(state, 1) {
            return raise_at_caller(state, REFUSED);
        }
        match ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) {
            Some(close) => close(state),
            None => ffi::luaL_error(state, c"coroutine.close is not a C function".as_ptr()),
        }
    }
}

/// `coroutine.wrap(f)`: a function resuming a new coroutine running `f`
/// (made by the engine's `coroutine.create`, reached as `coroutine.create`
/// would be by the script: a plain C function) with the checks of `resume`.
unsafe extern "C-unwind" fn wrap(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install`.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TFUNCTION);
        let co = ffi::lua_newthread(state);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_xmove(state, co, 1);
        for up in 1..=3 {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(up));
        }
        ffi::lua_rotate(state, -4, 3); // the three upvalues, then the thread
        ffi::lua_pushcclosure(state, wrapped, 4);
        1
    }
}

/// A function of `coroutine.wrap`: resumes its coroutine (upvalue 4) with
/// its arguments; its values, or its error raised again as the engine's
/// `auxwrap` raises it: a string gets the caller's position in front
/// (`luaL_where(L, 1)`; none when the caller is a C function), unless the
/// coroutine died of a memory error.
unsafe extern "C-unwind" fn wrapped(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `wrap`.
    unsafe {
        if !enter_resume(state, ffi::lua_upvalueindex(4)) {
            return too_deep(state);
        }
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(4));
        ffi::lua_insert(state, 1);
        let results = run_resume(state);
        let first = ffi::lua_gettop(state) - results + 1;
        if ffi::lua_toboolean(state, first) == 0 {
            ffi::lua_settop(state, first + 1);
            let co = ffi::lua_tothread(state, 1);
            if ffi::lua_status(co) != ffi::LUA_ERRMEM && ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                ffi::luaL_where(state, 1);
                ffi::lua_insert(state, -2);
                ffi::lua_concat(state, 2);
            }
            ffi::lua_error(state);
        }
        results - 1
    }
}

#[cfg(test)]
mod tests {
    use crate::limits::Limits;
    use crate::sandbox::Sandbox;
    use crate::vm::{Code, Ran, VmConfig};

    fn vm(limits: Limits) -> Ran {
        let config = VmConfig { script: "calls.lua", sandbox: Sandbox::default(), host_fns: &[], limits };
        config.run(Code::Source("return {}"), false).expect("vm")
    }

    fn eval(ran: &Ran, code: &str) -> String {
        ran.vm.lua().load(code).set_name("@calls.lua").eval::<String>().unwrap_or_else(|e| format!("raised: {e}"))
    }

    /// Results, errors and hostile arguments, as the base library's functions give them.
    #[test]
    fn pcall_and_xpcall_behave_as_the_base_library() {
        let ran = vm(Limits::UNLIMITED);
        for (code, expected) in [
            (
                "return table.concat({ tostring(pcall(function(...) return select('#', ...) end, 1, nil, 3)) }, ' ')",
                "true",
            ),
            ("local ok, a, b = pcall(function(...) return ... end, 'x', 'y') return tostring(ok) .. a .. b", "truexy"),
            ("return select('#', pcall(function() end))", "1"),
            ("local ok, e = pcall(error, { code = 7 }) return tostring(ok) .. e.code", "false7"),
            ("local ok, e = pcall(42) return tostring(ok) .. ' ' .. e", "false attempt to call a number value"),
            (
                "local ok, e = pcall(pcall) return tostring(ok) .. ' ' .. e",
                "false bad argument #1 to 'pcall' (value expected)",
            ),
            ("return select('#', pcall(table.unpack, {}, 1, 200))", "201"),
            (
                "local ok, e = xpcall(error, function(m) return 'handled ' .. m end, 'boom', 0) return tostring(ok) .. ' ' .. e",
                "false handled boom",
            ),
            (
                "local ok, a, b = xpcall(function(x, y) return y, x end, print, 1, 2) return tostring(ok) .. a .. b",
                "true21",
            ),
            (
                "local ok, e = pcall(xpcall, print, 42) return e",
                "bad argument #2 to 'xpcall' (function expected, got number)",
            ),
            ("local ok, e = pcall(xpcall) return e", "bad argument #2 to 'xpcall' (function expected, got no value)"),
            // A handler that errors: Lua's own answer (an error in the error handling).
            (
                "local ok, e = xpcall(error, function() error('again') end) return tostring(ok) .. ' ' .. type(e)",
                "false string",
            ),
            (
                "local mt = setmetatable({}, { __call = function(_, x) return x * 2 end }) local ok, v = pcall(mt, 21) return tostring(v)",
                "42",
            ),
        ] {
            assert_eq!(eval(&ran, code), expected, "{code}");
        }
    }

    /// A coroutine (an async execution is one) yields through `pcall` and
    /// `xpcall` (their continuations) and gets their results after resuming.
    #[test]
    fn coroutines_yield_through_pcall_and_xpcall() {
        let ran = vm(Limits::UNLIMITED);
        let code = r#"
            local co = coroutine.wrap(function()
              local ok, v = pcall(function() return coroutine.yield('a') + 1 end)
              local ok2, e = xpcall(function() coroutine.yield('b') error('late', 0) end, function(m) return 'h:' .. m end)
              local ok3, e3 = pcall(function() coroutine.yield('c') error({}) end)
              return tostring(ok) .. v .. tostring(ok2) .. e .. tostring(ok3) .. type(e3)
            end)
            return co() .. co(41) .. co() .. co()
        "#;
        let out = eval(&ran, code);
        assert_eq!(out, "abctrue42falseh:latefalsetable");
    }

    /// A limit error is not caught by `pcall`, `xpcall` (whose handler is
    /// skipped) or `coroutine.resume`, even after the call yielded once: the
    /// code after the catching call never runs.
    #[test]
    fn limit_errors_pass_through() {
        let limits = Limits { instructions: Some(200_000), memory_bytes: None, timeout: None };
        for attack in [
            "pcall(function() while true do end end)",
            "xpcall(function() while true do end end, function(m) t.handled = true return m end)",
            "local co = coroutine.create(function() while true do end end) coroutine.resume(co)",
            "pcall(coroutine.wrap(function() while true do end end))",
            "local co = coroutine.wrap(function() pcall(function() coroutine.yield() while true do end end) end) co() co()",
            "pcall(pcall, pcall, function() while true do end end)",
        ] {
            let ran = vm(limits);
            let code = format!("local t = {{}} return t, function() {attack} t.after = true end");
            let (seen, attack_fn): (mlua::Table, mlua::Function) =
                ran.vm.lua().load(&code).set_name("@calls.lua").eval().expect("loads");
            let state = crate::bridge::CallState::default();
            let bridge = ran.vm.lua().app_data_ref::<std::rc::Rc<crate::bridge::Bridge>>().expect("bridge").clone();
            let (result, hit) = bridge.call(&state, None, None, |_| attack_fn.call::<()>(()));
            assert!(result.is_err() && hit.is_some(), "{attack}: {result:?} {hit:?}");
            assert_eq!(seen.get::<Option<bool>>("after").expect("read"), None, "{attack}: the limit was caught");
            assert_eq!(seen.get::<Option<bool>>("handled").expect("read"), None, "{attack}: the handler ran");
        }
    }

    #[test]
    fn coroutine_resume_and_wrap_behave_as_the_library_and_bound_nesting() {
        let ran = vm(Limits::UNLIMITED);
        for (code, expected) in [
            (
                "local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
              local _, x = coroutine.resume(co, 1) local ok, y = coroutine.resume(co, 5)
              local dead, e = coroutine.resume(co)
              return x .. y .. tostring(ok) .. tostring(dead) .. e",
                "210truefalsecannot resume dead coroutine",
            ),
            (
                "local ok, e = pcall(coroutine.resume, 42) return e",
                "bad argument #1 to 'coroutine.resume' (thread expected, got number)",
            ),
            (
                "local ok, e = pcall(coroutine.resume) return e",
                "bad argument #1 to 'coroutine.resume' (thread expected, got no value)",
            ),
            (
                "local ok, e = pcall(function() coroutine.resume({}) end) return e",
                "calls.lua:1: bad argument #1 to 'resume' (thread expected, got table)",
            ),
            (
                "local ok, e = pcall(coroutine.wrap, {}) return e",
                "bad argument #1 to 'coroutine.wrap' (function expected, got table)",
            ),
            (
                "local f = coroutine.wrap(function(...) return select('#', ...), ... end) return table.concat({ f(1, nil, 3) }, ',', 1, 2)",
                "3,1",
            ),
            (
                "local f = coroutine.wrap(function() error({ code = 9 }) end) local ok, e = pcall(f) return tostring(ok) .. e.code",
                "false9",
            ),
            ("local f = coroutine.wrap(function() error('x', 0) end) local ok, e = pcall(f) return e", "x"),
            // Results that fill the frame's stack (the depth and limit checks still have room).
            (
                "local co = coroutine.create(function() return table.unpack({}, 1, 250) end) return select('#', coroutine.resume(co))",
                "251",
            ),
            ("return select('#', coroutine.wrap(function() return table.unpack({}, 1, 250) end)())", "250"),
            (
                "local co = coroutine.create(function() coroutine.yield(table.unpack({}, 1, 250)) end) return select('#', coroutine.resume(co))",
                "251",
            ),
            ("return select('#', pcall(coroutine.wrap(function() return table.unpack({}, 1, 250) end)))", "251"),
            (
                "local f = coroutine.wrap(function() end) f() local ok, e = pcall(f) return e",
                "cannot resume dead coroutine",
            ),
            (
                "local co = coroutine.create(function() error('in co', 0) end) local ok, e = coroutine.resume(co) return tostring(ok) .. e",
                "falsein co",
            ),
            // As the engine's `auxwrap`: the inner call (a Lua caller) puts its
            // line in front; the outer one (called by `pcall`, a C function) nothing.
            (
                "local f f = coroutine.wrap(function() return f() end) local ok, e = pcall(f) return e",
                "calls.lua:1: cannot resume non-suspended coroutine",
            ),
            (
                "local f = coroutine.wrap(function() error('x', 0) end) local ok, e = pcall(function() f() end) return e",
                "calls.lua:1: x",
            ),
        ] {
            assert_eq!(eval(&ran, code), expected, "{code}");
        }
        // Nesting is bounded (each resume nests the C stack) and the VM works afterwards.
        let deep = "local function nest(n) return coroutine.wrap(function() return nest(n + 1) end)() end
                    local ok, e = pcall(nest, 1) return e";
        assert!(eval(&ran, deep).contains("too many nested coroutines"), "{}", eval(&ran, deep));
        let deep = "local function nest(n) local co = coroutine.create(function() return nest(n + 1) end)
                      local ok, e = coroutine.resume(co) if not ok then error(e, 0) end return e end
                    local ok, e = pcall(nest, 1) return e";
        assert!(eval(&ran, deep).contains("calls.lua") || eval(&ran, deep).contains("too many nested coroutines"));
        assert!(eval(&ran, deep).contains("too many nested coroutines"), "{}", eval(&ran, deep));
        assert_eq!(eval(&ran, "return coroutine.wrap(function() return 'still works' end)()"), "still works");
    }
}
