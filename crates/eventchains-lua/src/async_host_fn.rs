//! Async Rust functions a host exposes to scripts (`register_async_fn`), and
//! the `next` of Lua middleware in async executions.
//!
//! Both are Lua functions that record a [`Request`] in the VM's
//! [`AsyncCalls`] and yield the [`REQUEST`](crate::async_calls::REQUEST)
//! marker; the runner ([`crate::coroutine_exec`]) awaits the request and
//! resumes the coroutine with `true, results...` or `false, message`:
//!
//! ```lua
//! return function(...)             -- what a script calls as `inventory(sku)`
//!   start(...)                      -- Rust: checks the caller, creates the future
//!   return finish(coroutine.yield(REQUEST))   -- results, or error(message) at the caller's line
//! end
//! ```
//!
//! So a script calls an async function like any function, `pcall` catches its
//! errors, and its coroutine yields while the future is pending.

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use eventchains_core::panic_message;
use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua, ffi};

use crate::async_calls::{AsyncCalls, HostFuture, Request, request_marker};
use crate::host_fn::{HostFn, HostFnFactory};
use crate::lua_type::FnSignature;

/// The `error` level of the async function's caller, seen from `finish`: the
/// wrapper's `return finish(...)` is a tail call (the wrapper's frame is
/// gone) except on Luau, which keeps every frame.
const CALLER_LEVEL: i32 = if cfg!(feature = "luau") { 3 } else { 2 };

/// The Lua side of an async function: `start` checks the call and records
/// the request, then the coroutine yields until the runner resumes it.
const WRAPPER: &str = r#"
local start, yield, REQUEST, LEVEL = ...
local function finish(ok, ...)
  if ok then return ... end
  error((...), LEVEL)
end
return function(...)
  start(...)
  return finish(yield(REQUEST))
end
"#;

/// `next` of Lua middleware in async executions: validated by `start`, then
/// the runner runs the rest of the chain and resumes with `ok, err`.
const NEXT_WRAPPER: &str = r#"
local start, yield, REQUEST, LEVEL = ...
return function(ctx)
  start(ctx)
  local ok, err, raise = yield(REQUEST)
  if raise then error(raise, 2) end
  return ok, err
end
"#;

impl HostFn {
    /// An async host function: `f(args)` is awaited while the calling
    /// coroutine is suspended; `Err(e)` raises a Lua error `name: e` at the
    /// caller's line, a panic (creating or polling the future) raises one too.
    pub(crate) fn asynchronous<F, A, Fut, R, E>(name: String, f: F) -> Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        A: FromLuaMulti + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        R: IntoLuaMulti + 'static,
        E: Display + 'static,
    {
        let f = Arc::new(f);
        let fn_name = name.clone();
        let factory: HostFnFactory = Arc::new(move |lua: &Lua| {
            let f = f.clone();
            let name: Rc<str> = Rc::from(fn_name.as_str());
            let calls = calls_of(lua)?;
            let start = lua.create_function(move |lua, args: A| {
                if !calls.is_running(lua) {
                    return Err(mlua::Error::runtime(format!(
                        "`{name}` is an async host function: call it from a handler or middleware of an \
                         async execution (not from a synchronous one, nor from a coroutine the script created)"
                    )));
                }
                let future = catch_unwind(AssertUnwindSafe(|| f(args)))
                    .map_err(|payload| panicked(&name, &*payload))
                    .map_err(mlua::Error::runtime)?;
                let prefix = name.clone();
                let future: HostFuture = Box::pin(async move {
                    match future.await {
                        Ok(r) => Ok(Box::new(move |lua: &Lua| r.into_lua_multi(lua)) as _),
                        Err(e) => Err(format!("{prefix}: {e}")),
                    }
                });
                calls.set_request(Request::Host { name: name.clone(), future });
                Ok(())
            })?;
            wrap(lua, WRAPPER, start)
        });
        HostFn { name, factory, signature: FnSignature::of::<A, R>() }
    }
}

/// The `next` function given to Lua middleware in async executions; it
/// takes the root `ctx` (at `ctx_ptr`) or nothing.
pub(crate) fn async_next(lua: &Lua, calls: &Rc<AsyncCalls>, ctx_ptr: *const c_void) -> mlua::Result<Function> {
    let calls = calls.clone();
    let start = lua.create_function(move |lua, arg: mlua::Value| {
        match &arg {
            mlua::Value::Nil => {}
            mlua::Value::LightUserData(ud) if ud.0.cast_const() == ctx_ptr => {}
            other => {
                return Err(mlua::Error::runtime(format!(
                    "next() takes the ctx it was given (or nothing), got a {}",
                    other.type_name()
                )));
            }
        }
        if !calls.is_running(lua) {
            return Err(mlua::Error::runtime(
                "next() can only be called by the middleware it was given to, during its call",
            ));
        }
        calls.set_request(Request::Next);
        Ok(())
    })?;
    wrap(lua, NEXT_WRAPPER, start)
}

/// The VM's async state (installed by `VmBase::new` before host functions).
fn calls_of(lua: &Lua) -> mlua::Result<Rc<AsyncCalls>> {
    lua.app_data_ref::<Rc<AsyncCalls>>()
        .map(|c| c.clone())
        .ok_or_else(|| mlua::Error::runtime("async host functions need an eventchains VM"))
}

/// Builds the Lua wrapper `chunk` around `start`.
fn wrap(lua: &Lua, chunk: &str, start: Function) -> mlua::Result<Function> {
    // SAFETY: `yield_values` follows the C function protocol (see there).
    let yield_fn = unsafe { lua.create_c_function(yield_values) }?;
    lua.load(chunk).set_name("=async host function").call((start, yield_fn, request_marker(), CALLER_LEVEL))
}

/// `coroutine.yield` of the engine, whatever the sandbox allows scripts.
///
/// # Safety
///
/// Called by Lua only, as a C function: yields all its arguments. Nothing
/// Rust with a destructor is alive in this frame when `lua_yield` leaves it.
unsafe extern "C-unwind" fn yield_values(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `state` is the running thread calling this C function.
    unsafe {
        let n = ffi::lua_gettop(state);
        ffi::lua_yield(state, n)
    }
}

/// "host function `name` panicked: message".
pub(crate) fn panicked(name: &str, payload: &(dyn Any + Send)) -> String {
    format!("host function `{name}` panicked: {}", panic_message(payload))
}
