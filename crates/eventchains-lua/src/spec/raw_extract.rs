//! The fast path of [`extract`](super::extract): another thread's VM takes
//! its functions from the script table through the C API, in one protected
//! call, at the positions the spec recorded.
//!
//! mlua's `raw_get` is a protected call per read (about 15,000 instructions
//! for the seed script's two handlers, callgrind). Here one [`Lua::exec_raw`]
//! reads `events[i].handler` and `middleware[i]` with `lua_rawget` /
//! `lua_rawgeti` and hands the functions over. When the table is not what the
//! spec says (a script that returned another table on this thread), it
//! declines and the checked path names the difference, as before.

use std::ffi::c_int;

use mlua::{Function, Lua, Variadic, ffi};

use super::{EventSpec, Functions, MiddlewareSpec, Spec, registered};

/// This VM's functions from `value` (already validated as `spec` on another
/// thread); `None` when the checked path must look (see the module docs).
pub(super) fn extract_valid(lua: &Lua, script: &str, value: &mlua::Value, spec: &Spec) -> Option<Functions> {
    let mlua::Value::Table(table) = value else { return None };
    let handlers = spec.events.iter().filter(|e| matches!(e, EventSpec::Lua { .. })).count();
    let middleware = spec.middleware.iter().filter(|m| matches!(m, MiddlewareSpec::Lua { .. })).count();
    let wanted = handlers + middleware;
    // SAFETY: `exec_raw` runs the closure in a protected call with the table
    // at index 1; the closure owns nothing a raised error (a memory error of
    // `lua_pushstring`) would skip. Every read is raw. It leaves exactly the
    // functions on the stack (or nothing, when one is missing).
    let functions = unsafe {
        lua.exec_raw::<Variadic<Function>>(table, |state| {
            if !take_functions(state, spec, wanted) {
                ffi::lua_settop(state, 0);
            }
        })
    }
    .ok()?;
    if functions.len() != wanted {
        return None;
    }
    let mut functions = Vec::from(functions).into_iter();
    let mut taken = Functions { handlers: Vec::new(), middleware: Vec::new() };
    for e in &spec.events {
        taken.handlers.push(match e {
            EventSpec::Rust { .. } => None,
            EventSpec::Lua { .. } => registered(lua, script, Some(functions.next()?)).ok()?,
        });
    }
    for m in &spec.middleware {
        taken.middleware.push(match m {
            MiddlewareSpec::Named { .. } => None,
            MiddlewareSpec::Lua { .. } => Some(functions.next()?),
        });
    }
    Some(taken)
}

/// Replaces the table at index 1 by the `wanted` functions: the handlers of
/// the Lua events, then the Lua middleware, in order. `false` when one is
/// not where the spec says.
///
/// # Safety
/// Index 1 of `state` is a table and the only value on the stack; raises only memory errors.
unsafe fn take_functions(state: *mut ffi::lua_State, spec: &Spec, wanted: usize) -> bool {
    let Ok(wanted) = c_int::try_from(wanted) else { return false };
    // SAFETY: the caller's contract; every read is raw and type-checked.
    unsafe {
        if ffi::lua_checkstack(state, wanted.saturating_add(4)) == 0 {
            return false;
        }
        ffi::lua_pushstring(state, c"events".as_ptr());
        ffi::lua_rawget(state, 1); // 2
        ffi::lua_pushstring(state, c"middleware".as_ptr());
        ffi::lua_rawget(state, 1); // 3
        for (i, e) in spec.events.iter().enumerate() {
            if matches!(e, EventSpec::Lua { .. }) {
                if ffi::lua_type(state, 2) != ffi::LUA_TTABLE
                    || ffi::lua_rawgeti(state, 2, i as ffi::lua_Integer + 1) != ffi::LUA_TTABLE
                {
                    return false;
                }
                ffi::lua_pushstring(state, c"handler".as_ptr());
                if ffi::lua_rawget(state, -2) != ffi::LUA_TFUNCTION {
                    return false;
                }
                ffi::lua_remove(state, -2); // the event table
            }
        }
        for (i, m) in spec.middleware.iter().enumerate() {
            if matches!(m, MiddlewareSpec::Lua { .. })
                && (ffi::lua_type(state, 3) != ffi::LUA_TTABLE
                    || ffi::lua_rawgeti(state, 3, i as ffi::lua_Integer + 1) != ffi::LUA_TFUNCTION)
            {
                return false;
            }
        }
        // Only the functions stay.
        ffi::lua_rotate(state, 1, -3);
        ffi::lua_settop(state, -4);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::{extract_checked, parse};
    use super::*;

    const MIXED: &str = r#"return {
        middleware = { "logging", function(e, c, n) return n(c) end, { "retry", max_attempts = 2 }, function() end },
        events = {
          { name = "a", handler = function() end },
          { name = "r", rust = "x" },
          { name = "b", handler = print },
        },
      }"#;

    /// The spec of `validated` (read in one VM), then both paths on the table `other` returns in another.
    fn both(validated: &str, other: &str) -> (Option<Vec<String>>, Result<Vec<String>, String>) {
        let first = Lua::new();
        let (spec, _) = parse(&first, "t.lua", first.load(validated).eval().expect("runs"), usize::MAX).expect("valid");
        let lua = Lua::new();
        let value: mlua::Value = lua.load(other).eval().expect("runs");
        let describe = |f: Functions| -> Vec<String> {
            let handlers = f
                .handlers
                .iter()
                .map(|k| k.as_ref().map(|k| lua.registry_value::<Function>(k).expect("a function").to_pointer()));
            let middleware = f.middleware.iter().map(|f| f.as_ref().map(Function::to_pointer));
            handlers.chain(middleware).map(|p| format!("{p:?}")).collect()
        };
        let fast = extract_valid(&lua, "t.lua", &value, &spec).map(describe);
        let checked = extract_checked(&lua, "t.lua", value, &spec).map(describe).map_err(|e| e.to_string());
        (fast, checked)
    }

    #[test]
    fn the_functions_at_the_specs_positions_are_taken_as_the_checked_path_takes_them() {
        let seed = include_str!("../../../../examples/scripts/seed.lua");
        for source in [seed, MIXED, "return { events = {} }", "return { events = { { name = 'r', rust = 'x' } } }"] {
            let (fast, checked) = both(source, source);
            let checked = checked.expect("the same table");
            assert_eq!(fast, Some(checked), "{source}");
        }
    }

    #[test]
    fn another_table_is_left_to_the_checked_path() {
        let others = [
            "return 1",
            "return {}",
            "return { events = 5, middleware = {} }",
            "return { events = { { name = 'a', handler = function() end } } }",
            r#"return { middleware = { "logging", function() end, { "retry" }, "not a function" },
                        events = { { name = "a", handler = print }, { name = "r", rust = "x" }, { name = "b", handler = print } } }"#,
            r#"return { middleware = { "logging", function() end, { "retry" }, function() end },
                        events = { { name = "a", handler = print }, { name = "r", rust = "x" }, 5 } }"#,
            r#"return { middleware = { "logging", function() end, { "retry" }, function() end },
                        events = { { name = "a", handler = print }, { name = "r", rust = "x" }, { name = "b", handler = "x" } } }"#,
        ];
        for other in others {
            let (fast, checked) = both(MIXED, other);
            assert!(checked.is_err(), "{other}");
            assert_eq!(fast, None, "{other}");
        }
    }
}
