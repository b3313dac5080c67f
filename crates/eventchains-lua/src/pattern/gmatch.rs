//! `string.gmatch` on the Rust matcher: the iterator is a C closure.
//!
//! A Lua iterator calling into Rust through mlua per match cost about three
//! times the C iterator; this one is as cheap to call as the C function it
//! replaces. Each call searches from the saved position with a [`Searcher`]
//! (steps charged to the running call through `Bridge::charge`), saves the
//! new position and pushes the captures. The rules are the engine's: 5.4's
//! (never an empty match right after the previous match) or 5.1's (an empty
//! match moves one byte on) on LuaJIT and Luau.
//!
//! Upvalues of the iterator: 1 the subject, 2 the pattern, 3 the next
//! 0-based start (negative when done), 4 the end of the last match (5.4;
//! negative for none), 5 the bridge (light userdata), 6 a function raising
//! the bridge's limit error. No Rust value with a destructor is alive when
//! Lua may raise an error.

use std::ffi::c_int;
use std::rc::Rc;

use mlua::{Function, Lua, ffi};

use super::bridged::{bridge_at, bridged_function, raise, raise_limit};
use super::{Capture, MatchError, Searcher};
use crate::bridge::Bridge;
use crate::fast_ctx::string_at;

const V54: bool = !cfg!(any(feature = "luajit", feature = "luau"));

/// `gmatch_at(s, p, init)`: an iterator over the matches of `p` in `s` from
/// `init` (1-based; past `#s + 1` gives none). `raise` raises the limit
/// error `bridge` has recorded (called when a check stops the matcher).
pub(crate) fn gmatch_function(lua: &Lua, bridge: &Rc<Bridge>, raise: Function) -> mlua::Result<Function> {
    bridged_function(lua, bridge, raise, gmatch_new)
}

/// `(s, p, init)` with upvalues `(bridge, raise)`: the iterator.
unsafe extern "C-unwind" fn gmatch_new(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by the bounded `gmatch` with two strings and a number.
    unsafe {
        ffi::lua_settop(state, 3);
        let start = ffi::lua_tonumber(state, 3) - 1.0;
        let len = string_at(state, 1).map_or(0, <[u8]>::len) as f64;
        ffi::lua_pushnumber(state, if start <= len { start } else { -1.0 });
        ffi::lua_replace(state, 3);
        ffi::lua_pushnumber(state, -1.0);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_pushcclosure(state, gmatch_step, 6);
        1
    }
}

unsafe extern "C-unwind" fn gmatch_step(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `gmatch_new`, so its six upvalues exist and
    // upvalue 5 points to the VM's bridge (kept alive by upvalue 6). Nothing
    // alive here has a destructor while Lua may raise: the searcher and the
    // check closure hold references and plain values only, and a malformed
    // pattern's message is a static text.
    unsafe {
        let (Some(subject), Some(pattern)) =
            (string_at(state, ffi::lua_upvalueindex(1)), string_at(state, ffi::lua_upvalueindex(2)))
        else {
            return 0;
        };
        let src = ffi::lua_tonumber(state, ffi::lua_upvalueindex(3));
        if src < 0.0 {
            return 0;
        }
        let last = ffi::lua_tonumber(state, ffi::lua_upvalueindex(4));
        let bridge = bridge_at(state, 5);
        let mut check = |steps: u64| bridge.charge(steps).map_err(drop);
        let mut searcher = Searcher::new(subject, pattern, false, &mut check);
        let found = match searcher.find(src as usize, (last >= 0.0).then_some(last as usize)) {
            Ok(found) => Ok(found),
            Err(MatchError::Pattern(message)) => Err(Some(message)),
            Err(MatchError::Stopped(())) => Err(None),
        };
        let found = match (found, searcher.flush()) {
            (Ok(found), Ok(())) => found,
            (Err(Some(message)), _) => raise(state, message.as_bytes()),
            (Err(None), _) | (Ok(_), Err(())) => raise_limit(state, 6),
        };
        let Some((start, end)) = found else {
            ffi::lua_pushnumber(state, -1.0);
            ffi::lua_replace(state, ffi::lua_upvalueindex(3));
            return 0;
        };
        let next = if V54 || end > start { end } else { end + 1 };
        ffi::lua_pushnumber(state, if next <= subject.len() { next as f64 } else { -1.0 });
        ffi::lua_replace(state, ffi::lua_upvalueindex(3));
        ffi::lua_pushnumber(state, if V54 { end as f64 } else { -1.0 });
        ffi::lua_replace(state, ffi::lua_upvalueindex(4));
        let count = searcher.captures().len();
        if count == 0 {
            ffi::lua_pushlstring(state, subject[start..end].as_ptr().cast(), end - start);
            return 1;
        }
        if ffi::lua_checkstack(state, count as c_int) == 0 {
            raise(state, b"too many captures");
        }
        for capture in searcher.captures() {
            match capture {
                Capture::Span(a, b) => {
                    ffi::lua_pushlstring(state, subject[a..b].as_ptr().cast(), b - a);
                }
                Capture::Position(at) => ffi::lua_pushinteger(state, at as ffi::lua_Integer + 1),
                Capture::Unfinished => raise(state, b"unfinished capture"),
            }
        }
        count as c_int
    }
}
