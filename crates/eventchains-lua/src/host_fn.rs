//! Rust functions a host exposes to scripts (`register_fn`).
//!
//! A registration is a factory, kept behind an `Arc`, that creates the Lua
//! function in a VM; every thread's VM applies all factories when it is
//! created. Panics in the Rust function are caught and become Lua errors.

use std::cell::Cell;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use eventchains_core::panic_message;
use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua};

use crate::bridge::Bridge;
use crate::lua_type::FnSignature;

/// Creates a host function in a VM.
pub(crate) type HostFnFactory = Arc<dyn Fn(&Lua) -> mlua::Result<Function> + Send + Sync>;

/// A named host function.
#[derive(Clone)]
pub(crate) struct HostFn {
    pub(crate) name: String,
    pub(crate) factory: HostFnFactory,
    /// The Lua types of its parameters and results (for editor definitions).
    pub(crate) signature: FnSignature,
}

impl HostFn {
    /// A host function that returns `Err(e)` as a Lua error carrying `e`'s message.
    pub(crate) fn fallible<F, A, R, E>(name: String, f: F) -> Self
    where
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
        A: FromLuaMulti + 'static,
        R: IntoLuaMulti + 'static,
        E: Display + 'static,
    {
        let f = Arc::new(f);
        let fn_name = name.clone();
        let factory: HostFnFactory = Arc::new(move |lua: &Lua| {
            let f = f.clone();
            let name = fn_name.clone();
            // Time spent in the host function counts against the calling
            // call's wall-clock cap: it stops as soon as the function returns.
            let bridge = lua.app_data_ref::<Rc<Bridge>>().map(|b| b.clone());
            lua.create_function(move |_, args: A| {
                if let Some(bridge) = &bridge {
                    // A check point: the function may block (crate::watchdog).
                    bridge.wake_idle_watchdog();
                }
                let _depth = HostDepth::enter().ok_or_else(|| {
                    mlua::Error::runtime(format!(
                        "host function `{name}` is nested too deeply (more than {MAX_HOST_DEPTH} calls inside one another)"
                    ))
                })?;
                let r = host_call(&name, || f(args))?;
                if let Some(bridge) = &bridge {
                    bridge.check_time()?;
                }
                Ok(r)
            })
        });
        HostFn { name, factory, signature: FnSignature::of::<A, R>() }
    }

    /// Installs the function as a global of `lua`.
    pub(crate) fn install(&self, lua: &Lua) -> mlua::Result<()> {
        lua.globals().set(self.name.as_str(), (self.factory)(lua)?)
    }
}

/// Calls a host function, its error or panic as a Lua error.
fn host_call<R, E: Display>(name: &str, f: impl FnOnce() -> Result<R, E>) -> mlua::Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(mlua::Error::runtime(format!("{name}: {e}"))),
        Err(payload) => {
            Err(mlua::Error::runtime(format!("host function `{name}` panicked: {}", panic_message(&*payload))))
        }
    }
}

/// How many host function calls may run inside one another on a thread (a
/// host function given a Lua function can call back into Lua, which can call
/// it again): each level takes Rust and C stack, and the thread's stack must
/// not overflow (that aborts the process).
pub(crate) const MAX_HOST_DEPTH: u32 = 50;

thread_local! {
    static HOST_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// One running host function call, counted while it lives.
pub(crate) struct HostDepth;

impl HostDepth {
    /// Counts a call; `None` when [`MAX_HOST_DEPTH`] calls are running already.
    pub(crate) fn enter() -> Option<Self> {
        HOST_DEPTH.with(|d| {
            let n = d.get();
            (n < MAX_HOST_DEPTH).then(|| {
                d.set(n + 1);
                HostDepth
            })
        })
    }
}

impl Drop for HostDepth {
    fn drop(&mut self) {
        HOST_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}
