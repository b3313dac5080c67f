//! Hostile and broken scripts.
//!
//! Every case must end within its limit with a clear failure (the right
//! [`ErrorKind`], a message naming the event and the limit) or a
//! [`LoadError`]; afterwards the same chain runs a good execution correctly
//! and the process still loads and runs a good chain.
//!
//! Most runtime cases use one template: the event `attack` runs the hostile
//! body when `ctx.attack` is set, then the event `count` adds 1 to `counter`.
//! [`check`] runs it once with `attack = true` (strict mode: the chain fails
//! at `attack`), then once without (the chain must complete with
//! `counter == 1`), then loads and runs the seed chain.

mod common;

use std::time::Duration;

use common::attack_template;

use eventchains_core::{ChainStatus, ErrorKind, EventContext, EventFailure, Map, Origin, Value};
use eventchains_lua::{Limits, LoadError, LuaChain, LuaChainBuilder, thread_vm_count};

/// Small caps so that every case ends fast. The time cap is a hang detector
/// only, far enough from the instruction cap that it cannot fire first on any
/// machine or load (200,000 instructions take milliseconds).
const LIMITS: Limits =
    Limits { instructions: Some(200_000), memory_bytes: Some(8 << 20), timeout: Some(Duration::from_secs(60)) };

/// Caps for memory bombs: no instruction cap, so the memory cap is what stops
/// them (the time cap is a hang detector, as in [`LIMITS`]).
const MEMORY: Limits =
    Limits { instructions: None, memory_bytes: Some(8 << 20), timeout: Some(Duration::from_secs(60)) };

/// Caps for the wall-clock case: no instruction cap.
const CLOCK: Limits =
    Limits { instructions: None, memory_bytes: Some(8 << 20), timeout: Some(Duration::from_millis(50)) };

/// Caps for deep recursion: room for Lua's own stack limit to trip first.
const DEEP: Limits =
    Limits { instructions: Some(50_000_000), memory_bytes: Some(256 << 20), timeout: Some(Duration::from_secs(60)) };

const SEED: &str = r#"return {
  context = { counter = 0, message = "start" },
  events = {
    { name = "increment", handler = function(ctx) ctx.counter = ctx.counter + 1 return ctx end },
    { name = "append", handler = function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end },
  },
}"#;

fn builder(limits: Limits) -> LuaChainBuilder {
    LuaChainBuilder::new().limits(limits)
}

fn load(limits: Limits, src: &str) -> LuaChain {
    builder(limits).load_str("hostile.lua", src).unwrap_or_else(|e| panic!("script should load: {e}\n{src}"))
}

/// Runs `chain` with `values` on top of its initial context.
fn run_with(chain: &LuaChain, values: &[(&str, Value)]) -> (eventchains_core::ChainResult, EventContext) {
    let mut map = Map::default();
    for (k, v) in values {
        map.insert((*k).to_owned(), v.clone());
    }
    let mut ctx = chain.context_with(map);
    let result = chain.execute(&mut ctx);
    (result, ctx)
}

/// Runs the attack and returns its failure; the chain must have failed at `attack`.
fn attack(chain: &LuaChain) -> EventFailure {
    let (result, ctx) = run_with(chain, &[("attack", Value::Bool(true))]);
    assert_eq!(result.status(), ChainStatus::Failed, "the attack should fail the chain: {result}");
    assert_eq!(ctx.get::<i64>("counter"), Some(0), "strict mode stops at the attack");
    let failure = result.failures()[0].clone();
    assert_eq!(failure.event(), "attack", "{failure}");
    failure
}

/// The same chain then runs a good execution, and the process a good chain.
fn still_good(chain: &LuaChain) {
    for _ in 0..2 {
        let (result, ctx) = run_with(chain, &[]);
        assert!(result.is_clean(), "the chain must stay usable: {result} {:?}", result.failures());
        assert_eq!(ctx.get::<i64>("counter"), Some(1));
    }
    good_chain_runs();
}

/// A fresh good chain loads and runs correctly on this thread.
fn good_chain_runs() {
    let seed = LuaChainBuilder::new().load_str("seed.lua", SEED).expect("seed loads");
    let mut ctx = seed.new_context();
    assert!(seed.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<i64>("counter"), Some(1));
    assert_eq!(ctx.get::<&str>("message"), Some("start -> processed"));
}

/// The attack `body` fails with `kind` and a message containing every needle.
fn check(limits: Limits, body: &str, kind: ErrorKind, needles: &[&str]) -> EventFailure {
    let chain = load(limits, &attack_template(body, ""));
    let failure = attack(&chain);
    assert_eq!(failure.kind(), kind, "{failure}");
    for needle in needles {
        assert!(failure.message().contains(needle), "`{}` should contain `{needle}`", failure.message());
    }
    still_good(&chain);
    failure
}

/// The script does not load; the error is returned, and a good chain still runs.
fn load_fails(limits: Limits, src: &str) -> LoadError {
    let err = match builder(limits).load_str("hostile.lua", src) {
        Ok(_) => panic!("script should not load:\n{src}"),
        Err(e) => e,
    };
    assert!(err.to_string().starts_with("hostile.lua"), "names the script: {err}");
    good_chain_runs();
    err
}

macro_rules! hostile {
    ($($(#[$meta:meta])* $name:ident($limits:expr): $body:expr => $kind:ident $(, $needle:expr)* ;)*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                check($limits, $body, ErrorKind::$kind, &[$($needle),*]);
            }
        )*
    };
}

const INSTR: &str = "instruction limit (200000) exceeded in event `attack`";
/// The engine's own argument error (Luau words it "invalid argument"), at the script's line.
const ARG_1_SETMETATABLE: &str =
    if cfg!(feature = "luau") { "invalid argument #1 to 'setmetatable'" } else { "bad argument #1 to 'setmetatable'" };

/// The part of a Lua error naming the nil variable (`global 'io'`): Lua 5.4
/// and LuaJIT name it, Luau does not (`attempt to index nil with 'open'`).
const fn culprit(name: &'static str) -> &'static str {
    if cfg!(feature = "luau") { "" } else { name }
}
const MEM: &str = "memory limit (8 MB) exceeded in event `attack`";

// ---------------------------------------------------------------- endless loops
hostile! {
    loop_plain(LIMITS): "while true do end" => LimitExceeded, INSTR;
    loop_wall_clock(CLOCK): "while true do end" => Timeout, "wall-clock limit (50 ms) exceeded in event `attack`";
    loop_in_coroutine_wrap(LIMITS): "coroutine.wrap(function() while true do end end)()" => LimitExceeded, INSTR;
    loop_resuming_a_coroutine(LIMITS):
        "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end"
        => LimitExceeded, INSTR;
    loop_inside_pcall(LIMITS): "pcall(function() while true do end end) ctx.escaped = true" => LimitExceeded, INSTR;
    loop_retrying_pcall(LIMITS): "while true do pcall(function() while true do end end) end" => LimitExceeded, INSTR;
    loop_in_xpcall_message_handler(LIMITS):
        "xpcall(function() error('x') end, function(e) while true do end end) ctx.escaped = true"
        => LimitExceeded, INSTR;
    loop_in_gsub_callback(LIMITS):
        "string.gsub(string.rep('a', 10), 'a', function() while true do end end)" => LimitExceeded, INSTR;
    loop_in_index_metamethod(LIMITS):
        "local t = setmetatable({}, { __index = function() while true do end end }) return t.x"
        => LimitExceeded, INSTR;
    loop_in_tostring_metamethod(LIMITS):
        "tostring(setmetatable({}, { __tostring = function() while true do end end }))" => LimitExceeded, INSTR;
    loop_in_sort_comparator(LIMITS):
        "local t = { 5, 3, 1, 4, 2 } table.sort(t, function(a, b) while true do end end)" => LimitExceeded, INSTR;
    loop_in_close_metamethod_loaded_at_run_time(LIMITS):
        "assert(load('local x <' .. 'close> = setmetatable({}, { __close = function() while true do end end }) while true do end'))()"
        // 5.4: "(<close>) are not allowed"; LuaJIT: "unexpected symbol near '<'"; Luau: "got '<'".
        => Event, "<";
    loop_in_gc_finalizer(LIMITS):
        "setmetatable({}, { __gc = function() while true do end end }) collectgarbage()"
        => Event, "__gc metamethods are not allowed";
}

// ---------------------------------------------------------------- memory bombs
hostile! {
    memory_string_rep(MEMORY): "local s = string.rep('x', 1e9)" => LimitExceeded, MEM;
    memory_string_rep_with_separator(MEMORY): "local s = ('x'):rep(1e8, ',')" => LimitExceeded, MEM;
    memory_table_growth(MEMORY): "local t = {} for i = 1, 1e9 do t[i] = i end" => LimitExceeded, MEM;
    memory_concat_doubling(MEMORY): "local s = 'x' while true do s = s .. s end" => LimitExceeded, MEM;
    memory_many_small_strings(MEMORY):
        "local t = {} for i = 1, 1e9 do t[#t + 1] = 'item ' .. i end" => LimitExceeded, MEM;
    memory_ctx_string_copies(MEMORY):
        "ctx.big = string.rep('x', 1e6) for i = 1, 1e9 do ctx['k' .. i] = ctx.big end" => LimitExceeded, "ctx";
    memory_ctx_table_doubling(MEMORY):
        "ctx.a = { 1 } for i = 1, 64 do ctx.a = { x = ctx.a, y = ctx.a } end" => LimitExceeded, "ctx";
    memory_ctx_copies_in_one_table(MEMORY):
        "ctx.big = { string.rep('x', 1e5) } local t = {} for i = 1, 1000 do t[i] = ctx.big end ctx.copy = t"
        => LimitExceeded, "ctx";
}

// ---------------------------------------------------------------- deep recursion and nesting
hostile! {
    recursion_plain(DEEP): "local function f(n) return f(n + 1) + 1 end f(1)" => Event, "stack overflow";
    /// (LuaJIT's smaller stack overflows before 200,000 instructions; so does
    /// Luau's, where each call is one tick of the instruction count.)
    #[cfg(not(any(feature = "luajit", feature = "luau")))]
    recursion_hits_the_instruction_limit_first(LIMITS): "local function f(n) return f(n + 1) + 1 end f(1)"
        => LimitExceeded, INSTR;
    recursion_through_pcall(LIMITS):
        "local function f() local ok, e = pcall(f) if not ok then error(e, 0) end end f()"
        => Event, "stack overflow";
    recursion_through_metamethod(LIMITS):
        "local t = setmetatable({}, {}) getmetatable(t).__index = function(t, k) return t[k] end return t.x"
        => Event, "stack overflow";
    nesting_lua_table_into_ctx(LIMITS):
        "local t = {} for i = 1, 100 do t = { t } end ctx.deep = t" => Event, "ctx.deep", "nested deeper than 64";
    nesting_cyclic_table_into_ctx(LIMITS): "local t = {} t.self = t ctx.c = t" => Event, "ctx.c", "a cycle?";
    nesting_by_walking_down_ctx(LIMITS):
        "local p = ctx for i = 1, 1e6 do p.x = {} p = p.x end" => Event, "nested deeper than 64";
    nesting_by_wrapping_ctx_values(LIMITS):
        "ctx.a = {} for i = 1, 1e6 do ctx.a = { ctx.a } end" => Event, "nested deeper than 64";
    nesting_in_returned_table(LIMITS):
        "local t = {} for i = 1, 100 do t = { t } end return { deep = t }" => Event, "returned table", "nested deeper";
}

// ---------------------------------------------------------------- the sandbox
hostile! {
    sandbox_io(LIMITS): "io.open('/etc/passwd')" => Event, "attempt to index", culprit("global 'io'");
    sandbox_os_execute(LIMITS): "os.execute('echo pwned')" => Event, "attempt to call", culprit("field 'execute'");
    sandbox_os_exit(LIMITS): "os.exit(1)" => Event, "attempt to call", culprit("field 'exit'");
    sandbox_os_getenv(LIMITS):
        "return nil, os.getenv('HOME')" => Event, "attempt to call", culprit("field 'getenv'");
    sandbox_require(LIMITS): "require('io')" => Event, "attempt to call", culprit("global 'require'");
    sandbox_package(LIMITS):
        "package.loadlib('libc.so.6', 'system')" => Event, "attempt to index", culprit("global 'package'");
    sandbox_debug(LIMITS): "debug.sethook()" => Event, "attempt to index", culprit("global 'debug'");
    sandbox_dofile(LIMITS): "dofile('/etc/passwd')" => Event, "attempt to call", culprit("global 'dofile'");
    sandbox_loadfile(LIMITS): "loadfile('/etc/passwd')" => Event, "attempt to call", culprit("global 'loadfile'");
    // Lua 5.1's and Luau's `loadstring` (LuaJIT's loads binary chunks) and
    // environment functions (`getfenv(0)` is the VM's real globals).
    sandbox_loadstring(LIMITS): "loadstring('return 1')" => Event, "attempt to call", culprit("global 'loadstring'");
    sandbox_getfenv(LIMITS): "getfenv(0).leaked = 1" => Event, "attempt to call", culprit("global 'getfenv'");
    sandbox_setfenv(LIMITS): "setfenv(1, {})" => Event, "attempt to call", culprit("global 'setfenv'");
    /// Luau has no `string.dump`; a script can still write bytecode by hand
    /// (version byte, types version, ...): `load` takes text only.
    #[cfg(feature = "luau")]
    sandbox_load_luau_bytecode(LIMITS):
        "assert(load('\\6\\3\\1\\0\\0\\0'))" => Event, "attempt to load a binary chunk";
    /// (Luau has no `string.dump`.)
    #[cfg(not(feature = "luau"))]
    sandbox_load_bytecode(LIMITS):
        "assert(load(string.dump(function() return 1 end)))" => Event, "attempt to load a binary chunk";
    #[cfg(not(feature = "luau"))]
    sandbox_load_bytecode_mode_b(LIMITS):
        "assert(load(string.dump(function() end), 'x', 'b', {}))" => Event, "attempt to load a binary chunk";
    #[cfg(not(feature = "luau"))]
    sandbox_load_bytecode_from_reader(LIMITS):
        "local s = string.dump(function() end) local done = false
         assert(load(function() if done then return nil end done = true return s end))"
        => Event, "attempt to load a binary chunk";
    sandbox_collectgarbage_stop(LIMITS): "collectgarbage('stop')" => Event, "collectgarbage", "not allowed";
    sandbox_collectgarbage_tuning(LIMITS): "collectgarbage('setpause', 1)" => Event, "collectgarbage", "not allowed";
    sandbox_string_library_is_read_only(LIMITS): "string.rep = function() return 'pwned' end" => Event, "read-only";
    sandbox_string_metatable_is_hidden(LIMITS):
        "getmetatable('').__index.upper = function() return 'pwned' end" => Event, "attempt to index";
    sandbox_rawset_on_library(LIMITS): "rawset(string, 'rep', print)" => Event, "read-only";
}

// ---------------------------------------------------------------- tricks on ctx
hostile! {
    ctx_setmetatable(LIMITS): "setmetatable(ctx, {})" => Event, ARG_1_SETMETATABLE, "hostile.lua:7: ";
    /// As the engine's `coroutine.wrap`: a string error gets the caller's line
    /// in front (Luau's wrapper has no tail call: its level is counted apart).
    wrap_error_has_the_callers_line(LIMITS):
        "coroutine.wrap(function() error('x') end)()" => Event, "hostile.lua:7: hostile.lua:7: x";
    ctx_getmetatable_is_hidden(LIMITS):
        "local mt = getmetatable(ctx) mt.__index = nil" => Event, "attempt to index";
    ctx_rawset(LIMITS): "rawset(ctx, 'counter', 100)" => Event, "argument #1 to 'rawset'";
    ctx_rawget(LIMITS): "return nil, rawget(ctx, 'counter')" => Event, "argument #1 to 'rawget'";
    ctx_integer_key_at_root(LIMITS): "ctx[1] = 'x'" => Event, "keys of ctx are strings";
}

// ---------------------------------------------------------------- errors with odd values
hostile! {
    error_with_table(LIMITS): "error({ code = 42 })" => Event, "table";
    error_with_nil(LIMITS): "error(nil)" => Event, "nil";
    error_with_number(LIMITS): "error(42)" => Event, "42";
    error_with_function(LIMITS): "error(print)" => Event, "function";
    error_with_tostring_that_errors(LIMITS):
        "error(setmetatable({}, { __tostring = function() error('inner') end }))" => Event;
    error_with_tostring_that_loops(LIMITS):
        "error(setmetatable({}, { __tostring = function() while true do end end }))" => LimitExceeded, INSTR;
    failure_message_is_a_table(LIMITS): "return nil, { reason = 'x' }" => Event, "table";
    /// (The message's `__tostring` runs inside the call: its loop is the call's.)
    failure_message_tostring_loops(LIMITS):
        "return false, setmetatable({}, { __tostring = function() while true do end end })" => LimitExceeded, INSTR;
    handler_returns_a_function(LIMITS): "return print" => Event, "returned a function";
    yield_at_top_level(LIMITS): "coroutine.yield(1)" => Event, "yield";
}

// ---------------------------------------------------------------- values with no context form
hostile! {
    value_invalid_utf8_string(LIMITS): "ctx.s = 'ok\\255\\254'" => Event, "ctx.s: string is not valid UTF-8";
    value_invalid_utf8_key(LIMITS): "ctx['\\255'] = 1" => Event, "a key of ctx is not valid UTF-8";
    value_invalid_utf8_nested(LIMITS): "ctx.t = { a = { 'x', '\\200' } }" => Event, "ctx.t.a[2]", "UTF-8";
    value_invalid_utf8_nested_key(LIMITS): "ctx.t = { ['\\200'] = 1 }" => Event, "ctx.t", "UTF-8";
    value_function(LIMITS): "ctx.f = print" => Event, "ctx.f: a function has no context value";
    value_thread(LIMITS): "ctx.co = coroutine.create(print)" => Event, "ctx.co: a thread has no context value";
    value_nan(LIMITS): "ctx.n = 0/0" => Event, "ctx.n", "not finite";
    value_infinity(LIMITS): "ctx.list = { 1, -1/0 }" => Event, "ctx.list[2]", "not finite";
    value_mixed_keys(LIMITS): "ctx.t = { 1, 2, x = 3 }" => Event, "ctx.t", "mixes a list";
    value_sparse_keys(LIMITS): "ctx.t = { [1] = 1, [3] = 3 }" => Event, "ctx.t";
    value_float_keys(LIMITS): "ctx.t = { [1.5] = 1 }" => Event, "ctx.t", "[1.5]";
    value_boolean_keys(LIMITS): "ctx.t = { [true] = 1 }" => Event, "ctx.t", "boolean";
    value_returned_function(LIMITS): "return { f = print }" => Event, "returned table", "function";
}

// ---------------------------------------------------------------- globals
#[test]
fn globals_do_not_leak_between_executions() {
    let chain = load(
        LIMITS,
        r#"return { context = { counter = 0 }, events = {
            { name = "attack", handler = function(ctx)
                if ctx.attack then leaked = "secret" end
                ctx.saw = leaked or "nothing"
              end },
            { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end },
        } }"#,
    );
    let failure = attack(&chain);
    assert_eq!(failure.kind(), ErrorKind::Event);
    assert!(failure.message().contains("global `leaked`"), "{failure}");
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<&str>("saw"), Some("nothing"));
    still_good(&chain);
}

#[test]
fn globals_cannot_be_reached_through_g_load_or_rawset() {
    for body in [
        "_G.leaked = 'secret'",
        "rawset(_G, 'leaked', 'secret')",
        "load('leaked = \"secret\"')()",
        "print = nil",
        "string = nil",
        "setmetatable(_G, nil)",
    ] {
        let chain = load(
            LIMITS,
            &attack_template(body, "").replace(
                "if ctx.attack then",
                "ctx.saw = type(leaked) .. type(print) .. type(string) if ctx.attack then",
            ),
        );
        let failure = attack(&chain);
        assert_eq!(failure.kind(), ErrorKind::Event, "{body}: {failure}");
        let (result, ctx) = run_with(&chain, &[]);
        assert!(result.is_clean(), "{body}: {result}");
        assert_eq!(ctx.get::<&str>("saw"), Some("nilfunctiontable"), "{body}");
    }
    good_chain_runs();
}

#[test]
fn globals_defined_while_loading_stay_usable() {
    let chain = load(
        LIMITS,
        r#"function helper(x) return x * 2 end
        return { context = { counter = 0 }, events = {
            { name = "count", handler = function(ctx) ctx.counter = math.floor(helper(ctx.counter + 1) / 2) end },
        } }"#,
    );
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.get::<i64>("counter"), Some(1));
}

#[test]
fn collectgarbage_count_and_collect_still_work() {
    let chain = load(LIMITS, &one("collectgarbage() collectgarbage('step') ctx.kb = collectgarbage('count') > 0"));
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.get::<bool>("kb"), Some(true));
}

fn one(body: &str) -> String {
    format!("return {{ events = {{ {{ name = 'e', handler = function(ctx) {body} end }} }} }}")
}

// ---------------------------------------------------------------- ctx kept past its event
#[test]
fn nested_ctx_value_kept_in_an_upvalue_is_refused_later() {
    let chain = load(
        LIMITS,
        r#"local saved
        return { context = { counter = 0, order = { total = 5 } }, events = {
            { name = "attack", handler = function(ctx)
                if ctx.attack then return nil, saved.total end
                saved = ctx.order
              end },
            { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end },
        } }"#,
    );
    let (result, _) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    let failure = attack(&chain);
    assert_eq!(failure.kind(), ErrorKind::Event);
    assert!(failure.message().contains("belongs to a call that is over"), "{failure}");
    still_good(&chain);
}

#[test]
fn nested_ctx_value_kept_in_a_coroutine_is_refused_later() {
    let chain = load(
        LIMITS,
        r#"local co
        return { context = { counter = 0, order = { total = 5 } }, events = {
            { name = "attack", handler = function(ctx)
                if ctx.attack then local ok, v = coroutine.resume(co) if not ok then error(v, 0) end return end
                local order = ctx.order
                co = coroutine.create(function() coroutine.yield() order.total = 6 end)
                coroutine.resume(co)
              end },
            { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end },
        } }"#,
    );
    let (result, _) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    let failure = attack(&chain);
    assert!(failure.message().contains("belongs to a call that is over"), "{failure}");
    still_good(&chain);
}

#[test]
fn root_ctx_kept_past_its_event_sees_only_the_running_call() {
    let chain = load(
        LIMITS,
        r#"local saved
        return { context = { counter = 0 }, events = {
            { name = "attack", handler = function(ctx)
                if saved then ctx.same = rawequal(saved, ctx) ctx.seen = saved.counter end
                saved = ctx
              end },
            { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end },
        } }"#,
    );
    run_with(&chain, &[("counter", Value::Int(10))]);
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    // The kept `ctx` reads the context of the running execution, not the old one.
    assert_eq!(ctx.get::<i64>("seen"), Some(0));
    assert_eq!(ctx.get::<bool>("same"), Some(true));
}

#[test]
fn finalizers_are_refused_even_while_loading() {
    // Lua runs `__gc` with hooks disabled: an endless finalizer could never be
    // stopped (and would hang closing the VM), so the sandbox refuses them.
    let err = load_fails(
        LIMITS,
        "local keep = setmetatable({}, { __gc = function() while true do end end }) return { events = {} }",
    );
    assert!(matches!(err, LoadError::Runtime { .. }), "{err}");
    assert!(err.to_string().contains("__gc metamethods are not allowed"), "{err}");
    let chain = load(LIMITS, &attack_template("setmetatable({}, { __gc = function() ctx.from_gc = true end })", ""));
    let failure = attack(&chain);
    assert!(failure.message().contains("__gc metamethods are not allowed"), "{failure}");
    still_good(&chain);
    // A metatable that gets `__gc` only later does not make a finalizer (Lua
    // registers finalizers when the metatable is set).
    let chain = load(
        LIMITS,
        &attack_template(
            "local mt = {} setmetatable({}, mt) mt.__gc = function() while true do end end collectgarbage() error('done')",
            "",
        ),
    );
    let failure = attack(&chain);
    assert!(failure.message().contains("done"), "{failure}");
    let before = thread_vm_count();
    drop(chain);
    assert_eq!(thread_vm_count(), before - 1);
    good_chain_runs();
}

// ---------------------------------------------------------------- middleware and next
#[test]
fn middleware_calling_next_twice_runs_the_event_twice() {
    let chain = load(LIMITS, &attack_template("", "function(event, ctx, next) next(ctx) return next(ctx) end"));
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("counter"), Some(2), "`count` ran twice");
    good_chain_runs();
}

#[test]
fn middleware_never_calling_next_skips_the_events() {
    let chain =
        load(LIMITS, &attack_template("", "function(event, ctx, next) ctx.skipped = (ctx.skipped or 0) + 1 end"));
    let (result, ctx) = run_with(&chain, &[]);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("counter"), Some(0));
    assert_eq!(ctx.get::<i64>("skipped"), Some(2));
    good_chain_runs();
}

#[test]
fn next_kept_and_called_from_an_event_is_refused() {
    let chain = load(
        LIMITS,
        r#"local kept
        return { context = { counter = 0 },
          middleware = { function(event, ctx, next) kept = next return next(ctx) end },
          events = {
            { name = "attack", handler = function(ctx) if ctx.attack then return kept(ctx) end end },
            { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end },
          } }"#,
    );
    let failure = attack(&chain);
    assert!(failure.message().contains("next() can only be called by the middleware"), "{failure}");
    still_good(&chain);
}

/// A Lua middleware running `attack_body` when `ctx.attack` is set fails as a
/// middleware failure of `kind` whose message contains every needle.
fn check_middleware(attack_body: &str, kind: ErrorKind, needles: &[&str]) {
    let middleware = format!("function(event, ctx, next) if ctx.attack then {attack_body} end return next(ctx) end");
    let chain = load(LIMITS, &attack_template("", &middleware));
    let failure = attack(&chain);
    assert_eq!(failure.kind(), kind, "{failure}");
    assert_eq!(failure.origin(), Origin::Middleware, "{failure}");
    for needle in needles {
        assert!(failure.message().contains(needle), "`{}` should contain `{needle}`", failure.message());
    }
    still_good(&chain);
}

#[test]
fn endless_middleware_is_a_middleware_limit_failure() {
    check_middleware(
        "while true do end",
        ErrorKind::LimitExceeded,
        &["instruction limit (200000) exceeded", "around event `attack`"],
    );
}

#[test]
fn middleware_that_yields_is_a_middleware_failure() {
    check_middleware("coroutine.yield()", ErrorKind::Middleware, &["yield"]);
}

// ---------------------------------------------------------------- huge and deep values from Rust
#[test]
fn huge_string_from_rust_hits_the_memory_limit_cleanly() {
    let chain = load(MEMORY, &attack_template("ctx.len = #ctx.big", ""));
    let (result, _) = run_with(&chain, &[("attack", Value::Bool(true)), ("big", Value::String("x".repeat(16 << 20)))]);
    let failure = &result.failures()[0];
    assert_eq!(failure.kind(), ErrorKind::LimitExceeded, "{failure}");
    assert!(failure.message().contains(MEM), "{failure}");
    still_good(&chain);
}

#[test]
fn large_and_deep_values_from_rust_are_readable() {
    let chain = load(
        LIMITS,
        &attack_template(
            "local sum = 0 for _, v in ipairs(ctx.list) do sum = sum + v end ctx.sum = sum
             local p, depth = ctx.deep, 0 while type(p) == 'userdata' do depth = depth + 1 p = p[1] end ctx.depth = depth
             ctx.json_len = #tostring(ctx.deep)",
            "",
        ),
    );
    let mut deep = Value::Int(7);
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let list = Value::Array((1..=5_000).map(Value::Int).collect());
    let (result, ctx) = run_with(&chain, &[("attack", Value::Bool(true)), ("list", list), ("deep", deep)]);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.get::<i64>("sum"), Some(5_000 * 5_001 / 2));
    assert_eq!(ctx.get::<i64>("depth"), Some(200));
    assert_eq!(ctx.get::<i64>("json_len"), Some(401));
    still_good(&chain);
}

#[test]
fn huge_values_written_back_from_lua_within_the_cap_round_trip() {
    let chain = load(
        LIMITS,
        &attack_template(
            "local t = {} for i = 1, 10000 do t[i] = { id = i } end ctx.items = t ctx.text = string.rep('y', 1e6)",
            "",
        ),
    );
    let (result, ctx) = run_with(&chain, &[("attack", Value::Bool(true))]);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.value("items").and_then(Value::as_array).map(Vec::len), Some(10_000));
    assert_eq!(ctx.get::<&str>("text").map(str::len), Some(1_000_000));
}

// ---------------------------------------------------------------- broken scripts
#[test]
fn scripts_that_do_not_return_a_table() {
    for (src, got) in [
        ("return 42", "number"),
        ("return 'events'", "string"),
        ("return function() end", "function"),
        ("return", "nil"),
        ("local x = 1", "nil"),
        ("return coroutine.create(print)", "another type"),
    ] {
        let err = load_fails(LIMITS, src);
        assert!(matches!(err, LoadError::Invalid { .. }), "{src}: {err}");
        assert!(err.to_string().contains("must return a table"), "{src}: {err}");
        assert!(err.to_string().contains(got), "{src}: {err}");
    }
}

#[test]
fn scripts_that_error_while_loading() {
    for (src, needle) in [
        ("error('boom')", "boom"),
        ("error({ code = 1 })", "table"),
        ("error(setmetatable({}, { __tostring = function() error('inner') end }))", ""),
        ("local x = nil + 1", "arithmetic"),
        ("coroutine.yield()", "yield"),
        ("io.write('x')", if cfg!(feature = "luau") { "attempt to index nil" } else { "global 'io'" }),
    ] {
        let err = load_fails(LIMITS, src);
        assert!(matches!(err, LoadError::Runtime { .. }), "{src}: {err}");
        assert!(err.to_string().contains(needle), "{src}: {err}");
    }
}

#[test]
fn scripts_that_loop_or_explode_while_loading() {
    let err = load_fails(LIMITS, "while true do end return {}");
    assert_eq!(err.to_string(), "hostile.lua: instruction limit (200000) exceeded while running the script");
    let err = load_fails(LIMITS, "pcall(function() while true do end end) return { events = {} }");
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    let err = load_fails(LIMITS, "coroutine.wrap(function() while true do end end)() return {}");
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    let err = load_fails(CLOCK, "while true do end");
    assert_eq!(err.to_string(), "hostile.lua: wall-clock limit (50 ms) exceeded while running the script");
    let err = load_fails(MEMORY, "local s = string.rep('x', 1e9) return {}");
    assert_eq!(err.to_string(), "hostile.lua: memory limit (8 MB) exceeded while running the script");
    let err = load_fails(MEMORY, "local t = {} while true do t[#t + 1] = {} end");
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
}

#[test]
fn to_be_closed_variables_are_refused() {
    // After a limit error, Lua runs pending `__close` metamethods with hooks
    // disabled: an endless `__close` could never be stopped.
    let err = load_fails(
        LIMITS,
        "return { events = { { name = 'e', handler = function(ctx)\n local x <close> = setmetatable({}, { __close = function() while true do end end })\n while true do end end } } }",
    );
    assert!(matches!(err, LoadError::Syntax { line: 2, .. }), "{err}");
    // LuaJIT and Luau have no `<close>`: their parsers refuse it.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    assert!(err.to_string().contains("<close>"), "{err}");
}

#[test]
fn scripts_with_syntax_errors_and_absurd_nesting() {
    let err = load_fails(LIMITS, "return { events = {\n\n  { name = 'a' handler = 1 } } }");
    assert_eq!(err.line(), Some(3), "{err}");
    let nested = format!("return {}{}", "{".repeat(100_000), "}".repeat(100_000));
    let err = load_fails(LIMITS, &nested);
    assert!(matches!(err, LoadError::Syntax { .. }), "{err}");
    let err = load_fails(LIMITS, "return { events = { ] }");
    assert!(matches!(err, LoadError::Syntax { .. }), "{err}");
    let err = load_fails(LIMITS, "\u{1b}Lua");
    assert!(matches!(err, LoadError::Syntax { .. }), "binary chunks are refused: {err}");
}

#[test]
fn invalid_utf8_in_the_initial_context_is_a_load_error() {
    let err = load_fails(LIMITS, "return { context = { s = '\\255' }, events = {} }");
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert!(err.to_string().contains("context"), "{err}");
}

#[test]
fn script_limits_cannot_raise_the_host_caps() {
    let chain = load(
        LIMITS,
        &attack_template("while true do end", "").replacen(
            "return {",
            "return { limits = { instructions = 1e12, memory_mb = 1e6, timeout_ms = 1e9 },",
            1,
        ),
    );
    assert_eq!(chain.limits(), LIMITS);
    let failure = attack(&chain);
    assert!(failure.message().contains(INSTR), "{failure}");
    still_good(&chain);
}

#[test]
fn many_hostile_runs_leave_no_state_behind() {
    let chain = load(
        LIMITS,
        &attack_template(
            "if ctx.mode == 1 then while true do end elseif ctx.mode == 2 then error({}) else local s = string.rep('x', 1e9) end",
            "",
        ),
    );
    for i in 0..30 {
        let (result, _) = run_with(&chain, &[("attack", Value::Bool(true)), ("mode", Value::Int(i % 3))]);
        assert_eq!(result.status(), ChainStatus::Failed);
        let (result, ctx) = run_with(&chain, &[]);
        assert!(result.is_clean(), "{result}");
        assert_eq!(ctx.get::<i64>("counter"), Some(1));
    }
    good_chain_runs();
}
