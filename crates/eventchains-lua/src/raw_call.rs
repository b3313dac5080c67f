//! [`RawCaller`]: the one way the chain calls Lua (handlers and middleware).
//!
//! `mlua::Function::call` pushes mlua's traceback message handler, converts
//! the results through its generic `(Value, Value)` machinery (a reference
//! per non-trivial value, stack guards, checks) and costs ~1,100 instructions
//! of the seed chain's ~6,300 per execution. Here the function and its
//! arguments are pushed straight from registry references (and the root
//! `ctx`, a light userdata) and called with `lua_pcall`; the results a chain
//! almost always gets (nothing, `true`, `ctx`, or `nil|false, "message"`) are
//! read off the stack by one decoder. Anything else (a table to merge, odd
//! values) and every error object is handed back to mlua through two registry
//! slots, so the result and error semantics are exactly those of
//! `Function::call`. A [`StackGuard`] restores the Lua stack on every path.

use std::ffi::{c_int, c_void};

use mlua::{Lua, RegistryKey, ffi};

use crate::bridge::CallScope;
use crate::lua_error::error_object_message;

/// What a raw call returned.
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

/// An argument of a raw call.
#[derive(Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// The root `ctx` of the VM.
    Ctx,
    /// A value held by a registry reference.
    Registry(&'a RegistryKey),
}

/// The most arguments a raw call takes (a middleware's `event, ctx, next`).
const MAX_ARGS: usize = 3;

/// Restores the Lua stack of `state` to the height it had when the guard was
/// made, when dropped (as mlua's `StackGuard`).
struct StackGuard {
    state: *mut ffi::lua_State,
    top: c_int,
}

impl StackGuard {
    /// # Safety
    /// `state` is a live Lua thread that outlives the guard, and no value
    /// below the current top is removed while the guard lives.
    unsafe fn new(state: *mut ffi::lua_State) -> Self {
        // SAFETY: the caller's contract: a live state.
        StackGuard { state, top: unsafe { ffi::lua_gettop(state) } }
    }
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        // SAFETY: see `new`; `lua_settop` to a lower or equal height raises no error.
        unsafe { ffi::lua_settop(self.state, self.top) }
    }
}

/// Two registry slots for handing values over to mlua, and the calls that use them.
pub(crate) struct RawCaller {
    stash: [RegistryKey; 2],
}

impl RawCaller {
    /// A caller for functions of `lua`.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Self> {
        // `true`, never nil: a nil value would give no registry slot at all.
        Ok(RawCaller { stash: [lua.create_registry_value(true)?, lua.create_registry_value(true)?] })
    }

    /// Calls `function` (a registry reference of a function of `lua`) with
    /// `args` (at most three), `ctx_ptr` standing for [`Arg::Ctx`], as the
    /// call of `scope`, and reads its first two results.
    pub(crate) fn call(
        &self,
        lua: &Lua,
        scope: &CallScope<'_>,
        function: &RegistryKey,
        args: &[Arg<'_>],
        ctx_ptr: *const c_void,
    ) -> RawReturn {
        if args.len() > MAX_ARGS {
            return RawReturn::Error(mlua::Error::runtime("too many arguments for a raw call"));
        }
        // The running thread (a coroutine's, when called from inside a Lua
        // callback such as a middleware's `next`), as `Function::call` uses it.
        let state = lua.state();
        // SAFETY: plain stack operations on the running thread of `lua`, all
        // inside the guard, which restores the stack on every path. Only
        // `lua_pcall` runs Lua code, and it is protected: a Lua error (also a
        // limit raised by the hook, or an out-of-memory error) returns a status
        // instead of unwinding through this frame, so the guard's `Drop` runs.
        // The other calls raise no errors: `lua_checkstack` reports failure,
        // `lua_rawgeti` on the registry reads an existing key, pushing a light
        // userdata, a boolean or a copy allocates nothing, `lua_rawseti`
        // overwrites a slot that always holds a value (so the table does not
        // grow), and `lua_tolstring` is only used on strings (no conversion).
        // The registry keys are of `lua` (the caller's contract, checked by
        // mlua when the keys were made).
        unsafe {
            if ffi::lua_checkstack(state, MAX_ARGS as c_int + 3) == 0 {
                return RawReturn::Error(mlua::Error::StackError);
            }
            let guard = StackGuard::new(state);
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, function.id() as _);
            for arg in args {
                match arg {
                    Arg::Ctx => ffi::lua_pushlightuserdata(state, ctx_ptr.cast_mut()),
                    Arg::Registry(key) => {
                        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, key.id() as _);
                    }
                }
            }
            // With the count hook on if the call needs it (see `crate::count_hook`).
            let status = scope.run_lua(state, || ffi::lua_pcall(state, args.len() as c_int, 2, 0));
            if status != ffi::LUA_OK {
                if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                    let message = string_at(state, -1);
                    return RawReturn::Error(if status == ffi::LUA_ERRMEM {
                        mlua::Error::MemoryError(message)
                    } else {
                        mlua::Error::RuntimeError(message)
                    });
                }
                // A Rust error (callbacks, limits) or a non-string value: let mlua read it.
                ffi::lua_pushnil(state);
                self.stash_top_two(state);
                drop(guard);
                return match self.take_stash(lua) {
                    Ok((mlua::Value::Error(e), _)) => RawReturn::Error(*e),
                    Ok((value, _)) => RawReturn::Error(mlua::Error::RuntimeError(error_object_message(&value))),
                    Err(e) => RawReturn::Error(e),
                };
            }
            if let Some(quick) = decode(state, ctx_ptr) {
                return quick;
            }
            self.stash_top_two(state);
            drop(guard);
            match self.take_stash(lua) {
                Ok((a, m)) => RawReturn::Values(a, m),
                Err(e) => RawReturn::Error(e),
            }
        }
    }

    /// Moves the two values on top of the stack into the stash slots (pops them).
    ///
    /// # Safety
    /// `state` is the running thread of the VM the stash belongs to, with at
    /// least two values on its stack.
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

/// The common results, read off the two values on top of the stack (`None`:
/// anything else, for mlua to convert).
///
/// # Safety
/// `state` has at least two values on its stack.
unsafe fn decode(state: *mut ffi::lua_State, ctx_ptr: *const c_void) -> Option<RawReturn> {
    // SAFETY: the caller's contract: two values; type checks before each read, no conversion.
    unsafe {
        // The common `return ctx` first, in one call of the API instead of
        // three (callgrind: ~100 instructions per execution of the seed
        // chain): `lua_touserdata` gives a light userdata's pointer, a full
        // userdata's block (a Lua allocation, never the bridge that
        // `ctx_ptr` points at, which the VM keeps alive) or null, so only the
        // root `ctx` gives `ctx_ptr` (non-null), whatever the second value is.
        if ffi::lua_touserdata(state, -2).cast_const() == ctx_ptr {
            return Some(RawReturn::Nothing);
        }
        let first = ffi::lua_type(state, -2);
        let second = ffi::lua_type(state, -1);
        match first {
            ffi::LUA_TNIL if second == ffi::LUA_TNIL => Some(RawReturn::Nothing),
            ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, -2) != 0 => Some(RawReturn::Success),
            ffi::LUA_TNIL | ffi::LUA_TBOOLEAN => match second {
                ffi::LUA_TNIL => Some(RawReturn::Failure(None)),
                ffi::LUA_TSTRING => Some(RawReturn::Failure(Some(string_at(state, -1)))),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The string at `index` (lossy UTF-8), read by the fast path's
/// [`string_at`](crate::fast_ctx::string_at).
///
/// # Safety
/// The value at `index` is a string.
unsafe fn string_at(state: *mut ffi::lua_State, index: c_int) -> String {
    // SAFETY: the caller's contract: `index` is on the stack; the bytes are copied while the string stays there.
    let bytes = unsafe { crate::fast_ctx::string_at(state, index) };
    bytes.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}
