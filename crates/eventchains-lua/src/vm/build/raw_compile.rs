//! A script's chunk compiled (or its cached bytecode loaded) through the C
//! API, with the script's environment and, when asked, its dump, in one
//! protected call.
//!
//! mlua's `Chunk::into_function` and `Function::dump` are a protected call
//! each plus a name conversion. Here the chunk is loaded by
//! `luaL_loadbufferenv` (what mlua calls) and dumped by `lua_dump`, in one.
//! The dump's buffer grows from empty as mlua's does: sized from the text, it
//! saved ~2,800 instructions of reallocations, but as the first large
//! allocation after the previous VM's many small frees it made glibc
//! consolidate its fast bins (~20,000 instructions) inside the load instead
//! of wherever the next large allocation comes (docs/benchmarks.md, seventh
//! round).
//!
//! Only loads that succeed take this path: on any failure [`compile`]
//! returns `None` and the caller compiles through mlua (compiling has no
//! effect on the VM), which reports the error exactly as before.

use mlua::{Function, Lua, Table};

use crate::vm::Code;

/// `code` loaded as the function of the script `script` (chunk name
/// `@script`) with the environment `env`, and its dump (with line
/// information) when `dump` is set; `None` when it does not load.
#[cfg(not(feature = "luau"))]
pub(super) fn compile(
    lua: &Lua,
    env: &Table,
    script: &str,
    code: &Code<'_>,
    dump: bool,
) -> Option<(Function, Option<Vec<u8>>)> {
    use mlua::ffi;
    let (bytes, mode) = match *code {
        Code::Source(source) => (source.as_bytes(), c"t"),
        Code::Bytecode(bytecode) => (bytecode, c"b"),
    };
    let name = std::ffi::CString::new(format!("@{script}")).ok()?;
    let mut dumped: Vec<u8> = Vec::new();
    let mut dump_status = 0;
    // SAFETY: `exec_raw` runs the closure in a protected call with the
    // environment table at index 1. `luaL_loadbufferenv` loads with Lua's
    // own protected parser and returns a status (the environment is set as
    // the function's first upvalue, as mlua sets it); `lua_dump` calls
    // `writer` with `dumped`, which outlives the call, and the closure owns
    // nothing that a raised error would skip. It leaves the function alone
    // on the stack (or nothing, when the load failed).
    let function = unsafe {
        lua.exec_raw::<Option<Function>>(env, |state| {
            let status =
                ffi::luaL_loadbufferenv(state, bytes.as_ptr().cast(), bytes.len(), name.as_ptr(), mode.as_ptr(), 1);
            if status != ffi::LUA_OK {
                ffi::lua_settop(state, 0);
                return;
            }
            if dump {
                dump_status = ffi::lua_dump(state, writer, (&raw mut dumped).cast(), 0);
            }
            ffi::lua_rotate(state, 1, -1);
            ffi::lua_settop(state, 1);
        })
    }
    .ok()??;
    if dump_status != 0 {
        return None;
    }
    Some((function, dump.then_some(dumped)))
}

/// `lua_dump`'s writer: appends each piece to the `Vec<u8>` at `data`.
///
/// # Safety
///
/// Called by `lua_dump` with `data` pointing to a live `Vec<u8>` no one else uses meanwhile.
#[cfg(not(feature = "luau"))]
unsafe extern "C-unwind" fn writer(
    _state: *mut mlua::ffi::lua_State,
    piece: *const std::ffi::c_void,
    len: usize,
    data: *mut std::ffi::c_void,
) -> std::ffi::c_int {
    // (Lua 5.5 ends a dump with an empty piece and no pointer.)
    if !piece.is_null() && len > 0 {
        // SAFETY: the caller's contract; `piece` holds `len` bytes.
        unsafe { (*data.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(piece.cast::<u8>(), len)) };
    }
    0
}

/// Luau compiles before loading (see `precompile`): mlua's path.
#[cfg(feature = "luau")]
pub(super) fn compile(_: &Lua, _: &Table, _: &str, _: &Code<'_>, _: bool) -> Option<(Function, Option<Vec<u8>>)> {
    None
}

#[cfg(all(test, not(feature = "luau")))]
mod tests {
    use super::*;

    fn env(lua: &Lua) -> Table {
        let env = lua.create_table().expect("table");
        env.raw_set("x", 5).expect("set");
        env
    }

    #[test]
    fn source_runs_in_the_environment_and_dumps_as_mlua_dumps() {
        let lua = Lua::new();
        // Small, and with many functions.
        let many: String =
            (0..300).map(|i| format!("t[{i}]=function()local a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p end\n")).collect();
        for source in ["return x + 1", &format!("local t = {{}}\n{many}return x")] {
            let (function, dumped) =
                compile(&lua, &env(&lua), "raw.lua", &Code::Source(source), true).expect("compiles");
            assert!(function.call::<i64>(()).expect("runs") >= 5, "the environment is the given table");
            assert_eq!(dumped.as_deref(), Some(function.dump(false).as_slice()), "{}", &source[..12]);
            let (_, none) = compile(&lua, &env(&lua), "raw.lua", &Code::Source(source), false).expect("compiles");
            assert!(none.is_none());
        }
    }

    #[test]
    fn bytecode_loads_with_the_scripts_name_and_environment() {
        let lua = Lua::new();
        let (_, dumped) =
            compile(&lua, &env(&lua), "named.lua", &Code::Source("return x, error"), true).expect("compiles");
        let bytecode = dumped.expect("dumped");
        let (function, _) = compile(&lua, &env(&lua), "named.lua", &Code::Bytecode(&bytecode), false).expect("loads");
        assert_eq!(function.info().source.as_deref(), Some("@named.lua"));
        let (x, error) = function.call::<(i64, Option<mlua::Function>)>(()).expect("runs");
        assert_eq!((x, error), (5, None), "only the environment's names");
    }

    #[test]
    fn what_does_not_load_is_left_to_mlua() {
        let lua = Lua::new();
        let env = env(&lua);
        assert!(compile(&lua, &env, "bad.lua", &Code::Source("return +"), true).is_none(), "a syntax error");
        assert!(compile(&lua, &env, "bad.lua", &Code::Bytecode(b"\x1bLua garbage"), false).is_none());
        let (_, dumped) = compile(&lua, &env, "ok.lua", &Code::Source("return 1"), true).expect("compiles");
        let dumped = dumped.expect("dumped");
        let truncated = &dumped[..dumped.len() / 2];
        assert!(compile(&lua, &env, "ok.lua", &Code::Bytecode(truncated), false).is_none(), "truncated bytecode");
        assert!(compile(&lua, &env, "nul\0.lua", &Code::Source("return 1"), false).is_none(), "a name C cannot hold");
        assert!(
            compile(&lua, &env, "text.lua", &Code::Bytecode(b"return 1"), false).is_none(),
            "text is not loaded as bytecode"
        );
    }
}
