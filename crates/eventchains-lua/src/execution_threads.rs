//! The coroutines that run the calls of async executions, which scripts
//! must not resume or close.
//!
//! In an async execution every handler and Lua middleware runs as a
//! coroutine of the thread's VM ([`crate::vm`]'s `AsyncCall`), and many
//! executions are in flight on one VM. `coroutine.running()` hands a script
//! its call's coroutine; kept in a top-level local, it reaches another
//! execution, which could resume it while it waits for its host function:
//! the first call's code would then run inside the second one (on the
//! second's `ctx`, with results the second made up) and the first execution
//! fail when its runner resumes a finished coroutine. So the runner marks
//! every coroutine it makes ([`mark`]) and the sandbox's `coroutine.resume`
//! (and `coroutine.close` on Lua 5.4 and 5.5) refuse the marked ones
//! ([`is_execution_thread`]). The mark is a weak-keyed registry table: a
//! thread's entry goes with the thread.

use std::ffi::{CStr, c_int};

use mlua::{Lua, Thread, ffi};

/// The registry field holding the marked threads (weak keys).
const THREADS: &CStr = c"eventchains.execution_threads";

/// Why a resume (or close) of a marked coroutine is refused.
pub(crate) const REFUSED: &str = "this coroutine runs a call of an async execution (a handler or middleware): only \
                                  coroutines the script created can be resumed or closed";

/// Marks `thread` as an execution's coroutine (once, when the runner makes it).
pub(crate) fn mark(lua: &Lua, thread: &Thread) -> mlua::Result<()> {
    // SAFETY: `exec_raw` runs this in a protected call with the thread at 1
    // (memory errors are reported); the registry has no metatable, so the
    // field reads and writes are raw; the stack is left empty.
    unsafe {
        lua.exec_raw::<()>(thread, |state| {
            ffi::luaL_checkstack(state, 4, std::ptr::null());
            if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, THREADS.as_ptr()) != ffi::LUA_TTABLE {
                ffi::lua_settop(state, 1);
                ffi::lua_createtable(state, 0, 4);
                ffi::lua_createtable(state, 0, 1);
                ffi::lua_pushstring(state, c"k".as_ptr());
                ffi::lua_setfield(state, -2, c"__mode".as_ptr());
                ffi::lua_setmetatable(state, -2);
                ffi::lua_pushvalue(state, -1);
                ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, THREADS.as_ptr());
            }
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushboolean(state, 1);
            ffi::lua_rawset(state, -3);
            ffi::lua_settop(state, 0);
        })
    }
}

/// Whether the value at `idx` is a coroutine [`mark`]ed as an execution's.
///
/// # Safety
/// `state` is a running thread with room for two values; `idx` is a valid
/// (or absolute) index. Raises nothing (raw reads only).
pub(crate) unsafe fn is_execution_thread(state: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: the caller's contract; the registry has no metatable and the
    // marks table none that reads (only `__mode`): raw reads.
    unsafe {
        if ffi::lua_type(state, idx) != ffi::LUA_TTHREAD {
            return false;
        }
        let idx = ffi::lua_absindex(state, idx);
        if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, THREADS.as_ptr()) != ffi::LUA_TTABLE {
            ffi::lua_pop(state, 1);
            return false;
        }
        ffi::lua_pushvalue(state, idx);
        ffi::lua_rawget(state, -2);
        let marked = ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_pop(state, 2);
        marked
    }
}

/// [`is_execution_thread`] for a thread held by Rust (the engines whose
/// `coroutine.resume` is the Lua prelude's: LuaJIT, Luau).
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
pub(crate) fn is_marked(lua: &Lua, thread: &Thread) -> mlua::Result<bool> {
    // SAFETY: `exec_raw` runs this in a protected call with the thread at 1;
    // the check reads raw and leaves the stack as it found it.
    unsafe {
        lua.exec_raw::<bool>(thread, |state| {
            let marked = is_execution_thread(state, 1);
            ffi::lua_settop(state, 0);
            ffi::lua_pushboolean(state, c_int::from(marked));
        })
    }
}
