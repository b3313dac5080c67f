//! Raising the sandbox's errors from its C functions (Lua 5.4 and 5.5).
//!
//! A C function needs no level shift: level 1 is the function that called
//! it, where the Lua versions said `error(message, 2)` from a wrapper (or 3
//! from a helper it called). The sandbox's own refusals are raised at the
//! nearest calling function that has a line ([`push_position`]): the script's
//! line also when a C function (`pcall`, `table.insert`) or a wrapper
//! without line information (a prelude of the bounded library) stands
//! between, where the Lua versions often gave no position at all.

use std::ffi::{CStr, c_char, c_int};

use mlua::ffi;

/// One piece of an error message.
#[derive(Clone, Copy)]
pub(super) enum Piece {
    /// Text as it is.
    Text(&'static str),
    /// The value at this absolute stack index, as `tostring` shows it
    /// (`luaL_tolstring`: `__tostring` and `__name` apply).
    Value(c_int),
}

/// Raises the concatenated `pieces` as an error, after the position of
/// the nearest calling function with a line (see [`push_position`]).
///
/// # Safety
///
/// Called from a C function running on `state` (a frame exists); every
/// [`Piece::Value`] index is an
/// absolute index of that frame, at most its top (this function pushes). Does not return: the error unwinds (or
/// `longjmp`s) through the caller's frame, so no Rust value with a
/// destructor may be alive there. `__tostring` of a value may run Lua code
/// (and raise an error of its own instead).
pub(super) unsafe fn raise_at_caller(state: *mut ffi::lua_State, pieces: &[Piece]) -> c_int {
    // SAFETY: the caller's contract; `luaL_checkstack` makes room for every
    // piece (and raises "stack overflow" when there is none).
    unsafe {
        let count = c_int::try_from(pieces.len()).unwrap_or(c_int::MAX - 4);
        ffi::luaL_checkstack(state, count + 4, std::ptr::null());
        push_position(state);
        for piece in pieces {
            match *piece {
                Piece::Text(text) => push_str(state, text),
                Piece::Value(idx) => {
                    ffi::luaL_tolstring(state, idx, std::ptr::null_mut());
                }
            }
        }
        ffi::lua_concat(state, count + 1);
        ffi::lua_error(state)
    }
}

/// Raises `bad argument #<arg> to '<name>' (<message>)` through the base
/// library's `luaL_argerror`, as the engine's own functions do: the name is
/// the one the caller used (or the global's, when a C function such as
/// `pcall` called), the position the calling function's (none when that is
/// a C function).
///
/// # Safety
///
/// As [`raise_at_caller`].
pub(super) unsafe fn arg_error(state: *mut ffi::lua_State, arg: c_int, message: &CStr) -> c_int {
    // SAFETY: the caller's contract; `luaL_argerror` copies the message.
    unsafe { ffi::luaL_argerror(state, arg, message.as_ptr()) }
}

/// How many calling levels [`push_position`] looks through (finding a
/// level walks the call list from the top, so deeper searches cost more).
const POSITION_SEARCH: c_int = 16;

/// Pushes `chunk:line: ` of the nearest function below the running one that
/// has line information (within [`POSITION_SEARCH`] levels), or `""`.
///
/// # Safety
///
/// Called from a C function running on `state`; room for four values.
/// May raise a memory error.
pub(super) unsafe fn push_position(state: *mut ffi::lua_State) {
    // SAFETY: `lua_Debug` is a plain C struct (all-zero is a valid start);
    // `lua_getinfo` fills it for the level `lua_getstack` found.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        for level in 1..=POSITION_SEARCH {
            if ffi::lua_getstack(state, level, &mut ar) == 0 {
                break;
            }
            ffi::lua_getinfo(state, c"Sl".as_ptr(), &mut ar);
            if ar.currentline > 0 {
                ffi::lua_pushstring(state, ar.short_src.as_ptr());
                push_str(state, ":");
                ffi::lua_pushinteger(state, ffi::lua_Integer::from(ar.currentline));
                push_str(state, ": ");
                ffi::lua_concat(state, 4);
                return;
            }
        }
        push_str(state, "");
    }
}

/// Pushes `text`.
///
/// # Safety
///
/// Room for one value on `state`'s stack. May raise a memory error.
pub(super) unsafe fn push_str(state: *mut ffi::lua_State, text: &str) {
    // SAFETY: the caller's contract; `text` is valid for its length.
    unsafe {
        ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len());
    }
}

// The base library's own type error (lauxlib's public API on Lua 5.4 and
// 5.5, which mlua-sys does not declare for them).
unsafe extern "C-unwind" {
    fn luaL_typeerror(state: *mut ffi::lua_State, arg: c_int, tname: *const c_char) -> c_int;
}

/// Raises `bad argument #<arg> to '<name>' (<expected> expected, got <type>)`
/// through the base library's `luaL_typeerror` (the type as it words it: a
/// string `__name` field, `light userdata`, `no value` for an absent
/// argument; the name and position as [`arg_error`]'s).
///
/// # Safety
///
/// As [`raise_at_caller`]; `arg` is an absolute index.
pub(super) unsafe fn arg_type_error(state: *mut ffi::lua_State, arg: c_int, expected: &'static CStr) -> c_int {
    // SAFETY: the caller's contract; `luaL_typeerror` copies the name.
    unsafe { luaL_typeerror(state, arg, expected.as_ptr()) }
}
