//! The entry of `string.find/match/gmatch/gsub`: a C closure choosing the
//! engine's C function or the bounded path.
//!
//! A call whose subject and pattern are strings and whose worst case is
//! cheap ([`is_cheap`](super::is_cheap): one pass over the pattern) runs the
//! engine's own C function at once: it is called directly in this closure's
//! frame (no second Lua call; its errors name the function and the caller's
//! line as the original's would); on Luau through `lua_call`. Every other
//! call (costly, or numbers for strings) goes to the bounded path, a Lua
//! function that converts the arguments and calls the Rust matcher; its
//! first argument says whether both were strings already found costly.
//!
//! Upvalues: 1 the C function, 2 the bounded path, 3 the budget (a number).
//! No Rust value with a destructor is alive when Lua may raise an error.

use std::ffi::c_int;

use mlua::{Function, Lua, ffi};

use super::is_cheap;
use crate::fast_ctx::string_at;

/// The dispatching closure over `original` (a C function), `bounded` and `budget`.
pub(crate) fn install_dispatch(
    lua: &Lua,
    original: Function,
    bounded: Function,
    budget: f64,
) -> mlua::Result<Function> {
    // SAFETY: the closure gets `[original, bounded, budget]` and leaves exactly
    // one value, the new C closure (which takes the three as upvalues).
    unsafe {
        lua.exec_raw::<Function>((original, bounded, budget), |state| {
            ffi::lua_pushcclosure(state, dispatch, 3);
        })
    }
}

unsafe extern "C-unwind" fn dispatch(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install_dispatch`, so its three upvalues exist.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        if nargs >= 2
            && let (Some(subject), Some(pattern)) = (string_at(state, 1), string_at(state, 2))
            && is_cheap(pattern, subject.len(), ffi::lua_tonumber(state, ffi::lua_upvalueindex(3)))
        {
            #[cfg(not(feature = "luau"))]
            if let Some(original) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) {
                // The C function works on this frame's arguments and results.
                return original(state);
            }
            return call_upvalue(state, 1, nargs);
        }
        // The bounded path learns whether the subject and pattern are strings
        // already known to be costly (it converts and checks them otherwise).
        let known =
            nargs >= 2 && ffi::lua_type(state, 1) == ffi::LUA_TSTRING && ffi::lua_type(state, 2) == ffi::LUA_TSTRING;
        ffi::lua_pushboolean(state, c_int::from(known));
        ffi::lua_insert(state, 1);
        call_upvalue(state, 2, nargs + 1)
    }
}

/// Calls upvalue `up` with this call's `nargs` arguments, returning all its results.
unsafe fn call_upvalue(state: *mut ffi::lua_State, up: c_int, nargs: c_int) -> c_int {
    // SAFETY (caller): upvalue `up` exists; a C function has room for one more value.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(up));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}
