//! The C versions of the sandbox (Lua 5.4 and 5.5) against their Lua
//! versions: a battery of hostile probes, each run as a script's code in a
//! VM built with the C versions and in one built with the Lua preludes
//! (forced through [`super::lua_versions`]), both while the script loads
//! and after its globals are frozen. Results and errors must be the same.
//!
//! Normalised, and only this: an error the Lua version raised from a library
//! function it called (argument errors, "cannot change a protected
//! metatable") had no position (the preludes have no line information); the
//! C version raises it at the script's line, as an unwrapped call's would.
//! So a C message may be the Lua message with `probe.lua:<line>: ` in front.
//! Probes whose C result differs on purpose carry the expected C result
//! (with the reason).

use mlua::StdLib;

use super::Sandbox;
use crate::limits::Limits;
use crate::vm::{Code, VmConfig};

/// Runs `probe` (a function body) in a script of a VM of `sandbox`, during
/// the load and after the freeze: the results of `pcall(probe)`, shown.
fn run(sandbox: Sandbox, probe: &str, lua_versions: bool) -> (Vec<String>, Vec<String>) {
    let script = format!(
        r#"local select, type, tostring, pcall = select, type, tostring, pcall
local function show(...)
  local out = {{ tostring(select('#', ...)) }}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" or t == "nil" then
      out[#out + 1] = t .. ":" .. tostring(v)
    else
      out[#out + 1] = t
    end
  end
  return out
end
local probe = function()
{probe}
end
local during = show(pcall(probe))
return {{ during = during, after = function() return show(pcall(probe)) end }}
"#
    );
    super::lua_versions::with(lua_versions, || {
        let config = VmConfig { script: "probe.lua", sandbox, host_fns: &[], limits: Limits::default() };
        let ran = config.run(Code::Source(&script), false).unwrap_or_else(|e| panic!("{probe}: {e}"));
        let returned = match ran.returned {
            mlua::Value::Table(t) => t,
            other => panic!("{probe}: returned {other:?}"),
        };
        let during: Vec<String> = returned.get("during").expect("during");
        let after: mlua::Function = returned.get("after").expect("after");
        let after: Vec<String> = after.call(()).unwrap_or_else(|e| panic!("{probe}: after: {e}"));
        (during, after)
    })
}

/// Whether the C version's shown value `c` is the Lua version's `lua`
/// (see the module docs for the one normalisation).
fn same(c: &str, lua: &str) -> bool {
    if c == lua {
        return true;
    }
    let (Some(c_message), Some(lua_message)) = (c.strip_prefix("string:"), lua.strip_prefix("string:")) else {
        return false;
    };
    c_message.strip_suffix(lua_message).and_then(|prefix| prefix.strip_prefix("probe.lua:")).is_some_and(|rest| {
        rest.strip_suffix(": ").is_some_and(|line| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Probes whose C result differs on purpose: the probe, the Lua version's
/// error, the C version's. The Lua version called `next` in a tail call and
/// `error` through a local of a chunk without debug information, so Lua
/// could name neither (`'?'`) nor give a line; the C functions name them.
const DIFFERENT_ON_PURPOSE: &[(&str, &str, &str)] = &[
    (
        "local f = pairs(string) return f(42)",
        "string:bad argument #1 to '?' (table expected, got nil)",
        "string:probe.lua:16: bad argument #1 to 'next' (table expected, got nil)",
    ),
    (
        "local f = pairs(string) return f({})",
        "string:bad argument #1 to '?' (table expected, got nil)",
        "string:probe.lua:16: bad argument #1 to 'next' (table expected, got nil)",
    ),
    (
        "error('x', 'no')",
        "string:bad argument #2 to '?' (number expected, got string)",
        "string:probe.lua:16: bad argument #2 to 'error' (number expected, got string)",
    ),
];

fn check(sandbox: Sandbox, probes: &[&str]) {
    let mut failures = Vec::new();
    for probe in probes {
        let c = run(sandbox, probe, false);
        let mut lua = run(sandbox, probe, true);
        if let Some((_, lua_error, c_error)) = DIFFERENT_ON_PURPOSE.iter().find(|(p, ..)| p == probe) {
            for shown in [&mut lua.0, &mut lua.1] {
                assert_eq!(shown.get(2).map(String::as_str), Some(*lua_error), "{probe}: the Lua version changed");
                shown[2] = (*c_error).to_owned();
            }
        }
        failures.extend(differences(probe, &c, &lua));
    }
    assert!(failures.is_empty(), "{} of {} probes differ:\n{}", failures.len(), probes.len(), failures.join("\n"));
}

type Shown = (Vec<String>, Vec<String>);

/// How the results of `probe` in the C version (`c`) and the Lua version differ.
fn differences(probe: &str, c: &Shown, lua: &Shown) -> Vec<String> {
    let mut found = Vec::new();
    for (when, c, lua) in [("during", &c.0, &lua.0), ("after", &c.1, &lua.1)] {
        let equal = c.len() == lua.len() && c.iter().zip(lua).all(|(c, lua)| same(c, lua));
        if !equal {
            found.push(format!("{probe} ({when}):\n    C:   {c:?}\n    Lua: {lua:?}"));
        }
    }
    found
}

/// Every escape route of the lockdown and the sandbox prelude, as a script sees them.
const PROBES: &[&str] = &[
    // Library views: reading, writing, raw access, iteration, length, metatables.
    "return string.upper('a'), string.nope, math.pi, type(string)",
    "string.x = 1",
    "string.upper = nil",
    "math.pi = 3",
    "table.insert = print",
    "rawset(string, 'x', 1)",
    "rawset(math, 'pi', 3)",
    "return rawget(string, 'upper'), rawget(math, 'pi')",
    "return next(string), next(math), next(table)",
    "return rawlen(string), #string, #table, rawequal(string, string)",
    "local n = 0 for k, v in pairs(string) do n = n + 1 end return n > 10",
    "local n = 0 for k, v in pairs(math) do if k == 'pi' then n = v end end return n",
    "return getmetatable(string), getmetatable(math), getmetatable('')",
    "return getmetatable('').__index",
    "setmetatable(string, {})",
    "setmetatable(string, nil)",
    "return ('x'):rep(3), ('%d'):format(7), ('abc'):upper()",
    "local t = {} t[string] = 1 return t[string], string == string",
    "return type(tostring(string)), type(string.format('%s', math))",
    "local f, s, k = pairs(string) return type(f), rawequal(s, string), k",
    "local f = pairs(string) return f(42)",
    "local f = pairs(string) return f({})",
    "local f, s = pairs(string) return f(s, 'no such key')",
    "local f, s = pairs(string) local k, v = f(s) return type(k), type(v)",
    "table.insert(string, 1)",
    "table.remove(math)",
    "table.sort(string)",
    "table.move({1, 2}, 1, 2, 1, string)",
    "string[setmetatable({}, { __tostring = function() return 'keyname' end })] = 1",
    "string[setmetatable({}, { __tostring = function() error('ts') end })] = 1",
    "string[nil] = 1",
    "return rawget(string), rawget()",
    // Every standard library the sandbox opens, by every path a script has
    // (the lockdown trusts them to hold no table: views::FLAT_LIBRARIES).
    "for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do lib.x = 1 end",
    "for _, name in ipairs({ 'coroutine', 'math', 'os', 'string', 'table', 'utf8' }) do _G[name].x = 1 end",
    "local n = 0 for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       n = n + select('#', next(lib)) + rawlen(lib) + (rawget(lib, 'x') and 1 or 0) end return n",
    "local out = {} for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       out[#out + 1] = tostring(getmetatable(lib)) end return table.concat(out, ',')",
    "local out = {} for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       for k, v in pairs(lib) do if type(v) == 'table' then out[#out + 1] = k end end end return #out",
    "local n = 0 for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       for k, v in pairs(lib) do n = n + 1 end end return n",
    "local out = {} for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       out[#out + 1] = tostring(pcall(rawset, lib, 'x', 1)) end return table.concat(out, ',')",
    "local out = {} for _, lib in ipairs({ coroutine, math, os, string, table, utf8 }) do \
       out[#out + 1] = tostring(pcall(setmetatable, lib, {})) end return table.concat(out, ',')",
    "local f = pairs(utf8) local k, v = f(utf8) local ok, e = pcall(function() utf8[k] = v end) \
       return ok, e:match('utf8 is read%-only'), rawget(utf8, k)",
    "coroutine.wrap(function() coroutine.x = 1 end)()",
    "return coroutine.wrap(function() return rawget(math, 'pi'), next(os), math.pi end)()",
    "return load('math.pi = 3')()",
    "return load('return rawget(table, \"insert\"), next(coroutine), rawequal(utf8, utf8)')()",
    "return load('os.x = 1', 'c', 't', { os = os })()",
    "return load('local _ENV = ... table.x = 1', 'c', 't', {})({ table = table })",
    "local lib = setmetatable({}, { __index = string }) lib.x = 1 return rawget(lib, 'x'), rawget(string, 'x')",
    "return rawequal(string, getmetatable('').__index), getmetatable(string)",
    // setmetatable.
    "return type(setmetatable({}, { __index = {} }))",
    "setmetatable({}, { __gc = function() end })",
    "setmetatable({}, { __gc = false })",
    "setmetatable(1, {})",
    "setmetatable(nil, {})",
    "setmetatable()",
    "setmetatable({}, 42)",
    "setmetatable({}, 'x')",
    "return type(setmetatable({}))",
    "local t = setmetatable({}, { __metatable = 'locked' }) setmetatable(t, {})",
    "setmetatable({}, setmetatable({}, { __index = function() error('meta') end }))",
    "return newproxy",
    // rawset.
    "local t = {} rawset(t, 'a', 1) return t.a, rawequal(rawset(t, 'b', 2), t)",
    "rawset({}, nil, 1)",
    "rawset({}, 0/0, 1)",
    "rawset(1, 2, 3)",
    "rawset()",
    "rawset({})",
    "rawset(string)",
    "rawset({}, 'k', nil)",
    "return rawset({}, 1)[1]",
    "rawset(_G, 'x', 1)",
    "rawset(_ENV, 'x', 1)",
    // error.
    "error(nil)",
    "error()",
    "error('x')",
    "error('x', 0)",
    "error('x', 2)",
    "local function f() error('deep', 2) end f()",
    "local function f() error('deeper', 3) end local function g() f() end g()",
    "error('x', -1)",
    "error('x', math.maxinteger)",
    "error('x', '2')",
    "error('x', 'no')",
    "error({})",
    "error(setmetatable({}, { __tostring = function() return 'obj' end }))",
    "error('x', 2^40)",
    "local co = coroutine.create(function() error(nil) end) return coroutine.resume(co)",
    // The script environment.
    "x = 1 return x",
    "_G.y = 2 return y",
    "_ENV.z = 3 return z",
    "return _G == _ENV, getmetatable(_G), type(_G)",
    "setmetatable(_G, {})",
    "local n = 0 for k in pairs(_G) do n = n + 1 end return n",
    "return next(_G)",
    "_G[nil] = 1",
    "_G[0/0] = 1",
    "_G[setmetatable({}, { __tostring = function() return 'tkey' end })] = 1",
    "return print ~= nil, type(string), type(coroutine), pcall ~= nil",
    // load.
    "return load('return 1 + 1')()",
    "return load('return _G')() == _G",
    "return load(string.dump(function() end))",
    "return load('\\27Lua')",
    "return load('')",
    "local parts, i = { 'return ', '4', '2' }, 0 return load(function() i = i + 1 return parts[i] end)()",
    "return load(function() return nil end)",
    "local n = 0 return load(function() n = n + 1 if n == 1 then return {} end end)",
    "local n = 0 return load(function() n = n + 1 if n == 1 then return 'return ' elseif n == 2 then return 5 end end)()",
    "return load(function() error('boom') end)",
    "local n = 0 return load(function() n = n + 1 if n < 3 then return 7 end end)",
    "return load('return x', 'c', 't', nil)()",
    "return load('x = 1', 'c', 't', nil)()",
    "return load('return 1', 'c', 't', 42)",
    "return load('return 1', 'c', 't', 'env')",
    "return load('return ...', 'n', 't', {})(5)",
    "return load('return y', 'n', 't', { y = 6 })()",
    "return load('local x <close> = nil', 'mychunk')",
    "return load('local x <close> = nil')",
    "return load('return function() local y <close> = nil end', 7)",
    "return load('syntax error here')",
    "return load(42)",
    "return load()",
    "return load('return 1', nil, 'b')()",
    "return load('return 1', {})",
    "local co = coroutine.wrap(function() return load(function() coroutine.yield('y') return nil end) end) return co()",
    "local co = coroutine.wrap(function() local f = load(function() coroutine.yield('y') return nil end) return type(f) end) co() return co()",
    // Many arguments, metamethods on the arguments, other callers.
    "local t = {} for i = 1, 200 do t[i] = i end return type(setmetatable({}, nil, table.unpack(t)))",
    "local t = {} for i = 1, 200 do t[i] = i end return rawset({}, 1, 2, table.unpack(t))[1]",
    "local t = {} for i = 1, 200 do t[i] = i end error('many', 1, table.unpack(t))",
    "local t = {} for i = 1, 200 do t[i] = i end return load('return ...', 'n', 't', {}, table.unpack(t))(3)",
    "local t = {} for i = 1, 200 do t[i] = i end return load('return 9', 'n', 't', table.unpack(t))",
    "local a = setmetatable({}, { __eq = function() return true end }) return rawequal(a, string), a == string",
    "return type(setmetatable({}, setmetatable({}, { __len = function() error('len') end, __call = print })))",
    "local t = rawset(setmetatable({}, { __newindex = function() error('ni') end }), 'k', 1) return rawget(t, 'k')",
    "return pcall(rawset, string, 'x', 1)",
    "return pcall(setmetatable, {}, { __gc = true })",
    "return pcall(error)",
    "return pcall(error, nil, 2)",
    "local co = coroutine.wrap(function(...) return rawset(...) end) return co(string, 'x', 1)",
    "local co = coroutine.wrap(function() error(nil, 2) end) return co()",
    "return select('#', load('return 1')), select('#', load('('))",
    "return load(setmetatable({}, { __call = function() return nil end }))",
    "error(nil, 0)",
    "error(nil, 2)",
    "local ok, e = pcall(function() string[string] = 1 end) return ok, (e:gsub('0x%x+', 'ADDRESS'))",
    "return #setmetatable({}, { __len = function() return 7 end }), #math",
    // What the sandbox prelude leaves and removes.
    "return dofile, loadfile, loadstring, getfenv, setfenv, require, package, io, debug",
    "return type(os.clock()), type(os.time()), type(os.date()), os.execute, os.getenv, os.exit, os.remove",
    "os.clock = nil",
    // (Whether a step ends a cycle depends on the heap, which differs between
    // the two versions: its type only.)
    "return collectgarbage('count') > 0, type(collectgarbage('step')), collectgarbage()",
    "collectgarbage('stop')",
    "collectgarbage('incremental')",
    "collectgarbage(42)",
    "collectgarbage('step', 'x')",
    "collectgarbage(setmetatable({}, { __tostring = function() return 'opt' end }))",
    "print('probe', string, nil)",
];

/// With `package` allowed: the nested views of `package` and `package.loaded`.
const PACKAGE_PROBES: &[&str] = &[
    "return require('string') == string, require('os').execute, package.loaded.os.getenv",
    // A table reachable by several paths (`package.loaded.string`,
    // `package.loaded._G.string`) is named by the path the lockdown met
    // first, which follows the hash order of string keys (seeded per VM):
    // these probes keep the last part of the name only.
    "local ok, e = pcall(function() package.loaded.x = 1 end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "local ok, e = pcall(function() package.loaded.string.x = 1 end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "local ok, e = pcall(function() package.searchers[1] = nil end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "local ok, e = pcall(function() package.loaded._G.string.x = 1 end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "return #package.searchers, rawlen(package.searchers), type(package.searchers[1])",
    "local n = 0 for k, v in pairs(package.loaded) do n = n + 1 end return n",
    "return rawequal(package.loaded.string, string), package.loaded._G == _G",
    "rawset(package.loaded, 'x', 1)",
    "rawset(package, 'path', '')",
    "local ok, e = pcall(function() package.path = '' end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "return type(package.path), next(package), next(package.loaded)",
    "return require('nonexistent.module')",
    "local out = {} for _, name in ipairs({ 'coroutine', 'math', 'os', 'string', 'table', 'utf8' }) do \
       local ok, e = pcall(function() package.loaded[name].x = 1 end) \
       out[#out + 1] = tostring(ok) .. e:match('[%w_]+ is read%-only.*$') end return table.concat(out, ',')",
    "local out = {} for _, name in ipairs({ 'coroutine', 'math', 'os', 'string', 'table', 'utf8' }) do \
       out[#out + 1] = tostring(rawequal(package.loaded[name], _G[name])) .. tostring(rawequal(require(name), _G[name])) \
       end return table.concat(out, ',')",
    "local n = 0 for _, name in ipairs({ 'coroutine', 'math', 'os', 'string', 'table', 'utf8' }) do \
       n = n + select('#', next(package.loaded[name])) + (rawget(package.loaded[name], 'x') and 1 or 0) end return n",
    "local ok, e = pcall(function() require('math').pi = 3 end) return ok, e:match('[%w_]+ is read%-only.*$')",
    "rawset(require('table'), 'x', 1)",
];

#[test]
fn the_c_sandbox_behaves_as_the_lua_preludes() {
    check(Sandbox::default(), PROBES);
}

#[test]
fn the_c_sandbox_behaves_as_the_lua_preludes_with_package() {
    check(Sandbox::default().allow(StdLib::PACKAGE), PACKAGE_PROBES);
}

#[test]
fn the_normalisation_accepts_only_a_script_position() {
    assert!(same("string:a", "string:a"));
    assert!(same("string:probe.lua:12: bad argument", "string:bad argument"));
    assert!(!same("string:probe.lua:12: bad argument", "string:good argument"));
    assert!(!same("string:other.lua:12: bad argument", "string:bad argument"));
    assert!(!same("string:probe.lua:: bad argument", "string:bad argument"));
    assert!(!same("string:probe.lua:1x: bad argument", "string:bad argument"));
    assert!(!same("number:1", "string:1"));
}

#[test]
fn a_probe_that_differs_is_reported() {
    // The comparison can fail: the same probe in two different sandboxes.
    let probe = "return os.execute ~= nil";
    let full = run(Sandbox::default().allow(StdLib::OS), probe, false);
    let reduced = run(Sandbox::default(), probe, false);
    assert_eq!(differences(probe, &full, &reduced).len(), 2, "{full:?} {reduced:?}");
    assert!(differences(probe, &reduced, &run(Sandbox::default(), probe, true)).is_empty());
}

/// A reader that never ends, even a C function the count hook never sees
/// (`os.clock`), is stopped by the instruction cap alone: the loop that
/// calls it is Lua code in both versions.
#[test]
fn an_endless_load_reader_is_stopped_by_the_instruction_cap() {
    let limits = Limits { instructions: Some(200_000), memory_bytes: Some(256 << 20), timeout: None };
    for lua_versions in [false, true] {
        for reader in ["os.clock", "function() return 1 end"] {
            let script = format!("load({reader}) return {{}}");
            let error = super::lua_versions::with(lua_versions, || {
                let config = VmConfig { script: "probe.lua", sandbox: Sandbox::default(), host_fns: &[], limits };
                config.run(Code::Source(&script), false).err().expect("stopped")
            });
            assert!(error.to_string().contains("instruction"), "{reader} (Lua versions: {lua_versions}): {error}");
        }
    }
}
