//! [`Sandbox`]: which parts of the Lua standard library a script gets.

use mlua::{Lua, LuaOptions, StdLib};

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use crate::prelude::Prelude;

#[cfg(all(test, any(feature = "lua54", feature = "lua55")))]
mod equivalence_tests;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod lockdown;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod raise;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod restrict;
#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) use restrict::charge_gc_and_load_to;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod views;

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
/// // `os.difftime` is in the full `os` library (on every engine), not in the sandbox's.
/// let script = "return { events = { { name = 'e', handler = function(ctx) ctx.full_os = os.difftime ~= nil end } } }";
/// let chain = LuaChainBuilder::new().load_str("s.lua", script).unwrap();
/// let mut ctx = chain.new_context();
/// chain.execute(&mut ctx);
/// assert_eq!(ctx.get::<bool>("full_os"), Some(false));
///
/// let trusted = LuaChainBuilder::new().sandbox(Sandbox::default().allow(StdLib::OS)).load_str("s.lua", script).unwrap();
/// let mut ctx = trusted.new_context();
/// trusted.execute(&mut ctx);
/// assert_eq!(ctx.get::<bool>("full_os"), Some(true));
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
    /// `debug` is never loaded. On Luau there is no `io` or `package`, and
    /// `require` is never offered (mlua's Luau `require` reads files).
    ///
    /// Each allowed library hands scripts all it can do: `StdLib::PACKAGE`
    /// lets them read Lua files through `require` and load native libraries
    /// (`package.loadlib` and the C searchers, i.e. run any machine code the
    /// process can read), `StdLib::IO` reads and writes files, the full
    /// `StdLib::OS` runs commands. Allow them for trusted scripts only.
    #[must_use]
    pub fn allow(mut self, libs: StdLib) -> Self {
        self.extra |= libs;
        self
    }

    #[cfg(not(any(feature = "luajit", feature = "luau")))]
    fn base_libs() -> StdLib {
        StdLib::COROUTINE | StdLib::TABLE | StdLib::STRING | StdLib::UTF8 | StdLib::MATH | StdLib::OS
    }

    /// LuaJIT (Lua 5.1): `coroutine` is part of the base library, there is no
    /// `utf8`, and the `bit` library stands in for 5.3's bitwise operators.
    #[cfg(feature = "luajit")]
    fn base_libs() -> StdLib {
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS | StdLib::BIT
    }

    /// Luau: no bitwise operators, so `bit32` stands in for them (as `bit` on
    /// LuaJIT). Luau has no `io` or `package`; `os` has only `clock`, `date`,
    /// `difftime` and `time`.
    #[cfg(feature = "luau")]
    fn base_libs() -> StdLib {
        StdLib::COROUTINE | StdLib::TABLE | StdLib::STRING | StdLib::UTF8 | StdLib::MATH | StdLib::OS | StdLib::BIT
    }

    /// A new VM with these libraries, the restricted globals installed.
    #[cfg(test)]
    pub(crate) fn new_lua(&self) -> mlua::Result<Lua> {
        let lua = self.open()?;
        self.restrict(&lua)?;
        Ok(lua)
    }

    /// A new VM with these libraries; nothing is restricted yet ([`Sandbox::restrict`] does that).
    /// On Lua 5.4 and 5.5 `os` is opened only when allowed whole: `restrict`
    /// builds the reduced one from three C functions (see `sandbox/restrict.rs`).
    pub(crate) fn open(&self) -> mlua::Result<Lua> {
        // Luau counts `debug` as safe; the sandbox never loads it.
        let libs = (Self::base_libs() | self.extra) & StdLib::ALL_SAFE & !StdLib::DEBUG;
        // The C restriction builds the reduced `os` from `luaopen_os` itself.
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        let libs = if built_in_c() && !self.extra.contains(StdLib::OS) { libs & !StdLib::OS } else { libs };
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        crate::fast_ctx::clear_extra_space(&lua)?;
        Ok(lua)
    }

    /// Installs the restricted globals in `lua`, a VM from [`Sandbox::open`]:
    /// C closures on Lua 5.4 and 5.5 (`sandbox/restrict.rs`), the `=sandbox`
    /// Lua prelude on LuaJIT and Luau.
    pub(crate) fn restrict(&self, lua: &Lua) -> mlua::Result<()> {
        let full_os = self.extra.contains(StdLib::OS);
        let print = lua.create_function(|_, args: mlua::MultiValue| {
            // `__tostring` can call `print` again: bound the Rust stack it takes.
            let _depth = crate::host_fn::HostDepth::enter()
                .ok_or_else(|| mlua::Error::runtime("print: nested too deeply (a __tostring calling print?)"))?;
            let line =
                args.iter().map(|v| v.to_string().unwrap_or_else(|_| v.type_name().to_owned())).collect::<Vec<_>>();
            tracing::info!(target: "eventchains_lua::script", "{}", line.join("\t"));
            Ok(())
        })?;
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        {
            #[cfg(test)]
            if lua_versions::forced() {
                return sandbox_prelude(lua, print, full_os);
            }
            restrict::restrict(lua, print, !full_os)
        }
        #[cfg(not(any(feature = "lua54", feature = "lua55")))]
        sandbox_prelude(lua, print, full_os)
    }
}

/// Whether the sandbox is built through the C API (Lua 5.4 and 5.5; tests
/// can force the Lua preludes, see [`lua_versions`]).
#[cfg(any(feature = "lua54", feature = "lua55"))]
fn built_in_c() -> bool {
    #[cfg(test)]
    if lua_versions::forced() {
        return false;
    }
    true
}

/// Runs [`PRELUDE`] (a function of its own, so profiles show its cost):
/// LuaJIT and Luau (and, in tests, the reference of the C version).
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
#[inline(never)]
fn sandbox_prelude(lua: &Lua, print: mlua::Function, full_os: bool) -> mlua::Result<()> {
    PRELUDE.load(lua).call::<()>((print, full_os))
}

/// Restricts the globals. Gets `print` (logging) and whether `os` stays whole.
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
static PRELUDE: Prelude = Prelude::new("=sandbox", PRELUDE_SOURCE);
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
const PRELUDE_SOURCE: &str = r#"
local print_to_log, full_os = ...
local rawload, select = load, select
-- The C functions a script's arguments reach, called as fields: the preludes
-- are loaded without debug information, and Lua names a function in an error
-- (`bad argument #1 to 'load'`) from the field it was called through.
local raw = { collectgarbage = collectgarbage }
-- Luau has no `load`: it is built on mlua's `loadstring`, which compiles text only.
if rawload == nil and loadstring and setfenv then
  local loadstring, setfenv, pcall, type, tostring = loadstring, setfenv, pcall, type, tostring
  rawload = function(chunk, name, mode, env)
    if type(chunk) ~= "string" then return nil, "load: the chunk must be a string" end
    local ok, f = pcall(loadstring, chunk, name or "=(load)")
    if not ok then return nil, tostring(f) end -- mlua raises an error object
    if env ~= nil then setfenv(f, env) end
    return f
  end
end
raw.load = rawload
print = print_to_log
dofile, loadfile = nil, nil
-- `loadstring` (LuaJIT: loads binary chunks; Luau: global environment) and the
-- environment functions of Lua 5.1 and Luau (`getfenv(0)` is the VM's real globals).
loadstring, getfenv, setfenv = nil, nil, nil
-- mlua's Luau installs a file-system `require` of its own; elsewhere it comes with `package`.
if package == nil then require = nil end
load = function(chunk, name, mode, ...)
  if select('#', ...) > 0 then return raw.load(chunk, name, "t", ...) end
  return raw.load(chunk, name, "t")
end
collectgarbage = function(option, ...)
  if option == nil or option == "collect" or option == "count" or option == "step" then
    return raw.collectgarbage(option, ...)
  end
  error("collectgarbage('" .. tostring(option) .. "') is not allowed in the sandbox", 2)
end
if os and not full_os then
  os = { clock = os.clock, time = os.time, date = os.date }
  -- With `package` allowed, `require('os')` and `package.loaded.os` read the
  -- table of loaded modules, which still held the whole library.
  local loaded = type(package) == "table" and rawget(package, "loaded")
  if type(loaded) == "table" and rawget(loaded, "os") ~= nil then rawset(loaded, "os", os) end
end
"#;

/// Makes `pcall`, `xpcall` and `coroutine.resume` re-raise a limit error
/// (LuaJIT and Luau; Lua 5.4 and 5.5 get the same as C closures,
/// `limit_calls.rs`), so a
/// script cannot catch its way past a limit, and bounds how deep coroutines
/// resume one another (`coroutine.resume` and the functions of
/// `coroutine.wrap`). Gets a function telling whether the running call has
/// hit a limit and `resume_depth(delta, co)` (`false` when one more is
/// refused; gives the coroutine `co` the resumer's count hook, see
/// [`crate::count_hook`]).
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
pub(crate) static LIMIT_PRELUDE: Prelude = Prelude::new("=limits", LIMIT_PRELUDE_SOURCE);
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
const LIMIT_PRELUDE_SOURCE: &str = r#"
local limit_hit, resume_depth = ...
local error, type, select = error, type, select
-- Called as fields where a script's arguments reach them (see the sandbox prelude).
local raw = { pcall = pcall, xpcall = xpcall }
local function pass(ok, ...)
  if not ok and limit_hit() then error((...), 0) end
  return ok, ...
end
pcall = function(...) return pass(raw.pcall(...)) end
-- Lua runs a message handler for an error raised by the limit hook with hooks
-- disabled, so the handler is skipped once a limit is hit.
xpcall = function(...)
  local f, handler = ...
  -- Without a function handler: the engine's argument error (or its answer).
  if type(handler) ~= "function" then return raw.xpcall(...) end
  return pass(raw.xpcall(f, function(...) if limit_hit() then return (...) end return handler(...) end, select(3, ...)))
end
if coroutine then
  raw.resume, raw.create, raw.wrap = coroutine.resume, coroutine.create, coroutine.wrap
  local TOO_DEEP = "too many nested coroutines (each coroutine.resume nests the C stack)"
  local function resumed(...)
    resume_depth(-1)
    return pass(...)
  end
  coroutine.resume = function(co, ...)
    -- Its argument error before anything is counted (the count would stay raised).
    if type(co) ~= "thread" then return raw.resume(co, ...) end
    if not resume_depth(1, co) then error(TOO_DEEP, 2) end
    return resumed(raw.resume(co, ...))
  end
  -- As the engine's wrap: a string error gets the caller's position (level
  -- 2 through the tail call; Luau has no tail calls: the wrap function is 2).
  local WRAP_CALLER = string.sub(_VERSION, 1, 4) == "Luau" and 3 or 2
  local function wrapped(ok, ...)
    resume_depth(-1)
    if ok then return ... end
    local e = ...
    if type(e) == "string" and not limit_hit() then error(e, WRAP_CALLER) end
    error(e, 0)
  end
  coroutine.wrap = function(...)
    local f = ...
    -- Not a function: the engine's argument error, naming `wrap`.
    if type(f) ~= "function" then return raw.wrap(...) end
    local co = raw.create(f)
    return function(...)
      if not resume_depth(1, co) then error(TOO_DEEP, 2) end
      return wrapped(raw.resume(co, ...))
    end
  end
  -- (Luau; LuaJIT has none.) An async execution's coroutine is refused
  -- (`resume_depth(0, co)` only checks).
  if coroutine.close then
    raw.close = coroutine.close
    coroutine.close = function(co, ...)
      if type(co) == "thread" then resume_depth(0, co) end
      return raw.close(co, ...)
    end
  end
end
"#;

/// LuaJIT: makes the C functions that call back into Lua count their nesting
/// (see [`BOUND_C_CALLS`]). Run before [`LIMIT_PRELUDE`] (it keeps the
/// engine's `pcall`). A chunk of its own, so that the other engines' VMs do
/// not load its functions (each function of a prelude costs about 2,500
/// instructions to load in every VM).
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
pub(crate) static C_NESTING_PRELUDE: Prelude = Prelude::new("=c_nesting", C_NESTING_PRELUDE_SOURCE);
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
const C_NESTING_PRELUDE_SOURCE: &str = r#"
-- LuaJIT bounds neither the C stack nor the C functions that call back into
-- Lua (a `gsub` replacement calling `gsub`, a `sort` comparator sorting, a
-- `__tostring` calling `tostring`): each level nests the thread's stack until
-- it overflows and the process aborts. Those functions count their nesting.
-- The count is raised inside the protected call and lowered right after it,
-- so an error (caught or not) cannot leave it raised.
local rawpcall, error = pcall, error
local MAX_C_NESTING = 100
local depth = 0
local function leave(ok, ...)
  depth = depth - 1
  if ok then return ... end
  error((...), 0)
end
local function enter(f, ...)
  depth = depth + 1
  return f(...)
end
local function bounded(lib, name, label)
  local f = lib[name]
  if not f then return end
  lib[name] = function(...)
    if depth >= MAX_C_NESTING then
      error(("%s: too many nested calls (more than %d calls of functions that call back into Lua)"):format(label, MAX_C_NESTING), 2)
    end
    return leave(rawpcall(enter, f, ...))
  end
end
bounded(string, "gsub", "string.gsub")
bounded(string, "format", "string.format")
bounded(table, "sort", "table.sort")
bounded(table, "foreach", "table.foreach")
bounded(table, "foreachi", "table.foreachi")
bounded(_G, "tostring", "tostring")
bounded(_G, "print", "print")
"#;

/// Whether `string.gsub`, `string.format`, `table.sort`, `tostring`, `print`
/// (C functions that call back into Lua) count how deep they nest. LuaJIT does
/// not bound C recursion; Lua 5.4, 5.5 and Luau stop it near 200 levels
/// ("C stack overflow").
pub(crate) const BOUND_C_CALLS: bool = cfg!(feature = "luajit");

/// The environment scripts run in, made by [`lock_down`].
pub(crate) struct ScriptEnv {
    /// The table scripts see as `_G`/`_ENV`.
    pub(crate) env: mlua::Table,
    /// Makes the script's globals read-only once its top-level code has run.
    pub(crate) freeze: mlua::Function,
    /// `record(fields, name)`: a read-only view of `fields` (the `event` tables of middleware).
    pub(crate) record: mlua::Function,
}

/// Locks the VM's globals down (run last, once everything else is installed):
/// scripts get an environment of their own whose globals become read-only
/// once the top-level code has run, so no execution can leave state in a
/// global for the next one (as in Redis). Library tables are read-only views
/// whose every path (indexing, `pairs`/`__iter`, `next`, `rawget`, nested
/// tables) yields read-only values only, the string metatable is hidden,
/// `rawset` (and, on engines whose table functions write raw, `table.insert`
/// and its siblings) refuses protected tables, `setmetatable` refuses `__gc`
/// (finalizers run with hooks disabled, so the limits could not stop them),
/// `load` refuses binary chunks and to-be-closed variables and never hands a
/// chunk the real globals (an explicit `nil` environment gets an empty,
/// read-only one on every engine), and `error(nil)` says what happened.
/// Lua 5.4 and 5.5 build all this through the C API (`sandbox/lockdown.rs`,
/// `sandbox/views.rs`); LuaJIT and Luau run the `=lockdown` Lua prelude.
pub(crate) fn lock_down(lua: &Lua) -> mlua::Result<ScriptEnv> {
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    {
        #[cfg(test)]
        if lua_versions::forced() {
            return lua_lock_down(lua, close_check(lua)?);
        }
        lockdown::lock_down(lua)
    }
    #[cfg(not(any(feature = "lua54", feature = "lua55")))]
    lua_lock_down(lua, close_check(lua)?)
}

/// The lockdown as the `=lockdown` Lua prelude: LuaJIT and Luau (and, in
/// tests, the reference the C version of Lua 5.4 and 5.5 is compared with).
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
fn lua_lock_down(lua: &Lua, close_check: mlua::Function) -> mlua::Result<ScriptEnv> {
    // SAFETY: `table_fields` follows the C function protocol (see there).
    let table_fields = unsafe { lua.create_c_function(table_fields) }?;
    let (env, freeze, record) = LOCKDOWN_PRELUDE.load(lua).call::<(mlua::Table, mlua::Function, mlua::Function)>((
        CLOSE_REFUSED,
        close_check,
        RAW_TABLE_WRITES,
        table_fields,
    ))?;
    Ok(ScriptEnv { env, freeze, record })
}

/// Tests only: makes the VMs built on this thread use the Lua versions of
/// the sandbox (the `=lockdown` and `=sandbox` preludes) on Lua 5.4 and 5.5,
/// the reference their C versions are compared with.
#[cfg(all(test, any(feature = "lua54", feature = "lua55")))]
pub(crate) mod lua_versions {
    use std::cell::Cell;

    thread_local! {
        static FORCED: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether the Lua versions are forced on this thread.
    pub(crate) fn forced() -> bool {
        FORCED.with(Cell::get)
    }

    /// Runs `f` with the Lua versions forced (or not).
    pub(crate) fn with<R>(lua_versions: bool, f: impl FnOnce() -> R) -> R {
        let before = FORCED.with(|forced| forced.replace(lua_versions));
        let result = f();
        FORCED.with(|forced| forced.set(before));
        result
    }
}

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// `table_fields(t)`: the keys of `t` whose values are tables, as a list, or
/// `nil` when there are none (a raw traversal, as `next`). The lockdown walks
/// the globals and every library table with it: done in Lua, each value cost
/// an interpreted loop step and a `type` call (about a tenth of building a
/// VM), for tables that mostly hold no table at all.
///
/// # Safety
///
/// Called by Lua only, as a C function with one argument. `luaL_checktype`
/// and the allocations (`lua_createtable`, `lua_rawseti`) may raise a Lua
/// error (a `longjmp` or an unwind through this frame): nothing Rust with a
/// destructor is alive here. `lua_next` gets only the keys it returned (the
/// traversal never adds keys to `t`), so it cannot raise.
unsafe extern "C-unwind" fn table_fields(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: `state` is the running thread calling this C function; the
    // stack holds the argument and at least `LUA_MINSTACK` free slots (the
    // traversal uses four).
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        ffi::lua_settop(state, 1);
        ffi::lua_pushnil(state); // 2: the result list, made at the first table
        ffi::lua_pushnil(state); // 3: the traversal's key
        let mut found: ffi::lua_Integer = 0;
        while ffi::lua_next(state, 1) != 0 {
            if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
                if found == 0 {
                    ffi::lua_createtable(state, 4, 0);
                    ffi::lua_replace(state, 2);
                }
                found += 1;
                ffi::lua_pushvalue(state, 3);
                ffi::lua_rawseti(state, 2, found);
            }
            ffi::lua_settop(state, 3); // keep the key for the next step
        }
        ffi::lua_settop(state, 2);
        1
    }
}

/// Whether the engine's `table.insert`, `table.remove`, `table.sort` (and
/// `table.move`, `table.clear` where they exist) write without metamethods,
/// so they must refuse the protected tables themselves. Lua 5.4 and 5.5 go
/// through `__newindex`.
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
const RAW_TABLE_WRITES: bool = cfg!(any(feature = "luajit", feature = "luau"));

/// Why `<close>` is refused: after a limit error Lua runs pending `__close`
/// metamethods with hooks disabled, where no limit could stop them.
pub(crate) const CLOSE_REFUSED: &str =
    "to-be-closed variables (<close>) are not allowed in the sandbox (their __close would run without limits)";

/// The line of the first to-be-closed variable in `function` or the functions
/// it defines (0 when the code has no line information), read from its
/// compiled code (see [`crate::close_scan`]): `dump`, the function's dump
/// with debug information when the caller has made it already, or a new
/// one; an error when the code cannot be read.
#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) fn to_be_closed_line(function: &mlua::Function, dump: Option<&[u8]>) -> Result<Option<u32>, String> {
    let scan = |dump: &[u8]| crate::close_scan::first_to_be_closed(dump).map_err(|e| e.to_string());
    match dump {
        Some(dump) => scan(dump),
        None => scan(&function.dump(false)),
    }
}

/// LuaJIT and Luau have no to-be-closed variables (their parsers reject `<close>`).
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
pub(crate) fn to_be_closed_line(_function: &mlua::Function, _dump: Option<&[u8]>) -> Result<Option<u32>, String> {
    Ok(None)
}

/// The check the Lua prelude's `load` runs on every chunk it compiled: its
/// to-be-closed line or `nil` (the C lockdown scans in `load` itself).
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
fn close_check(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|_, f: mlua::Function| to_be_closed_line(&f, None).map_err(mlua::Error::runtime))
}

/// Builds the script environment (see [`lock_down`]). Gets [`CLOSE_REFUSED`],
/// the close check, [`RAW_TABLE_WRITES`] and [`table_fields`].
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
static LOCKDOWN_PRELUDE: Prelude = Prelude::new("=lockdown", LOCKDOWN_PRELUDE_SOURCE);
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
const LOCKDOWN_PRELUDE_SOURCE: &str = r##"
local G = _G
local rawget, rawset, rawsetmetatable, error, next, type, tostring, select, getmetatable =
  rawget, rawset, setmetatable, error, next, type, tostring, select, getmetatable
local concat, find = table.concat, string.find
-- Called as fields where a script's arguments reach them (see the sandbox prelude).
local raw = { setmetatable = setmetatable, rawset = rawset }
local CLOSE_REFUSED, close_line, raw_table_writes, table_fields = ...
-- The wrappers below end in a tail call of the engine's function, so that an
-- argument error it raises carries the script's line. Luau has no tail calls
-- (the error would carry this chunk's line, `lockdown:N`): there the error is
-- caught and raised again at the wrapper's caller. (Luau names a C function
-- by its own name, however it is called.)
local luau_relay
if string.sub(_VERSION, 1, 4) == "Luau" then -- "Luau 0.740"
  local pcall = pcall
  local function relay(ok, ...)
    if ok then return ... end
    error((...), 4) -- 1 relay, 2 luau_relay, 3 the wrapper, 4 its caller
  end
  luau_relay = function(f, ...) return relay(pcall(f, ...)) end
end
-- Weak keys: an `event` record made for a call (an event the VM was not built
-- with) goes away with its call.
local protected = rawsetmetatable({}, { __mode = "k" })

-- Refuses writes into the protected tables (views, the environment, records).
local function refuse(name, k)
  error(("%s is read-only (cannot set `%s`)"):format(name, tostring(k)), 3)
end

-- A read-only view of `t`: every value it yields (indexing, `pairs`/`__iter`,
-- `#`) is read-only as well, nested tables are views too, and the view itself
-- stays empty (so `next`, `rawget` and `rawlen` see nothing). The values live
-- in a shadow table, which never leaves this chunk. A table holding no
-- unprotected table (every standard library but `package`, an `event`
-- record's fields) is its own shadow: after the lockdown nothing a script can
-- reach holds it (the VM's registry and the hidden string metatable, whose
-- `__index` is the `string` table, are out of reach), so nothing can change
-- it, and no copy is made. Any other table is copied into a new shadow, its
-- nested tables replaced by views (the copy leaves the original as the C
-- functions holding it, e.g. `require`'s `package.searchers`, expect it). The
-- metamethods are shared by all views (an `event` record costs two tables).
local views = {}
local shadows = rawsetmetatable({}, { __mode = "k" })
local names = rawsetmetatable({}, { __mode = "k" })
local function iterate(view, k) return next(shadows[view], k) end
local function pairs_of(view) return iterate, view, nil end
local function newindex(view, k) refuse(names[view], k) end
local function len(view) return #shadows[view] end
local function view_of(t, name)
  local view = views[t]
  if view then return view end
  -- Most tables hold no table at all: `table_fields` (C) says so at once.
  local flat = true
  local nested = table_fields(t)
  if nested then
    for i = 1, #nested do
      if not protected[rawget(t, nested[i])] then flat = false break end
    end
  end
  local shadow = flat and t or {}
  view = rawsetmetatable({}, {
    __index = shadow,
    __newindex = newindex,
    __pairs = pairs_of,
    __iter = pairs_of, -- Luau's generalized iteration
    __len = len,
    __metatable = false,
  })
  views[t], shadows[view], names[view] = view, shadow, name
  protected[view] = true
  if not flat then
    for k, v in next, t do
      if type(v) == "table" and not protected[v] then v = view_of(v, name .. "." .. tostring(k)) end
      rawset(shadow, k, v)
    end
  end
  return view
end

-- Finalizers run with hooks disabled: no limit could stop an endless `__gc`.
-- Argument errors (a non-table `t`, an absent `mt`) are the engine's own.
G.setmetatable = function(...)
  local t, mt = ...
  if type(t) ~= "table" or select("#", ...) < 2 then
    if luau_relay then return luau_relay(raw.setmetatable, ...) end
    return raw.setmetatable(...)
  end
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in the sandbox (finalizers cannot be interrupted)", 2)
  end
  if luau_relay then return luau_relay(raw.setmetatable, t, mt) end
  return raw.setmetatable(t, mt)
end
G.newproxy = nil

-- Absent arguments reach the engine's `rawset` as absent (its argument errors).
G.rawset = function(...)
  if protected[(...)] then error("rawset: this table is read-only", 2) end
  if luau_relay then return luau_relay(raw.rawset, ...) end
  return raw.rawset(...)
end

-- LuaJIT's and Luau's table functions write without `__newindex`.
if raw_table_writes and G.table then
  local lib = G.table
  for _, fname in next, { "insert", "remove", "sort", "move", "clear" } do
    local raw = rawget(lib, fname)
    if raw then
      -- `table.move(a1, f, e, t, a2)` writes into its last table argument.
      local target = fname == "move" and 5 or 1
      rawset(lib, fname, function(...)
        local t = select(target, ...)
        if target == 5 and t == nil then t = ... end
        if protected[t] then error(("table.%s: this table is read-only"):format(fname), 2) end
        return raw(...)
      end)
    end
  end
end

-- `error(nil)` would reach the host as the bare message "nil": say what
-- happened and where (as standalone Lua does), at the level asked for.
local rawerror = error
G.error = function(message, level)
  -- (The number path first: a rethrowing recursion runs this at every level.)
  if type(level) == "number" then
    if level > 0 then level = level + 1 end
  elseif level == nil then
    level = 2
  else
    -- A numeric string is a level, as the base library reads it.
    local n = tonumber(level)
    if n then level = n > 0 and n + 1 or n end
  end
  if message == nil then message = "error object is a nil value" end
  rawerror(message, level)
end

local string_mt = getmetatable("")
if type(string_mt) == "table" then rawset(string_mt, "__metatable", false) end

-- With `package` allowed, `require` hands out the modules of the registry's
-- table of loaded modules (which `package.loaded` is), not those of the
-- `package.loaded` view: that table holds views in place of the modules.
local package = rawget(G, "package")
local loaded = type(package) == "table" and rawget(package, "loaded")
if type(loaded) == "table" then
  for _, name in next, table_fields(loaded) or {} do
    local lib = rawget(loaded, name)
    if not protected[lib] then rawset(loaded, name, view_of(lib, name)) end
  end
end

for _, name in next, table_fields(G) or {} do
  local lib = rawget(G, name)
  if lib ~= G then rawset(G, name, view_of(lib, name)) end
end

-- The script's environment: globals it defines while loading go to `own`;
-- afterwards every global is read-only.
local own, frozen = {}, false
local env_mt = {
  __index = G,
  __newindex = function(t, k, v)
    if frozen then
      error(("cannot set the global `%s`: globals are read-only once the script has loaded "
        .. "(nothing may persist from one execution to the next); use ctx or a local"):format(tostring(k)), 2)
    end
    rawset(t, k, v)
  end,
  __metatable = false,
}
local env = rawsetmetatable({}, env_mt)
protected[env] = true
rawset(G, "_G", env)

-- What a chunk loaded with an explicit `nil` environment sees (Lua 5.4 gives
-- it no globals; LuaJIT and Luau would give it the real ones).
local no_env = rawsetmetatable({}, {
  __index = function(_, k)
    error(("the global `%s` is not available: this chunk was loaded with a nil environment"):format(tostring(k)), 2)
  end,
  __newindex = function(_, k) refuse("the nil environment", k) end,
  __metatable = false,
})
protected[no_env] = true

local sandboxed_load = G.load
if sandboxed_load then
  local load_text
  -- (An absent chunk is "no value" in the argument error, as the engine's.)
  G.load = function(...)
    if select("#", ...) == 0 then error("bad argument #1 to 'load' (function expected, got no value)", 2) end
    return load_text(...)
  end
  load_text = function(chunk, name, mode, ...)
    if type(chunk) == "function" then
      local parts = {}
      while true do
        -- A reader's error is the answer, as the base library's `load`.
        local ok, piece = pcall(chunk)
        if not ok then return nil, piece end
        if piece == nil or piece == "" then break end
        local kind = type(piece)
        if kind ~= "string" and kind ~= "number" then
          -- The engine's message, at the caller's line (error level 3 under
          -- pcall: 1 pcall, 2 this function, 3 its caller).
          local _, where = pcall(rawerror, "", 3)
          return nil, tostring(where) .. "reader function must return a string"
        end
        parts[#parts + 1] = piece
      end
      chunk = concat(parts)
    end
    if type(chunk) == "string" and find(chunk, "^\27") then return nil, "attempt to load a binary chunk (the sandbox loads only text)" end
    local chunk_env = env
    if select("#", ...) > 0 then
      chunk_env = ...
      if chunk_env == nil then chunk_env = no_env end
      -- LuaJIT ignores an environment that is not a table (the chunk would get the real globals).
      if type(chunk_env) ~= "table" then
        return nil, ("load: the environment must be a table or nil (got a %s)"):format(type(chunk_env))
      end
    end
    local f, message = sandboxed_load(chunk, name, mode, chunk_env)
    if f then
      local line = close_line(f)
      if line then
        return nil, ("%s:%d: %s"):format(type(name) == "string" and name or "load", line, CLOSE_REFUSED)
      end
      return f -- the one result, as the engine's
    end
    return f, message
  end
end

-- Moves the globals the script defined into `own` and leaves `env` empty, so
-- that every later assignment to a global goes through `__newindex`.
local function freeze()
  if frozen then return end
  frozen = true
  for k, v in next, env do own[k] = v end
  for k in next, own do rawset(env, k, nil) end
  rawsetmetatable(own, { __index = G })
  env_mt.__index = own
end

-- Records are not memoized by their fields table (each is made once).
local function record(fields, name)
  local view = view_of(fields, name)
  views[fields] = nil
  return view
end

return env, freeze, record
"##;

#[cfg(test)]
mod tests {
    use super::*;

    /// The preludes are loaded without debug information (Lua 5.4/5.5): the C
    /// functions they call with a script's arguments are still named in errors.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    #[test]
    fn errors_of_wrapped_functions_name_the_function() {
        use crate::limits::Limits;
        use crate::vm::{Code, VmConfig};
        let config =
            VmConfig { script: "names.lua", sandbox: Sandbox::default(), host_fns: &[], limits: Limits::default() };
        let ran = config.run(Code::Source("return {}"), false).expect("vm");
        for (call, expected) in [
            ("pcall()", "bad argument #1 to 'pcall' (value expected)"),
            ("coroutine.resume(42)", "bad argument #1 to 'resume' (thread expected"),
            // (The Lua wrapper of the other engines said 'create'.)
            ("coroutine.wrap(42)", "bad argument #1 to 'wrap' (function expected"),
            ("xpcall(print)", "bad argument #2 to 'xpcall' (function expected, got no value)"),
            ("setmetatable({}, 42)", "bad argument #2 to 'setmetatable' (nil or table expected"),
            ("rawset(1, 2, 3)", "bad argument #1 to 'rawset' (table expected, got number)"),
            ("collectgarbage('step', 'x')", "bad argument #2 to 'collectgarbage' (number expected, got string)"),
        ] {
            let code = format!("local ok, e = pcall(function() {call} end) return tostring(e)");
            let message: String = ran.vm.lua().load(&code).eval().expect("runs");
            assert!(message.contains(expected), "{call}: `{message}` should contain `{expected}`");
        }
    }

    /// The sandbox's `load` runs the base library's in its own frame
    /// (`restrict::load_in_frame`): argument errors name `load` and give
    /// the calling line, as plain Lua's `load` does, during the load and
    /// after the freeze; the checks around it (binary chunks, environments,
    /// to-be-closed variables, also in nested functions, found by the C
    /// lockdown's own scan of the chunk's dump) and the mode forced to text
    /// are unchanged.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    #[test]
    fn load_argument_errors_name_load_at_the_calling_line() {
        use crate::limits::Limits;
        use crate::vm::{Code, VmConfig};
        let script = r#"
            local function message(f) local ok, e = pcall(f) return tostring(e) end
            local function probes()
              return {
                message(function()
                  return load("return 1", {}) end),
                message(function()
                  return load(nil) end),
                message(function() return load(load) end),
                select(2, load("\27Lua", "b")),
                select(2, load("return 1", "n", "b", 42)),
                select(2, load("local x <close> = nil", 7)),
                select(2, load(12, "=number")),
                select(2, load("local a = 1\nlocal f = function()\n  local b <close> = nil end", "chunk")),
                load("return ... + x", "n", "bt", { x = 1 })(5),
              }
            end
            return { during = probes(), after = probes }
        "#;
        let expected = [
            "names.lua:6: bad argument #2 to 'load' (string expected, got table)",
            "names.lua:8: bad argument #1 to 'load' (function expected, got nil)",
            // A reader returning a non-string: the pieces' concatenation fails.
            "",
            "attempt to load a binary chunk (the sandbox loads only text)",
            "load: the environment must be a table or nil (got a number)",
            "load:1: to-be-closed variables (<close>) are not allowed in the sandbox",
            "number:1: unexpected symbol near '12'",
            "chunk:3: to-be-closed variables (<close>) are not allowed in the sandbox",
            "6",
        ];
        let config =
            VmConfig { script: "names.lua", sandbox: Sandbox::default(), host_fns: &[], limits: Limits::default() };
        let ran = config.run(Code::Source(script), false).expect("vm");
        let mlua::Value::Table(returned) = ran.returned else { panic!("a table") };
        let during: Vec<mlua::Value> = returned.get("during").expect("during");
        let after: Vec<mlua::Value> =
            returned.get::<mlua::Function>("after").expect("after").call(()).expect("runs after the freeze");
        for found in [during, after] {
            let found: Vec<String> = found.iter().map(|v| v.to_string().expect("string")).collect();
            assert_eq!(found.len(), expected.len(), "{found:?}");
            for (found, expected) in found.iter().zip(expected) {
                assert!(found.contains(expected), "`{found}` should contain `{expected}`");
            }
        }
    }

    #[test]
    fn table_fields_lists_the_keys_of_table_values() {
        let lua = Lua::new();
        // SAFETY: as in `lock_down`.
        let fields = unsafe { lua.create_c_function(table_fields) }.expect("function");
        lua.globals().set("table_fields", fields).expect("set");
        let listed = |t: &str| -> Option<Vec<String>> {
            let code = format!(
                "local l = table_fields({t}) if l then for i = 1, #l do l[i] = tostring(l[i]) end table.sort(l) end return l"
            );
            lua.load(&code).eval().expect("runs")
        };
        assert_eq!(listed("{}"), None);
        assert_eq!(listed("{ 1, 'x', print }"), None);
        assert_eq!(listed("{ [{}] = 1 }"), None, "table keys do not count");
        assert_eq!(listed("string"), None);
        assert_eq!(listed("{ a = 1, b = {}, c = {}, [4] = {} }"), Some(vec!["4".into(), "b".into(), "c".into()]));
        assert_eq!(
            listed("{ 1, {}, setmetatable({}, { __index = function() error('no') end }) }"),
            Some(vec!["2".into(), "3".into()])
        );
        let globals = listed("_G").expect("_G holds tables");
        assert!(["_G", "string", "table", "math"].iter().all(|name| globals.iter().any(|g| g == name)), "{globals:?}");
        let error = lua.load("return table_fields(42)").exec().expect_err("not a table");
        assert!(error.to_string().contains("table expected"), "{error}");
    }

    #[test]
    fn default_sandbox_hides_dangerous_globals() {
        let lua = Sandbox::default().new_lua().expect("vm");
        let absent: Vec<bool> = lua
            .load("return { io == nil, debug == nil, require == nil, package == nil, dofile == nil, loadfile == nil, os.execute == nil, os.getenv == nil, os.clock ~= nil, loadstring == nil, getfenv == nil, setfenv == nil }")
            .eval::<Vec<bool>>()
            .expect("runs");
        assert!(absent.iter().all(|b| *b), "{absent:?}");
        #[cfg(not(feature = "luau"))]
        {
            let binary: (Option<mlua::Function>, Option<String>) =
                lua.load("return load(string.dump(function() return 1 end))").eval().expect("runs");
            assert!(binary.0.is_none());
            let message = binary.1.unwrap_or_default();
            // Lua 5.4: "attempt to load a binary chunk"; LuaJIT: "attempt to load chunk with wrong mode".
            assert!(message.contains("binary") || message.contains("mode"), "binary chunks are refused: {message}");
        }
        // Luau has no `string.dump`, but a script could carry bytecode in a string: `load` compiles text only.
        #[cfg(feature = "luau")]
        {
            let bytecode = mlua::chunk::Compiler::new().compile("return 1").expect("compiles");
            let bytecode = lua.create_string(&bytecode).expect("string");
            let binary: (Option<mlua::Function>, Option<String>) =
                lua.load("return load(...)").call(bytecode).expect("runs");
            assert!(binary.0.is_none(), "bytecode is not loaded: {:?}", binary.1);
        }
        let text: i64 = lua.load("return load('return 1 + 1')()").eval().expect("text chunks load");
        assert_eq!(text, 2);
        let env: i64 = lua.load("return load('return x', 'c', 'b', { x = 5 })()").eval().expect("env kept");
        assert_eq!(env, 5);
    }
}
