//! The bounded path of `string.find/match/gmatch/gsub` in C (Lua 5.4 and
//! 5.5): what the Lua functions of the other engines' prelude do
//! (`bounded_lib`'s `LUA_PATHS_SOURCE`), in the dispatch closure's frame.
//!
//! Reached for a call that is not cheap strings (see [`super::dispatch`]):
//! numbers for the subject or pattern are converted as the C functions
//! convert them (`lua_tolstring`); anything else, or a call found cheap
//! after the conversion, runs the engine's C function in this frame. A
//! costly call checks its other arguments as the C function does
//! (`luaL_optinteger`, `gsub`'s replacement type; the same messages, naming
//! the function as the script called it), then runs the Rust matcher, which
//! charges its steps to the bridge. A malformed pattern or replacement is
//! raised with the caller's position (as `luaL_error`, and as the Lua path's
//! `error(message, 3)`); a limit through `checkpoint`, which raises the
//! limit error the bridge recorded.
//!
//! Upvalues: as [`super::dispatch`] lists them for Lua 5.4 and 5.5. No Rust
//! value with a destructor is alive when Lua may raise an error (the
//! searcher and the step closure hold references and plain values; messages
//! are static texts).

use std::ffi::{c_char, c_int};

use mlua::ffi;

use super::bridged::{bridge_at, push_capture, raise, raise_limit};
use super::dispatch::{Shape, call_original};
use super::gmatch::gmatch_in_frame;
use super::replace::gsub_in_frame;
use super::{MatchError, Searcher, has_specials, is_cheap, plain_search};
use crate::bridge::Bridge;
use crate::fast_ctx::string_at;

/// Upvalue: the VM's bridge (light userdata).
const BRIDGE: c_int = 2;
/// Upvalue: the budget of the C matcher (a number).
const BUDGET: c_int = 3;
/// Upvalue: `checkpoint`, raising the bridge's limit error.
const RAISE: c_int = 4;
/// Upvalue: the [`Shape`] (a number).
const SHAPE: c_int = 5;

unsafe extern "C-unwind" {
    /// `luaL_typeerror` of lauxlib.c (Lua 5.4 and 5.5; not in `mlua::ffi`).
    fn luaL_typeerror(state: *mut ffi::lua_State, arg: c_int, tname: *const c_char) -> c_int;
}

/// The bounded path of a dispatch closure's call (module docs): its
/// results. `costly`: the subject and pattern are strings the dispatch
/// already found costly (else they are converted and looked at here).
///
/// # Safety
/// The frame of a closure made by `install_c_dispatch` (its upvalues as
/// listed there), holding the call's arguments only; nothing with a
/// destructor alive in the caller's frames up to the Lua call.
pub(super) unsafe fn bounded(state: *mut ffi::lua_State, costly: bool) -> c_int {
    // SAFETY: the caller's contract. `lua_tolstring` converts a number in
    // its slot (the C functions' own conversion); `is_cheap` reads the
    // strings while they stay in slots 1 and 2.
    unsafe {
        if !costly {
            let nargs = ffi::lua_gettop(state);
            if nargs < 2 || ffi::lua_isstring(state, 1) == 0 || ffi::lua_isstring(state, 2) == 0 {
                // The C function raises its argument error (or converts what it accepts).
                return call_original(state, nargs);
            }
            ffi::lua_tolstring(state, 1, std::ptr::null_mut());
            ffi::lua_tolstring(state, 2, std::ptr::null_mut());
            if let (Some(subject), Some(pattern)) = (string_at(state, 1), string_at(state, 2))
                && is_cheap(pattern, subject.len(), ffi::lua_tonumber(state, ffi::lua_upvalueindex(BUDGET)))
            {
                return call_original(state, nargs);
            }
        }
        let len = string_at(state, 1).map_or(0, <[u8]>::len) as ffi::lua_Integer;
        match ffi::lua_tointeger(state, ffi::lua_upvalueindex(SHAPE)) {
            s if s == Shape::Find as ffi::lua_Integer => find(state, len, Shape::Find),
            s if s == Shape::Match as ffi::lua_Integer => find(state, len, Shape::Match),
            s if s == Shape::Gmatch as ffi::lua_Integer => gmatch(state, len),
            _ => gsub(state, len),
        }
    }
}

/// The 1-based start of a search of a subject of `len` bytes from `init`
/// (5.4's `posrelatI`); `None` past `len + 1` (nothing to find).
fn start(len: ffi::lua_Integer, init: ffi::lua_Integer) -> Option<ffi::lua_Integer> {
    if init == 0 || init < -len {
        Some(1)
    } else if init < 0 {
        Some(len + init + 1)
    } else if init > len + 1 {
        None
    } else {
        Some(init)
    }
}

/// `init` at slot 3 checked as the C function checks it (an integer, or
/// nothing), then made a start by [`start`]; 1 when absent.
///
/// # Safety
/// A dispatch closure's frame (`luaL_optinteger` may raise).
unsafe fn init_at(state: *mut ffi::lua_State, len: ffi::lua_Integer) -> Option<ffi::lua_Integer> {
    // SAFETY: the caller's contract.
    start(len, unsafe { ffi::luaL_optinteger(state, 3, 1) })
}

/// The bridge the closure charges.
///
/// # Safety
/// A dispatch closure's frame.
unsafe fn bridge<'a>(state: *mut ffi::lua_State) -> &'a Bridge {
    // SAFETY: upvalue 2 is the bridge, kept alive by `checkpoint` (upvalue 4).
    unsafe { bridge_at(state, BRIDGE) }
}

/// `find(s, p, init, plain)` and `match(s, p, init)` on the Rust matcher.
///
/// # Safety
/// As [`bounded`], with strings in slots 1 and 2.
unsafe fn find(state: *mut ffi::lua_State, len: ffi::lua_Integer, shape: Shape) -> c_int {
    // SAFETY: the caller's contract; the subject and pattern stay in slots
    // 1 and 2 while their bytes are read; room is made before pushing.
    unsafe {
        let Some(init) = init_at(state, len) else {
            ffi::lua_pushnil(state);
            return 1;
        };
        let plain = shape == Shape::Find && ffi::lua_toboolean(state, 4) != 0;
        let (Some(s), Some(p)) = (string_at(state, 1), string_at(state, 2)) else { return 0 };
        let from = (init as usize - 1).min(s.len());
        let bridge = bridge(state);
        let mut check = |steps: u64| bridge.charge(steps).map_err(drop);
        if shape == Shape::Find && (plain || !has_specials(p)) {
            return match plain_search(s, p, from, &mut check) {
                Ok(Some(at)) => {
                    ffi::lua_pushinteger(state, at as ffi::lua_Integer + 1);
                    ffi::lua_pushinteger(state, (at + p.len()) as ffi::lua_Integer);
                    2
                }
                Ok(None) => {
                    ffi::lua_pushnil(state);
                    1
                }
                Err(()) => raise_limit(state, RAISE),
            };
        }
        let mut searcher = Searcher::new(s, p, true, &mut check);
        let found = searcher.find(from, None);
        let flushed = searcher.flush();
        let (start, end) = match found {
            Ok(Some(span)) => span,
            Ok(None) if flushed.is_ok() => {
                ffi::lua_pushnil(state);
                return 1;
            }
            Err(MatchError::Pattern(message)) => raise(state, message.as_bytes()),
            Ok(None) | Err(MatchError::Stopped(())) => raise_limit(state, RAISE),
        };
        if flushed.is_err() {
            raise_limit(state, RAISE);
        }
        let count = searcher.level();
        // The captures, the span and room to raise a message.
        ffi::luaL_checkstack(state, count as c_int + 4, c"too many captures".as_ptr());
        if shape == Shape::Find {
            ffi::lua_pushinteger(state, start as ffi::lua_Integer + 1);
            ffi::lua_pushinteger(state, end as ffi::lua_Integer);
        } else if count == 0 {
            ffi::lua_pushlstring(state, s[start..end].as_ptr().cast(), end - start);
            return 1;
        }
        for capture in searcher.captures() {
            if let Err(message) = push_capture(state, s, capture) {
                raise(state, message.as_bytes());
            }
        }
        count as c_int + if shape == Shape::Find { 2 } else { 0 }
    }
}

/// `gmatch(s, p, init)`: the iterator of the Rust matcher.
///
/// # Safety
/// As [`bounded`], with strings in slots 1 and 2.
unsafe fn gmatch(state: *mut ffi::lua_State, len: ffi::lua_Integer) -> c_int {
    // SAFETY: the caller's contract; `gmatch_in_frame` gets `(s, p, init)`.
    unsafe {
        let from = init_at(state, len).unwrap_or(len + 2);
        ffi::lua_settop(state, 2);
        ffi::lua_pushinteger(state, from);
        gmatch_in_frame(state, bridge(state), RAISE)
    }
}

/// `gsub(s, p, repl, n)` on the Rust matcher.
///
/// # Safety
/// As [`bounded`], with strings in slots 1 and 2.
unsafe fn gsub(state: *mut ffi::lua_State, len: ffi::lua_Integer) -> c_int {
    // SAFETY: the caller's contract; `gsub_in_frame` gets `(s, p, repl, n)`
    // with `repl` a string, table or function and room for its results.
    unsafe {
        // The C function's checks, in its order: `n`, then the replacement.
        let most = ffi::luaL_optinteger(state, 4, len + 1).clamp(0, len + 1);
        match ffi::lua_type(state, 3) {
            ffi::LUA_TNUMBER => {
                ffi::lua_tolstring(state, 3, std::ptr::null_mut());
            }
            ffi::LUA_TSTRING | ffi::LUA_TFUNCTION | ffi::LUA_TTABLE => {}
            _ => {
                luaL_typeerror(state, 3, c"string/function/table".as_ptr());
            }
        }
        ffi::lua_settop(state, 3);
        ffi::lua_pushinteger(state, most);
        let results = gsub_in_frame(state, bridge(state), RAISE);
        // `false, message`: a malformed pattern or replacement.
        if ffi::lua_type(state, -2) == ffi::LUA_TBOOLEAN && ffi::lua_toboolean(state, -2) == 0 {
            ffi::luaL_where(state, 1);
            ffi::lua_insert(state, -2);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state);
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::start;

    #[test]
    fn start_is_posrelat_with_nothing_past_the_end() {
        assert_eq!(start(5, 1), Some(1));
        assert_eq!(start(5, 0), Some(1));
        assert_eq!(start(5, -2), Some(4));
        assert_eq!(start(5, -5), Some(1));
        assert_eq!(start(5, -6), Some(1));
        assert_eq!(start(5, 6), Some(6));
        assert_eq!(start(5, 7), None);
        assert_eq!(start(5, ffi_min()), Some(1));
    }

    fn ffi_min() -> mlua::ffi::lua_Integer {
        mlua::ffi::lua_Integer::MIN
    }
}
