//! Lua 5.4 and 5.5: the bounded paths in C (the pattern functions' in
//! `pattern/bounded.rs`, `table.move` in `table_move.rs`) against the Lua
//! functions they replace (`LUA_PATHS_SOURCE`, still what LuaJIT and Luau
//! run), on hostile argument lists: the same results, the same errors and
//! the same work charged to the running call.

use std::rc::Rc;

use mlua::Lua;

use super::install_with;
use super::tests::install_lua_paths;
use crate::Limits;
use crate::bridge::{Bridge, CallState};

/// Globals for the cases: subjects and patterns whose calls are costly,
/// tables with metamethods, a renderer of results. `show` removes what
/// must differ: positions and function names of argument errors (the C
/// path gives the C functions' own, `s.lua:3: bad argument #3 to 'find'`,
/// or under `pcall` `'string.find'`; the Lua path's come from a stripped
/// chunk, without a position, naming the field it called, `'find'`, or
/// `'?'` after a tail call; a missing argument is "no value" to the C
/// functions, `nil` once a Lua function passed it on). Limit errors are
/// mlua error objects whose first line is compared (their tracebacks list
/// the Lua frames of the Lua path).
const SETUP: &str = r#"
S = ("ab"):rep(3000) .. "c"
P = "(a-)(b)"
N = 12345678901234
NP = ("%d-"):rep(6)
meta = setmetatable({}, { __tostring = function() return "meta" end, __len = function() return 10000 end,
  __eq = function() return true end, __index = function(_, k) return k end })
odd = setmetatable({}, { __lt = function() return true end, __le = function() return true end })
log = {}
logged = setmetatable({}, { __index = function(_, k) log[#log + 1] = k return k end,
  __newindex = function(_, k) log[#log + 1] = -k end })
same = setmetatable({}, { __eq = function() return true end })
obj = setmetatable({}, { __tostring = function() return "error object" end })
many = {} for i = 1, 200 do many[i] = i end
function seq(n) local t = {} for i = 1, n do t[i] = i end return t end
function collect(...)
  local r, n = {}, 0
  for a, b in string.gmatch(...) do
    n = n + 1
    if n <= 3 then r[#r + 1] = tostring(a) .. "/" .. tostring(b) end
  end
  return n, table.concat(r, ";")
end
function show(...)
  local t = table.pack(...)
  for i = 1, t.n do
    local v = t[i]
    if type(v) == "string" then
      v = v:gsub("^[^\n]-:%d+: ", ""):gsub("to '[^']*'", "to F"):gsub("got no value", "got nil")
      if #v > 120 then v = #v .. " bytes, " .. v:sub(1, 20) .. "..." .. v:sub(-20) end
    elseif type(v) == "userdata" then
      v = tostring(v):match("^[^\n]*")
    elseif type(v) == "table" then
      v = "table #" .. rawlen(v) .. " [1]=" .. tostring(rawget(v, 1)) .. " [5000]=" .. tostring(rawget(v, 5000))
    end
    t[i] = type(t[i]) .. ":" .. tostring(v)
  end
  local logged = #log
  log = {}
  return table.concat(t, ",") .. " log " .. logged
end
"#;

/// Each case is the argument list of a `pcall`.
const CASES: &[&str] = &[
    // find
    "string.find",
    "string.find, S",
    "string.find, S, P",
    "string.find, S, P, 1",
    "string.find, S, P, 3000",
    "string.find, S, P, -5",
    "string.find, S, P, 0",
    "string.find, S, P, 6002",
    "string.find, S, P, 6003",
    "string.find, S, P, math.mininteger",
    "string.find, S, P, math.maxinteger",
    "string.find, S, P, 1.5",
    "string.find, S, P, '2'",
    "string.find, S, P, '2.0'",
    "string.find, S, P, {}",
    "string.find, S, P, 0/0",
    "string.find, S, P, 1e300",
    "string.find, S, P, true",
    "string.find, S, P, meta",
    "string.find, S, P, nil, true",
    "string.find, S, P, 1, true",
    "string.find, S, P, 1, odd",
    "string.find, S, 'b-c', 1",
    "string.find, S, 'a-c$'",
    "string.find, N, NP",
    "string.find, N, NP, 3",
    "string.find, S, 12",
    "string.find, {}, P",
    "string.find, S, {}",
    "string.find, meta, P",
    "string.find, nil, P",
    "string.find, S, '(a-'",
    "string.find, S, 'a-b-[a'",
    "string.find, S, 'a-b-%'",
    "string.find, S, '(a-)%2'",
    "string.find, S, P, table.unpack(many)",
    "string.find, S, P, nil, nil, table.unpack(many)",
    // match
    "string.match, S, P",
    "string.match, S, 'a-b'",
    "string.match, S, '()a-()b()'",
    "string.match, S, '(a-)(()'",
    "string.match, S, P, 3000",
    "string.match, S, P, -5",
    "string.match, S, P, 7000",
    "string.match, S, P, {}",
    "string.match, S, P, 'x'",
    "string.match, N, NP",
    "string.match, S, '^b-a'",
    "string.match, S, P, table.unpack(many)",
    // gmatch
    "collect, S, P",
    "collect, S, P, 5990",
    "collect, S, P, -3",
    "collect, S, P, 7000",
    "collect, S, P, {}",
    "collect, S, P, 1.5",
    "collect, N, NP",
    "collect, S, '(a-'",
    "collect, S, 'a-b-c*'",
    "collect, S, '^ab'",
    "string.gmatch, {}, P",
    // gsub
    "string.gsub, S, P",
    "string.gsub, S, P, '%2%1'",
    "string.gsub, S, P, '%3'",
    "string.gsub, S, P, '%'",
    "string.gsub, S, P, '%0%%'",
    "string.gsub, S, P, {}",
    "string.gsub, S, P, { a = 'X' }",
    "string.gsub, S, P, logged",
    "string.gsub, S, P, meta",
    "string.gsub, S, P, function(a, b) return nil end",
    "string.gsub, S, P, function(a, b) return b .. a end",
    "string.gsub, S, P, function() return {} end",
    "string.gsub, S, P, function() return true end",
    "string.gsub, S, P, function() error('boom') end",
    "string.gsub, S, P, function() error(obj) end",
    "string.gsub, S, P, function(a) return (string.find(S, P, #a + 100)) end",
    "string.gsub, S, P, 12",
    "string.gsub, S, P, 1.5",
    "string.gsub, S, P, true",
    "string.gsub, S, P, nil",
    "string.gsub, S, P, 'x', 5",
    "string.gsub, S, P, 'x', 0",
    "string.gsub, S, P, 'x', -1",
    "string.gsub, S, P, 'x', 1.5",
    "string.gsub, S, P, 'x', '3'",
    "string.gsub, S, P, 'x', {}",
    "string.gsub, S, P, 'x', 2^63",
    "string.gsub, S, P, 'x', math.maxinteger",
    "string.gsub, S, P, 'x', 0/0",
    "string.gsub, S, P, true, {}",
    "string.gsub, N, NP, 'x'",
    "string.gsub, S, '(a-', 'x'",
    "string.gsub, S, P, 'x', table.unpack(many)",
    "string.gsub, {}, P, 'x'",
    // table.move
    "table.move",
    "table.move, {}",
    "table.move, {}, 1, 10000",
    "table.move, {}, 1, 10000, 2",
    "table.move, seq(10000), 1, 10000, 3",
    "table.move, seq(10000), 2, 10000, 1",
    "table.move, seq(10000), 1, 10000, 1, {}",
    "table.move, seq(10000), 1, 10000, 5001",
    "table.move, seq(10000), 1, 10000, 1, seq(3)",
    "table.move, seq(10), 1, 5000.5, 1, {}",
    "table.move, {}, 1.0, 8192.0, 2.0",
    "table.move, {}, 1.5, 8192, 2",
    "table.move, {}, 1, 8192, 2.5",
    "table.move, {}, '1', 10000, 2",
    "table.move, {}, 1, 10000, '2'",
    "table.move, {}, math.mininteger, math.maxinteger, 1",
    "table.move, {}, math.mininteger, 0, 1",
    "table.move, {}, 1, math.maxinteger, 2",
    "table.move, {}, math.maxinteger - 5000, math.maxinteger, 1",
    "table.move, {}, -5000, 0, 1",
    "table.move, {}, 1, 0/0, 1",
    "table.move, {}, 1, 2^53, 1",
    "table.move, {}, 1, 1e300, 1",
    "table.move, logged, 1, 9000, 2",
    "table.move, logged, 1, 9000, 1, logged",
    "table.move, same, 1, 9000, 2, setmetatable({}, getmetatable(same))",
    "table.move, meta, 1, 9000, 2",
    "table.move, 1, 1, 9000, 2",
    "table.move, {}, 1, 9000, 2, 42",
    "table.move, {}, 1, 9000, 2, table.unpack(many)",
    "table.move, {}, odd, 9000, 2",
    // yields across the C functions: errors, not undefined behaviour
    "coroutine.wrap(function() return string.gsub(S, P, function() coroutine.yield() end) end)",
    "coroutine.wrap(function() return string.gsub(S, P, setmetatable({}, { __index = function() coroutine.yield() end })) end)",
    "coroutine.wrap(function() return table.move(setmetatable({}, { __index = function() coroutine.yield() end }), 1, 9000, 2) end)",
    "coroutine.wrap(function() return string.find(S, P, setmetatable({}, { __index = coroutine.yield })) end)",
    "coroutine.wrap(function() return collect(S, P) end)",
];

/// Runs every case in a fresh call of `bridge` (cap 10^7 instructions, no
/// count hook: only the work charged counts) and renders what it gave.
fn run(install: fn(&Lua, &Rc<Bridge>, f64) -> mlua::Result<()>) -> Vec<String> {
    let lua = Lua::new();
    lua.set_memory_limit(256 << 20).expect("cap");
    let limits = Limits { instructions: Some(10_000_000), memory_bytes: None, timeout: None };
    let bridge = Rc::new(Bridge::new(limits));
    install(&lua, &bridge, super::PATTERN_BUDGET).expect("installs");
    lua.load(SETUP).set_name("=setup").exec().expect("setup");
    let mut ctx = eventchains_core::EventContext::new();
    CASES
        .iter()
        .map(|case| {
            let state = CallState::default();
            let code = format!("return show(pcall({case}))");
            let (result, hit) = bridge.call(&state, Some(&mut ctx), None, |_| {
                lua.load(&code).set_name("=case").eval::<String>().map_err(|e| e.to_string())
            });
            format!("{case} => {result:?} charged {} hit {hit:?}", state.charged())
        })
        .collect()
}

#[test]
fn the_c_paths_do_what_the_lua_paths_do() {
    let c = run(install_with);
    let lua = run(install_lua_paths);
    let differ: Vec<_> = c.iter().zip(&lua).filter(|(a, b)| a != b).collect();
    assert!(differ.is_empty(), "C paths vs Lua paths:\n{differ:#?}");
    assert_eq!(c.len(), CASES.len());
    // The cases exist for what they show: costly calls charge, cheap ones
    // do not, large moves are charged and capped, yields are refused.
    let line = |case: &str| c.iter().find(|l| l.starts_with(&format!("{case} =>"))).expect("ran").clone();
    for (case, expected) in [
        ("string.gsub, S, P, '%2%1'", "number:3000"),
        ("string.find, S, P, 3000", "number:3000,number:3000,string:,string:b"),
        ("string.find, S, P, 1.5", "bad argument #3 to F (number has no integer representation)"),
        ("string.gsub, S, P, true", "bad argument #3 to F (string/function/table expected, got boolean)"),
        ("string.gsub, S, P, '%3'", "string:invalid capture index %3 log"),
        ("table.move, seq(10000), 1, 10000, 3", "[5000]=4998"),
        ("table.move, {}, 1, 2^53, 1", "instruction limit (10000000) exceeded"),
        ("table.move, {}, 1, math.maxinteger, 2", "destination wrap around"),
        ("table.move, logged, 1, 9000, 2", "log 18000"),
        (
            "coroutine.wrap(function() return string.gsub(S, P, function() coroutine.yield() end) end)",
            "attempt to yield across a C-call boundary",
        ),
        (
            "coroutine.wrap(function() return table.move(setmetatable({}, { __index = function() coroutine.yield() end }), 1, 9000, 2) end)",
            "attempt to yield across a C-call boundary",
        ),
    ] {
        assert!(line(case).contains(expected), "{case}: {}", line(case));
    }
    assert!(!line("string.gsub, S, P, '%2%1'").contains("charged 0 "), "the matcher's steps are charged");
    assert!(line("string.find, S, 12").contains("charged 0 "), "a cheap call runs the C function, uncharged");
    assert!(line("table.move, {}, 1, 10000, 2").contains("charged 10000 "), "{}", line("table.move, {}, 1, 10000, 2"));
}

/// A call near the memory cap fails with the memory error on both paths,
/// and the VM goes on working.
#[test]
fn near_the_memory_cap_both_paths_fail_alike() {
    let outcome = |install: fn(&Lua, &Rc<Bridge>, f64) -> mlua::Result<()>| {
        let lua = Lua::new();
        let bridge = Rc::new(Bridge::new(Limits::UNLIMITED));
        install(&lua, &bridge, super::PATTERN_BUDGET).expect("installs");
        lua.load(SETUP).set_name("=setup").exec().expect("setup");
        lua.set_memory_limit(lua.used_memory() + (32 << 10)).expect("cap");
        let code = "local r = {} for _, f in ipairs({
              function() return string.gsub(S, P, '%0%0%0%0%0%0%0%0') end,
              function() return select('#', string.find(S, ('(a-)'):rep(30) .. 'b')) end,
              function() return table.move(seq(1000), 1, 9000, 1, {}) end,
            }) do local ok, e = pcall(f) r[#r + 1] = tostring(ok) .. ' ' .. (type(e) == 'table' and 'table' or tostring(e)) end
            return table.concat(r, '; ')";
        let result: String = lua.load(code).eval().expect("runs");
        lua.set_memory_limit(0).expect("uncapped");
        let after: String = lua.load("return (string.gsub(S, P, '%2'))").eval().expect("goes on");
        (result, after.len())
    };
    let (c, c_after) = outcome(install_with);
    let (lua, lua_after) = outcome(install_lua_paths);
    assert_eq!(c, lua);
    assert!(c.contains("not enough memory"), "{c}");
    assert_eq!((c_after, lua_after), (3001, 3001));
}
