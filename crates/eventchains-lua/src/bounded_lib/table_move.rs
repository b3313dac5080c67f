//! `table.move` bounded, as a C closure (Lua 5.4 and 5.5): what the Lua
//! function of the other engines' prelude does (`LUA_PATHS_SOURCE`),
//! operation for operation.
//!
//! A call moving fewer than 4,096 elements (or whose `f`, `e` or `t` is not
//! a number) runs the engine's function at once. A larger one is checked by
//! the engine's function on an empty range (`move(a1, f, f - 1, t, a2)`:
//! its type checks and messages), then against the C function's overflow
//! rules (the messages the Lua function raises at level 2: the script's
//! line), then moved in chunks of 4,096 elements, each charged to
//! `checkpoint` before it is moved (the caps are checked between chunks),
//! backwards when the ranges overlap as the C function does. Every
//! arithmetic operation and comparison on the arguments goes through
//! `lua_arith` / `lua_compare`, as the Lua operators (integer wrap-around,
//! floats, `__eq` of `dest ~= a1`). The engine's function runs in this
//! closure's frame, on slots 1 to 5 set to each chunk's arguments: its
//! errors name `move` and the script's line, as an unwrapped call's.
//!
//! Upvalues: as every wrapper of [`super::wrappers`] (1 the engine's
//! function, 2 `checkpoint`, 3 whether the engine's function is a C
//! function without upvalues). Slots: 1 to 5 the arguments (then each
//! chunk's), 6 `f`, 7 `e`, 8 `t`, 9 the destination, 10 `i`, 11 `j`. No
//! Rust value with a destructor is alive when Lua may raise an error.

use std::ffi::c_int;

use mlua::ffi;

use super::wrappers::{call_original, charge_value, is_number};

/// Elements moved per chunk, and the size above which a move is chunked.
const CHUNK: ffi::lua_Integer = 4096;
const F: c_int = 6;
const E: c_int = 7;
const T: c_int = 8;
const DEST: c_int = 9;
const I: c_int = 10;
const J: c_int = 11;

/// Pushes `value at a` `op` `value at b` (Lua's operator).
///
/// # Safety
/// `a` and `b` valid absolute indexes; room for two values.
unsafe fn arith(state: *mut ffi::lua_State, a: c_int, op: c_int, b: c_int) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushvalue(state, a);
        ffi::lua_pushvalue(state, b);
        ffi::lua_arith(state, op);
    }
}

/// Pushes `value at a` `op` `n` (Lua's operator).
///
/// # Safety
/// As [`arith`].
unsafe fn arith_n(state: *mut ffi::lua_State, a: c_int, op: c_int, n: ffi::lua_Integer) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushvalue(state, a);
        ffi::lua_pushinteger(state, n);
        ffi::lua_arith(state, op);
    }
}

/// `value at a < value at b` (or `<=` for [`ffi::LUA_OPLE`]).
///
/// # Safety
/// `a` and `b` valid indexes (numbers here: no metamethod runs).
unsafe fn compare(state: *mut ffi::lua_State, a: c_int, op: c_int, b: c_int) -> bool {
    // SAFETY: the caller's contract.
    unsafe { ffi::lua_compare(state, a, b, op) != 0 }
}

/// Raises `message` at the caller's line (the Lua function's `error(message, 2)`).
///
/// # Safety
/// A C function's frame with room for two values; nothing with a
/// destructor alive in the caller's frames up to the Lua call.
unsafe fn raise(state: *mut ffi::lua_State, message: &'static str) -> ! {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::luaL_where(state, 1);
        ffi::lua_pushlstring(state, message.as_ptr().cast(), message.len());
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    }
}

/// Runs the engine's function on slots 1 to 5, dropping its result.
///
/// # Safety
/// A wrapper's frame with the slots above `DEST`; room for six values.
unsafe fn move_slots(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract; a C function without upvalues reads
    // only slots 1 to 5 (its arguments) and pushes its result on top.
    unsafe {
        let top = ffi::lua_gettop(state);
        if ffi::lua_toboolean(state, ffi::lua_upvalueindex(3)) != 0
            && let Some(original) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1))
        {
            original(state);
        } else {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
            for slot in 1..=5 {
                ffi::lua_pushvalue(state, slot);
            }
            ffi::lua_call(state, 5, 0);
        }
        ffi::lua_settop(state, top);
    }
}

/// Moves `a1[i..=j]` to `dest[t + (i - f)..]` after charging `j - i + 1`.
///
/// # Safety
/// A wrapper's frame with slots 1 to [`J`] as the module docs list them.
unsafe fn move_chunk(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract; every push is popped or moved into a slot.
    unsafe {
        arith(state, J, ffi::LUA_OPSUB, I);
        ffi::lua_pushinteger(state, 1);
        ffi::lua_arith(state, ffi::LUA_OPADD);
        charge_value(state, ffi::lua_gettop(state));
        ffi::lua_settop(state, J);
        ffi::lua_pushvalue(state, T);
        arith(state, I, ffi::LUA_OPSUB, F);
        ffi::lua_arith(state, ffi::LUA_OPADD);
        ffi::lua_replace(state, 4);
        ffi::lua_pushvalue(state, I);
        ffi::lua_replace(state, 2);
        ffi::lua_pushvalue(state, J);
        ffi::lua_replace(state, 3);
        move_slots(state);
    }
}

/// Moves `f..=e` chunk by chunk: forward (`i` from `f`, `j = i + CHUNK - 1`
/// at most `e`, then `i = j + 1`) or backward (`j` from `e`, `i = j - CHUNK
/// + 1` at least `f`, then `j = i - 1`), each step as the Lua operators.
///
/// # Safety
/// A wrapper's frame with slots 1 to [`J`] as the module docs list them.
unsafe fn move_in_chunks(state: *mut ffi::lua_State, forward: bool) {
    // The index that walks, the one computed from it, the bound it walks
    // to, and the operators of a step towards that bound and back.
    let (walk, other, bound, toward, back) =
        if forward { (I, J, E, ffi::LUA_OPADD, ffi::LUA_OPSUB) } else { (J, I, F, ffi::LUA_OPSUB, ffi::LUA_OPADD) };
    // SAFETY: the caller's contract; each push is moved into a slot; the
    // comparisons are of slots holding numbers.
    unsafe {
        // `a <= b` (`a < b`) in the walking direction.
        let before = |state, a, op, b| if forward { compare(state, a, op, b) } else { compare(state, b, op, a) };
        ffi::lua_pushvalue(state, if forward { F } else { E });
        ffi::lua_replace(state, walk);
        while before(state, walk, ffi::LUA_OPLE, bound) {
            arith_n(state, walk, toward, CHUNK);
            ffi::lua_pushinteger(state, 1);
            ffi::lua_arith(state, back);
            ffi::lua_replace(state, other);
            if before(state, bound, ffi::LUA_OPLT, other) {
                ffi::lua_pushvalue(state, bound);
                ffi::lua_replace(state, other);
            }
            move_chunk(state);
            arith_n(state, other, toward, 1);
            ffi::lua_replace(state, walk);
        }
    }
}

/// `table.move(a1, f, e, t, a2)`, bounded (see the module docs).
///
/// # Safety
/// Called by Lua, as a closure made by `wrappers::install` (its three
/// upvalues), with the call's arguments on its stack.
pub(super) unsafe extern "C-unwind" fn table_move(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `wrappers::install` (its upvalues as listed
    // there); a C function has LUA_MINSTACK (20) free slots: this one uses
    // at most 11 plus 6 for a call.
    unsafe {
        // (The arguments as given go to the engine's function: an absent
        // one is "no value" in its errors, not nil.)
        let given = ffi::lua_gettop(state).min(5);
        ffi::lua_settop(state, 5);
        let small = !(is_number(state, 2) && is_number(state, 3) && is_number(state, 4)) || {
            arith(state, 3, ffi::LUA_OPSUB, 2);
            ffi::lua_pushinteger(state, CHUNK);
            let below = compare(state, -2, ffi::LUA_OPLT, -1);
            ffi::lua_settop(state, 5);
            below
        };
        if small {
            ffi::lua_settop(state, given);
            return call_original(state);
        }
        // The C function's checks of `f`, `e` and `t`, in its order (the
        // empty range below checks the tables, but not `e`: NaN or 1e300
        // there moved nothing, or raised another error, where the C
        // function refuses it).
        for arg in 2..=4 {
            ffi::luaL_checkinteger(state, arg);
        }
        ffi::lua_pushvalue(state, 2); // F
        ffi::lua_pushvalue(state, 3); // E
        ffi::lua_pushvalue(state, 4); // T
        ffi::lua_pushvalue(state, if ffi::lua_type(state, 5) == ffi::LUA_TNIL { 1 } else { 5 }); // DEST
        // The engine's checks of the arguments' types: `move(a1, f, f - 1, t, a2)`.
        arith_n(state, F, ffi::LUA_OPSUB, 1);
        ffi::lua_replace(state, 3);
        move_slots(state);
        // `not (f > 0 or e < maxinteger + f)`
        ffi::lua_pushinteger(state, 0);
        let positive = compare(state, -1, ffi::LUA_OPLT, F);
        ffi::lua_settop(state, DEST);
        if !positive {
            ffi::lua_pushinteger(state, ffi::lua_Integer::MAX);
            ffi::lua_pushvalue(state, F);
            ffi::lua_arith(state, ffi::LUA_OPADD);
            let fits = compare(state, E, ffi::LUA_OPLT, -1);
            ffi::lua_settop(state, DEST);
            if !fits {
                raise(state, "bad argument #3 to 'move' (too many elements to move)");
            }
        }
        // `t > maxinteger - (e - f + 1) + 1`
        ffi::lua_pushinteger(state, ffi::lua_Integer::MAX);
        arith(state, E, ffi::LUA_OPSUB, F);
        ffi::lua_pushinteger(state, 1);
        ffi::lua_arith(state, ffi::LUA_OPADD);
        ffi::lua_arith(state, ffi::LUA_OPSUB);
        ffi::lua_pushinteger(state, 1);
        ffi::lua_arith(state, ffi::LUA_OPADD);
        let wraps = compare(state, -1, ffi::LUA_OPLT, T);
        ffi::lua_settop(state, DEST);
        if wraps {
            raise(state, "bad argument #4 to 'move' (destination wrap around)");
        }
        ffi::lua_pushnil(state); // I
        ffi::lua_pushnil(state); // J
        // As the C function: backwards when the ranges overlap with t inside (f, e].
        let forward = compare(state, E, ffi::LUA_OPLT, T)
            || compare(state, T, ffi::LUA_OPLE, F)
            || !compare(state, DEST, ffi::LUA_OPEQ, 1);
        move_in_chunks(state, forward);
        ffi::lua_pushvalue(state, DEST);
        1
    }
}
