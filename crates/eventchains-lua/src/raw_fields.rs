//! Raw access to a table's string-keyed fields from the crate's C code (the
//! sandbox, the limit wrappers): `lua_setfield`/`lua_getfield` without
//! metamethods.

use std::ffi::{CStr, c_int};

use mlua::ffi;

/// Raw `t[key] = top`, popping the value.
///
/// # Safety
///
/// `t` an absolute index of a table; the value on top; room for one more
/// value. May raise a memory error.
pub(crate) unsafe fn set_field(state: *mut ffi::lua_State, t: c_int, key: &CStr) {
    // SAFETY: the caller's contract; `lua_rawset` runs no metamethod.
    unsafe {
        ffi::lua_pushstring(state, key.as_ptr());
        ffi::lua_insert(state, -2);
        ffi::lua_rawset(state, t);
    }
}

/// Pushes raw `t[key]` and returns its type.
///
/// # Safety
///
/// `t` an absolute index of a table; room for one value. May raise a
/// memory error (interning the key).
pub(crate) unsafe fn get_field(state: *mut ffi::lua_State, t: c_int, key: &CStr) -> c_int {
    // SAFETY: the caller's contract; `lua_rawget` runs no metamethod.
    unsafe {
        ffi::lua_pushstring(state, key.as_ptr());
        ffi::lua_rawget(state, t)
    }
}
