//! The physical floor: a hand-written minimal mlua program doing the seed
//! chain's work (a reused table, two stored functions, the two fields set
//! before and read back after each execution), and a bare stored-function call.

use mlua::{Function, Lua, Table};

use super::SeedOutcome;

/// The two seed handlers as a chunk that returns them.
const HANDLERS: &str = r#"
return function(ctx) ctx.counter = ctx.counter + 1; return ctx end,
       function(ctx) ctx.message = ctx.message .. " -> processed"; return ctx end
"#;

/// The minimal mlua program.
#[derive(Debug)]
pub struct RawMlua {
    lua: Lua,
    ctx: Table,
    increment: Function,
    append: Function,
    noop: Function,
}

impl RawMlua {
    /// A VM with the two handlers compiled and a reused context table.
    pub fn new() -> mlua::Result<Self> {
        let lua = Lua::new();
        let (increment, append): (Function, Function) =
            lua.load(HANDLERS).set_name("raw_mlua").into_function()?.call(())?;
        let noop: Function = lua.load("return function(ctx) end").into_function()?.call(())?;
        let ctx = lua.create_table()?;
        Ok(RawMlua { lua, ctx, increment, append, noop })
    }

    /// Sets `counter = 0, message = "start"`, calls both handlers, reads both back.
    pub fn execute(&self) -> mlua::Result<SeedOutcome> {
        self.ctx.raw_set("counter", 0)?;
        self.ctx.raw_set("message", "start")?;
        self.increment.call::<()>(&self.ctx)?;
        self.append.call::<()>(&self.ctx)?;
        let counter: i64 = self.ctx.raw_get("counter")?;
        let message: mlua::LuaString = self.ctx.raw_get("message")?;
        Ok(SeedOutcome { counter, message_len: message.as_bytes().len() })
    }

    /// The per-request shape: a fresh table (sized for the two fields) with
    /// `counter = 0, message = "start"`, both handlers, both fields read back.
    pub fn execute_fresh_table(&self) -> mlua::Result<SeedOutcome> {
        let ctx = self.lua.create_table_with_capacity(0, 2)?;
        ctx.raw_set("counter", 0)?;
        ctx.raw_set("message", "start")?;
        self.increment.call::<()>(&ctx)?;
        self.append.call::<()>(&ctx)?;
        let counter: i64 = ctx.raw_get("counter")?;
        let message: mlua::LuaString = ctx.raw_get("message")?;
        Ok(SeedOutcome { counter, message_len: message.as_bytes().len() })
    }

    /// The VM (to install hooks).
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// One call of a stored no-op function with the table as argument.
    pub fn bare_call(&self) -> mlua::Result<()> {
        self.noop.call::<()>(&self.ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn does_the_seed_work() {
        let raw = RawMlua::new().expect("vm");
        for _ in 0..3 {
            assert_eq!(raw.execute().expect("runs"), SeedOutcome::expected());
            assert_eq!(raw.execute_fresh_table().expect("runs"), SeedOutcome::expected());
        }
        raw.bare_call().expect("call");
    }
}
