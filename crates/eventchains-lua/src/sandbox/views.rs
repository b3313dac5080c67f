//! Read-only views of tables, built through the C API (Lua 5.4 and 5.5).
//!
//! A view of `t` is an empty table whose metatable reads `t`'s values
//! (`__index` is its shadow), refuses writes (`__newindex`), iterates the
//! shadow (`__pairs`), measures it (`__len`) and hides itself
//! (`__metatable = false`): `next`, `rawget` and `rawlen` see an empty
//! table. Nested tables are views too. A table holding no unprotected table
//! (every standard library but `package`, an `event` record's fields) is
//! its own shadow: after the lockdown nothing a script can reach holds it, so
//! nothing can change it. Any other table is copied into a new shadow whose
//! nested tables are views (the original stays as the C functions holding it
//! expect it, e.g. `require`'s `package.searchers`). Views are memoized per
//! table (one view per library, whatever path reaches it).
//!
//! The functions that make views are C closures with the upvalues
//! [`VIEWS`] to `LEN` (pushed by [`push_view_state`]): the tables of the
//! Lua version's chunk, kept the same way (`names` and `protected` have
//! weak keys, so an `event` record made for one call goes away with it).

use std::ffi::c_int;

use mlua::ffi;

use super::raise::{Piece, raise_at_caller};

/// Upvalue: original table → its view (strong: the libraries live as long as the VM).
pub(super) const VIEWS: c_int = 1;
/// Upvalue: view → its name in messages (`string`, `package.loaded`; weak keys).
const NAMES: c_int = 2;
/// Upvalue: the read-only tables `rawset` refuses (views, the environment,
/// the nil environment; weak keys) → `true`.
pub(super) const PROTECTED: c_int = 3;
/// Upvalue: the views' `__newindex`. A table is a view exactly when its
/// metatable's `__newindex` is this closure (made here, never handed out;
/// the metatable is hidden), and its shadow is then the metatable's
/// `__index` (the Lua version kept a weak `shadows` table for that).
const NEWINDEX: c_int = 4;
/// Upvalue: the views' `__pairs`.
const PAIRS: c_int = 5;
/// Upvalue: the views' `__len`.
const LEN: c_int = 6;
/// How many upvalues a view-making closure has.
pub(super) const VIEW_UPVALUES: c_int = 6;

/// How deep [`view_of`] follows nested tables (library tables nest two or
/// three levels; the Lua version's recursion was bounded by Lua's stack).
const MAX_NESTING: u32 = 100;

/// Pushes the [`VIEW_UPVALUES`] values, in upvalue order.
///
/// # Safety
///
/// `state` is a running thread. Raises memory errors only (protected callers).
pub(super) unsafe fn push_view_state(state: *mut ffi::lua_State) {
    // SAFETY: room checked first; every call below pushes or pops what it says.
    unsafe {
        ffi::luaL_checkstack(state, 12, std::ptr::null());
        ffi::lua_createtable(state, 0, 16); // views
        ffi::lua_createtable(state, 0, 1); // the shared weak-keys metatable
        let weak = ffi::lua_gettop(state);
        ffi::lua_pushstring(state, c"k".as_ptr());
        ffi::lua_setfield(state, weak, c"__mode".as_ptr());
        for size in [16, 16] {
            ffi::lua_createtable(state, 0, size); // names, protected
            ffi::lua_pushvalue(state, weak);
            ffi::lua_setmetatable(state, -2);
        }
        ffi::lua_remove(state, weak);
        let names = weak; // the weak metatable's slot now holds `names`
        ffi::lua_pushvalue(state, names);
        ffi::lua_pushcclosure(state, view_newindex, 1);
        ffi::lua_pushvalue(state, -1);
        ffi::lua_pushcclosure(state, view_iterate, 1);
        ffi::lua_pushcclosure(state, view_pairs, 1);
        ffi::lua_pushvalue(state, -2);
        ffi::lua_pushcclosure(state, view_len, 1);
    }
}

/// Pushes the upvalues of the running view-making closure (to give them to another one).
///
/// # Safety
///
/// The running C function is a view-making closure.
pub(super) unsafe fn push_own_view_state(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract (the upvalues exist).
    unsafe {
        ffi::luaL_checkstack(state, VIEW_UPVALUES + 1, std::ptr::null());
        for up in 1..=VIEW_UPVALUES {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(up));
        }
    }
}

/// Whether the value at `idx` is a protected table (`protected[v]`, raw).
///
/// # Safety
///
/// A view-making closure's frame; `idx` absolute; room for one value.
pub(super) unsafe fn is_protected(state: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: the caller's contract; `lua_rawget` runs no metamethod and
    // cannot raise for a read (a nil or NaN key reads nil).
    unsafe {
        ffi::lua_pushvalue(state, idx);
        ffi::lua_rawget(state, ffi::lua_upvalueindex(PROTECTED));
        let protected = ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_pop(state, 1);
        protected
    }
}

/// Marks the table at `idx` protected.
///
/// # Safety
///
/// A view-making closure's frame; `idx` absolute. May raise a memory error.
pub(super) unsafe fn protect(state: *mut ffi::lua_State, idx: c_int) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        ffi::lua_pushvalue(state, idx);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_rawset(state, ffi::lua_upvalueindex(PROTECTED));
    }
}

/// The standard libraries that hold no table: functions, numbers and
/// strings only, as `luaopen_*` of Lua 5.4 and 5.5 build them (`os` also
/// as the sandbox reduces it, `sandbox/restrict.rs`). `package` holds
/// tables and is not here; neither is `_G`.
const FLAT_LIBRARIES: [&[u8]; 8] = [b"coroutine", b"debug", b"io", b"math", b"os", b"string", b"table", b"utf8"];

/// Whether the table at `value`, met under the key at `key` (a global or
/// a `package.loaded` entry), is a standard library that holds no table:
/// the key is one of [`FLAT_LIBRARIES`] and the value is the registry's
/// `LOADED[key]`, the table `luaL_requiref` opened (or the sandbox's
/// reduced `os`, which `restrict` puts there). Such a table is not
/// traversed by [`view_of`] to prove it flat (the ~80 `lua_next` of the six
/// libraries were a sixth of the lockdown).
///
/// Why that is sound: between `Sandbox::open` and the lockdown only this
/// crate's code runs in the VM (the restriction, the bounded library, the
/// limit prelude, host functions made by their factories, which set
/// globals to functions); none of it stores a table in a library, which
/// debug builds check in every VM they lock down (so every test does) and
/// `views::tests::standard_libraries_hold_no_table` checks with every
/// library the sandbox can open. A table a script could write never gets
/// into a library: scripts run only after the lockdown, and every library
/// they reach is then a view.
///
/// # Safety
///
/// `key` and `value` absolute indices; `lua_next` may be running on the
/// table holding them (nothing here converts `key` in place).
pub(super) unsafe fn is_flat_library(state: *mut ffi::lua_State, key: c_int, value: c_int) -> bool {
    // SAFETY: the caller's contract; `lua_tolstring` only on a string (no
    // conversion in place), its bytes alive while the key is on the stack;
    // the registry and `LOADED` have no metatable: the reads are raw.
    unsafe {
        if ffi::lua_type(state, key) != ffi::LUA_TSTRING {
            return false;
        }
        let mut len = 0;
        let name = ffi::lua_tolstring(state, key, &mut len);
        let name = std::slice::from_raw_parts(name.cast::<u8>(), len);
        if !FLAT_LIBRARIES.contains(&name) {
            return false;
        }
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE) != ffi::LUA_TTABLE {
            ffi::lua_pop(state, 1);
            return false;
        }
        ffi::lua_pushvalue(state, key);
        ffi::lua_rawget(state, -2);
        let opened = ffi::lua_rawequal(state, -1, value) != 0;
        ffi::lua_pop(state, 2);
        opened
    }
}

/// Whether the table at `t` holds a table value that is not protected (a raw traversal).
///
/// # Safety
///
/// A view-making closure's frame; `t` an absolute index of a table.
unsafe fn holds_unprotected_table(state: *mut ffi::lua_State, t: c_int) -> bool {
    // SAFETY: the caller's contract; `lua_next` gets only the keys it
    // returned (nothing is added to `t`), so it cannot raise.
    unsafe {
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        let top = ffi::lua_gettop(state);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, t) != 0 {
            if ffi::lua_type(state, -1) == ffi::LUA_TTABLE && !is_protected(state, top + 2) {
                ffi::lua_settop(state, top);
                return true;
            }
            ffi::lua_pop(state, 1);
        }
        false
    }
}

/// Pushes the view of the table at `t`, named by the value at `name`
/// (made and memoized the first time; see the module docs). With
/// `library` (see [`is_flat_library`]) `t` is known to hold no table and
/// is not traversed to prove it.
///
/// # Safety
///
/// A view-making closure's frame; `t` and `name` absolute indices, `t` a
/// table; `library` only as [`is_flat_library`] says. Raises on memory errors, on nesting deeper than [`MAX_NESTING`],
/// and when a nested name cannot be made (`name .. "." .. tostring(k)`:
/// a `__tostring` or `__concat` may run Lua code): nothing Rust with a
/// destructor is alive here.
pub(super) unsafe fn view_of(state: *mut ffi::lua_State, t: c_int, name: c_int, depth: u32, library: bool) {
    // SAFETY: the caller's contract; room for the six values below and the
    // nested call's own check; the traversal never adds keys to `t`.
    unsafe {
        if depth > MAX_NESTING {
            ffi::luaL_error(state, c"lockdown: tables nested more than 100 levels deep".as_ptr());
        }
        ffi::luaL_checkstack(state, 8, c"lockdown: tables nested too deeply".as_ptr());
        ffi::lua_pushvalue(state, t);
        if ffi::lua_rawget(state, ffi::lua_upvalueindex(VIEWS)) != ffi::LUA_TNIL {
            return;
        }
        ffi::lua_pop(state, 1);
        let flat = if library {
            // Debug builds (every test) still prove it; see `FLAT_LIBRARIES`.
            if cfg!(debug_assertions) && holds_unprotected_table(state, t) {
                ffi::luaL_error(state, c"lockdown: a standard library holds a table (see FLAT_LIBRARIES)".as_ptr());
            }
            true
        } else {
            !holds_unprotected_table(state, t)
        };
        let shadow = ffi::lua_gettop(state) + 1;
        let view = shadow + 1;
        if flat {
            ffi::lua_pushvalue(state, t);
        } else {
            ffi::lua_createtable(state, 0, 0);
        }
        ffi::lua_createtable(state, 0, 0);
        ffi::lua_createtable(state, 0, 5);
        ffi::lua_pushvalue(state, shadow);
        ffi::lua_setfield(state, -2, c"__index".as_ptr());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(NEWINDEX));
        ffi::lua_setfield(state, -2, c"__newindex".as_ptr());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(PAIRS));
        ffi::lua_setfield(state, -2, c"__pairs".as_ptr());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(LEN));
        ffi::lua_setfield(state, -2, c"__len".as_ptr());
        ffi::lua_pushboolean(state, 0);
        ffi::lua_setfield(state, -2, c"__metatable".as_ptr());
        ffi::lua_setmetatable(state, view);
        for (table, key, value) in [(VIEWS, t, view), (NAMES, view, name)] {
            ffi::lua_pushvalue(state, key);
            ffi::lua_pushvalue(state, value);
            ffi::lua_rawset(state, ffi::lua_upvalueindex(table));
        }
        protect(state, view);
        if !flat {
            let key = view + 1;
            let value = key + 1;
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, t) != 0 {
                if ffi::lua_type(state, value) == ffi::LUA_TTABLE && !is_protected(state, value) {
                    ffi::lua_pushvalue(state, name);
                    ffi::lua_pushstring(state, c".".as_ptr());
                    ffi::luaL_tolstring(state, key, std::ptr::null_mut());
                    ffi::lua_concat(state, 3);
                    view_of(state, value, value + 1, depth + 1, false);
                    ffi::lua_replace(state, value);
                    ffi::lua_settop(state, value);
                }
                ffi::lua_pushvalue(state, key);
                ffi::lua_pushvalue(state, value);
                ffi::lua_rawset(state, shadow);
                ffi::lua_settop(state, key);
            }
        }
        ffi::lua_remove(state, shadow);
    }
}

/// `record(fields, name)`: a read-only view of `fields` (an `event` record),
/// not memoized (each record is made once). A view-making closure.
///
/// # Safety
///
/// Called by Lua as a C closure with the view upvalues; raises as [`view_of`].
pub(super) unsafe extern "C-unwind" fn record(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a view-making closure's frame (its upvalues exist); the
    // argument is checked to be a table before it is viewed.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        ffi::lua_settop(state, 2);
        view_of(state, 1, 2, 0, false);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_pushnil(state);
        ffi::lua_rawset(state, ffi::lua_upvalueindex(VIEWS));
        1
    }
}

/// A view's `__newindex`: `<name> is read-only (cannot set `<key>`)`, at
/// the line of the code that wrote. Upvalue 1: `names`.
///
/// # Safety
///
/// Called by Lua as a metamethod (view, key, value).
unsafe extern "C-unwind" fn view_newindex(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its upvalue; `settop` makes both indices valid.
    unsafe {
        ffi::lua_settop(state, 2);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_rawget(state, ffi::lua_upvalueindex(1));
        refuse(state, 3, 2)
    }
}

/// Raises `<name at name> is read-only (cannot set `<key at key>`)` at the caller's line.
///
/// # Safety
///
/// A C function's frame; `name` and `key` absolute indices at most the top.
pub(super) unsafe fn refuse(state: *mut ffi::lua_State, name: c_int, key: c_int) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        raise_at_caller(
            state,
            &[Piece::Value(name), Piece::Text(" is read-only (cannot set `"), Piece::Value(key), Piece::Text("`)")],
        )
    }
}

/// Pushes the shadow of the value at `idx` when it is a view (see
/// [`NEWINDEX`]) and returns whether it was; pushes nothing otherwise.
///
/// # Safety
///
/// `idx` absolute; `newindex` the index of the views' `__newindex`; room for three values.
unsafe fn push_shadow(state: *mut ffi::lua_State, idx: c_int, newindex: c_int) -> bool {
    // SAFETY: the caller's contract; metatable reads are raw.
    unsafe {
        if ffi::lua_type(state, idx) != ffi::LUA_TTABLE || ffi::lua_getmetatable(state, idx) == 0 {
            return false;
        }
        let mt = ffi::lua_gettop(state);
        ffi::lua_pushstring(state, c"__newindex".as_ptr());
        ffi::lua_rawget(state, mt);
        if ffi::lua_rawequal(state, -1, newindex) == 0 {
            ffi::lua_settop(state, mt - 1);
            return false;
        }
        ffi::lua_pushstring(state, c"__index".as_ptr());
        ffi::lua_rawget(state, mt);
        ffi::lua_replace(state, mt);
        ffi::lua_settop(state, mt);
        true
    }
}

/// The iterator `pairs(view)` returns: `next(shadow of view, k)`. Scripts
/// can call it with anything. Upvalue 1: the views' `__newindex`.
///
/// # Safety
///
/// Called by Lua with its upvalue.
unsafe extern "C-unwind" fn view_iterate(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its upvalue; `settop` makes both arguments
    // valid; `lua_next` raises "invalid key to 'next'" for a key the shadow
    // does not hold, as `next` does.
    unsafe {
        ffi::lua_settop(state, 2);
        if !push_shadow(state, 1, ffi::lua_upvalueindex(1)) {
            // As `next(nil, k)` said, called by the Lua version in a tail call.
            return raise_at_caller(state, &[Piece::Text("bad argument #1 to 'next' (table expected, got nil)")]);
        }
        ffi::lua_replace(state, 1);
        if ffi::lua_next(state, 1) != 0 {
            2
        } else {
            ffi::lua_pushnil(state);
            1
        }
    }
}

/// A view's `__pairs`: the view's iterator, the view, `nil`. Upvalue 1: the iterator.
///
/// # Safety
///
/// Called by Lua with its upvalue.
unsafe extern "C-unwind" fn view_pairs(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its upvalue; three values pushed (`pairs`
    // calls a metamethod with room for them: at least `LUA_MINSTACK`).
    unsafe {
        ffi::lua_settop(state, 1);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_pushnil(state);
        3
    }
}

/// A view's `__len`: `#shadow` (with the shadow's own `__len`, as `#`).
/// Upvalue 1: the views' `__newindex`.
///
/// # Safety
///
/// Called by Lua with its upvalue.
unsafe extern "C-unwind" fn view_len(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its upvalue, as a metamethod of a view
    // (only views have it); `lua_len` on the shadow runs its `__len` as `#` would.
    unsafe {
        ffi::lua_settop(state, 1);
        if !push_shadow(state, 1, ffi::lua_upvalueindex(1)) {
            ffi::lua_pushnil(state);
        }
        ffi::lua_len(state, 2);
        1
    }
}

#[cfg(test)]
mod tests {
    use crate::sandbox::{Sandbox, lock_down};

    /// A global holding tables nested `depth` levels deep (`deep.a.a...`).
    fn with_nested_global(depth: usize) -> mlua::Lua {
        let lua = Sandbox::default().new_lua().expect("vm");
        lua.load(format!("local t = {{ leaf = 1 }} for _ = 1, {depth} do t = {{ a = t }} end deep = t"))
            .exec()
            .expect("built");
        lua
    }

    #[test]
    fn nested_tables_are_views_all_the_way_down() {
        let lua = with_nested_global(60);
        let env = lock_down(&lua).expect("locked down").env;
        let path = format!("deep{}", ".a".repeat(60));
        let code = format!(
            "local leaf = {path}.leaf local ok, e = pcall(function() {path}.leaf = 2 end) \
             return leaf, ok, e, rawget({path}, 'leaf')"
        );
        let (leaf, ok, error, raw): (i64, bool, String, Option<i64>) =
            lua.load(code).set_environment(env).eval().expect("runs");
        assert_eq!((leaf, ok, raw), (1, false, None));
        assert!(error.contains(&format!("{path} is read-only (cannot set `leaf`)")), "{error}");
    }

    /// The claim [`super::is_flat_library`] rests on, with every library
    /// the sandbox can open: after the restriction none holds a table.
    /// (The bounded library and the limit prelude come later; debug builds
    /// check the libraries again in every lockdown, which
    /// `every_library_a_vm_opens_is_checked_in_debug_builds` exercises.)
    #[test]
    fn standard_libraries_hold_no_table() {
        for sandbox in [Sandbox::default(), Sandbox::default().allow(mlua::StdLib::ALL_SAFE)] {
            let lua = sandbox.new_lua().expect("vm");
            let names: Vec<String> =
                super::FLAT_LIBRARIES.iter().map(|name| String::from_utf8(name.to_vec()).expect("utf-8")).collect();
            let found: Vec<String> = lua
                .load(
                    "local names, found = ..., {} \
                     for _, name in ipairs(names) do \
                       local lib = rawget(_G, name) \
                       if type(lib) == 'table' then \
                         for k, v in next, lib do if type(v) == 'table' then found[#found + 1] = name .. '.' .. tostring(k) end end \
                       end \
                     end return found",
                )
                .call(names)
                .expect("ran");
            assert!(found.is_empty(), "{found:?}");
        }
    }

    /// A VM built the way `load_str` builds it, with every library allowed:
    /// in a debug build its lockdown proves each library flat (it fails
    /// otherwise, see the next test).
    #[test]
    fn every_library_a_vm_opens_is_checked_in_debug_builds() {
        use crate::limits::Limits;
        use crate::vm::{Code, VmConfig};
        for sandbox in [Sandbox::default(), Sandbox::default().allow(mlua::StdLib::ALL_SAFE)] {
            let config = VmConfig { script: "flat.lua", sandbox, host_fns: &[], limits: Limits::default() };
            let ran = config.run(Code::Source("return math.pi"), false).expect("locked down");
            assert!(matches!(ran.returned, mlua::Value::Number(_)));
        }
    }

    /// A table put into a standard library before the lockdown (which no
    /// code of the crate does) fails a debug build's lockdown instead of
    /// being left writable behind the view.
    #[test]
    #[cfg(debug_assertions)]
    fn a_library_holding_a_table_fails_the_debug_lockdown() {
        for library in ["string", "math", "table", "os", "coroutine", "utf8"] {
            let lua = Sandbox::default().new_lua().expect("vm");
            lua.load(format!("{library}.evil = {{}}")).exec().expect("set");
            let error = lock_down(&lua).err().expect("refused");
            assert!(error.to_string().contains("a standard library holds a table"), "{library}: {error}");
        }
        // A table under a library's name that is not the opened library is traversed as any other.
        let lua = Sandbox::default().new_lua().expect("vm");
        lua.load("string = { inner = {} }").exec().expect("set");
        let env = lock_down(&lua).expect("locked down").env;
        let (ok, error): (bool, String) =
            lua.load("return pcall(function() string.inner.x = 1 end)").set_environment(env).eval().expect("runs");
        assert!(!ok && error.contains("string.inner is read-only"), "{error}");
    }

    #[test]
    fn nesting_deeper_than_the_bound_fails_the_lockdown() {
        let lua = with_nested_global(150);
        let error = lock_down(&lua).err().expect("too deep");
        assert!(error.to_string().contains("nested more than 100 levels deep"), "{error}");
    }
}
