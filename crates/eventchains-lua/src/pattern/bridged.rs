//! C closures of the bounded path that charge the matcher's steps to the
//! VM's bridge, and how they raise errors.
//!
//! Such a closure has two upvalues: 1 the bridge (light userdata), 2 a
//! function raising the limit error the bridge has recorded. Its body keeps
//! no Rust value with a destructor alive where Lua may raise an error (Lua
//! errors jump over Rust frames): pattern messages are static texts, the
//! step-count closure holds a reference.

use std::ffi::c_int;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use std::ffi::c_void;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use std::rc::Rc;

use mlua::ffi;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::{Function, Lua};

use super::Capture;
use crate::bridge::Bridge;

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// A C closure running `body` with upvalues `(bridge, raise)`. `raise` holds
/// the bridge's `Rc`, so the pointer outlives the closure (and every closure
/// that copies both upvalues, as the `gmatch` iterators do).
pub(super) fn bridged_function(
    lua: &Lua,
    bridge: &Rc<Bridge>,
    raise: Function,
    body: ffi::lua_CFunction,
) -> mlua::Result<Function> {
    let bridge = Rc::as_ptr(bridge) as *mut c_void;
    // SAFETY: the closure gets `[raise]`, pushes the bridge below it and
    // leaves exactly one value, the new C closure over both.
    unsafe {
        lua.exec_raw::<Function>(raise, |state| {
            ffi::lua_pushlightuserdata(state, bridge);
            ffi::lua_insert(state, 1);
            ffi::lua_pushcclosure(state, body, 2);
        })
    }
}

/// The bridge in upvalue `up` of the running C closure.
///
/// # Safety
/// Upvalue `up` of the running C function holds a bridge pointer put there
/// by [`bridged_function`] (or copied from one), whose `raise` upvalue is
/// still alive.
pub(super) unsafe fn bridge_at<'a>(state: *mut ffi::lua_State, up: c_int) -> &'a Bridge {
    // SAFETY: the caller's contract; the `Rc` held by `raise` keeps it alive.
    unsafe { &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(up)) as *const Bridge) }
}

/// Raises the limit error the bridge recorded when a step check failed, by
/// calling the `raise` function in upvalue `up`.
///
/// # Safety
/// A C function's frame whose upvalue `up` is a `raise` function of
/// [`bridged_function`], with room for two values; nothing with a destructor
/// alive in the caller's frames up to the Lua call.
pub(super) unsafe fn raise_limit(state: *mut ffi::lua_State, up: c_int) -> ! {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(up));
        ffi::lua_pushnumber(state, 0.0);
        ffi::lua_call(state, 1, 0);
        // `raise` only returns when no limit was hit (it always was).
        raise(state, b"the pattern matcher was stopped")
    }
}

/// Raises `message` with the caller's position, as `luaL_error`.
///
/// # Safety
/// A C function's frame with room for two values; nothing with a destructor
/// alive in the caller's frames up to the Lua call.
pub(super) unsafe fn raise(state: *mut ffi::lua_State, message: &[u8]) -> ! {
    // SAFETY: the caller's contract; `message` is copied by the push.
    unsafe {
        ffi::luaL_where(state, 1);
        ffi::lua_pushlstring(state, message.as_ptr().cast(), message.len());
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    }
}

/// The message for a capture opened and never closed, once its value is used.
pub(super) const UNFINISHED_CAPTURE: &str = "unfinished capture";

/// Pushes the value of `capture` of `subject` as the C functions give it:
/// the captured bytes as a string, a position capture as its 1-based index.
/// An unfinished capture pushes nothing and gives [`UNFINISHED_CAPTURE`].
///
/// # Safety
/// `state` has room for one more value; Lua may raise a memory error here.
#[inline]
pub(super) unsafe fn push_capture(
    state: *mut ffi::lua_State,
    subject: &[u8],
    capture: Capture,
) -> Result<(), &'static str> {
    // SAFETY: the caller's contract; the pushed bytes are copied.
    unsafe {
        match capture {
            Capture::Span(a, e) => {
                ffi::lua_pushlstring(state, subject[a..e].as_ptr().cast(), e - a);
            }
            Capture::Position(at) => ffi::lua_pushinteger(state, at as ffi::lua_Integer + 1),
            Capture::Unfinished => return Err(UNFINISHED_CAPTURE),
        }
    }
    Ok(())
}
