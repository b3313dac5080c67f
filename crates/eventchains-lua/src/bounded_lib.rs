//! Library functions whose single call can do long work, made to respect the caps.
//!
//! The count hook sees Lua instructions, not the work a C function does in
//! one call. Most library functions do work proportional to the memory they
//! read or produce, which the memory cap bounds; the ones below can do much
//! more, or are cheap to call in a loop while each call does a lot:
//!
//! | function | without this module | here |
//! | --- | --- | --- |
//! | `string.rep(s, n, sep)` with an empty result | loops `n` times (`n` up to 2^63) producing nothing | returns `""` at once |
//! | `string.rep` producing more than 4 KiB | up to a memory cap of work per call, unchecked | the time cap is checked before the call |
//! | `table.move(a, f, e, t)` | `e - f` steps (up to 2^63) even on empty tables | moves in chunks of 4,096, each counted as that many instructions, caps checked between chunks |
//! | `table.insert(t, pos, v)`, `table.remove(t, pos)` | shifts `#t - pos` elements per call | shifts of more than 4,096 count as that many instructions |
//! | `table.sort(t)` without comparator | `n log n` comparisons in one call | counted as that many instructions before sorting (a comparator's own instructions count anyway) |
//! | `table.concat(t, sep, i, j)`, `table.unpack(t, i, j)` | `j - i` steps | ranges over 4,096 count as that many instructions |
//! | `collectgarbage()` / `("collect")` / `("step")` | a full collection (the whole heap) per call | counted as one instruction per 64 bytes of heap |
//! | `load(text)` of more than 4 KiB | compiles the text in one call | the time cap is checked before |
//!
//! "Counted" means charged to the running call's instruction cap (so the cap
//! bounds the work deterministically) and followed by the same checks as the
//! count hook, including the wall-clock cap ([`crate::watchdog`]). Calls
//! below the thresholds go straight to the C function after a comparison or
//! two. Pattern matching (`string.find`, `match`, `gmatch`, `gsub`) is only
//! time-checked before calls on subjects over 4 KiB: one call of a
//! backtracking pattern can still run long (see docs/architecture.md,
//! "Threat model").

use std::rc::Rc;
use std::sync::OnceLock;

use mlua::Lua;
use mlua::chunk::ChunkMode;

use crate::bridge::Bridge;

/// Wraps the library functions above in `lua` (before the sandbox locks the
/// library tables), charging their work to the running call of `bridge`.
pub(crate) fn install(lua: &Lua, bridge: &Rc<Bridge>) -> mlua::Result<()> {
    let bridge = bridge.clone();
    let checkpoint = lua.create_function(move |_, work: f64| {
        // `as` saturates (and maps NaN to 0): any number is a valid amount of work.
        bridge.charge(work.max(0.0) as u64)
    })?;
    let chunk = match stripped_bytecode() {
        Some(bytecode) => lua.load(bytecode.as_slice()).set_mode(ChunkMode::Binary),
        None => lua.load(BOUNDED_PRELUDE_SOURCE).set_mode(ChunkMode::Text),
    };
    chunk.set_name("=bounded").call::<()>(checkpoint)
}

/// The wrappers compiled once per process, without debug information: an
/// error raised by a wrapped C function (`bad argument #1 to 'rep'`) then
/// carries no position inside the wrapper (Lua names the function from the
/// field it was called through, `raw.rep`, which stripping keeps).
fn stripped_bytecode() -> &'static Option<Vec<u8>> {
    static BYTECODE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BYTECODE.get_or_init(|| compile_stripped(BOUNDED_PRELUDE_SOURCE))
}

#[cfg(not(feature = "luau"))]
fn compile_stripped(source: &str) -> Option<Vec<u8>> {
    let lua = Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default()).ok()?;
    Some(lua.load(source).set_mode(ChunkMode::Text).into_function().ok()?.dump(true))
}

#[cfg(feature = "luau")]
fn compile_stripped(source: &str) -> Option<Vec<u8>> {
    mlua::chunk::Compiler::new().set_debug_level(0).compile(source).ok()
}

/// Gets `checkpoint(work)`: charges `work` instructions and checks the caps.
const BOUNDED_PRELUDE_SOURCE: &str = r##"
local checkpoint = ...
local type, select, error = type, select, error
local log = math.log
local BIG, CHUNK = 4096, 4096
local LOG2 = log(2)
-- The C functions, called as fields so that their errors name them.
local raw = {
  rep = string.rep, find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub,
  move = table.move, insert = table.insert, remove = table.remove, sort = table.sort,
  concat = table.concat, unpack = table.unpack or unpack, collectgarbage = collectgarbage, load = load,
}

local function sized(t)
  local kind = type(t)
  return kind == "table" or kind == "userdata"
end

string.rep = function(s, n, sep)
  if type(n) == "number" and n > BIG then
    if type(s) == "string" and #s == 0 and (sep == nil or sep == "") then
      return raw.rep(s, 1, sep) -- empty result: the C function would loop n times for nothing
    end
    checkpoint(0)
  elseif type(s) == "string" and type(n) == "number" and #s * n > BIG then
    checkpoint(0)
  end
  return raw.rep(s, n, sep)
end

-- The time cap is checked before matching a long subject.
local function long(s) return type(s) == "string" and #s > BIG end
string.find = function(s, ...) if long(s) then checkpoint(0) end return raw.find(s, ...) end
string.match = function(s, ...) if long(s) then checkpoint(0) end return raw.match(s, ...) end
string.gmatch = function(s, ...) if long(s) then checkpoint(0) end return raw.gmatch(s, ...) end
string.gsub = function(s, ...) if long(s) then checkpoint(0) end return raw.gsub(s, ...) end

if raw.move then
  local maxinteger = math.maxinteger
  table.move = function(a1, f, e, t, a2)
    if type(f) ~= "number" or type(e) ~= "number" or type(t) ~= "number" or e - f < BIG then
      return raw.move(a1, f, e, t, a2)
    end
    raw.move(a1, f, f - 1, t, a2) -- the C function's checks of the arguments' types
    if maxinteger then
      if not (f > 0 or e < maxinteger + f) then
        error("bad argument #3 to 'move' (too many elements to move)", 2)
      end
      if t > maxinteger - (e - f + 1) + 1 then error("bad argument #4 to 'move' (destination wrap around)", 2) end
    end
    local dest = a2
    if dest == nil then dest = a1 end
    -- As the C function: backwards when the ranges overlap with t inside (f, e].
    if t > e or t <= f or dest ~= a1 then
      local i = f
      while i <= e do
        local j = i + CHUNK - 1
        if j > e then j = e end
        checkpoint(j - i + 1)
        raw.move(a1, i, j, t + (i - f), a2)
        i = j + 1
      end
    else
      local j = e
      while j >= f do
        local i = j - CHUNK + 1
        if i < f then i = f end
        checkpoint(j - i + 1)
        raw.move(a1, i, j, t + (i - f), a2)
        j = i - 1
      end
    end
    return dest
  end
end

-- Elements shifted by inserting or removing at `pos`.
local function shift(t, pos)
  if sized(t) and type(pos) == "number" then
    local n = #t - pos
    if n > BIG then checkpoint(n) end
  end
end
table.insert = function(t, ...)
  if select("#", ...) == 2 then shift(t, (...)) end
  return raw.insert(t, ...)
end
table.remove = function(t, ...)
  if select("#", ...) >= 1 then shift(t, (...)) end
  return raw.remove(t, ...)
end

table.sort = function(t, comp, ...)
  if comp == nil and sized(t) then
    local n = #t
    if n > BIG then checkpoint(n * (log(n) / LOG2)) end
  end
  return raw.sort(t, comp, ...)
end

-- Reading elements first..last (defaults 1..#t).
local function range(t, first, last)
  if sized(t) and (type(first) == "number" or type(last) == "number") then
    if type(first) ~= "number" then first = 1 end
    if type(last) ~= "number" then last = #t end
    if last - first > BIG then checkpoint(last - first) end
  end
end
table.concat = function(t, sep, i, j, ...)
  range(t, i, j)
  return raw.concat(t, sep, i, j, ...)
end
local function unpack(t, i, j, ...)
  range(t, i, j)
  return raw.unpack(t, i, j, ...)
end
if table.unpack then table.unpack = unpack end
if _G.unpack then _G.unpack = unpack end

collectgarbage = function(option, ...)
  if option == nil or option == "collect" or option == "step" then
    local kb = raw.collectgarbage("count")
    if type(kb) == "number" then checkpoint(kb * 16) end -- a full pass over the heap: 1 per 64 bytes
  end
  return raw.collectgarbage(option, ...)
end

if raw.load then
  load = function(chunk, ...)
    if type(chunk) == "string" and #chunk > BIG then checkpoint(#chunk / 64) end
    return raw.load(chunk, ...)
  end
end
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn vm(limits: Limits) -> (Lua, Rc<Bridge>) {
        let lua = Lua::new();
        let bridge = Rc::new(Bridge::new(limits));
        install(&lua, &bridge).expect("installs");
        (lua, bridge)
    }

    #[test]
    fn table_move_keeps_its_semantics_in_chunks() {
        let (lua, _) = vm(Limits::UNLIMITED);
        let ok: bool = lua
            .load(
                r#"
                local n = 10000
                local function seq() local t = {} for i = 1, n do t[i] = i end return t end
                -- forward, overlapping (t < f)
                local a = seq() table.move(a, 2, n, 1)
                assert(a[1] == 2 and a[n - 1] == n and a[n] == n)
                -- backward, overlapping (f < t <= e)
                local b = seq() table.move(b, 1, n, 3)
                assert(b[1] == 1 and b[2] == 2 and b[3] == 1 and b[n + 2] == n and b[5000] == 4998)
                -- into another table, returned
                local c = table.move(seq(), 1, n, 1, {})
                assert(#c == n and c[n] == n)
                -- argument errors as the C function
                assert(not pcall(table.move, 1, 1, n, 1))
                return true
                "#,
            )
            .eval()
            .expect("runs");
        assert!(ok);
    }

    #[test]
    fn work_counts_against_the_instruction_cap() {
        let (lua, bridge) = vm(Limits { instructions: Some(1_000_000), ..Limits::UNLIMITED });
        let mut ctx = eventchains_core::EventContext::new();
        let guard = bridge.enter(&mut ctx, None);
        let error = lua.load("table.move({}, 1, 1e13, 2)").exec().expect_err("stopped");
        assert!(error.to_string().contains("instruction limit (1000000) exceeded"), "{error}");
        assert!(guard.finish().hit.is_some());
        let empty: String = lua.load("return string.rep('', 1e15) .. string.rep('', 1e15, '')").eval().expect("o(1)");
        assert_eq!(empty, "");
    }
}
