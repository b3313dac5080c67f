//! The original experiment's method, re-implemented as described: a
//! thread-local VM, each handler fetched from the globals by string key on
//! every call, and the context held in a Lua global (Rust never sees it
//! except by reading the global back).

use std::cell::RefCell;

use mlua::{Function, Lua, Table};

use super::SeedOutcome;

/// The experiment's script: both handlers and the context, as globals.
pub const SETUP: &str = r#"
increment_handler = function(ctx) ctx.counter = ctx.counter + 1; return ctx end
append_handler = function(ctx) ctx.message = ctx.message .. " -> processed"; return ctx end
context = { counter = 0, message = "start" }
"#;

/// The handler keys, in chain order, as the experiment stored them.
const KEYS: [&str; 2] = ["increment_handler", "append_handler"];

thread_local! {
    static VM: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// The experiment's method on this thread's VM.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeedMethod;

impl SeedMethod {
    /// Creates this thread's VM and registers the handlers as globals.
    pub fn new() -> mlua::Result<Self> {
        let lua = Lua::new();
        lua.load(SETUP).set_name("seed_method").exec()?;
        VM.with(|vm| *vm.borrow_mut() = Some(lua));
        Ok(SeedMethod)
    }

    /// The experiment's setup on a new VM, unsandboxed: `Lua::new()`, evaluate
    /// `source` ([`SETUP`], perhaps with a comment appended so that every
    /// sample's text is new), which defines the handlers as globals, and check
    /// that both handlers are registered.
    pub fn setup_vm(source: &str) -> mlua::Result<Lua> {
        let lua = Lua::new();
        lua.load(source).set_name("seed_method").exec()?;
        for key in KEYS {
            lua.globals().get::<Function>(key)?;
        }
        Ok(lua)
    }

    /// One execution: reset the global context, look each handler up by key
    /// and call it on the global context (storing back what it returns), then
    /// read both fields back from the global.
    pub fn execute(&self) -> mlua::Result<SeedOutcome> {
        VM.with(|vm| {
            let vm = vm.borrow();
            let lua = vm.as_ref().ok_or_else(|| mlua::Error::runtime("seed method VM not created"))?;
            let globals = lua.globals();
            let ctx: Table = globals.get("context")?;
            ctx.set("counter", 0)?;
            ctx.set("message", "start")?;
            for key in KEYS {
                let handler: Function = globals.get(key)?;
                let ctx: Table = globals.get("context")?;
                let next: Table = handler.call(ctx)?;
                globals.set("context", next)?;
            }
            let ctx: Table = globals.get("context")?;
            let counter: i64 = ctx.get("counter")?;
            let message: mlua::LuaString = ctx.get("message")?;
            Ok(SeedOutcome { counter, message_len: message.as_bytes().len() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn does_the_seed_work() {
        let m = SeedMethod::new().expect("vm");
        for _ in 0..3 {
            assert_eq!(m.execute().expect("runs"), SeedOutcome::expected());
        }
        let lua = SeedMethod::setup_vm(&format!("{SETUP}\n-- 1\n")).expect("sets up");
        assert!(lua.globals().get::<Function>("append_handler").is_ok());
        assert!(SeedMethod::setup_vm(&format!("{SETUP}\nappend_handler = nil\n")).is_err());
    }
}
