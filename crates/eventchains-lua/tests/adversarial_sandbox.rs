//! Hostile scripts against the sandbox, the `event` table, the loader and the
//! stack (issue 9: escapes, state surviving an execution, `<close>`, nesting,
//! error objects, many events).
//!
//! Every case asserts the right error kind and message, then that the same
//! chain runs cleanly twice and that nothing the attack did persisted: the
//! `probe` event checks the libraries, the globals and the `event` table on
//! every execution.

mod common;

use common::run_attack;

use std::time::Duration;

use eventchains_core::{ChainStatus, ErrorKind, EventFailure};
use eventchains_lua::{Limits, LoadError, LuaChain, LuaChainBuilder, MAX_LUA_MIDDLEWARE};

/// Small caps: every case ends fast (no wall-clock cap can fire first).
const LIMITS: Limits =
    Limits { instructions: Some(5_000_000), memory_bytes: Some(32 << 20), timeout: Some(Duration::from_secs(60)) };

/// `true` when the libraries, the globals and the `event` table are intact.
const PROBE: &str = r#"
  local s = string
  ctx.probe = s.rep("a", 2) == "aa" and ("a"):rep(2) == "aa" and math.pi > 3.14 and math.pi < 3.15
    and next(string) == nil and rawget(string, "rep") == nil and rawget(math, "pi") == nil
    and rawget(table, 1) == nil and rawget(string, 1) == nil and leaked == nil and string.leaked == nil
    and math.leaked == nil and table.leaked == nil and type(print) == "function" and type(error) == "function"
"#;

/// The template: `attack` runs `body` when `ctx.attack` is set, then `probe`
/// checks that nothing changed; one Lua middleware (`middleware`, with
/// `event`, `ctx`, `next`) runs around each.
fn script(body: &str, middleware: &str) -> String {
    format!(
        r#"return {{
  middleware = {{ function(event, ctx, next)
    ctx.names = (ctx.names or "") .. event.name .. "," .. tostring(event.extra) .. ";"
    {middleware}
    return next(ctx)
  end }},
  events = {{
    {{ name = "attack", handler = function(ctx)
      if ctx.attack then
{body}
      end
    end }},
    {{ name = "probe", handler = function(ctx) {PROBE} end }},
  }},
}}"#
    )
}

fn builder() -> LuaChainBuilder {
    LuaChainBuilder::new().limits(LIMITS)
}

fn load(src: &str) -> LuaChain {
    builder().load_str("hostile.lua", src).unwrap_or_else(|e| panic!("script should load: {e}\n{src}"))
}

/// Two clean executions that see intact libraries, globals and `event` tables.
fn runs_cleanly_twice(chain: &LuaChain, what: &str) {
    for _ in 0..2 {
        let (result, ctx) = run_attack(chain, false);
        assert!(result.is_clean(), "{what}: the chain must stay usable: {result} {:?}", result.failures());
        assert_eq!(ctx.get::<bool>("probe"), Some(true), "{what}: state persisted");
        assert_eq!(ctx.get::<&str>("names"), Some("attack,nil;probe,nil;"), "{what}: the event tables changed");
    }
}

/// The attack fails at `attack` with `kind` and a message containing `needle`;
/// then the chain runs cleanly twice. Returns the failure.
fn refused(body: &str, middleware: &str, kind: ErrorKind, needle: &str) -> EventFailure {
    refused_by(&load(&script(body, middleware)), body, kind, needle)
}

/// [`refused`] for a chain already loaded (`what` names the case in messages).
fn refused_by(chain: &LuaChain, what: &str, kind: ErrorKind, needle: &str) -> EventFailure {
    let (result, _) = run_attack(chain, true);
    assert_eq!(result.status(), ChainStatus::Failed, "{what}: the attack should fail: {result}");
    let failure = result.failures()[0].clone();
    assert_eq!(failure.event(), "attack", "{what}: {failure}");
    assert_eq!(failure.kind(), kind, "{what}: {failure}");
    assert!(failure.message().contains(needle), "{what}: `{}` should contain `{needle}`", failure.message());
    runs_cleanly_twice(chain, what);
    failure
}

/// The attack runs without an error but changes nothing: the probe of the
/// same execution and of the next two sees everything intact.
fn harmless(body: &str) {
    let chain = load(&script(body, ""));
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{body}: {result} {:?}", result.failures());
    assert_eq!(ctx.get::<bool>("probe"), Some(true), "{body}: changed a library or global");
    assert_eq!(ctx.get::<bool>("escaped"), None, "{body}: reached a writable table");
    runs_cleanly_twice(&chain, body);
}

// ------------------------------------------- item 1: library tables and globals

#[test]
fn iterating_a_library_yields_only_read_only_values() {
    for body in [
        // The real table behind the view, through `pairs` (the `__pairs` of the view).
        "local _, real = pairs(string) real.rep = function() return 'pwned' end",
        "local f, s, k = pairs(math) s.pi = 3",
        "local _, real = pairs(table) real.leaked = true",
        "local s = select(2, pairs(string)) s.leaked = 1",
        "local it, s = pairs(string) local k, v = it(s, nil) ctx.k = k s[k] = nil",
    ] {
        refused(body, "", ErrorKind::Event, "read-only");
    }
    harmless(
        "for k, v in pairs(_G) do if type(v) == 'table' and pcall(function() v.leaked = true end) then ctx.escaped = true end end",
    );
    // Luau's `pairs` does not call `__pairs`: there a view iterates as the empty table it is.
    let too_few = if cfg!(feature = "luau") { "" } else { "if n < 5 then ctx.escaped = true end" };
    harmless(&format!(
        "local n = 0 for k, v in pairs(string) do n = n + 1 if type(v) == 'table' then v.x = 1 end end {too_few}"
    ));
}

#[test]
fn raw_functions_metatables_and_table_functions_cannot_write_a_library() {
    for body in [
        "rawset(string, 'rep', print)",
        "rawset(math, 1, 1)",
        "setmetatable(string, nil)",
        "setmetatable(math, {})",
        "table.insert(string, 'x')",
        "table.insert(math, 1, 'x')",
        "table.remove(string)",
        "string.rep = nil",
        "math.leaked = true",
        "getmetatable('').__index.rep = nil",
        "local mt = getmetatable('') mt.__index = {}",
        "local co = coroutine.wrap(function() string.leaked = 1 end) co()",
        "load('string.leaked = 1')()",
        "load('rep = 1', 'x', 't', string)()",
        "load('leaked = 1', 'x', 't', math)()",
        "local t = { string } t[1].leaked = 1",
        "local function f(...) local s = ... s.leaked = 1 end f(string)",
    ] {
        refused(body, "", ErrorKind::Event, "");
    }
    // Reads that used to hand out the real table, or see through the view.
    for body in [
        "if next(string) ~= nil or rawget(string, 'rep') ~= nil or rawlen(math) ~= 0 then ctx.escaped = true end",
        "if getmetatable(string) ~= false or getmetatable('') ~= false then ctx.escaped = true end",
        "if rawequal(string, getmetatable('')) then ctx.escaped = true end",
        "local u = table.unpack or unpack local a, b, c = u(string, 1, 3) if a or b or c then ctx.escaped = true end",
        "pcall(table.sort, string) pcall(table.sort, math)",
        "local ok = pcall(setmetatable, string, { __index = function() return 1 end })",
        "local ok = pcall(rawset, _G, 'leaked', 1)",
        "local ok = pcall(function() _G.leaked = 1 end)",
    ] {
        harmless(body);
    }
}

/// Nested library tables (here `package.loaded`, opted in) are views too.
#[cfg(not(feature = "luau"))]
#[test]
fn nested_library_tables_are_read_only_views() {
    let builder = builder().sandbox(eventchains_lua::Sandbox::default().allow(eventchains_lua::StdLib::PACKAGE));
    for body in [
        "package.loaded.string.leaked = 1",
        // The nested tables themselves (the lockdown finds them by a raw traversal in C).
        "package.loaded.leaked = 1",
        "package.loaded.string = {}",
        "package.searchers[1] = nil",
        "table.insert(package.searchers, function() end)",
        "package.loaded._G.leaked = 1",
        "for name, lib in pairs(package.loaded) do if type(lib) == 'table' then lib.leaked = 1 end end",
        "local _, loaded = pairs(package) loaded.loaded = nil",
        // `require` reads the registry's table of loaded modules, not the `package.loaded` view.
        "require('string').leaked = 1",
        "require('math').leaked = 1",
    ] {
        let chain = builder.load_str("hostile.lua", &script(body, "")).expect("loads");
        refused_by(&chain, body, ErrorKind::Event, "read-only");
    }
}

/// With `package` opted in, `require` still works and hands out the library views.
#[cfg(not(feature = "luau"))]
#[test]
fn require_hands_out_the_library_views() {
    let builder = builder().sandbox(eventchains_lua::Sandbox::default().allow(eventchains_lua::StdLib::PACKAGE));
    let body =
        "ctx.same = require('string') == string and require('math') == math and require('string').rep('a', 2) == 'aa'";
    let chain = builder.load_str("require.lua", &script(body, "")).expect("loads");
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.get::<bool>("same"), Some(true));
    runs_cleanly_twice(&chain, body);
}

// ------------------------------------------- item 16: `load` and environments

#[test]
fn load_never_hands_out_the_real_globals() {
    for body in [
        "load('leaked = 1', 'n', 't', nil)()",
        "load('leaked = 1', nil, nil, nil)()",
        "load('string.leaked = 1', 'n', 't', nil)()",
        "local parts = { 'leaked', ' = 1' } local i = 0 load(function() i = i + 1 return parts[i] end, 'n', 't', nil)()",
        "load('return leaked', 'n', 't', nil)()",
    ] {
        refused(body, "", ErrorKind::Event, "nil environment");
    }
    // Other environments: the chunk sees exactly what it was given.
    harmless("local t = {} load('leaked = 1', 'n', 't', t)() if t.leaked ~= 1 then ctx.escaped = true end");
    harmless(
        "local ok = pcall(load, 'leaked = 1', 'n', 't', 42) ok = pcall(load('leaked = 1', 'n', 't', 'x') or print)",
    );
    harmless("local f = load('return ...') if f(5) ~= 5 then ctx.escaped = true end");
    harmless(
        "local f, e = load(string.dump and string.dump(function() end) or '\\27Lua') if f then ctx.escaped = true end",
    );
}

// ------------------------------------------- item 2: the `event` table

#[test]
fn the_event_table_of_middleware_is_read_only() {
    for attack in [
        "event.name = 'renamed'",
        "event.extra = 'kept'",
        "rawset(event, 'extra', 'kept')",
        "setmetatable(event, nil)",
        "table.insert(event, 'kept')",
        "local _, real = pairs(event) real.extra = 'kept'",
    ] {
        let failure = refused("", &format!("if ctx.attack then {attack} end"), ErrorKind::Middleware, "");
        assert!(
            failure.message().contains("read-only") || failure.message().contains("protected metatable"),
            "{attack}: {failure}"
        );
    }
    // What a middleware can read: the name, through indexing and `pairs`.
    let chain = load(&script(
        "",
        "local keys = {} for k, v in pairs(event) do keys[#keys + 1] = k .. '=' .. v end \
         ctx.keys = table.concat(keys, ',') ctx.mt = tostring(getmetatable(event))",
    ));
    let (result, ctx) = run_attack(&chain, false);
    assert!(result.is_clean(), "{result}");
    // Luau's `pairs` does not call `__pairs` (the view iterates as empty there).
    let keys = if cfg!(feature = "luau") { "" } else { "name=probe" };
    assert_eq!(ctx.get::<&str>("keys"), Some(keys));
    assert_eq!(ctx.get::<&str>("mt"), Some("false"));
}

// ------------------------------------------- item 3: to-be-closed variables

/// A `<close>` in a handler, hidden in every way the text allows.
#[test]
fn to_be_closed_variables_are_refused_however_they_are_written() {
    for attribute in [
        "<close>",
        "< close >",
        "<close --[[c]]>",
        "<--[[c]]close>",
        "<--[==[ long\n comment ]==]close>",
        "<\nclose\n>",
        "<close -- line comment\n>",
    ] {
        let src = format!(
            "return {{ events = {{ {{ name = 'e', handler = function(ctx)\n local x {attribute} = \
             setmetatable({{}}, {{ __close = function() while true do end end }})\n while true do end end }} }} }}"
        );
        let err = match builder().load_str("hostile.lua", &src) {
            Ok(_) => panic!("`{attribute}` should be refused"),
            Err(e) => e,
        };
        assert!(matches!(err, LoadError::Syntax { .. }), "{attribute}: {err}");
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        assert!(err.to_string().contains("<close>") && err.line().is_some_and(|l| l >= 2), "{attribute}: {err}");
    }
    // At the top level and in a function defined inside a handler.
    for src in [
        "local x <close --[[c]]> = nil return { events = {} }",
        "return { events = { { name = 'e', handler = function(ctx) local function f() local y <--[[]]close> = nil end end } } }",
    ] {
        let err = builder().load_str("hostile.lua", src).err().unwrap_or_else(|| panic!("refused: {src}"));
        assert!(matches!(err, LoadError::Syntax { .. }), "{err}");
    }
    // The same text in strings and comments is not a variable: it loads.
    let chain =
        load(&script("local s = '<close>' -- local x <close> = nil\n ctx.s = s .. [==[<close --[[c]]>]==]", ""));
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<&str>("s"), Some("<close><close --[[c]]>"));
}

#[test]
fn to_be_closed_variables_in_loaded_text_are_refused() {
    for text in [
        "local x <close> = nil",
        "local x <close --[[c]]> = nil",
        "local x <--[[c]]close> = nil",
        "return function() local y <--[==[\n]==]close> = nil end",
    ] {
        let body = format!("local f, message = load({text:?}) if f then f() ctx.escaped = true end error(message, 0)");
        let failure = refused(&body, "", ErrorKind::Event, "");
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        assert!(failure.message().contains("<close>"), "{text}: {failure}");
        let _ = failure;
    }
}

// ------------------------------------------- item 12: error objects

#[test]
fn error_objects_that_are_not_strings_say_what_happened() {
    for (body, expected) in [
        ("error(nil)", "hostile.lua:10: error object is a nil value"),
        ("error()", "hostile.lua:10: error object is a nil value"),
        ("error(nil, 0)", "error object is a nil value"),
        ("local function f() error(nil, 2) end f()", "hostile.lua:10: error object is a nil value"),
        ("error({ code = 1 })", "error object is a table value"),
        ("error(false)", "error object is a boolean value (false)"),
        ("error(setmetatable({}, { __tostring = function() return 'custom' end }))", "custom"),
        ("error('plain')", "hostile.lua:10: plain"),
        ("error('plain', 0)", "plain"),
    ] {
        let failure = refused(body, "", ErrorKind::Event, expected);
        assert_eq!(failure.message(), expected, "{body}");
    }
    // In a middleware: a middleware failure with the same message.
    let failure = refused("", "if ctx.attack then error(nil) end", ErrorKind::Middleware, "");
    assert_eq!(failure.message(), "hostile.lua:4: error object is a nil value");
    // Caught by the script, error objects keep their value (tables) or gain the message (nil).
    harmless(
        "local ok, e = pcall(error, { code = 7 }) if ok or e.code ~= 7 then ctx.escaped = true end \
         local ok2, e2 = pcall(error) if ok2 or not tostring(e2):find('nil value') then ctx.escaped = true end",
    );
}

// ------------------------------------------- item 15: recursion

/// Runs `f` on a thread with a 2 MiB stack (the default of spawned threads),
/// so a test proves the bound holds there whatever the test runner's stack.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("thread").join().expect("no panic");
}

#[test]
fn unbounded_recursion_through_metamethods_and_protected_calls_fails_cleanly() {
    on_small_stack(|| {
        for body in [
            "local t = setmetatable({}, { __concat = function(a, b) return a .. b end }) local x = t .. 'a'",
            "local mt = {} mt.__eq = function(a, b) return a == b end local x = setmetatable({}, mt) == setmetatable({}, mt)",
            "local mt = {} mt.__lt = function(a, b) return a < b end local x = setmetatable({}, mt) < setmetatable({}, mt)",
            "local mt = {} mt.__le = function(a, b) return a <= b end local x = setmetatable({}, mt) <= setmetatable({}, mt)",
            "local t t = setmetatable({}, { __index = function(s, k) return s[k] end }) local x = t.x",
            "local t t = setmetatable({}, { __newindex = function(s, k, v) s[k] = v end }) t.x = 1",
            "local t t = setmetatable({}, { __call = function(s) return s() end }) t()",
            "local t t = setmetatable({}, { __len = function(s) return #s end }) local x = #t",
            "local t t = setmetatable({}, { __unm = function(s) return -s end }) local x = -t",
            "local t t = setmetatable({}, { __tostring = function(s) return tostring(s) end }) local x = tostring(t)",
            "local function f() return pcall(f) end local ok, e = f() error(e or 'deep', 0)",
            "local function f() return xpcall(f, function(m) return m end) end local ok, e = f() error(e or 'deep', 0)",
            "local function h(m) return xpcall(error, h, m) end xpcall(error, h, 'm') error('deep', 0)",
            "local function f() return coroutine.resume(coroutine.create(f)) end local ok, e = f() error(e or 'deep', 0)",
            "local function f() return coroutine.wrap(f)() end f()",
            "local function f() assert(coroutine.resume(coroutine.create(f))) end f()",
            "local function f() return select('#', f()) end f()",
            "local function f(n, ...) return 1 + f(n, ...) end f(1, 2, 3)",
            "local function f() return string.gsub('a', 'a', f) end f()",
            "local function f() return table.sort({ 1, 2, 3 }, function() return f() end) end f()",
            // (`load` answers a reader's error, as plain Lua's: the overflow comes back as `nil, message`.)
            "local function f() return load(f) end local _, e = f() error(e or 'deep', 0)",
            "local t t = setmetatable({}, { __tostring = function(s) return string.format('%s', s) end }) local x = tostring(t)",
            "local t t = setmetatable({}, { __tostring = function(s) print(s) return 'x' end }) print(t) error('printed', 0)",
            "local function f() return ('a'):gsub('a', f) end f()",
            "local function f() table.sort({ 2, 1 }, function(a, b) f() return a < b end) end f()",
        ] {
            eprintln!("recursion: {body}");
            let chain = load(&script(body, ""));
            let (result, _) = run_attack(&chain, true);
            let kind = result.failures().first().map(EventFailure::kind);
            // Lua's own stack limits, or the instruction cap for what recurses without growing a stack.
            assert!(matches!(kind, Some(ErrorKind::Event | ErrorKind::LimitExceeded)), "{body}: {result}");
            runs_cleanly_twice(&chain, body);
        }
    });
}

#[test]
fn nested_coroutines_are_bounded_on_every_engine() {
    on_small_stack(|| {
        let body = "local n = 0 local function f() n = n + 1 assert(coroutine.resume(coroutine.create(f))) end \
                    local ok, e = pcall(f) ctx.depth = n error(e, 0)";
        // Luau's own C-stack limit (about 200 C calls in all) can stop it first.
        let needle = if cfg!(feature = "luau") { "" } else { "too many nested coroutines" };
        refused(body, "", ErrorKind::Event, needle);
        let chain = load(&script(body, ""));
        let (_, ctx) = run_attack(&chain, true);
        let depth = ctx.get::<i64>("depth").expect("depth");
        assert!((50..=200).contains(&depth), "{depth} levels");
        // Shallow nesting and many coroutines one after the other still work.
        harmless(
            "for i = 1, 500 do local co = coroutine.wrap(function(a) return coroutine.yield(a) end) co(i) end \
             local function f(n) if n > 0 then assert(coroutine.resume(coroutine.create(f), n - 1)) end end f(50)",
        );
    });
}

#[test]
fn host_functions_that_call_back_into_lua_are_bounded() {
    on_small_stack(|| {
        let chain = builder()
            .register_fallible_fn("call", |f: mlua::Function| f.call::<()>(()).map_err(|e| e.to_string()))
            .load_str("hostile.lua", &script("local function r() call(r) end r()", ""))
            .expect("loads");
        refused_by(&chain, "host recursion", ErrorKind::Event, "nested too deeply");
    });
}

/// The nesting counts cannot drift: calls that fail, are caught, or are cut by
/// a limit deep inside leave nothing behind for later calls and executions.
#[test]
fn nesting_counts_survive_errors_and_limits() {
    on_small_stack(|| {
        let chain = load(&script(
            "local function deep(n) if n == 0 then while true do end end \
               return string.gsub('a', 'a', function() return deep(n - 1) end), \
                 coroutine.resume(coroutine.create(function() deep(n - 1) end)) end \
             for i = 1, 300 do pcall(string.gsub, 'a', 'a', function() error('x') end) \
               pcall(table.sort, { 2, 1 }, function() error({}) end) end \
             deep(40)",
            "",
        ));
        for _ in 0..40 {
            refused_by(&chain, "limit deep inside nested calls", ErrorKind::LimitExceeded, "instruction limit");
        }
        harmless(
            "local function nest(n) if n > 0 then return string.gsub('a', 'a', function() return nest(n - 1) end) end return 'a' end \
             nest(60) \
             local function co(n) if n > 0 then assert(coroutine.resume(coroutine.create(co), n - 1)) end end co(60)",
        );
    });
}

// ------------------------------------------- item 11: nested middleware

fn middleware_script(count: usize) -> String {
    let layer = "function(event, ctx, next) ctx.depth = (ctx.depth or 0) + 1 return next(ctx) end,\n";
    format!(
        "return {{ middleware = {{ {} }}, events = {{ {{ name = 'e', handler = function(ctx) \
         local function f(n) if n > 0 then return pcall(f, n - 1) end return true end assert(f(20)) ctx.done = true end }} }} }}",
        layer.repeat(count)
    )
}

#[test]
fn the_most_lua_middleware_a_script_may_have_run_and_one_more_is_refused_at_load() {
    on_small_stack(|| {
        let chain = load(&middleware_script(MAX_LUA_MIDDLEWARE));
        for _ in 0..2 {
            let mut ctx = chain.new_context();
            let result = chain.execute(&mut ctx);
            assert!(result.is_clean(), "{result} {:?}", result.failures());
            assert_eq!(ctx.get::<i64>("depth"), Some(MAX_LUA_MIDDLEWARE as i64));
            assert_eq!(ctx.get::<bool>("done"), Some(true));
        }
        let err = builder().load_str("hostile.lua", &middleware_script(MAX_LUA_MIDDLEWARE + 1)).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("middleware") && text.contains(&format!("at most {MAX_LUA_MIDDLEWARE}")), "{text}");
        let many_named = format!("return {{ middleware = {{ {} }}, events = {{}} }}", "'x', ".repeat(300));
        let err = builder().load_str("hostile.lua", &many_named).expect_err("refused");
        assert!(err.to_string().contains("at most 256"), "{err}");
    });
}

// ------------------------------------------- items 14 and 17: many events

#[test]
fn thirty_thousand_events_load_and_each_middleware_call_sees_its_own_event() {
    let src = r#"
      local events = {}
      for i = 1, 30000 do
        events[i] = { name = "e" .. i, handler = function(ctx) ctx.n = ctx.n + 1 end }
      end
      return {
        context = { n = 0, wrong = 0 },
        middleware = { function(event, ctx, next)
          if event.name ~= "e" .. (ctx.n + 1) then ctx.wrong = ctx.wrong + 1 end
          return next(ctx)
        end },
        events = events,
      }"#;
    let chain = LuaChainBuilder::new().limits(Limits::UNLIMITED).load_str("many.lua", src).expect("loads");
    for _ in 0..2 {
        let mut ctx = chain.new_context();
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{result}");
        assert_eq!(ctx.get::<i64>("n"), Some(30_000));
        assert_eq!(ctx.get::<i64>("wrong"), Some(0));
    }
    // Another thread builds its own VM from the same script.
    let other = chain.clone();
    std::thread::spawn(move || {
        let mut ctx = other.new_context();
        assert!(other.execute(&mut ctx).is_clean());
        assert_eq!(ctx.get::<i64>("n"), Some(30_000));
    })
    .join()
    .expect("other thread");
}

/// With `package` opted in but not the full `os`, the modules `require`
/// hands out are the sandbox's: no `os.execute`, `os.getenv`, `io`.
#[cfg(not(feature = "luau"))]
#[test]
fn require_hands_out_only_the_reduced_os() {
    let builder = builder().sandbox(eventchains_lua::Sandbox::default().allow(eventchains_lua::StdLib::PACKAGE));
    let body = "local os_ = require('os') local loaded = package.loaded.os \
                ctx.full = os_.execute ~= nil or os_.getenv ~= nil or os_.remove ~= nil \
                  or loaded.execute ~= nil or loaded.getenv ~= nil or package.loaded.io ~= nil \
                ctx.clock = os_.clock ~= nil";
    let chain = builder.load_str("require_os.lua", &script(body, "")).expect("loads");
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.get::<bool>("full"), Some(false), "the full os library reached the script");
    assert_eq!(ctx.get::<bool>("clock"), Some(true));
}
