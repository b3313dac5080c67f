//! [`RawHandlers`]: calling event handlers through the Lua C API.
//!
//! `mlua::Function::call` pushes mlua's traceback message handler, converts
//! the results through its generic `(Value, Value)` machinery (a reference
//! per non-trivial value, stack guards, checks) and costs ~1,100 instructions
//! of the seed chain's ~6,300 per execution. Handlers almost always return
//! nothing, `true`, `ctx`, or `nil|false, "message"`; those results are read
//! straight from the stack here. Anything else (a table to merge, odd values)
//! and every error object is handed back to mlua through two registry slots,
//! so the result and error semantics stay exactly those of `Function::call`.

use std::ffi::{c_int, c_void};

use mlua::{Lua, RegistryKey, ffi};

use crate::lua_error::error_object_message;

/// What a raw handler call returned.
pub(crate) enum RawReturn {
    /// Nothing (or a lone `nil`), or the root `ctx`.
    Nothing,
    /// `true` first.
    Success,
    /// `nil`/`false` with no message or a string message.
    Failure(Option<String>),
    /// Anything else, converted by mlua (to be interpreted by the caller).
    Values(mlua::Value, mlua::Value),
    /// The call raised an error (or a limit stopped it).
    Error(mlua::Error),
}

/// The handlers of one VM as registry references, and two registry slots for
/// handing values over to mlua.
pub(crate) struct RawHandlers {
    handlers: Vec<Option<RegistryKey>>,
    stash: [RegistryKey; 2],
}

impl RawHandlers {
    /// Calls `handlers` (registry references of functions of `lua`).
    pub(crate) fn new(lua: &Lua, handlers: Vec<Option<RegistryKey>>) -> mlua::Result<Self> {
        // `true`, never nil: a nil value would give no registry slot at all.
        let stash = [lua.create_registry_value(true)?, lua.create_registry_value(true)?];
        Ok(RawHandlers { handlers, stash })
    }

    /// Whether event `index` has a handler.
    pub(crate) fn has(&self, index: usize) -> bool {
        matches!(self.handlers.get(index), Some(Some(_)))
    }

    /// The registry reference of handler `index` (for running it as a coroutine).
    pub(crate) fn key(&self, index: usize) -> Option<&RegistryKey> {
        self.handlers.get(index).and_then(Option::as_ref)
    }

    /// Calls handler `index` (see [`RawHandlers::has`]) with the root `ctx` (`ctx_ptr`) in `lua`.
    pub(crate) fn call(&self, lua: &Lua, index: usize, ctx_ptr: *const c_void) -> RawReturn {
        let Some(Some(key)) = self.handlers.get(index) else {
            return RawReturn::Error(mlua::Error::runtime("no such handler"));
        };
        let handler_ref = key.id();
        // The running thread (a coroutine's, when called from inside a Lua
        // callback such as a middleware's `next`), as `Function::call` uses it.
        let state = lua.state();
        // SAFETY: plain stack operations on the running thread of `lua`. Only
        // `lua_pcall` runs Lua code, and it is protected: a Lua error (also a
        // limit raised by the hook, or an out-of-memory error) returns a status
        // instead of unwinding through this frame. The other calls raise no
        // errors: `lua_checkstack` reports failure, `lua_rawgeti` on the
        // registry reads an existing key, pushing a light userdata, a boolean
        // or a copy allocates nothing, `lua_rawseti` overwrites a slot that
        // always holds a value (so the table does not grow), and
        // `lua_tolstring` is only used on strings (no conversion). No Rust
        // value with a destructor is alive across `lua_pcall`. The stack is
        // restored to `top` on every path.
        unsafe {
            if ffi::lua_checkstack(state, 4) == 0 {
                return RawReturn::Error(mlua::Error::StackError);
            }
            let top = ffi::lua_gettop(state);
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, handler_ref as _);
            ffi::lua_pushlightuserdata(state, ctx_ptr.cast_mut());
            let status = ffi::lua_pcall(state, 1, 2, 0);
            if status != ffi::LUA_OK {
                if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                    let message = string_at(state, -1);
                    ffi::lua_settop(state, top);
                    return RawReturn::Error(if status == ffi::LUA_ERRMEM {
                        mlua::Error::MemoryError(message)
                    } else {
                        mlua::Error::RuntimeError(message)
                    });
                }
                // A Rust error (callbacks, limits) or a non-string value: let mlua read it.
                ffi::lua_pushnil(state);
                self.stash_top_two(state);
                ffi::lua_settop(state, top);
                return match self.take_stash(lua) {
                    Ok((mlua::Value::Error(e), _)) => RawReturn::Error(*e),
                    Ok((value, _)) => RawReturn::Error(mlua::Error::RuntimeError(error_object_message(&value))),
                    Err(e) => RawReturn::Error(e),
                };
            }
            let first = ffi::lua_type(state, -2);
            let second = ffi::lua_type(state, -1);
            let quick = match first {
                ffi::LUA_TNIL if second == ffi::LUA_TNIL => Some(RawReturn::Nothing),
                ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, -2) != 0 => Some(RawReturn::Success),
                ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(state, -2).cast_const() == ctx_ptr => {
                    Some(RawReturn::Nothing)
                }
                ffi::LUA_TNIL | ffi::LUA_TBOOLEAN => match second {
                    ffi::LUA_TNIL => Some(RawReturn::Failure(None)),
                    ffi::LUA_TSTRING => Some(RawReturn::Failure(Some(string_at(state, -1)))),
                    _ => None,
                },
                _ => None,
            };
            if let Some(quick) = quick {
                ffi::lua_settop(state, top);
                return quick;
            }
            self.stash_top_two(state);
            ffi::lua_settop(state, top);
            match self.take_stash(lua) {
                Ok((a, m)) => RawReturn::Values(a, m),
                Err(e) => RawReturn::Error(e),
            }
        }
    }

    /// Moves the two values on top of the stack into the stash slots (pops them).
    ///
    /// # Safety
    /// `state` is the running thread of the VM the stash belongs to, with at least two values.
    unsafe fn stash_top_two(&self, state: *mut ffi::lua_State) {
        // SAFETY: see `call`: the slots always hold a value, so setting them does not allocate.
        unsafe {
            ffi::lua_rawseti(state, ffi::LUA_REGISTRYINDEX, self.stash[1].id() as _);
            ffi::lua_rawseti(state, ffi::LUA_REGISTRYINDEX, self.stash[0].id() as _);
        }
    }

    /// Reads the stashed values through mlua and puts `true` back into the slots.
    fn take_stash(&self, lua: &Lua) -> mlua::Result<(mlua::Value, mlua::Value)> {
        let read = |key: &RegistryKey| lua.registry_value::<mlua::Value>(key);
        let values = read(&self.stash[0]).and_then(|a| read(&self.stash[1]).map(|m| (a, m)));
        let state = lua.state();
        // SAFETY: as in `stash_top_two`; `lua_checkstack` reports failure instead of raising.
        unsafe {
            if ffi::lua_checkstack(state, 1) != 0 {
                for key in &self.stash {
                    ffi::lua_pushboolean(state, 1);
                    ffi::lua_rawseti(state, ffi::LUA_REGISTRYINDEX, key.id() as _);
                }
            }
        }
        values
    }
}

/// The string at `index` (lossy UTF-8).
///
/// # Safety
/// The value at `index` is a string.
unsafe fn string_at(state: *mut ffi::lua_State, index: c_int) -> String {
    let mut len = 0;
    // SAFETY: a string value: `lua_tolstring` returns its bytes without converting anything.
    unsafe {
        let ptr = ffi::lua_tolstring(state, index, &mut len);
        String::from_utf8_lossy(std::slice::from_raw_parts(ptr.cast::<u8>(), len)).into_owned()
    }
}
