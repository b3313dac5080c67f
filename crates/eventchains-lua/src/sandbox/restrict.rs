//! The restricted globals built through the C API (Lua 5.4 and 5.5): what
//! the `=sandbox` Lua prelude does (see [`super::Sandbox::restrict`]),
//! without loading and running its functions in every new VM.
//!
//! `load` and `collectgarbage` become C closures over the base library's
//! functions, which they run in their own frame (both are C functions
//! without upvalues): an argument error names the function as the caller
//! called it and gives the caller's line, as the Lua wrappers' field calls
//! did. Once the bounded library is installed both also charge their work
//! to the running call ([`charge_gc_and_load_to`]), as the bounded
//! library's Lua wrappers did; the lockdown's `load` runs this `load` in its
//! own frame ([`load_in_frame`]), so that its argument errors name `load`
//! and the script's line. The
//! reduced `os` is built from `luaopen_os`'s table directly (the
//! VM is opened without `os`, see [`super::Sandbox::open`]): the whole
//! library is never a global nor a loaded module.
//!
//! No Rust value with a destructor is alive while Lua may raise an error (a
//! `longjmp` or an unwind through these frames).

use std::ffi::c_int;
use std::sync::OnceLock;

use mlua::{Function, Lua, ffi};

use super::raise::{Piece, raise_at_caller};
use crate::raw_fields::{get_field, set_field};

/// The `os` functions the default sandbox keeps.
const REDUCED_OS: [&std::ffi::CStr; 3] = [c"clock", c"time", c"date"];

/// Installs the restricted globals in `lua` (see [`super::Sandbox::restrict`]):
/// `print` (to the log), `load` (text only), `collectgarbage` (collect,
/// count and step only), and with `reduced_os` the `os` of `clock`, `time`
/// and `date` (also as the loaded module `os`, so that `require` hands out
/// no other).
#[inline(never)] // a function of its own in profiles
pub(super) fn restrict(lua: &Lua, print: Function, reduced_os: bool) -> mlua::Result<()> {
    let reduced_os_functions = if reduced_os { *OS_FUNCTIONS.get_or_init(os_functions) } else { None };
    // SAFETY: `exec_raw` runs the closure in a protected call with `print`
    // at 1; every index below is absolute; room is checked first. Raises
    // memory errors only, reported by `exec_raw`.
    unsafe {
        lua.exec_raw::<()>(print, |state| {
            ffi::luaL_checkstack(state, 12, std::ptr::null());
            ffi::lua_settop(state, 1);
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
            let globals = 2;
            ffi::lua_pushvalue(state, 1);
            set_field(state, globals, c"print");
            for name in [c"dofile", c"loadfile", c"loadstring", c"getfenv", c"setfenv"] {
                ffi::lua_pushnil(state);
                set_field(state, globals, name);
            }
            if get_field(state, globals, c"package") == ffi::LUA_TNIL {
                ffi::lua_pushnil(state);
                set_field(state, globals, c"require");
            }
            ffi::lua_settop(state, globals);
            wrap(state, globals, c"load", load);
            wrap(state, globals, c"collectgarbage", collect_garbage);
            if reduced_os {
                ffi::lua_pushnil(state); // 3: the whole library, when it must be opened
                ffi::lua_createtable(state, 0, 3); // 4: the reduced one
                match reduced_os_functions {
                    Some(functions) => {
                        for (name, function) in REDUCED_OS.iter().zip(functions) {
                            ffi::lua_pushcfunction(state, function);
                            set_field(state, 4, name);
                        }
                    }
                    None => {
                        ffi::lua_pushcfunction(state, ffi::luaopen_os);
                        ffi::lua_call(state, 0, 1);
                        ffi::lua_replace(state, 3);
                        for name in REDUCED_OS {
                            ffi::lua_pushstring(state, name.as_ptr());
                            ffi::lua_rawget(state, 3);
                            set_field(state, 4, name);
                        }
                    }
                }
                ffi::lua_pushvalue(state, 4);
                set_field(state, globals, c"os");
                ffi::luaL_getsubtable(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
                ffi::lua_pushvalue(state, 4);
                set_field(state, 5, c"os");
            }
            ffi::lua_settop(state, 0);
        })
    }
}

/// The C functions `os.clock`, `os.time` and `os.date` of the engine,
/// read once per process from `luaopen_os`'s table (light C functions: the
/// same values in every VM). Opening the library in every VM to take three
/// of its eleven functions cost about 9,500 instructions.
static OS_FUNCTIONS: OnceLock<Option<[ffi::lua_CFunction; 3]>> = OnceLock::new();

/// Reads [`OS_FUNCTIONS`] in a VM of its own; `None` when one of them is
/// not a C function without upvalues (then each VM opens the library).
fn os_functions() -> Option<[ffi::lua_CFunction; 3]> {
    let lua = Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default()).ok()?;
    let mut found: [Option<ffi::lua_CFunction>; 3] = [None; 3];
    // SAFETY: a protected call on a VM of this function's own; only C
    // function pointers (no destructors) are written from inside it.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_pushcfunction(state, ffi::luaopen_os);
            ffi::lua_call(state, 0, 1);
            for (slot, name) in found.iter_mut().zip(REDUCED_OS) {
                ffi::lua_pushstring(state, name.as_ptr());
                ffi::lua_rawget(state, 1);
                if ffi::lua_getupvalue(state, 2, 1).is_null() {
                    *slot = ffi::lua_tocfunction(state, 2);
                }
                ffi::lua_settop(state, 1);
            }
            ffi::lua_settop(state, 0);
        })
    }
    .ok()?;
    Some([found[0]?, found[1]?, found[2]?])
}

/// Upvalue of the [`wrap`] closures: the bounded library's `checkpoint(work)`
/// (nil until [`charge_gc_and_load_to`] sets it).
const CHECKPOINT: c_int = 3;

/// Makes `collectgarbage` and `load` charge their work through `checkpoint`
/// (the bounded library's: it charges the running call and checks the
/// caps), as the bounded library's Lua wrappers of them do: a collection (no
/// option, `"collect"`, `"step"`) one instruction per 64 bytes of heap, a
/// text chunk longer than [`BIG_CHUNK`] one per 64 bytes, before they run.
/// Done in the closures the script calls (`load` through the lockdown's,
/// which runs this one in its own frame, [`load_in_frame`]), so argument
/// errors keep naming the function and the script's line. Returns `false`,
/// changing nothing, when the globals are not this module's closures (the
/// Lua prelude restricted them): the caller wraps them in Lua.
///
/// # Safety
///
/// `globals` (the VM's globals table) and `checkpoint` absolute indices;
/// room for two values; nothing else of this VM runs meanwhile.
pub(crate) unsafe fn charge_gc_and_load_to(state: *mut ffi::lua_State, globals: c_int, checkpoint: c_int) -> bool {
    // SAFETY: the caller's contract; `lua_setupvalue` pops the value it
    // sets (upvalue 3 exists on every `wrap` closure).
    unsafe {
        let top = ffi::lua_gettop(state);
        let ours = [(c"collectgarbage", collect_garbage as ffi::lua_CFunction), (c"load", load)];
        let all_ours = ours.iter().all(|(name, wrapper)| {
            get_field(state, globals, name);
            let found = ffi::lua_tocfunction(state, -1).is_some_and(|f| std::ptr::fn_addr_eq(f, *wrapper));
            ffi::lua_settop(state, top);
            found
        });
        if all_ours {
            for (name, _) in ours {
                get_field(state, globals, name);
                ffi::lua_pushvalue(state, checkpoint);
                ffi::lua_setupvalue(state, -2, CHECKPOINT);
                ffi::lua_settop(state, top);
            }
        }
        all_ours
    }
}

/// Calls the `checkpoint` at `checkpoint` (a [`wrap`] closure's upvalue),
/// if set, with `work` (it raises the limit error when the call has hit a cap).
///
/// # Safety
///
/// `checkpoint` a valid index (an upvalue pseudo-index in a [`wrap`]
/// closure's frame); room for two values.
unsafe fn charge(state: *mut ffi::lua_State, checkpoint: c_int, work: f64) {
    // SAFETY: the caller's contract; `checkpoint` is a function when set.
    unsafe {
        if ffi::lua_type(state, checkpoint) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(state, checkpoint);
            ffi::lua_pushnumber(state, work);
            ffi::lua_call(state, 1, 0);
        }
    }
}

/// A text chunk longer than this many bytes costs `load` one instruction
/// per 64 bytes (the bounded library's charge; shorter ones are cheap next
/// to the call itself).
const BIG_CHUNK: usize = 4096;

/// Charges the compile of argument 1, when it is a string longer than
/// [`BIG_CHUNK`], to `checkpoint` (see [`charge`]).
///
/// # Safety
///
/// As [`charge`]; argument 1 exists.
unsafe fn charge_chunk(state: *mut ffi::lua_State, checkpoint: c_int) {
    // SAFETY: the caller's contract; `lua_type` first, so `lua_tolstring`
    // converts nothing.
    unsafe {
        if ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
            let mut len = 0;
            ffi::lua_tolstring(state, 1, &mut len);
            if len > BIG_CHUNK {
                #[allow(clippy::cast_precision_loss)] // chunk lengths are far below 2^52
                charge(state, checkpoint, len as f64 / 64.0);
            }
        }
    }
}

/// Runs the sandbox's `load` closure at `inner` (made by [`restrict`]) in
/// the running C function's frame, on that frame's arguments 1 to 4 (chunk,
/// name, mode, env; more are ignored): the chunk charged, the mode forced to
/// `"t"`, the base library's `load` run on them. Leaves exactly its two
/// results (the function and `nil`, or `nil` and the message) above the
/// stack's top on entry and returns `true`; returns `false`, changing
/// nothing, when `inner` is not such a closure over the base library's C
/// function (the caller then calls it). Like any C function, base `load`
/// converts a number chunk or name to a string in its slot. Run in the
/// frame of the function the script called (the lockdown's `load`),
/// argument errors name it as the script called it and give the script's
/// line, as Lua's own `load` does; a closure called from C would be named
/// `'?'`.
///
/// # Safety
///
/// A C function's frame holding at least four values (its arguments
/// after any adjustment: base `load` reads 1 to 4), room for five more;
/// `inner` a valid index that stays so as values are pushed (absolute, or
/// an upvalue's pseudo-index).
pub(super) unsafe fn load_in_frame(state: *mut ffi::lua_State, inner: c_int) -> bool {
    // SAFETY: the caller's contract. `lua_getupvalue` pushes a value when it
    // returns a name (every `wrap` closure has three upvalues). The base
    // function is a C function without upvalues: it reads only its
    // arguments (1 to 4 here) and pushes its results on top.
    unsafe {
        if !ffi::lua_tocfunction(state, inner).is_some_and(|f| std::ptr::fn_addr_eq(f, load as ffi::lua_CFunction)) {
            return false;
        }
        let top = ffi::lua_gettop(state);
        ffi::lua_getupvalue(state, inner, 2);
        ffi::lua_getupvalue(state, inner, 1);
        let base = ffi::lua_tocfunction(state, -1);
        let Some(base) = base.filter(|_| ffi::lua_toboolean(state, -2) != 0) else {
            ffi::lua_settop(state, top);
            return false;
        };
        ffi::lua_getupvalue(state, inner, CHECKPOINT);
        charge_chunk(state, top + 3);
        ffi::lua_settop(state, top);
        ffi::lua_pushstring(state, c"t".as_ptr());
        ffi::lua_replace(state, 3);
        let results = base(state);
        // Its results are the top `results` values: the first two moved
        // down to `top + 1` (none is left between them and `top` by the
        // base function, but nothing relies on that).
        let first = ffi::lua_gettop(state) - results + 1;
        for i in 0..results.min(2) {
            ffi::lua_copy(state, first + i, top + 1 + i);
        }
        ffi::lua_settop(state, top + results.min(2));
        ffi::lua_settop(state, top + 2);
        true
    }
}

/// Replaces the function `name` of `globals` by the C closure `wrapper`
/// over it (upvalue 1 the function, 2 whether it is a C function without
/// upvalues, 3 [`CHECKPOINT`], nil); leaves an absent field alone.
///
/// # Safety
///
/// `globals` an absolute index of a table; room for four values.
unsafe fn wrap(state: *mut ffi::lua_State, globals: c_int, name: &std::ffi::CStr, wrapper: ffi::lua_CFunction) {
    // SAFETY: the caller's contract; `lua_getupvalue` pushes a value only
    // when it returns a name.
    unsafe {
        let top = ffi::lua_gettop(state);
        ffi::lua_pushstring(state, name.as_ptr());
        if ffi::lua_rawget(state, globals) != ffi::LUA_TNIL {
            let plain =
                ffi::lua_tocfunction(state, top + 1).is_some() && ffi::lua_getupvalue(state, top + 1, 1).is_null();
            ffi::lua_settop(state, top + 1);
            ffi::lua_pushboolean(state, c_int::from(plain));
            ffi::lua_pushnil(state);
            ffi::lua_pushcclosure(state, wrapper, 3);
            set_field(state, globals, name);
        }
        ffi::lua_settop(state, top);
    }
}

/// Runs the wrapped function on this frame's arguments and returns its results.
///
/// # Safety
///
/// Called from a [`wrap`] closure's frame, the stack holding the call's arguments only.
unsafe fn call_wrapped(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the caller's contract; a C function without upvalues reads
    // only its arguments, so it can work in this frame.
    unsafe {
        if ffi::lua_toboolean(state, ffi::lua_upvalueindex(2)) != 0
            && let Some(wrapped) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1))
        {
            return wrapped(state);
        }
        let nargs = ffi::lua_gettop(state);
        ffi::luaL_checkstack(state, 1, std::ptr::null());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}

/// `load(chunk, name, mode, env)` with the mode always `"t"` (binary chunks
/// can crash the interpreter); an environment only when one is given.
///
/// # Safety
///
/// Called by Lua as a [`wrap`] closure.
unsafe extern "C-unwind" fn load(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrap closure's frame; `settop` makes index 3 valid.
    unsafe {
        ffi::lua_settop(state, ffi::lua_gettop(state).max(3));
        charge_chunk(state, ffi::lua_upvalueindex(CHECKPOINT));
        ffi::lua_pushstring(state, c"t".as_ptr());
        ffi::lua_replace(state, 3);
        call_wrapped(state)
    }
}

/// `collectgarbage(option, ...)` for `"collect"`, `"count"` and `"step"`
/// (and no option) only: a script must not stop the collector of a VM that
/// later executions reuse.
///
/// # Safety
///
/// Called by Lua as a [`wrap`] closure.
unsafe extern "C-unwind" fn collect_garbage(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrap closure's frame; the option is compared as a string
    // without coercion (`==` in the Lua version: a number is never equal).
    unsafe {
        let (allowed, is_count) = match ffi::lua_type(state, 1) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => (true, false),
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let option = ffi::lua_tolstring(state, 1, &mut len);
                let option = std::slice::from_raw_parts(option.cast::<u8>(), len);
                (matches!(option, b"collect" | b"count" | b"step"), option == b"count")
            }
            _ => (false, false),
        };
        if !allowed {
            return raise_at_caller(
                state,
                &[Piece::Text("collectgarbage('"), Piece::Value(1), Piece::Text("') is not allowed in the sandbox")],
            );
        }
        // A full pass over the heap: 1 instruction per 64 bytes, charged
        // before it runs (the bounded library's charge, see `charge_gc_and_load_to`).
        if !is_count {
            let kb = ffi::lua_gc(state, ffi::LUA_GCCOUNT);
            let bytes = ffi::lua_gc(state, ffi::LUA_GCCOUNTB);
            charge(state, ffi::lua_upvalueindex(CHECKPOINT), (f64::from(kb) * 1024.0 + f64::from(bytes)) / 64.0);
        }
        call_wrapped(state)
    }
}
