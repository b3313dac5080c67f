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
//! Upvalues of the iterator: 1 the subject, 2 the pattern, 3 its
//! [`Position`] (next start, end of the last match, steps not yet charged,
//! the bridge), 4 a function raising the bridge's limit error. Steps are
//! charged a check's worth at a time ([`super::CHECK_EVERY`]), the rest
//! when the iterator ends: an iterator left early leaves fewer than that
//! uncharged. No Rust value with a destructor is alive when Lua may raise
//! an error.

use std::ffi::c_int;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use std::rc::Rc;

use mlua::ffi;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::{Function, Lua};

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use super::bridged::{bridge_at, bridged_function};
use super::bridged::{push_capture, raise, raise_limit};
use super::{MatchError, Searcher};
use crate::bridge::Bridge;
use crate::fast_ctx::string_at;

const V54: bool = !cfg!(any(feature = "luajit", feature = "luau"));

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// `gmatch_at(s, p, init)`: an iterator over the matches of `p` in `s` from
/// `init` (1-based; past `#s + 1` gives none). `raise` raises the limit
/// error `bridge` has recorded (called when a check stops the matcher).
pub(crate) fn gmatch_function(lua: &Lua, bridge: &Rc<Bridge>, raise: Function) -> mlua::Result<Function> {
    bridged_function(lua, bridge, raise, gmatch_new)
}

/// An iterator's position (a full userdata without metatable, upvalue 3 of
/// the iterator): plain values only, read and written in place.
#[derive(Clone, Copy)]
struct Position {
    /// The next 0-based start; [`DONE`] when the iterator is exhausted.
    next: usize,
    /// The end of the last match (5.4's rule); [`DONE`] for none.
    last: usize,
    /// Matcher steps not yet charged (fewer than a check's worth,
    /// [`super::CHECK_EVERY`]): charged with the next search's steps, or
    /// when the iterator ends.
    pending: u64,
    /// The VM's bridge (kept alive by the `raise` upvalue).
    bridge: *const Bridge,
}

const DONE: usize = usize::MAX;

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// `(s, p, init)` with upvalues `(bridge, raise)`: the iterator, with
/// upvalues 1 the subject, 2 the pattern, 3 its [`Position`], 4 `raise`.
unsafe extern "C-unwind" fn gmatch_new(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by the bounded `gmatch` with two strings and a number,
    // as a closure of `gmatch_function` (upvalue 1 the bridge, 2 `raise`).
    unsafe { gmatch_in_frame(state, bridge_at(state, 1), 2) }
}

/// `gmatch_at`'s work in the running C function's frame, whose slots 1 to 3
/// hold `(s, p, init)` as [`gmatch_new`] gets them: the iterator pushed (1).
///
/// # Safety
/// A C function's frame with the arguments above; upvalue `raise_up` is a
/// `raise` function of [`bridged_function`] (or the `checkpoint` it is made
/// from), which holds the `Rc` of `bridge` (the iterator keeps both).
pub(super) unsafe fn gmatch_in_frame(state: *mut ffi::lua_State, bridge: *const Bridge, raise_up: c_int) -> c_int {
    // SAFETY: the caller's contract. The userdata is as large as a
    // `Position` (written unaligned: no alignment assumed).
    unsafe {
        let start = ffi::lua_tonumber(state, 3) - 1.0;
        ffi::lua_settop(state, 2);
        let len = string_at(state, 1).map_or(0, <[u8]>::len) as f64;
        let position = Position {
            next: if (0.0..=len).contains(&start) { start as usize } else { DONE },
            last: DONE,
            pending: 0,
            bridge,
        };
        let data = ffi::lua_newuserdata(state, std::mem::size_of::<Position>()).cast::<Position>();
        data.write_unaligned(position);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(raise_up));
        ffi::lua_pushcclosure(state, gmatch_step, 4);
        1
    }
}

unsafe extern "C-unwind" fn gmatch_step(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `gmatch_new`, so its four upvalues exist,
    // upvalue 3 is its `Position` and the bridge there is alive (upvalue 4
    // holds its `Rc`). Nothing alive here has a destructor while Lua may
    // raise: the searcher and the check closure hold references and plain
    // values only, and a malformed pattern's message is a static text.
    unsafe {
        let (Some(subject), Some(pattern)) =
            (string_at(state, ffi::lua_upvalueindex(1)), string_at(state, ffi::lua_upvalueindex(2)))
        else {
            return 0;
        };
        let data = ffi::lua_touserdata(state, ffi::lua_upvalueindex(3)).cast::<Position>();
        let mut position = data.read_unaligned();
        if position.next == DONE {
            return 0;
        }
        let bridge = &*position.bridge;
        let mut check = |steps: u64| bridge.charge(steps).map_err(drop);
        let mut searcher = Searcher::new(subject, pattern, false, &mut check);
        searcher.carry(position.pending);
        let found = match searcher.find(position.next, (position.last != DONE).then_some(position.last)) {
            Ok(found) => Ok(found),
            Err(MatchError::Pattern(message)) => Err(Some(message)),
            Err(MatchError::Stopped(())) => Err(None),
        };
        let found = match found {
            // The last search: every step is charged now.
            Ok(None) => searcher.flush().map(|()| None).map_err(|()| None),
            other => other,
        };
        let found = match found {
            Ok(found) => found,
            Err(Some(message)) => raise(state, message.as_bytes()),
            Err(None) => raise_limit(state, 4),
        };
        let Some((start, end)) = found else {
            position.next = DONE;
            data.write_unaligned(position);
            return 0;
        };
        let next = if V54 || end > start { end } else { end + 1 };
        position.next = if next <= subject.len() { next } else { DONE };
        position.last = if V54 { end } else { DONE };
        position.pending = searcher.pending();
        data.write_unaligned(position);
        let count = searcher.captures().len();
        if count == 0 {
            ffi::lua_pushlstring(state, subject[start..end].as_ptr().cast(), end - start);
            return 1;
        }
        if ffi::lua_checkstack(state, count as c_int) == 0 {
            raise(state, b"too many captures");
        }
        for capture in searcher.captures() {
            if let Err(message) = push_capture(state, subject, capture) {
                raise(state, message.as_bytes());
            }
        }
        count as c_int
    }
}
