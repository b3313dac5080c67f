//! [`Sandbox`]: which parts of the Lua standard library a script gets.

use mlua::{Lua, LuaOptions, StdLib};

/// The libraries a script's VM gets.
///
/// The default is the sandbox of the design: the base library without
/// `dofile`/`loadfile`, `load` restricted to text chunks (binary chunks can
/// crash the interpreter), `string`, `table`, `math`, `utf8`, `coroutine`, and
/// `os` reduced to `clock`, `time` and `date`. There is no `io`, `debug`,
/// `package` or `require`. `print` writes to the `tracing` log (target
/// `eventchains_lua::script`), never to stdout. `collectgarbage` only accepts
/// `"collect"`, `"count"` and `"step"` (a script must not stop the collector of
/// a VM that later executions reuse).
///
/// A host can opt in to more with [`Sandbox::allow`]:
///
/// ```
/// use eventchains_lua::{LuaChainBuilder, Sandbox, StdLib};
/// let script = "return { events = { { name = 'e', handler = function(ctx) ctx.has_io = io ~= nil end } } }";
/// let chain = LuaChainBuilder::new().load_str("s.lua", script).unwrap();
/// let mut ctx = chain.new_context();
/// chain.execute(&mut ctx);
/// assert_eq!(ctx.get::<bool>("has_io"), Some(false));
///
/// let trusted = LuaChainBuilder::new().sandbox(Sandbox::default().allow(StdLib::IO)).load_str("s.lua", script).unwrap();
/// let mut ctx = trusted.new_context();
/// trusted.execute(&mut ctx);
/// assert_eq!(ctx.get::<bool>("has_io"), Some(true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandbox {
    extra: StdLib,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox { extra: StdLib::NONE }
    }
}

impl Sandbox {
    /// The default sandbox plus the libraries in `libs` (e.g. `StdLib::IO`,
    /// `StdLib::OS` for the full `os`, `StdLib::PACKAGE` for `require`).
    /// `debug` is never loaded.
    #[must_use]
    pub fn allow(mut self, libs: StdLib) -> Self {
        self.extra |= libs;
        self
    }

    fn base_libs() -> StdLib {
        StdLib::COROUTINE | StdLib::TABLE | StdLib::STRING | StdLib::UTF8 | StdLib::MATH | StdLib::OS
    }

    /// A new VM with these libraries, the restricted globals installed.
    pub(crate) fn new_lua(&self) -> mlua::Result<Lua> {
        let libs = (Self::base_libs() | self.extra) & StdLib::ALL_SAFE;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let full_os = self.extra.contains(StdLib::OS);
        let print = lua.create_function(|_, args: mlua::MultiValue| {
            let line =
                args.iter().map(|v| v.to_string().unwrap_or_else(|_| v.type_name().to_owned())).collect::<Vec<_>>();
            tracing::info!(target: "eventchains_lua::script", "{}", line.join("\t"));
            Ok(())
        })?;
        lua.load(PRELUDE).set_name("=sandbox").call::<()>((print, full_os))?;
        Ok(lua)
    }
}

/// Restricts the globals. Gets `print` (logging) and whether `os` stays whole.
const PRELUDE: &str = r#"
local print_to_log, full_os = ...
local rawload, select = load, select
print = print_to_log
dofile, loadfile = nil, nil
load = function(chunk, name, mode, ...)
  if select('#', ...) > 0 then return rawload(chunk, name, "t", ...) end
  return rawload(chunk, name, "t")
end
local rawcollect = collectgarbage
collectgarbage = function(option, ...)
  if option == nil or option == "collect" or option == "count" or option == "step" then
    return rawcollect(option, ...)
  end
  error("collectgarbage('" .. tostring(option) .. "') is not allowed in the sandbox", 2)
end
if os and not full_os then
  os = { clock = os.clock, time = os.time, date = os.date }
end
"#;

/// Makes `pcall`, `xpcall` and `coroutine.resume` re-raise a limit error, so a
/// script cannot catch its way past a limit. Gets a function telling whether
/// the running call has hit a limit.
pub(crate) const LIMIT_PRELUDE: &str = r#"
local limit_hit = ...
local rawpcall, rawxpcall, error = pcall, xpcall, error
local function pass(ok, ...)
  if not ok and limit_hit() then error((...), 0) end
  return ok, ...
end
pcall = function(...) return pass(rawpcall(...)) end
xpcall = function(...) return pass(rawxpcall(...)) end
if coroutine then
  local resume = coroutine.resume
  coroutine.resume = function(...) return pass(resume(...)) end
end
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sandbox_hides_dangerous_globals() {
        let lua = Sandbox::default().new_lua().expect("vm");
        let absent: Vec<bool> = lua
            .load("return { io == nil, debug == nil, require == nil, package == nil, dofile == nil, loadfile == nil, os.execute == nil, os.getenv == nil, os.clock ~= nil }")
            .eval::<Vec<bool>>()
            .expect("runs");
        assert!(absent.iter().all(|b| *b), "{absent:?}");
        let binary: (Option<mlua::Function>, Option<String>) =
            lua.load("return load(string.dump(function() return 1 end))").eval().expect("runs");
        assert!(binary.0.is_none());
        assert!(binary.1.unwrap_or_default().contains("binary"), "binary chunks are refused");
        let text: i64 = lua.load("return load('return 1 + 1')()").eval().expect("text chunks load");
        assert_eq!(text, 2);
        let env: i64 = lua.load("return load('return x', 'c', 'b', { x = 5 })()").eval().expect("env kept");
        assert_eq!(env, 5);
    }
}
