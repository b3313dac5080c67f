//! Option 1 of the experiment: a pure-Lua engine. The chain itself (FIFO
//! events, failure handling in strict mode) runs in Lua; Rust calls one
//! stored function per execution on a reused context table.

use mlua::{Function, Lua, Table};

use super::SeedOutcome;

/// The engine and the seed chain, in Lua.
const ENGINE: &str = r#"
local events = {
  { name = "increment", handler = function(ctx) ctx.counter = ctx.counter + 1; return ctx end },
  { name = "append", handler = function(ctx) ctx.message = ctx.message .. " -> processed"; return ctx end },
}
local pcall = pcall
return function(ctx)
  for i = 1, #events do
    local ok, res, err = pcall(events[i].handler, ctx)
    if not ok then return false, events[i].name, res end
    if res == false or (res == nil and err ~= nil) then return false, events[i].name, err end
  end
  return true
end
"#;

/// A pure-Lua chain engine running the seed chain.
#[derive(Debug)]
pub struct PureLuaEngine {
    _lua: Lua,
    ctx: Table,
    execute: Function,
}

impl PureLuaEngine {
    /// Compiles the engine once.
    pub fn new() -> mlua::Result<Self> {
        let lua = Lua::new();
        let execute: Function = lua.load(ENGINE).set_name("pure_lua_engine").into_function()?.call(())?;
        let ctx = lua.create_table()?;
        Ok(PureLuaEngine { _lua: lua, ctx, execute })
    }

    /// Resets the context, runs the Lua chain, reads both fields back.
    pub fn execute(&self) -> mlua::Result<SeedOutcome> {
        self.ctx.raw_set("counter", 0)?;
        self.ctx.raw_set("message", "start")?;
        let ok: bool = self.execute.call(&self.ctx)?;
        if !ok {
            return Err(mlua::Error::runtime("pure Lua chain failed"));
        }
        let counter: i64 = self.ctx.raw_get("counter")?;
        let message: mlua::LuaString = self.ctx.raw_get("message")?;
        Ok(SeedOutcome { counter, message_len: message.as_bytes().len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn does_the_seed_work() {
        let e = PureLuaEngine::new().expect("vm");
        for _ in 0..3 {
            assert_eq!(e.execute().expect("runs"), SeedOutcome::expected());
        }
    }
}
