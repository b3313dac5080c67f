//! The sandbox against plain Lua of the same engine: every function the
//! sandbox replaces or wraps (`setmetatable`, `rawset`, `error`, `load`,
//! `collectgarbage`, `print`, `pcall`/`xpcall`, `coroutine.resume`/`wrap`/
//! `close`, the bounded `string.rep`/`find`/`match`/`gmatch`/`gsub` and
//! `table.insert`/`remove`/`sort`/`concat`/`unpack`/`move`, the read-only
//! library views that `next`, `pairs`, `rawget`, `rawlen`, `rawequal`,
//! `getmetatable` see), and the base functions next to them, called with
//! missing, nil, wrong-typed, out-of-range and extra arguments.
//!
//! Each case runs as one line of a sandboxed script's event and as the same
//! line of the same source in a plain `mlua::Lua::new()` (same chunk name,
//! so positions are comparable as they are). Compared: success and the
//! results, or the error message. Positions are stripped only where both
//! messages have one and at different places; otherwise they are compared
//! too. A difference is a failure unless [`ACCEPTED`] lists it with its
//! reason; an accepted case that no longer differs fails too (the list stays
//! true). Adding a case is one line in [`CASES`].
//!
//! Not on Luau (not in CI's engine matrix): its base library words and
//! shapes these answers its own way ("invalid argument", "missing argument",
//! numbers without an integer subtype), so "plain Lua" there needs a list of
//! its own; and the cases this file keeps off LuaJIT because plain
//! Lua without integers would never finish (`table.move` from -2^63) run
//! on Luau until the instruction cap. The Luau sandbox's argument errors
//! are checked in `adversarial.rs` (`ctx_setmetatable`: the engine's message
//! at the script's line).
#![cfg(not(feature = "luau"))]

use std::time::Duration;

use eventchains_lua::{Limits, LuaChainBuilder};

/// Far from anything a case does; the wall clock far away.
const LIMITS: Limits = Limits {
    instructions: Some(2_000_000_000),
    memory_bytes: Some(256 << 20),
    timeout: Some(Duration::from_secs(600)),
};

/// Which engines a case or an accepted difference is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum On {
    /// Every engine this suite runs on (Lua 5.4, 5.5, LuaJIT).
    All,
    /// Lua 5.4 and 5.5 only (the C sandbox, or what LuaJIT cannot do).
    Lua5x,
}

impl On {
    fn here(self) -> bool {
        self == On::All || !cfg!(feature = "luajit")
    }
}

use On::{All, Lua5x};

/// The calls: each an expression list evaluated as `pack(<call>)` in a
/// function run under `pcall`. `S` is a 5,000-byte string of `a`s (long
/// enough for the bounded pattern path), `dead` a finished coroutine.
const CASES: &[(On, &str)] = &[
    // setmetatable / getmetatable
    (All, "setmetatable()"),
    (All, "setmetatable(nil)"),
    (All, "setmetatable(1)"),
    (All, "setmetatable({})"),
    (All, "setmetatable({}, nil)"),
    (All, "setmetatable({}, 1)"),
    (All, "setmetatable({}, 'x')"),
    (All, "setmetatable({}, {}, 'extra')"),
    (All, "setmetatable(nil, {})"),
    (All, "setmetatable('s', {})"),
    (All, "setmetatable(setmetatable({}, { __metatable = 1 }), {})"),
    (All, "setmetatable(setmetatable({}, { __metatable = 1 }))"),
    (All, "setmetatable({}, { __gc = true })"),
    (All, "(function() local sm = setmetatable return sm({}) end)()"),
    (All, "getmetatable()"),
    (All, "getmetatable(nil)"),
    (All, "getmetatable({})"),
    (All, "getmetatable(setmetatable({}, { __metatable = 'locked' }))"),
    (All, "getmetatable('')"),
    (All, "getmetatable(string)"),
    // rawset / rawget / rawlen / rawequal
    (All, "rawset()"),
    (All, "rawset({})"),
    (All, "rawset({}, 1)"),
    (All, "rawset({}, 'k', nil)"),
    (All, "rawset({}, nil, 1)"),
    (All, "rawset({}, 0/0, 1)"),
    (All, "rawset(1, 2, 3)"),
    (All, "rawset('s', 1, 2)"),
    (All, "rawset(nil, 1, 2)"),
    (All, "rawset({}, 1, 2, 3)[1]"),
    (All, "rawset(string, 'x', 1)"),
    (All, "rawset(string)"),
    (All, "rawget()"),
    (All, "rawget({})"),
    (All, "rawget({}, nil)"),
    (All, "rawget(1, 1)"),
    (All, "rawget(string, 'len')"),
    (All, "rawlen()"),
    (All, "rawlen(1)"),
    (All, "rawlen({ 1, 2 })"),
    (All, "rawlen('abc')"),
    (All, "rawlen(math)"),
    (All, "rawequal()"),
    (All, "rawequal(1)"),
    (All, "rawequal(1, 1, 'extra')"),
    (All, "rawequal(string, string)"),
    // next / pairs / ipairs / select
    (All, "next()"),
    (All, "next({})"),
    (All, "next({}, 'nokey')"),
    (All, "next(1)"),
    (All, "next(string)"),
    (All, "pairs()"),
    (All, "pairs(nil)"),
    (All, "pairs(1)"),
    (All, "select('#', pairs({}))"),
    (All, "pairs(string)"),
    (All, "ipairs()"),
    (All, "select('#', ipairs(nil))"),
    (All, "ipairs(string)"),
    (All, "select()"),
    (All, "select('#')"),
    (All, "select(0)"),
    (All, "select(-1)"),
    (All, "select(-5, 1)"),
    (All, "select('x')"),
    (All, "select(2, 'a', 'b')"),
    (All, "select(1.5, 1)"),
    // tostring / tonumber
    (All, "tostring()"),
    (All, "tostring(nil)"),
    (All, "tostring(1.5, 'extra')"),
    (All, "tostring(setmetatable({}, { __tostring = function() return 1 end }))"),
    (All, "tonumber()"),
    (All, "tonumber(nil)"),
    (All, "tonumber('10', 99)"),
    (All, "tonumber('z', 36)"),
    (All, "tonumber(10, 16)"),
    (All, "tonumber('10', 1)"),
    (All, "tonumber('0x10')"),
    // error
    (All, "error()"),
    (All, "error(nil)"),
    (All, "error('m')"),
    (All, "error('m', 0)"),
    (All, "error('m', 1)"),
    (All, "error('m', 2)"),
    (All, "error('m', 'x')"),
    (All, "error('m', '1')"),
    (All, "error('m', 1.5)"),
    (All, "error('m', -1)"),
    (All, "error({})"),
    (All, "error(5)"),
    (All, "error('m', '2')"),
    (All, "error('m', 2^53)"),
    // pcall / xpcall
    (All, "pcall()"),
    (All, "pcall(nil)"),
    (All, "pcall(error)"),
    (All, "pcall(error, 'x')"),
    (All, "pcall(pcall)"),
    (All, "pcall(setmetatable, {})"),
    (All, "pcall(rawset, {}, 1)"),
    (All, "xpcall()"),
    (All, "xpcall(print)"),
    (All, "xpcall(error, nil)"),
    (All, "xpcall(error, print, 'x')"),
    (All, "xpcall(error, function(m) return 'h:' .. tostring(m) end, 'x')"),
    (All, "xpcall(nil, function(m) return 'h:' .. tostring(m) end)"),
    // load
    (All, "load()"),
    (All, "load(nil)"),
    (All, "load(1)"),
    (All, "load({})"),
    (All, "type(load('return 1'))"),
    (All, "load('x =')"),
    (All, "load('return 1', 'chunk', 'b')"),
    (All, "load('return 1', {})"),
    (All, "load('return 1', 'chunk', 'x')"),
    (All, "type(load('return 1', 'chunk', 't', {}))"),
    (All, "type(load('return 1', 'chunk', 't', 1))"),
    (All, "load(function() return nil end)"),
    (All, "load(function() return true end)"),
    (All, "load(function() return {} end)"),
    (All, "load('\\27Lua')"),
    (All, "load(function() error('r') end)"),
    (All, "load(function() error({}) end)"),
    (All, "load('return 1', nil, nil, nil)"),
    // collectgarbage / print
    (All, "collectgarbage('bogus')"),
    (All, "collectgarbage(1)"),
    (All, "collectgarbage('stop')"),
    (All, "collectgarbage('isrunning')"),
    (All, "type(collectgarbage('count'))"),
    (All, "print()"),
    (All, "print(setmetatable({}, { __tostring = function() return 1 end }))"),
    // coroutine
    (All, "coroutine.resume()"),
    (All, "coroutine.resume(1)"),
    (All, "coroutine.resume(coroutine.create(select), '#', 1)"),
    (All, "coroutine.resume(dead)"),
    (All, "coroutine.resume(coroutine.create(error), 'm')"),
    (All, "coroutine.resume(coroutine.create(error), {})"),
    (All, "coroutine.wrap()"),
    (All, "coroutine.wrap(1)"),
    (All, "coroutine.wrap(select)('#', 1, 2)"),
    (All, "coroutine.wrap(error)('m')"),
    (All, "coroutine.wrap(error)('m', 0)"),
    (All, "coroutine.wrap(error)({})"),
    (All, "coroutine.wrap(error)(5)"),
    (All, "coroutine.wrap(function() error('m') end)()"),
    (All, "coroutine.wrap(function() local x = nil; return x.y end)()"),
    (All, "pcall(coroutine.wrap(error), 'm')"),
    (All, "(function() local f = coroutine.wrap(select) f('#') return f('#') end)()"),
    (All, "(function() local f f = coroutine.wrap(function() return f() end) return f() end)()"),
    (All, "pcall(coroutine.wrap(function() error('m') end))"),
    (All, "coroutine.resume(coroutine.running())"),
    (All, "coroutine.wrap(function() coroutine.yield(1, 2) end)()"),
    (All, "coroutine.status()"),
    (All, "coroutine.status(dead)"),
    (All, "coroutine.isyieldable()"),
    (All, "coroutine.yield()"),
    (Lua5x, "coroutine.close()"),
    (Lua5x, "coroutine.close(1)"),
    (Lua5x, "coroutine.close(dead)"),
    (Lua5x, "coroutine.close(coroutine.create(print))"),
    // string.rep
    (All, "string.rep()"),
    (All, "string.rep('x')"),
    (All, "string.rep('x', -1)"),
    (All, "string.rep('x', 1.5)"),
    (All, "string.rep('x', 'a')"),
    (All, "string.rep('x', 3, 1)"),
    (All, "string.rep('x', 3, {})"),
    (All, "#string.rep('ab', 5000, ',')"),
    (All, "string.rep({}, 2)"),
    (All, "('x'):rep()"),
    // string.find / match / gmatch / gsub, short and long (bounded) subjects
    (All, "string.find()"),
    (All, "string.find('a')"),
    (All, "string.find('a', nil)"),
    (All, "string.find(1, 1)"),
    (All, "string.find({}, 'a')"),
    (All, "string.find('abc', 'b', 'x')"),
    (All, "string.find('abc', 'b', 1.5)"),
    (All, "string.find('abc', 'b', '2')"),
    (All, "string.find('abc', '(')"),
    (All, "string.find('abc', '%')"),
    (All, "string.find('abc', 'b', 10)"),
    (All, "string.find('abc', 'b', -10)"),
    (All, "string.find('abc', '.', 1, 1)"),
    (All, "string.find(S, '(a*)b', 'x')"),
    (Lua5x, "string.find(S, '(a*)b', 1.5)"), // LuaJIT truncates 1.5: a quadratic search, the cap's business
    (All, "string.find(S, '(a*')"),
    (All, "string.find(S, 'a*b', 4000)"),
    (All, "string.match()"),
    (All, "string.match('a')"),
    (All, "string.match('abc', '(a)(b)')"),
    (All, "string.match('abc', '[a')"),
    (All, "string.match('abc', '%b')"),
    (All, "string.match(S, 'a(')"),
    (All, "string.match(S, 'a-b', {})"),
    (All, "string.gmatch()"),
    (All, "string.gmatch('a')"),
    (All, "select('#', string.gmatch('abc', 'b'))"),
    (All, "string.gmatch('abc', '(')()"),
    (Lua5x, "string.gmatch('abc', 'b', 'x')"),
    (All, "string.gmatch(S, '(a')()"),
    (All, "string.gsub()"),
    (All, "string.gsub('a')"),
    (All, "string.gsub('a', 'a')"),
    (All, "string.gsub('abc', 'b', true)"),
    (All, "string.gsub('abc', 'b', 'x', 'n')"),
    (All, "string.gsub('abc', 'b', 'x', 1.5)"),
    (All, "string.gsub('abc', 'b', 'x', -1)"),
    (All, "string.gsub('abc', 'b', '%2')"),
    (All, "string.gsub('abc', 'b', '%')"),
    (All, "string.gsub('abc', 'b', { b = true })"),
    (All, "string.gsub('abc', 'b', function() return {} end)"),
    (All, "string.gsub('abc', 'b', function() error('r') end)"),
    (All, "string.gsub('abc', '(', 'x')"),
    (All, "#string.gsub(S, 'a', 'bb')"),
    (All, "string.gsub(S, 'a', true)"),
    (All, "string.gsub(S, 'a', 'x', 'n')"),
    (All, "string.gsub(S, 'a', '%2')"),
    (All, "string.gsub(S, 'a', function() return {} end)"),
    (All, "string.gsub(S, '(a', 'x')"),
    // table
    (All, "table.insert()"),
    (All, "table.insert({})"),
    (All, "table.insert({}, 1, 2, 3)"),
    (All, "table.insert({}, 5, 1)"),
    (All, "table.insert({}, 'x', 1)"),
    (All, "table.insert(1, 1)"),
    (All, "table.insert(string, 1)"),
    (All, "table.remove()"),
    (All, "table.remove({})"),
    (All, "table.remove({}, 5)"),
    (All, "table.remove({ 1, 2 }, 'x')"),
    (All, "table.remove(1)"),
    (All, "table.sort()"),
    (All, "table.sort({ 1, 'x' })"),
    (All, "table.sort({ 3, 2, 1 }, 1)"),
    (All, "table.sort(1)"),
    (All, "table.concat()"),
    (All, "table.concat({}, 1)"),
    (All, "table.concat({ 1, {} })"),
    (All, "table.concat({ 1, 2 }, ',', 1, 5)"),
    (All, "table.concat({}, {})"),
    (All, "table.concat({ 1 }, ',', 'x')"),
    (All, "table.unpack()"),
    (All, "table.unpack({}, 'x')"),
    (All, "table.unpack({ 1, 2 }, 2, 1)"),
    (All, "select('#', table.unpack({}, 1, 5000))"),
    (All, "table.unpack(1)"),
    (All, "table.move()"),
    (All, "table.move({}, 1)"),
    (All, "table.move({}, 1, 2)"),
    (All, "table.move({ 1, 2 }, 1, 2, 3)[3]"),
    (All, "table.move({}, 1, 2, 3, 4)"),
    (All, "table.move({}, 1, 2, 'x')"),
    (All, "table.move({}, 1, 5000, 2)[1]"),
    (Lua5x, "table.move({}, -2^63, 1, 1)"), // LuaJIT has no integers: it would move 2^63 elements
    (Lua5x, "table.move({}, 1, math.maxinteger, 2)"),
    (All, "table.move(1, 1, 2, 3)"),
    // math and os, as far as the sandbox touches them (read-only views, the reduced os)
    (All, "math.floor()"),
    (All, "math.max()"),
    (All, "math.random(2, 1)"),
    (Lua5x, "math.tointeger('8')"),
    (All, "os.time({})"),
    (All, "os.date('%Ez')"),
    (All, "type(os.clock(1))"),
    (All, "os.getenv('HOME')"),
];

/// Reasons shared by several accepted differences.
const GC_FREE: &str = "finalizers run with hooks off (no limit could stop one): __gc is refused";
const READ_ONLY: &str = "library views are read-only, also to rawset and the table functions";
const EMPTY_VIEW: &str = "a view is an empty table (its values live in a shadow): raw access sees nothing";
const HIDDEN_METATABLE: &str = "the metatables of views and strings are hidden (`__metatable = false`)";
const ERROR_NIL: &str = "`error(nil)` raises a message saying so (as standalone lua.c reports it)";
const TEXT_ONLY: &str = "the sandbox loads text only: the mode is forced to 't', binary chunks refused";
const GC_OPTIONS: &str = "collectgarbage: only collect, count and step (and no option) are allowed";

/// Differences the sandbox keeps on purpose: the case, the engines, why.
const ACCEPTED: &[(&str, On, &str)] = &[
    ("setmetatable({}, { __gc = true })", All, GC_FREE),
    ("getmetatable('')", All, HIDDEN_METATABLE),
    ("getmetatable(string)", All, HIDDEN_METATABLE),
    ("rawset(string, 'x', 1)", All, READ_ONLY),
    ("rawset(string)", All, READ_ONLY),
    ("table.insert(string, 1)", All, READ_ONLY),
    ("rawget(string, 'len')", All, EMPTY_VIEW),
    ("next(string)", All, EMPTY_VIEW),
    ("error()", All, ERROR_NIL),
    ("error(nil)", All, ERROR_NIL),
    ("pcall(error)", All, ERROR_NIL),
    ("load('return 1', 'chunk', 'x')", All, TEXT_ONLY),
    ("load('return 1', 'chunk', 'b')", All, TEXT_ONLY),
    ("load('\\27Lua')", All, TEXT_ONLY),
    ("type(load('return 1', 'chunk', 't', 1))", All, "the sandbox requires a table (or nil) environment"),
    ("collectgarbage('stop')", All, GC_OPTIONS),
    ("collectgarbage('isrunning')", All, GC_OPTIONS),
    ("collectgarbage('bogus')", All, GC_OPTIONS),
    ("collectgarbage(1)", All, GC_OPTIONS),
    ("os.getenv('HOME')", All, "the sandbox's os is reduced to clock, time and date"),
];

/// The script: one event whose handler runs every case of `cases` on a
/// line of its own and leaves the outcomes in `ctx.out`, one a line.
fn script(cases: &[&str]) -> String {
    let mut src = String::from(
        "return { events = { { name = 'e', handler = function(ctx)
local select, type, tostring, pcall = select, type, tostring, pcall
local function pack(...) return { n = select('#', ...), ... } end
local function show(v)
  local t = type(v)
  if t == 'string' then return 's:' .. v:gsub('\\n', '\\\\n') end
  if t == 'number' or t == 'boolean' or t == 'nil' then return t:sub(1, 1) .. ':' .. tostring(v) end
  return t
end
local function outcome(ok, r)
  if not ok then return 'error ' .. show(r) end
  local out = { 'ok ' .. r.n }
  for i = 1, r.n do out[#out + 1] = show(r[i]) end
  return table.concat(out, ' | ')
end
local S = string.rep('a', 5000)
local dead = coroutine.create(print) coroutine.resume(dead)
local out = {}
",
    );
    for case in cases {
        src.push_str(&format!("out[#out + 1] = outcome(pcall(function() return pack({case}) end))\n"));
    }
    src.push_str("ctx.out = table.concat(out, '\\n')\nend } } }\n");
    src
}

/// The outcomes of `cases` in a sandboxed chain.
fn sandboxed(src: &str) -> Vec<String> {
    let chain = LuaChainBuilder::new().limits(LIMITS).load_str("diff.lua", src).unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = chain.new_context();
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}: {:?}", result.failures());
    let outcomes: Vec<String> = ctx.get::<&str>("out").expect("ctx.out").lines().map(str::to_owned).collect();
    // No message names a Rust source file (mlua's default name for an unnamed chunk).
    for outcome in &outcomes {
        assert!(!outcome.contains(".rs:"), "a Rust source path in a script's message: {outcome}");
    }
    outcomes
}

/// The outcomes of `cases` in plain Lua of the same engine.
fn plain(src: &str) -> Vec<String> {
    let lua = mlua::Lua::new();
    let spec: mlua::Table = lua.load(src).set_name("@diff.lua").eval().expect("plain load");
    let events: mlua::Table = spec.get("events").expect("events");
    let event: mlua::Table = events.get(1).expect("event");
    let handler: mlua::Function = event.get("handler").expect("handler");
    let ctx = lua.create_table().expect("ctx");
    handler.call::<()>(&ctx).expect("plain handler");
    ctx.get::<String>("out").expect("out").lines().map(str::to_owned).collect()
}

/// `message` without a leading `chunk:line: `, and whether it had one.
fn without_position(message: &str) -> (&str, bool) {
    let Some((chunk, rest)) = message.split_once(':') else { return (message, false) };
    let Some((line, rest)) = rest.split_once(": ") else { return (message, false) };
    let positioned =
        !chunk.is_empty() && !chunk.contains(' ') && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
    if positioned { (rest, true) } else { (message, false) }
}

/// LuaJIT runs the sandbox's Lua preludes: an argument error raised by the
/// engine's function under a Lua wrapper has the wrapper's position (or
/// none, or the Rust callback's), names the function as the wrapper called
/// it (`'?'`, `'rawerror'`, `'create'`) and says `nil` for an absent
/// argument (a wrapper passes its parameters on). Accepted as a class, on
/// LuaJIT only: such messages are compared without position, name and
/// `no value`. Anything else (another outcome, another message) still fails.
fn same_but_for_a_lua_wrapper(sandboxed: &str, plain: &str) -> bool {
    fn normal(outcome: &str) -> String {
        outcome.split(" | ").map(normal_value).collect::<Vec<_>>().join(" | ")
    }
    fn normal_value(value: &str) -> String {
        let (head, message) = match value.find("s:") {
            Some(at) if value[..at].is_empty() || value[..at] == *"error " => value.split_at(at + 2),
            _ => return value.to_owned(),
        };
        let mut message = message;
        // `chunk:line: ` (one or more).
        while let Some((place, rest)) = message.split_once(": ") {
            let mut parts = place.split(':');
            let chunk = parts.next().unwrap_or("");
            let numbers: Vec<&str> = parts.collect();
            let positioned = !chunk.is_empty()
                && !chunk.contains(' ')
                && !numbers.is_empty()
                && numbers.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !positioned {
                break;
            }
            message = rest;
        }
        let mut named = String::new();
        let mut rest = message;
        while let Some(at) = rest.find(" to '") {
            named.push_str(&rest[..at]);
            named.push_str(" to F");
            rest = &rest[at + 5..];
            rest = rest.find('\'').map_or("", |end| &rest[end + 1..]);
        }
        named.push_str(rest);
        format!("{head}{}", named.replace("got no value", "got nil"))
    }
    cfg!(feature = "luajit") && normal(sandboxed) == normal(plain)
}

/// Whether the two outcomes are the same: equal, or errors whose messages
/// both carry a position and differ only there (or, on LuaJIT, see
/// [`same_but_for_a_lua_wrapper`]).
fn same(sandboxed: &str, plain: &str) -> bool {
    if sandboxed == plain || same_but_for_a_lua_wrapper(sandboxed, plain) {
        return true;
    }
    let (Some(a), Some(b)) = (sandboxed.strip_prefix("error s:"), plain.strip_prefix("error s:")) else {
        return false;
    };
    let ((a, a_positioned), (b, b_positioned)) = (without_position(a), without_position(b));
    a_positioned && b_positioned && a == b
}

#[test]
fn the_sandbox_answers_bad_arguments_as_plain_lua() {
    let cases: Vec<&str> = CASES.iter().filter(|(on, _)| on.here()).map(|(_, case)| *case).collect();
    let src = script(&cases);
    let (sandboxed, plain) = (sandboxed(&src), plain(&src));
    assert_eq!(sandboxed.len(), cases.len(), "one outcome a case (sandboxed)");
    assert_eq!(plain.len(), cases.len(), "one outcome a case (plain)");
    let mut failures = Vec::new();
    for ((case, s), p) in cases.iter().zip(&sandboxed).zip(&plain) {
        let accepted = ACCEPTED.iter().find(|(c, on, _)| c == case && on.here());
        match (same(s, p), accepted) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => failures.push(format!("{case}\n    sandbox: {s}\n    plain:   {p}")),
            (true, Some((_, _, why))) => {
                failures.push(format!("{case}\n    accepted ({why}) but now the same: {s}"));
            }
        }
    }
    for (case, on, _) in ACCEPTED {
        assert!(!on.here() || cases.contains(case), "an accepted difference without its case: {case}");
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
