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
//! A costly call of the common shape (two strings and nothing else; for
//! `gsub` a string, table or function replacement and no `n`) skips that
//! Lua function, whose checks it cannot fail: the closure calls the Rust
//! matcher's entry itself ([`Shape`]) and settles its answer as the Lua
//! function would (a message raised with the caller's position; a
//! replacement function's error passes through `gsub_at` unchanged).
//!
//! Upvalues: 1 the C function, 2 the bounded path, 3 the budget (a number),
//! 4 the Rust matcher's entry, 5 the [`Shape`] (a number).
//! No Rust value with a destructor is alive when Lua may raise an error.

use std::ffi::c_int;

use mlua::{Function, Lua, ffi};

use super::is_cheap;
use crate::bounded_lib;
use crate::fast_ctx::string_at;

/// Which pattern function a dispatch serves, and so how it calls the Rust
/// matcher's entry on the common shape of a costly call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// `find(s, p)`: `find_at(s, p, 1, FIND + ANCHOR)`, answered as is.
    Find = 1,
    /// `match(s, p)`: `find_at(s, p, 1, WHOLE + ANCHOR)`, the captures.
    Match = 2,
    /// `gmatch(s, p)`: `gmatch_at(s, p, 1)`, the iterator.
    Gmatch = 3,
    /// `gsub(s, p, repl)`: `gsub_at(s, p, repl, #s + 1)`, string and count.
    Gsub = 4,
}

/// The modes of `find_at` for `find(s, p)` and `match(s, p)`.
const FIND_MODE: ffi::lua_Integer = (bounded_lib::FIND + bounded_lib::ANCHOR) as ffi::lua_Integer;
const MATCH_MODE: ffi::lua_Integer = (bounded_lib::WHOLE + bounded_lib::ANCHOR) as ffi::lua_Integer;

/// The dispatching closure over `original` (a C function), `bounded`,
/// `budget` and the Rust matcher's `entry` for `shape`.
pub(crate) fn install_dispatch(
    lua: &Lua,
    original: Function,
    bounded: Function,
    budget: f64,
    (entry, shape): (Function, Shape),
) -> mlua::Result<Function> {
    // SAFETY: the closure gets the five upvalues and leaves exactly one
    // value, the new C closure (which takes the five as upvalues).
    unsafe {
        lua.exec_raw::<Function>((original, bounded, budget, entry, shape as u8), |state| {
            ffi::lua_pushcclosure(state, dispatch, 5);
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
        if known && let Some(results) = call_entry(state, nargs) {
            return results;
        }
        ffi::lua_pushboolean(state, c_int::from(known));
        ffi::lua_insert(state, 1);
        call_upvalue(state, 2, nargs + 1)
    }
}

/// A costly call of the common shape: the Rust matcher's entry called
/// directly, its answer settled as the bounded path's Lua function would.
/// `None` (nothing touched) for any other shape.
unsafe fn call_entry(state: *mut ffi::lua_State, nargs: c_int) -> Option<c_int> {
    // SAFETY (caller): a dispatch closure with two strings at 1 and 2; a C
    // function has room for two more values.
    unsafe {
        let shape = ffi::lua_tonumber(state, ffi::lua_upvalueindex(5)) as u8;
        let repl = ffi::lua_type(state, 3);
        let extra = match nargs {
            2 if shape == Shape::Find as u8 => FIND_MODE,
            2 if shape == Shape::Match as u8 => MATCH_MODE,
            2 if shape == Shape::Gmatch as u8 => 0,
            3 if shape == Shape::Gsub as u8
                && matches!(repl, ffi::LUA_TSTRING | ffi::LUA_TTABLE | ffi::LUA_TFUNCTION) =>
            {
                // gsub's `n`: every match (#s + 1 bounds their number).
                string_at(state, 1).map_or(0, <[u8]>::len) as ffi::lua_Integer + 1
            }
            _ => return None,
        };
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(4));
        ffi::lua_insert(state, 1);
        if shape == Shape::Gsub as u8 {
            ffi::lua_pushinteger(state, extra);
        } else {
            ffi::lua_pushinteger(state, 1);
            if shape != Shape::Gmatch as u8 {
                ffi::lua_pushinteger(state, extra);
            }
        }
        let args = ffi::lua_gettop(state) - 1;
        ffi::lua_call(state, args, ffi::LUA_MULTRET);
        let results = ffi::lua_gettop(state);
        // `false, message`: a malformed pattern or replacement, raised with
        // the caller's position (a replacement's own error went through).
        if ffi::lua_type(state, 1) == ffi::LUA_TBOOLEAN && ffi::lua_toboolean(state, 1) == 0 {
            ffi::lua_settop(state, 2);
            ffi::luaL_where(state, 1);
            ffi::lua_insert(state, 2);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state);
        }
        Some(match shape {
            // `nil`, or the start, the end and the captures: every value.
            s if s == Shape::Find as u8 => results,
            // `nil`, or the captures after the start and the end.
            s if s == Shape::Match as u8 => {
                if ffi::lua_isnil(state, 1) != 0 {
                    1
                } else {
                    results - 2
                }
            }
            s if s == Shape::Gmatch as u8 => 1,
            _ => 2,
        })
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
