//! The entry of `string.find/match/gmatch/gsub`: a C closure choosing the
//! engine's C function or the bounded path.
//!
//! A call whose subject and pattern are strings and whose worst case is
//! cheap ([`is_cheap`](super::is_cheap): one pass over the pattern) runs the
//! engine's own C function at once: it is called directly in this closure's
//! frame (no second Lua call; its errors name the function and the caller's
//! line as the original's would); on Luau through `lua_call`. Every other
//! call (costly, or numbers for strings) takes the bounded path:
//!
//! - Lua 5.4 and 5.5 ([`install_c_dispatch`]): in this closure's frame, in
//!   C ([`super::bounded`]): no Lua function, nothing to load per VM.
//!   Upvalues: 1 the C function, 2 the VM's bridge (light userdata), 3 the
//!   budget (a number), 4 `checkpoint` (it raises the limit error the bridge
//!   records, and holds the bridge's `Rc`), 5 the [`Shape`] (a number).
//! - LuaJIT and Luau ([`install_dispatch`]; on 5.4 in tests, to compare):
//!   a Lua function that converts the arguments and calls the Rust
//!   matcher; its first argument says whether both were strings already
//!   found costly. A costly call of the common shape (two strings and
//!   nothing else; for `gsub` a string, table or function replacement and
//!   no `n`) skips that Lua function, whose checks it cannot fail: the
//!   closure calls the Rust matcher's entry itself ([`Shape`]) and settles
//!   its answer as the Lua function would (a message raised with the
//!   caller's position; a replacement function's error passes through
//!   `gsub_at` unchanged). Upvalues: 1 the C function, 2 the bounded path,
//!   3 the budget (a number), 4 the Rust matcher's entry, 5 the [`Shape`].
//!
//! No Rust value with a destructor is alive when Lua may raise an error.

use std::ffi::c_int;

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::Function;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::Lua;
use mlua::ffi;

use super::is_cheap;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
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

#[cfg(any(feature = "lua54", feature = "lua55"))]
impl Shape {
    /// The shape of each pattern function, by name.
    pub(crate) const ALL: [(&'static str, Shape); 4] =
        [("find", Shape::Find), ("match", Shape::Match), ("gmatch", Shape::Gmatch), ("gsub", Shape::Gsub)];
}

/// The modes of `find_at` for `find(s, p)` and `match(s, p)`.
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
const FIND_MODE: ffi::lua_Integer = (bounded_lib::FIND + bounded_lib::ANCHOR) as ffi::lua_Integer;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
const MATCH_MODE: ffi::lua_Integer = (bounded_lib::WHOLE + bounded_lib::ANCHOR) as ffi::lua_Integer;

/// Replaces `string.find`, `match`, `gmatch` and `gsub` of the globals at
/// stack slot 1 by dispatching closures whose bounded path is in C (see the
/// module docs), charging `bridge` and raising its limit errors through the
/// `checkpoint` function at slot 2, which holds the `Rc` of `bridge`: the
/// pointer in the closures is valid as long as they can run (also, the
/// VM's `VmBase` and app data own the bridge until the VM is closed). A
/// field that is not a function is left alone. With the
/// `raw-pattern-bench` feature the engine's functions stay reachable as
/// `string.c_find` & co.
///
/// # Safety
/// Inside a protected raw call (`Lua::exec_raw`) whose stack holds the
/// globals at 1 and `checkpoint` at 2, with room for six more values; the
/// stack is left at those two. Raises only memory errors.
#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) unsafe fn install_c_dispatch(state: *mut ffi::lua_State, bridge: *mut std::ffi::c_void, budget: f64) {
    // SAFETY: the caller's contract; slot 3 the string table, 4 a key, 5 a function.
    unsafe {
        ffi::lua_pushstring(state, c"string".as_ptr());
        if ffi::lua_rawget(state, 1) == ffi::LUA_TTABLE {
            for (name, shape) in Shape::ALL {
                ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len()); // 4: the key
                ffi::lua_pushvalue(state, 4);
                if ffi::lua_rawget(state, 3) == ffi::LUA_TFUNCTION {
                    #[cfg(feature = "raw-pattern-bench")]
                    {
                        let raw = match shape {
                            Shape::Find => "c_find",
                            Shape::Match => "c_match",
                            Shape::Gmatch => "c_gmatch",
                            Shape::Gsub => "c_gsub",
                        };
                        ffi::lua_pushlstring(state, raw.as_ptr().cast(), raw.len());
                        ffi::lua_pushvalue(state, 5);
                        ffi::lua_rawset(state, 3);
                    }
                    ffi::lua_pushlightuserdata(state, bridge);
                    ffi::lua_pushnumber(state, budget);
                    ffi::lua_pushvalue(state, 2);
                    ffi::lua_pushinteger(state, shape as ffi::lua_Integer);
                    ffi::lua_pushcclosure(state, dispatch_c, 5);
                    ffi::lua_rawset(state, 3);
                }
                ffi::lua_settop(state, 3);
            }
        }
        ffi::lua_settop(state, 2);
    }
}

/// Lua 5.4 and 5.5: the dispatch whose bounded path is [`super::bounded`].
///
/// # Safety
/// Called by Lua, as a closure made by [`install_c_dispatch`] (its five
/// upvalues), with the call's arguments on its stack.
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe extern "C-unwind" fn dispatch_c(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install_c_dispatch`, so its five upvalues
    // exist as the module docs list them.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        match cheap_strings(state, nargs) {
            Some(true) => call_original(state, nargs),
            // Two strings, found costly: the bounded path need not look again.
            Some(false) => super::bounded::bounded(state, true),
            None => super::bounded::bounded(state, false),
        }
    }
}

/// Whether the call's worst case is under the budget (upvalue 3) when its
/// subject and pattern are strings; `None` when they are not both strings.
///
/// # Safety
/// A dispatch closure's frame with `nargs` arguments.
#[inline]
unsafe fn cheap_strings(state: *mut ffi::lua_State, nargs: c_int) -> Option<bool> {
    // SAFETY: the caller's contract; the strings are read without conversion.
    unsafe {
        if nargs >= 2
            && let (Some(subject), Some(pattern)) = (string_at(state, 1), string_at(state, 2))
        {
            return Some(is_cheap(pattern, subject.len(), ffi::lua_tonumber(state, ffi::lua_upvalueindex(3))));
        }
        None
    }
}

/// Runs the engine's function (upvalue 1) on this frame's `nargs`
/// arguments: in this frame when it is a C function (not on Luau, whose C
/// functions need their own frame), else through `lua_call`.
///
/// # Safety
/// A dispatch closure's frame holding its `nargs` arguments only.
#[inline]
pub(super) unsafe fn call_original(state: *mut ffi::lua_State, nargs: c_int) -> c_int {
    // SAFETY: the caller's contract; the string library's C functions read
    // only their arguments (no upvalues), so they can work in this frame.
    unsafe {
        #[cfg(not(feature = "luau"))]
        if let Some(original) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) {
            return original(state);
        }
        call_upvalue(state, 1, nargs)
    }
}

/// The dispatching closure over `original` (a C function), `bounded`,
/// `budget` and the Rust matcher's `entry` for `shape`.
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
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

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
unsafe extern "C-unwind" fn dispatch(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `install_dispatch`, so its five upvalues exist.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        if cheap_strings(state, nargs) == Some(true) {
            return call_original(state, nargs);
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
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
unsafe fn call_entry(state: *mut ffi::lua_State, nargs: c_int) -> Option<c_int> {
    // SAFETY: the caller's contract: a dispatch closure with two strings at 1 and 2; a C
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
    // SAFETY: the caller's contract: upvalue `up` exists; a C function has room for one more value.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(up));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}
