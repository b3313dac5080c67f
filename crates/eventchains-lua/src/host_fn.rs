//! Rust functions a host exposes to scripts (`register_fn`).
//!
//! A registration is a factory, kept behind an `Arc`, that creates the Lua
//! function in a VM; every thread's VM applies all factories when it is
//! created. Panics in the Rust function are caught and become Lua errors.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use eventchains_core::panic_message;
use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua};

use crate::bridge::Bridge;

/// Creates a host function in a VM.
pub(crate) type HostFnFactory = Arc<dyn Fn(&Lua) -> mlua::Result<Function> + Send + Sync>;

/// A named host function.
#[derive(Clone)]
pub(crate) struct HostFn {
    pub(crate) name: String,
    pub(crate) factory: HostFnFactory,
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
            lua.create_function(move |_, args: A| match catch_unwind(AssertUnwindSafe(|| f(args))) {
                Ok(Ok(r)) => {
                    if let Some(bridge) = &bridge {
                        bridge.check_time()?;
                    }
                    Ok(r)
                }
                Ok(Err(e)) => Err(mlua::Error::runtime(format!("{name}: {e}"))),
                Err(payload) => {
                    Err(mlua::Error::runtime(format!("host function `{name}` panicked: {}", panic_message(&*payload))))
                }
            })
        });
        HostFn { name, factory }
    }

    /// Installs the function as a global of `lua`.
    pub(crate) fn install(&self, lua: &Lua) -> mlua::Result<()> {
        lua.globals().set(self.name.as_str(), (self.factory)(lua)?)
    }
}
