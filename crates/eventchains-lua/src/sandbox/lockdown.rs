//! The lockdown built through the C API (Lua 5.4 and 5.5): what the
//! `=lockdown` Lua prelude does (see [`super::lock_down`]), without loading
//! and running its seventeen Lua functions in every new VM.
//!
//! Each function replicates its Lua version operation by operation: raw
//! table access where the Lua used `rawget`/`rawset` (or indexed a table
//! without a metatable), `luaL_tolstring` where it called `tostring`,
//! `lua_compare` where it compared with `==`. Errors the Lua version raised
//! with `error(message, 2)` (or 3 from a helper) are raised at the caller's
//! line (`luaL_where(L, 1)`). Errors it left to a library function it called
//! (argument errors, `cannot change a protected metatable`) now carry the
//! script's line too, as an unwrapped call's would (the Lua version called
//! them from a function without line information, so they had none).
//!
//! No Rust value with a destructor is alive while Lua may raise an error (a
//! `longjmp` or an unwind through these frames).

use std::ffi::c_int;

use mlua::{Function, Lua, Table, ffi};

use super::raise::{Piece, arg_error, arg_type_error, push_str, raise_at_caller};
use super::restrict::load_in_frame;
use super::views::{
    PROTECTED, VIEW_UPVALUES, is_flat_library, is_protected, protect, push_own_view_state, push_view_state, record,
    refuse, view_of,
};
use super::{CLOSE_REFUSED, ScriptEnv};
use crate::prelude::Prelude;
use crate::raw_fields::{get_field, set_field};

/// The part of `load` that stays Lua: concatenating the pieces a function
/// chunk returns. Loaded on the first `load` of a function chunk only. Its
/// loop is Lua code so that the instruction cap (and a deadline's hook) can
/// stop a reader that never ends, even a C function such as `os.clock`; a
/// reader may yield, as before (the call has a continuation).
static LOAD_PIECES: Prelude = Prelude::new(
    "=lockdown",
    r#"
local concat = ...
return function(chunk)
  local parts = {}
  while true do
    -- A reader's error is `load`'s answer (`nil` and the error), as the
    -- base library's; `pcall` is the sandbox's (a limit still stops it).
    local ok, piece = pcall(chunk)
    if not ok then return false, piece end
    if piece == nil or piece == "" then break end
    local kind = type(piece)
    if kind ~= "string" and kind ~= "number" then return false end
    parts[#parts + 1] = piece
  end
  local text = concat(parts)
  return text
end
"#,
);

/// Upvalues of the sandbox's `load`.
const LOAD_ENV: c_int = 1;
const LOAD_NO_ENV: c_int = 2;
const LOAD_INNER: c_int = 3;
const LOAD_CONCAT: c_int = 4;
/// The pieces' concatenation function, once made (`nil` before).
const LOAD_PIECES_FN: c_int = 5;
const LOAD_UPVALUES: c_int = 5;

/// Upvalues of `freeze`.
const FREEZE_ENV: c_int = 1;
const FREEZE_ENV_MT: c_int = 2;
const FREEZE_OWN: c_int = 3;
const FREEZE_GLOBALS: c_int = 4;
const FREEZE_DONE: c_int = 5;

/// Locks `lua`'s globals down (see [`super::lock_down`]).
#[inline(never)] // a function of its own in profiles
pub(super) fn lock_down(lua: &Lua) -> mlua::Result<ScriptEnv> {
    // SAFETY: `exec_raw` runs the closure in a protected call; it pushes
    // the lockdown closure over the view state and calls it (its errors
    // propagate as this call's), leaving its three results alone on the
    // stack, as `exec_raw` returns them.
    let (env, freeze, record) = unsafe {
        lua.exec_raw::<(Table, Function, Function)>((), |state| {
            push_view_state(state);
            ffi::lua_pushcclosure(state, lock_down_globals, VIEW_UPVALUES);
            ffi::lua_call(state, 0, 3);
        })
    }?;
    Ok(ScriptEnv { env, freeze, record })
}

/// Replaces each table value of `t` for which `replace(state, index of the
/// value)` holds by its view, named by its key. A raw traversal that
/// assigns only to the keys it has met (Lua allows that during `next`),
/// and the same order of views as the Lua version's list of keys.
///
/// # Safety
///
/// A view-making closure's frame; `t` an absolute index of a table; `replace`
/// pushes and pops nothing. Raises as [`view_of`].
unsafe fn view_fields(
    state: *mut ffi::lua_State,
    t: c_int,
    replace: impl Fn(*mut ffi::lua_State, c_int) -> bool + Copy,
) {
    // SAFETY: the caller's contract; `lua_next` gets only keys it returned;
    // the assignment replaces an existing field's value (no new key).
    unsafe {
        ffi::luaL_checkstack(state, 6, std::ptr::null());
        let key = ffi::lua_gettop(state) + 1;
        let value = key + 1;
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, t) != 0 {
            if ffi::lua_type(state, value) == ffi::LUA_TTABLE && replace(state, value) {
                view_of(state, value, key, 0, is_flat_library(state, key, value)); // value + 1
                ffi::lua_pushvalue(state, key);
                ffi::lua_insert(state, value + 1);
                ffi::lua_rawset(state, t);
            }
            ffi::lua_settop(state, key);
        }
    }
}

/// The lockdown: a view-making closure, called without arguments.
/// Returns the script's environment, `freeze` and `record`.
///
/// # Safety
///
/// Called by Lua as a C closure over the view state (see [`lock_down`]).
unsafe extern "C-unwind" fn lock_down_globals(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a view-making closure's frame. Every index below is absolute
    // and named; room is checked before each group of pushes. Raises memory
    // errors (and whatever a library key's `__tostring` raises while views
    // are named): the caller's protected call reports them.
    unsafe {
        ffi::luaL_checkstack(state, 24, std::ptr::null());
        // (1: a placeholder, so that the indices below stay those of the
        // stack this function was first written for.)
        ffi::lua_settop(state, 1);
        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
        let globals = 2;
        // 3: `table.concat` as the Lua version captured it first (the bounded wrapper).
        if get_field(state, globals, c"table") == ffi::LUA_TTABLE {
            get_field(state, 3, c"concat");
            ffi::lua_replace(state, 3);
        } else {
            ffi::lua_settop(state, 2);
            ffi::lua_pushnil(state);
        }
        let concat = 3;

        // Finalizers run with hooks disabled: no limit could stop an endless `__gc`.
        ffi::lua_pushcfunction(state, set_metatable);
        set_field(state, globals, c"setmetatable");
        ffi::lua_pushnil(state);
        set_field(state, globals, c"newproxy");
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(PROTECTED));
        ffi::lua_pushcclosure(state, raw_set, 1);
        set_field(state, globals, c"rawset");
        ffi::lua_pushcfunction(state, error);
        set_field(state, globals, c"error");

        // The string metatable (its `__index` is the `string` table) is hidden.
        ffi::lua_pushstring(state, c"".as_ptr());
        if ffi::lua_getmetatable(state, -1) != 0 {
            let string_mt = ffi::lua_gettop(state);
            ffi::lua_pushboolean(state, 0);
            set_field(state, string_mt, c"__metatable");
        }
        ffi::lua_settop(state, concat);

        // With `package` allowed, `require` hands out the modules of the
        // registry's table of loaded modules (which `package.loaded` is),
        // not those of the `package.loaded` view: that table holds views.
        if get_field(state, globals, c"package") == ffi::LUA_TTABLE && get_field(state, 4, c"loaded") == ffi::LUA_TTABLE
        {
            view_fields(state, 5, |state, lib| !is_protected(state, lib));
        }
        ffi::lua_settop(state, concat);
        // Every other library, in place (`_G` itself is the environment, below).
        view_fields(state, globals, |state, lib| ffi::lua_compare(state, lib, globals, ffi::LUA_OPEQ) == 0);
        ffi::lua_settop(state, concat);

        // The script's environment: globals it defines while loading go to
        // `own` (at the freeze); afterwards every global is read-only.
        ffi::lua_createtable(state, 0, 0); // 4: own
        let own = 4;
        ffi::lua_createtable(state, 0, 3); // 5: env_mt
        let env_mt = 5;
        ffi::lua_pushvalue(state, globals);
        set_field(state, env_mt, c"__index");
        ffi::lua_pushcfunction(state, define_global);
        set_field(state, env_mt, c"__newindex");
        ffi::lua_pushboolean(state, 0);
        set_field(state, env_mt, c"__metatable");
        ffi::lua_createtable(state, 0, 0); // 6: env
        let env = 6;
        ffi::lua_pushvalue(state, env_mt);
        ffi::lua_setmetatable(state, env);
        protect(state, env);
        ffi::lua_pushvalue(state, env);
        set_field(state, globals, c"_G");

        // What a chunk loaded with an explicit `nil` environment sees (Lua
        // 5.4 gives it no globals; LuaJIT and Luau would give it the real ones).
        ffi::lua_createtable(state, 0, 0); // 7: no_env
        let no_env = 7;
        ffi::lua_createtable(state, 0, 3);
        ffi::lua_pushcfunction(state, no_env_index);
        set_field(state, 8, c"__index");
        ffi::lua_pushcfunction(state, no_env_newindex);
        set_field(state, 8, c"__newindex");
        ffi::lua_pushboolean(state, 0);
        set_field(state, 8, c"__metatable");
        ffi::lua_setmetatable(state, no_env);
        protect(state, no_env);

        // `load`: the loaded function (the restriction's `load`) inside.
        if get_field(state, globals, c"load") != ffi::LUA_TNIL && ffi::lua_toboolean(state, 8) != 0 {
            ffi::lua_pushvalue(state, env);
            ffi::lua_pushvalue(state, no_env);
            ffi::lua_pushvalue(state, 8);
            ffi::lua_pushvalue(state, concat);
            ffi::lua_pushnil(state);
            ffi::lua_pushcclosure(state, load, LOAD_UPVALUES);
            set_field(state, globals, c"load");
        }
        ffi::lua_settop(state, no_env);

        ffi::lua_pushvalue(state, env);
        ffi::lua_pushvalue(state, env_mt);
        ffi::lua_pushvalue(state, own);
        ffi::lua_pushvalue(state, globals);
        ffi::lua_pushboolean(state, 0);
        ffi::lua_pushcclosure(state, freeze, 5); // 8

        push_own_view_state(state);
        ffi::lua_pushcclosure(state, record, VIEW_UPVALUES); // 9
        ffi::lua_pushvalue(state, env);
        ffi::lua_insert(state, 8);
        3
    }
}

/// `setmetatable(t, mt)`, refusing `__gc` (finalizers run with hooks
/// disabled, so no limit could stop one); then as the base library's.
///
/// # Safety
///
/// Called by Lua as a C function.
unsafe extern "C-unwind" fn set_metatable(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the argument checks read types only (an absent argument is
    // "no value", as the base library's checks say); then `settop(2)` makes
    // both arguments valid; reads are raw; `luaL_getmetafield` pushes only
    // what it finds.
    unsafe {
        if ffi::lua_type(state, 1) != ffi::LUA_TTABLE {
            return arg_type_error(state, 1, c"table");
        }
        if ffi::lua_type(state, 2) == ffi::LUA_TNONE {
            return arg_type_error(state, 2, c"nil or table");
        }
        ffi::lua_settop(state, 2);
        let mt = ffi::lua_type(state, 2);
        if mt == ffi::LUA_TTABLE && get_field(state, 2, c"__gc") != ffi::LUA_TNIL {
            return raise_at_caller(
                state,
                &[Piece::Text("__gc metamethods are not allowed in the sandbox (finalizers cannot be interrupted)")],
            );
        }
        ffi::lua_settop(state, 2);
        if mt != ffi::LUA_TNIL && mt != ffi::LUA_TTABLE {
            return arg_type_error(state, 2, c"nil or table");
        }
        if ffi::luaL_getmetafield(state, 1, c"__metatable".as_ptr()) != ffi::LUA_TNIL {
            ffi::lua_settop(state, 2);
            return raise_at_caller(state, &[Piece::Text("cannot change a protected metatable")]);
        }
        ffi::lua_setmetatable(state, 1);
        1
    }
}

/// `rawset(t, k, v)`, refusing the protected tables. Upvalue 1: `protected`.
///
/// # Safety
///
/// Called by Lua as a C closure with its upvalue.
unsafe extern "C-unwind" fn raw_set(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the type check reads the first argument's type only; then
    // `settop(3)` makes the three arguments valid (how many were given is
    // read first: an absent key or value is refused as the base library's
    // `luaL_checkany` refuses it); the `protected` read is raw and
    // cannot raise; `lua_rawset` raises only "index is nil"/"index is NaN"
    // and memory errors, as the base library's `rawset`.
    unsafe {
        let given = ffi::lua_gettop(state);
        if ffi::lua_type(state, 1) != ffi::LUA_TTABLE {
            // (Not a protected table: those are all tables.)
            return arg_type_error(state, 1, c"table");
        }
        ffi::lua_settop(state, 3);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_rawget(state, ffi::lua_upvalueindex(1));
        if ffi::lua_toboolean(state, 4) != 0 {
            ffi::lua_settop(state, 3);
            return raise_at_caller(state, &[Piece::Text("rawset: this table is read-only")]);
        }
        ffi::lua_settop(state, 3);
        if given < 3 {
            return arg_error(state, given + 1, c"value expected");
        }
        ffi::lua_rawset(state, 1);
        1
    }
}

/// `error(message, level)`: `error(nil)` says what happened ("error object
/// is a nil value", with the position, as standalone Lua does); otherwise
/// the base library's `error`: the level (`luaL_optinteger`, so `"2"` is 2)
/// counts from this function's caller.
///
/// # Safety
///
/// Called by Lua as a C function.
unsafe extern "C-unwind" fn error(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `settop(2)` makes both arguments valid; `luaL_optinteger`
    // raises the base library's argument errors.
    unsafe {
        ffi::lua_settop(state, 2);
        // Truncated as the base library does.
        let level = ffi::luaL_optinteger(state, 2, 1) as c_int;
        ffi::lua_settop(state, 1);
        if ffi::lua_type(state, 1) == ffi::LUA_TNIL {
            push_str(state, "error object is a nil value");
            ffi::lua_replace(state, 1);
        }
        if ffi::lua_type(state, 1) == ffi::LUA_TSTRING && level > 0 {
            ffi::luaL_where(state, level);
            ffi::lua_pushvalue(state, 1);
            ffi::lua_concat(state, 2);
        }
        ffi::lua_error(state)
    }
}

/// The environment's `__newindex` while the script loads: a raw write.
///
/// # Safety
///
/// Called by Lua as a metamethod (table, key, value).
unsafe extern "C-unwind" fn define_global(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `settop(3)` makes the three values valid; Lua calls this
    // metamethod of the environment with the environment (a table) first;
    // `lua_rawset` raises "index is nil"/"index is NaN" as `rawset` did.
    unsafe {
        ffi::lua_settop(state, 3);
        ffi::lua_rawset(state, 1);
        0
    }
}

/// The environment's `__newindex` once frozen: globals are read-only.
///
/// # Safety
///
/// Called by Lua as a metamethod (table, key, value).
unsafe extern "C-unwind" fn refuse_global(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `settop(2)` makes the key's index valid.
    unsafe {
        ffi::lua_settop(state, 2);
        raise_at_caller(
            state,
            &[
                Piece::Text("cannot set the global `"),
                Piece::Value(2),
                Piece::Text(
                    "`: globals are read-only once the script has loaded (nothing may persist from one execution to \
                     the next); use ctx or a local",
                ),
            ],
        )
    }
}

/// The nil environment's `__index`: no global is available.
///
/// # Safety
///
/// Called by Lua as a metamethod (table, key).
unsafe extern "C-unwind" fn no_env_index(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `settop(2)` makes the key's index valid.
    unsafe {
        ffi::lua_settop(state, 2);
        raise_at_caller(
            state,
            &[
                Piece::Text("the global `"),
                Piece::Value(2),
                Piece::Text("` is not available: this chunk was loaded with a nil environment"),
            ],
        )
    }
}

/// The nil environment's `__newindex`.
///
/// # Safety
///
/// Called by Lua as a metamethod (table, key, value).
unsafe extern "C-unwind" fn no_env_newindex(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `settop(2)` then one push: both indices valid.
    unsafe {
        ffi::lua_settop(state, 2);
        push_str(state, "the nil environment");
        refuse(state, 3, 2)
    }
}

/// `load(chunk, name, mode, env)` of the sandbox: a function chunk's pieces
/// are concatenated first (in Lua, see [`LOAD_PIECES`]), binary chunks are
/// refused, the environment is the script's unless one is given (an
/// explicit `nil` gets the nil environment, anything but a table is
/// refused), and a chunk with a to-be-closed variable is refused.
///
/// # Safety
///
/// Called by Lua as a C closure with its upvalues.
unsafe extern "C-unwind" fn load(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a `load` closure's frame. Loading the pieces function reads a
    // constant chunk of this crate ('static bytes); the calls may raise (the
    // reader's errors propagate, as before) with nothing Rust alive here.
    unsafe {
        if ffi::lua_type(state, 1) != ffi::LUA_TFUNCTION {
            return load_text(state);
        }
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        if ffi::lua_type(state, ffi::lua_upvalueindex(LOAD_PIECES_FN)) == ffi::LUA_TNIL {
            let (code, binary) = LOAD_PIECES.code();
            let mode = if binary { c"b" } else { c"t" };
            if ffi::luaL_loadbufferx(state, code.as_ptr().cast(), code.len(), c"=lockdown".as_ptr(), mode.as_ptr())
                != ffi::LUA_OK
            {
                ffi::lua_error(state);
            }
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LOAD_CONCAT));
            ffi::lua_call(state, 1, 1);
            ffi::lua_replace(state, ffi::lua_upvalueindex(LOAD_PIECES_FN));
        }
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LOAD_PIECES_FN));
        ffi::lua_pushvalue(state, 1);
        ffi::lua_callk(state, 1, 2, 0, Some(load_pieces_done));
        load_pieces_done(state, ffi::LUA_OK, 0)
    }
}

/// Continues `load` once the pieces are concatenated (also after a yield of the reader).
///
/// # Safety
///
/// Called by Lua (or [`load`]) in a `load` closure's frame, the pieces function's two results on top.
unsafe extern "C-unwind" fn load_pieces_done(
    state: *mut ffi::lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    // SAFETY: the caller's contract; a failed result leaves room for the
    // three values pushed (the pieces function's one result was popped).
    unsafe {
        // The pieces function's two results: the text and `nil`, or `false`
        // and the reader's error (`nil` when a piece was no string).
        if ffi::lua_type(state, -2) == ffi::LUA_TBOOLEAN {
            ffi::lua_pushnil(state);
            ffi::lua_replace(state, -3);
            if ffi::lua_isnil(state, -1) != 0 {
                // Plain Lua's reader error (with the caller's position, as `luaL_error`).
                ffi::lua_settop(state, -2);
                ffi::luaL_where(state, 1);
                push_str(state, "reader function must return a string");
                ffi::lua_concat(state, 2);
            }
            return 2;
        }
        ffi::lua_settop(state, -2);
        ffi::lua_replace(state, 1);
        load_text(state)
    }
}

/// `load` once the chunk is not a function (see [`load`]).
///
/// # Safety
///
/// A `load` closure's frame, its arguments on the stack.
unsafe fn load_text(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a `load` closure's frame; `settop` makes the first three
    // arguments valid; room checked; the inner `load` and the close check
    // are called with `lua_call` (their errors propagate, as before).
    unsafe {
        let given = ffi::lua_gettop(state);
        if given == 0 {
            return arg_type_error(state, 1, c"function");
        }
        ffi::luaL_checkstack(state, 8, std::ptr::null());
        if ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
            let mut len = 0;
            let text = ffi::lua_tolstring(state, 1, &mut len);
            if len > 0 && *text.cast::<u8>() == 27 {
                ffi::lua_pushnil(state);
                push_str(state, "attempt to load a binary chunk (the sandbox loads only text)");
                return 2;
            }
        }
        ffi::lua_settop(state, given.max(4));
        if given >= 4 {
            match ffi::lua_type(state, 4) {
                ffi::LUA_TNIL => {
                    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LOAD_NO_ENV));
                    ffi::lua_replace(state, 4);
                }
                ffi::LUA_TTABLE => {}
                _ => {
                    ffi::lua_pushnil(state);
                    push_str(state, "load: the environment must be a table or nil (got a ");
                    ffi::lua_pushstring(state, ffi::luaL_typename(state, 4));
                    push_str(state, ")");
                    ffi::lua_concat(state, 3);
                    return 2;
                }
            }
        } else {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LOAD_ENV));
            ffi::lua_replace(state, 4);
        }
        let top = ffi::lua_gettop(state);
        // (Read first: run in this frame, `load` converts a number name in place.)
        let named = ffi::lua_type(state, 2) == ffi::LUA_TSTRING;
        // The sandbox's C `load` (the restriction's) in this frame, so that
        // its argument errors name `load` at the script's line; any other
        // inner `load` (the Lua prelude's) called.
        if !load_in_frame(state, ffi::lua_upvalueindex(LOAD_INNER)) {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LOAD_INNER));
            for i in 1..=4 {
                ffi::lua_pushvalue(state, i);
            }
            ffi::lua_call(state, 4, 2);
        }
        let (f, message) = (top + 1, top + 2);
        if ffi::lua_toboolean(state, f) != 0 {
            push_close_line(state, f);
            if ffi::lua_toboolean(state, -1) != 0 {
                let line = ffi::lua_gettop(state);
                ffi::lua_pushnil(state);
                if named {
                    ffi::lua_pushvalue(state, 2);
                } else {
                    push_str(state, "load");
                }
                push_str(state, ":");
                ffi::lua_pushvalue(state, line);
                push_str(state, ": ");
                push_str(state, CLOSE_REFUSED);
                ffi::lua_concat(state, 5);
                return 2;
            }
            // A loaded chunk is the one result, as the base library's.
            ffi::lua_settop(state, f);
            return 1;
        }
        ffi::lua_settop(state, message);
        2
    }
}

/// The to-be-closed check of `load`: pushes the line of the first
/// to-be-closed variable in the Lua function at `f` or the functions it
/// defines (0 without line information; [`crate::close_scan`]), or `nil`
/// when there is none. The function is dumped with its debug information
/// into a Lua buffer (as `string.dump` does) and the bytes scanned there,
/// so no Rust value with a destructor is alive while Lua may raise (the
/// buffer's memory errors); code that cannot be read raises an error.
///
/// # Safety
///
/// A C function's frame; `f` an absolute index of a Lua function (a chunk
/// `load` just compiled).
unsafe fn push_close_line(state: *mut ffi::lua_State, f: c_int) {
    /// `lua_dump`'s writer: appends to the buffer, started on the first call
    /// (after `lua_dump` has taken the function from the top); at the end
    /// (Lua 5.5 signals it with no bytes; `lua_dump` then drops what was
    /// pushed) the dump is moved into the reserved slot.
    unsafe extern "C-unwind" fn writer(
        state: *mut ffi::lua_State,
        bytes: *const std::ffi::c_void,
        len: usize,
        dump: *mut std::ffi::c_void,
    ) -> c_int {
        // SAFETY: `dump` is the `Dump` of `push_close_line`, alive (and not
        // moved) for the whole `lua_dump`; the buffer's pushes and the
        // final move are the ones `string.dump`'s writer makes.
        unsafe {
            let dump = &mut *dump.cast::<Dump>();
            if !dump.started {
                dump.started = true;
                ffi::luaL_buffinit(state, &raw mut dump.buffer);
            }
            if bytes.is_null() {
                dump.finish(state);
            } else {
                ffi::luaL_addlstring(&raw mut dump.buffer, bytes.cast(), len);
            }
        }
        0
    }
    /// The buffer, its state and the slot the dump ends in (plain C data:
    /// nothing to drop if Lua raises).
    struct Dump {
        started: bool,
        finished: bool,
        slot: c_int,
        buffer: ffi::luaL_Buffer,
    }
    impl Dump {
        /// Pushes the dump and moves it into the reserved slot.
        ///
        /// # Safety
        ///
        /// A started buffer, on top of the stack as `luaL_pushresult` requires.
        unsafe fn finish(&mut self, state: *mut ffi::lua_State) {
            // SAFETY: the caller's contract.
            unsafe {
                ffi::luaL_pushresult(&raw mut self.buffer);
                ffi::lua_replace(state, self.slot);
            }
            self.finished = true;
        }
    }
    // SAFETY: the caller's contract; room checked; the slot is reserved
    // below the function, which is pushed on top for `lua_dump` (it takes
    // it before the writer first pushes). The scan reads the dump's bytes
    // (a string alive in its slot) and raises nothing; both slots are
    // dropped before the result is pushed.
    unsafe {
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        let top = ffi::lua_gettop(state);
        ffi::lua_pushnil(state); // top + 1: the dump
        ffi::lua_pushvalue(state, f);
        let mut dump = Dump { started: false, finished: false, slot: top + 1, buffer: std::mem::zeroed() };
        ffi::lua_dump(state, writer, (&raw mut dump).cast(), 0);
        if dump.started && !dump.finished {
            dump.finish(state);
        }
        let mut len = 0;
        let bytes = ffi::lua_tolstring(state, top + 1, &mut len);
        let found = if bytes.is_null() {
            crate::close_scan::first_to_be_closed(&[])
        } else {
            crate::close_scan::first_to_be_closed(std::slice::from_raw_parts(bytes.cast::<u8>(), len))
        };
        ffi::lua_settop(state, top);
        match found {
            Ok(Some(line)) => ffi::lua_pushinteger(state, ffi::lua_Integer::from(line)),
            Ok(None) => ffi::lua_pushnil(state),
            Err(e) => {
                push_str(state, "load: unreadable bytecode: ");
                push_str(state, e.reason());
                ffi::lua_concat(state, 2);
                ffi::lua_error(state);
            }
        }
    }
}

/// `freeze()`: moves the globals the script defined into `own`, leaves the
/// environment empty and makes every later global write an error. Runs once.
///
/// # Safety
///
/// Called by Lua as a C closure with its upvalues.
unsafe extern "C-unwind" fn freeze(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a `freeze` closure's frame; absolute indices after
    // `settop(0)`; the traversals add no key to the table they traverse.
    unsafe {
        if ffi::lua_toboolean(state, ffi::lua_upvalueindex(FREEZE_DONE)) != 0 {
            return 0;
        }
        ffi::lua_pushboolean(state, 1);
        ffi::lua_replace(state, ffi::lua_upvalueindex(FREEZE_DONE));
        ffi::lua_settop(state, 0);
        ffi::luaL_checkstack(state, 8, std::ptr::null());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(FREEZE_ENV)); // 1
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(FREEZE_OWN)); // 2
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, 1) != 0 {
            ffi::lua_pushvalue(state, -2);
            ffi::lua_insert(state, -2);
            ffi::lua_rawset(state, 2);
        }
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, 2) != 0 {
            ffi::lua_pop(state, 1);
            ffi::lua_pushvalue(state, -1);
            ffi::lua_pushnil(state);
            ffi::lua_rawset(state, 1);
        }
        ffi::lua_createtable(state, 0, 1);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(FREEZE_GLOBALS));
        set_field(state, 3, c"__index");
        ffi::lua_setmetatable(state, 2);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(FREEZE_ENV_MT)); // 3
        ffi::lua_pushvalue(state, 2);
        set_field(state, 3, c"__index");
        ffi::lua_pushcfunction(state, refuse_global);
        set_field(state, 3, c"__newindex");
        0
    }
}
