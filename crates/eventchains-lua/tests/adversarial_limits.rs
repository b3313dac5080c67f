//! Hostile scripts against the limits themselves (issue 9, items 4, 5, 7, 9
//! and 10; issue 10, item 5): long C work, time spent in `next`, single
//! library calls that loop, tables that expand when copied, numbers that do
//! not fit a `Duration`.
//!
//! Every runtime case asserts the failure's kind and its message (naming the
//! event or middleware and the limit), then runs the same chain twice without
//! the attack and checks both runs are clean. Outcomes never depend on the
//! machine's speed: a case that expects `timeout` runs with no instruction cap
//! and a generous memory cap (only the clock can stop it), and a case that
//! expects the instruction cap runs with no time cap.

mod common;

use common::{attack_template, run_attack};

use std::time::Duration;

use eventchains_core::{ChainStatus, ErrorKind, EventFailure, EventRegistry, FnEvent, Value};
use eventchains_lua::{Limits, LoadError, LuaChain, LuaChainBuilder};

/// Only the clock can stop these: no instruction cap, room in memory.
const TIME: Limits =
    Limits { instructions: None, memory_bytes: Some(256 << 20), timeout: Some(Duration::from_millis(50)) };
const TIMEOUT: &str = "wall-clock limit (50 ms) exceeded in event `attack`";

/// Only the instruction cap can stop these: no time cap.
const COUNT: Limits = Limits { instructions: Some(1_000_000), memory_bytes: Some(256 << 20), timeout: None };
const INSTR: &str = "instruction limit (1000000) exceeded in event `attack`";

/// Only the memory cap can stop these.
const MEMORY: Limits = Limits { instructions: None, memory_bytes: Some(8 << 20), timeout: None };

/// The test registries plus `nap` (a Rust event sleeping 2 ms), `slow` (a
/// Rust event sleeping 500 ms when `ctx.attack` is set) and the host function
/// `nap(ms)`.
fn builder(limits: Limits) -> LuaChainBuilder {
    let mut events: EventRegistry = common::events();
    events.register_event(
        "nap",
        FnEvent::new("nap", |_ctx| {
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        }),
    );
    events.register_event(
        "slow",
        FnEvent::new("slow", |ctx| {
            if ctx.get::<bool>("attack") == Some(true) {
                std::thread::sleep(Duration::from_millis(500));
            }
            Ok(())
        }),
    );
    LuaChainBuilder::new()
        .event_registry(events)
        .middleware_registry(common::middleware())
        .register_fn("nap", |ms: u64| std::thread::sleep(Duration::from_millis(ms)))
        .limits(limits)
}

fn load(limits: Limits, src: &str) -> LuaChain {
    builder(limits).load_str("test.lua", src).unwrap_or_else(|e| panic!("script should load: {e}\n{src}"))
}

/// The chain runs cleanly twice without the attack.
fn runs_cleanly_twice(chain: &LuaChain) {
    for _ in 0..2 {
        let (result, ctx) = run_attack(chain, false);
        assert!(result.is_clean(), "{result}");
        assert_eq!(ctx.get::<i64>("counter"), Some(1));
    }
}

/// The attack fails the chain (strict) with `kind` and `message`; then the chain runs cleanly twice.
fn check(limits: Limits, body: &str, kind: ErrorKind, message: &str) -> EventFailure {
    let chain = load(limits, &attack_template(body, ""));
    let (result, _) = run_attack(&chain, true);
    assert_eq!(result.status(), ChainStatus::Failed, "{result}");
    let failure = result.failures()[0].clone();
    assert_eq!(failure.event(), "attack", "{failure}");
    assert_eq!(failure.kind(), kind, "{failure}");
    assert!(failure.message().contains(message), "`{}` should contain `{message}`", failure.message());
    runs_cleanly_twice(&chain);
    failure
}

macro_rules! hostile {
    ($($(#[$meta:meta])* $name:ident($limits:expr): $body:expr => $kind:ident, $message:expr;)*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                check($limits, $body, ErrorKind::$kind, $message);
            }
        )*
    };
}

// ------------------------------------------------------------ item 4: time in C
// Sizes are written out: LuaJIT and Luau have no `<<` operator.
hostile! {
    /// Few instructions, each a long C call.
    time_in_string_rep(TIME): "while true do local s = string.rep('x', 4194304) end" => Timeout, TIMEOUT;
    time_in_concat_operator(TIME):
        "local s = string.rep('x', 1048576) while true do local y = s .. 'y' end" => Timeout, TIMEOUT;
    time_in_front_inserts(TIME):
        "local t = {} for i = 1, 100000 do t[i] = i end
         while true do table.insert(t, 1, 0) table.remove(t, 1) end" => Timeout, TIMEOUT;
    /// (LuaJIT's and Luau's `table.insert` need real tables.)
    #[cfg(not(any(feature = "luajit", feature = "luau")))]
    time_in_front_inserts_on_a_ctx_array(TIME):
        "ctx.arr = {} for i = 1, 5000 do ctx.arr[i] = i end
         while true do table.insert(ctx.arr, 1, 0) table.remove(ctx.arr, 1) end" => Timeout, TIMEOUT;
    time_in_sort(TIME):
        "local t = {} for i = 1, 100000 do t[i] = -i end while true do table.sort(t) end" => Timeout, TIMEOUT;
    time_in_full_collections(TIME):
        "local keep = {} for i = 1, 100000 do keep[i] = { i } end while true do collectgarbage() end"
        => Timeout, TIMEOUT;
    time_in_a_host_function(TIME): "while true do nap(1) end" => Timeout, TIMEOUT;
    /// One call, never ending on its own: only the clock stops it.
    time_in_one_table_move(TIME): "table.move({}, 1, 1e15, 2)" => Timeout, TIMEOUT;
    time_in_pcall_around_c_work(TIME):
        "while true do pcall(string.rep, 'x', 4194304) end ctx.escaped = true" => Timeout, TIMEOUT;
}

// A call that ends on its own after its cap (no check point after the long
// work but its own end) still fails: 500 ms of sleeping against a 50 ms cap
// leaves the watchdog 450 ms to notice, far more than any scheduling delay.
hostile! {
    time_then_return(TIME): "nap(500) do return true end" => Timeout, TIMEOUT;
}

#[test]
fn a_middleware_whose_next_outlasts_its_cap_fails_even_when_it_returns_true() {
    let chain = load(
        TIME,
        r#"return {
  context = { counter = 0 },
  middleware = { function(event, ctx, next) next(ctx) return true end },
  events = { { name = "attack", rust = "slow" },
             { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end } },
}"#,
    );
    let (result, _) = run_attack(&chain, true);
    let failure = &result.failures()[0];
    assert_eq!(failure.kind(), ErrorKind::Timeout, "{failure}");
    assert!(failure.message().starts_with("wall-clock limit (50 ms) exceeded in middleware[1]"), "{failure}");
    runs_cleanly_twice(&chain);
}

// ------------------------------------------------------------ item 9: single calls that loop
hostile! {
    move_over_a_huge_empty_range(COUNT): "table.move({}, 1, 1e13, 2)" => LimitExceeded, INSTR;
    move_backwards_over_a_huge_range(COUNT): "table.move({}, 1, 1e13, 5)" => LimitExceeded, INSTR;
    front_inserts_are_counted(COUNT):
        "local t = {} for i = 1, 100000 do t[i] = i end
         for i = 1, 1000 do table.insert(t, 1, 0) end" => LimitExceeded, INSTR;
    sorts_are_counted(COUNT):
        "local t = {} for i = 1, 200000 do t[i] = -i end for i = 1, 100 do table.sort(t) end" => LimitExceeded, INSTR;
    unpack_ranges_are_counted(COUNT):
        "local t = { 1 } for i = 1, 1000 do local _ = select('#', (table.unpack or unpack)(t, 1, 5000)) end"
        => LimitExceeded, INSTR;
    concat_ranges_are_counted(COUNT):
        "local t = {} for i = 1, 10000 do t[i] = 'x' end for i = 1, 1000 do table.concat(t, ',', 1, 10000) end"
        => LimitExceeded, INSTR;
    collections_are_counted(COUNT):
        "local keep = {} for i = 1, 100000 do keep[i] = { i } end for i = 1, 1000 do collectgarbage() end"
        => LimitExceeded, INSTR;
    big_loads_are_counted(COUNT):
        "local text = string.rep('x = 1 ', 12000) for i = 1, 1000 do load(text) end" => LimitExceeded, INSTR;
    rep_of_a_huge_non_empty_result(MEMORY):
        "local s = ('x'):rep(1e9)" => LimitExceeded, "memory limit (8 MB) exceeded in event `attack`";
}

/// Requests no machine can grant (a 2^50-byte string, built from a 1 MiB one:
/// LuaJIT truncates a count past 2^31), from a VM without a memory cap (or
/// with a cap above the machine's memory): mlua's allocator aborts the process
/// when the system refuses an allocation, so every VM's memory is bounded by
/// the machine's and such a request fails inside Lua. Lua 5.5 tries to
/// allocate these strings (a memory error); Lua 5.4, LuaJIT and Luau refuse
/// them first as too large; the bounded `string.rep` may charge the work to
/// the instruction cap first. Any of these, never an abort.
#[test]
fn requests_past_the_machines_memory_fail_the_event_without_a_cap() {
    let no_cap = Limits { instructions: Some(1_000_000), memory_bytes: None, timeout: None };
    let huge_cap = Limits { memory_bytes: Some(usize::MAX), ..no_cap };
    for limits in [no_cap, huge_cap] {
        for body in [
            "local s = ('x'):rep(1048576):rep(1073741824)",
            "local s = string.rep(('ab'):rep(524288), 1073741824, ',')",
        ] {
            let chain = load(limits, &attack_template(body, ""));
            let (result, _) = run_attack(&chain, true);
            assert_eq!(result.status(), ChainStatus::Failed, "{body}: {result}");
            let failure = &result.failures()[0];
            assert_eq!(failure.event(), "attack", "{failure}");
            let expected = match failure.kind() {
                ErrorKind::LimitExceeded => {
                    ["memory limit (available memory) exceeded", "instruction limit"].as_slice()
                }
                ErrorKind::Event => ["too large", "overflow"].as_slice(),
                _ => &[],
            };
            assert!(expected.iter().any(|m| failure.message().contains(m)), "{body}: {failure}");
            runs_cleanly_twice(&chain);
        }
    }
}

#[test]
fn rep_of_an_empty_result_is_instant_whatever_the_count() {
    let chain = load(
        COUNT,
        &attack_template("ctx.len = #string.rep('', 1e15) + #string.rep('', 1e15, '') + #(''):rep(2^53)", ""),
    );
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("len"), Some(0));
    runs_cleanly_twice(&chain);
}

#[test]
fn table_move_in_chunks_moves_what_the_c_function_moves() {
    let chain = load(
        COUNT,
        &attack_template(
            "local a = {} for i = 1, 10000 do a[i] = i end
             table.move(a, 1, 10000, 3)
             local b = table.move(a, 1, 10002, 1, {})
             ctx.moved = { b[1], b[2], b[3], b[10002], #b }",
            "",
        ),
    );
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<Vec<i64>>("moved"), Some(vec![1, 2, 1, 10000, 10002]));
    runs_cleanly_twice(&chain);
}

// ------------------------------------------------------------ item 9: backtracking patterns
// Each would run for hours in the C matcher; the Rust matcher counts its steps
// against the instruction cap (no time cap here: only the count can stop it).
hostile! {
    find_with_lazy_repetitions(COUNT):
        "string.find(string.rep('a', 5000), '.-.-.-.-b')" => LimitExceeded, INSTR;
    find_as_a_method_with_greedy_repetitions(COUNT):
        "local s = ('a'):rep(5000) s:find('a*a*a*a*b')" => LimitExceeded, INSTR;
    match_with_nested_captures(COUNT):
        "string.match(string.rep('a', 5000), '(.-)(.-)(.-)(.-)x')" => LimitExceeded, INSTR;
    match_anchored_with_back_references(COUNT):
        "string.match(string.rep('a', 20000), '^(a*)(a*)%1%2b')" => LimitExceeded, INSTR;
    gsub_with_lazy_repetitions(COUNT):
        "string.gsub(string.rep('a', 5000), 'a-a-a-a-b', 'x')" => LimitExceeded, INSTR;
    gsub_with_a_function_never_called(COUNT):
        "string.gsub(string.rep('ab', 3000), '(.-)b(.-)b(.-)c', function() ctx.called = true end)"
        => LimitExceeded, INSTR;
    gmatch_loop(COUNT):
        "for a in string.gmatch(string.rep('a', 5000), '(.-).-.-b') do end" => LimitExceeded, INSTR;
    exponential_optionals(COUNT):
        "string.find(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40) .. 'b')"
        => LimitExceeded, INSTR;
    balanced_matches_everywhere(COUNT):
        "string.find(string.rep('(', 100000), '%b()%b()')" => LimitExceeded, INSTR;
    plain_find_of_a_long_needle(COUNT):
        "local s = ('a'):rep(1000000) s:find(('a'):rep(10000) .. 'b', 1, true)" => LimitExceeded, INSTR;
    patterns_in_pcall_in_a_loop(COUNT):
        "local s = string.rep('a', 5000)
         while true do pcall(string.find, s, '.-.-.-.-b') pcall(string.gsub, s, '.-.-b', '') end
         ctx.escaped = true" => LimitExceeded, INSTR;
    gmatch_iterators_in_pcall_in_a_loop(COUNT):
        "local s = string.rep('a', 5000)
         while true do pcall(function() for a in s:gmatch('(.-).-.-b') do end end) end
         ctx.escaped = true" => LimitExceeded, INSTR;
    many_cheap_matches_of_a_long_gmatch(COUNT):
        "local s = string.rep('ab ', 200000)
         while true do for k, v in s:gmatch('(%w)(%w)%s*') do end end" => LimitExceeded, INSTR;
    gsub_replacement_function_that_loops(COUNT):
        "string.gsub(string.rep('a b ', 3000), '(%w)%s*(%w*)%s*', function() while true do end end)"
        => LimitExceeded, INSTR;
    gsub_replacement_function_catching_its_limit(COUNT):
        "local s = string.rep('a b ', 3000)
         while true do pcall(string.gsub, s, '(%w)%s*(%w*)%s*', function() pcall(string.rep, 'x', 10) end) end"
        => LimitExceeded, INSTR;
}

/// What a memory error raised inside a string-library C function is reported
/// as: a limit, on every engine (on LuaJIT the error passes through the
/// sandbox's nesting wrapper around `gsub`, which raises it again as a plain
/// error; it is still a memory-limit hit).
const GSUB_MEMORY: (ErrorKind, &str) = (ErrorKind::LimitExceeded, "memory limit (8 MB) exceeded in event `attack`");

/// The result of a costly `gsub` grows in Lua's memory: the memory cap stops
/// it cleanly, whatever the replacement's kind, as it stops the C function's.
#[test]
fn gsub_results_beyond_the_memory_cap() {
    for body in [
        // The C function (a cheap pattern), for comparison.
        "local s = string.rep('x', 100000) local r = string.gsub(s, 'x', string.rep('y', 1000))",
        // The bounded path: a string, a function and a table replacement.
        "local s = string.rep('x', 100000) local r = string.gsub(s, 'x%s*', string.rep('y', 1000))",
        "local y = string.rep('y', 1000)
         local r = string.gsub(string.rep('x', 100000), 'x%s*', function() return y end)",
        "local t = { x = string.rep('y', 1000) }
         local r = string.gsub(string.rep('x', 100000), 'x%s*', t)",
    ] {
        check(MEMORY, body, GSUB_MEMORY.0, GSUB_MEMORY.1);
    }
}

/// A memory error while a costly `gsub` builds its result is an ordinary
/// Lua memory error: `pcall` catches it, the buffer is freed, the handler
/// and the chain go on.
#[test]
fn a_gsub_result_beyond_the_memory_cap_is_a_memory_error_pcall_catches() {
    let chain = load(
        MEMORY,
        &attack_template(
            "local t = { x = string.rep('y', 1000) }
             local ok, e = pcall(string.gsub, string.rep('x', 100000), 'x%s*', t)
             ctx.caught = not ok and tostring(e)
             -- The failed result's garbage, collected now: Luau has no
             -- emergency collection, so without this the next call's room
             -- would depend on when its collector last ran.
             collectgarbage()
             local r, n = string.gsub(string.rep('x', 1000), 'x%s*', t)
             ctx.after = #r + n",
            "",
        ),
    );
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<String>("caught").as_deref(), Some("not enough memory"));
    assert_eq!(ctx.get::<i64>("after"), Some(1_000_000 + 1000));
    runs_cleanly_twice(&chain);
}

/// Ordinary uses keep their answers on short subjects (the C matcher) and on
/// long ones (the Rust matcher past the budget).
#[test]
fn ordinary_patterns_keep_their_answers_on_short_and_long_subjects() {
    let chain = load(
        COUNT,
        &attack_template(
            r#"
            local function checks(pad)
              local line = pad .. "name = Ada; lang=Lua"
              local k, v = line:match("(%w+)%s*=%s*(%w+)")
              assert(k == "name" and v == "Ada", tostring(k))
              assert(select(2, line:gsub("(%w+)%s*=%s*(%w+)", "%2=%1")) == 2)
              assert(("hello world"):gsub("(%w+)", "<%1>") == "<hello> <world>")
              assert(line:gsub("%w+", { name = "NAME", lang = false }):sub(-20) == "NAME = Ada; lang=Lua")
              assert(line:gsub("(%a)(%a*)", function(a, b) return a:upper() .. b end):sub(-20) == "Name = Ada; Lang=Lua")
              assert(line:find("^" .. pad .. "name") == 1 and line:find("^name") == (pad == "" and 1 or nil))
              assert(line:find("Lua$") == #line - 2)
              local words = {}
              for w in line:gmatch("%a+") do words[#words + 1] = w end
              assert(#words == 4 and words[4] == "Lua", #words)
              local pairs_ = {}
              for key, value in line:gmatch("(%w+)%s*=%s*(%w+)") do pairs_[#pairs_ + 1] = key .. ":" .. value end
              assert(table.concat(pairs_, ",") == "name:Ada,lang:Lua")
              assert(select(2, line:gsub("", "")) == #line + 1)
              local squeezed = line:gsub("%s+", "", 2) assert(squeezed == (pad == "" and "name=Ada; lang=Lua" or "name= Ada; lang=Lua"), squeezed)
              assert(not pcall(string.find, line, "(%w+"))
              -- (LuaJIT's C function omits the number)
              assert(select(2, pcall(string.gsub, line, "%w+", "%9")):sub(1, 21) == "invalid capture index")
              return true
            end
            checks("")
            checks(string.rep(" ", 10000))
            ctx.ok = true
            "#,
            "",
        ),
    );
    let (result, ctx) = run_attack(&chain, true);
    assert!(result.is_clean(), "{result}: {:?}", result.failures());
    assert_eq!(ctx.get::<bool>("ok"), Some(true));
    runs_cleanly_twice(&chain);
}

// ------------------------------------------------------------ item 5: time inside `next`
fn middleware_script(events: &str) -> String {
    format!(
        r#"return {{
  context = {{ counter = 0 }},
  middleware = {{
    function(event, ctx, next)
      if ctx.attack then
        while true do next(ctx) end
      end
      return next(ctx)
    end,
  }},
  events = {{ {events} }},
}}"#
    )
}

fn check_middleware(events: &str) {
    let chain = load(TIME, &middleware_script(events));
    let (result, _) = run_attack(&chain, true);
    assert_eq!(result.status(), ChainStatus::Failed, "{result}");
    let failure = &result.failures()[0];
    assert_eq!(failure.kind(), ErrorKind::Timeout, "{failure}");
    assert_eq!(failure.origin(), eventchains_core::Origin::Middleware, "{failure}");
    assert!(failure.message().starts_with("wall-clock limit (50 ms) exceeded in middleware[1]"), "{failure}");
    assert!(failure.message().contains("(around event `attack`)"), "{failure}");
    runs_cleanly_twice(&chain);
}

#[test]
fn a_middleware_calling_next_forever_around_a_lua_event_is_stopped_by_its_own_cap() {
    check_middleware(
        r#"{ name = "attack", handler = function(ctx) for i = 1, 100 do end end },
           { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end }"#,
    );
}

#[test]
fn a_middleware_calling_next_forever_around_a_slow_rust_event_is_stopped_by_its_own_cap() {
    check_middleware(
        r#"{ name = "attack", rust = "nap" },
           { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end }"#,
    );
}

// ------------------------------------------------------------ item 7: tables that expand when copied
/// Lua making `t` a table whose copy has 2^40 leaves (each level references the previous twice).
const DOUBLING: &str = "local t = { 1 } for i = 1, 40 do t = { t, t } end";

fn load_error(limits: Limits, src: &str) -> LoadError {
    match builder(limits).load_str("test.lua", src) {
        Ok(_) => panic!("script should not load:\n{src}"),
        Err(e) => e,
    }
}

/// A load error for values too large to copy under `cap`, found at `path`.
fn assert_too_large(error: &LoadError, path: &str, cap: &str) {
    let text = error.to_string();
    assert!(matches!(error, LoadError::Invalid { .. }), "{error:?}");
    assert!(text.starts_with(&format!("test.lua: {path}")), "{text}");
    assert!(text.contains(&format!("too large: copied, they take more than {cap}")), "{text}");
    assert!(text.contains("copied once per reference"), "{text}");
}

#[test]
fn a_shared_table_doubling_in_the_initial_context_is_a_load_error() {
    let error = load_error(Limits::default(), &format!("{DOUBLING} return {{ context = {{ t = t }}, events = {{}} }}"));
    assert_too_large(&error, "context", "64 MB");
    // Without a memory cap the copy is still bounded.
    let error = load_error(Limits::UNLIMITED, &format!("{DOUBLING} return {{ context = {{ t = t }}, events = {{}} }}"));
    assert_too_large(&error, "context", "1024 MB");
    common_chain_still_loads();
}

#[test]
fn a_shared_table_doubling_in_configs_of_named_parts_is_a_load_error() {
    let middleware =
        format!("{DOUBLING} return {{ middleware = {{ {{ 'tag', tag = 'x', extra = t }} }}, events = {{}} }}");
    assert_too_large(&load_error(Limits::default(), &middleware), "middleware[1].extra", "64 MB");
    let event = format!("{DOUBLING} return {{ events = {{ {{ name = 'e', rust = 'rust_log', label = t }} }} }}");
    assert_too_large(&load_error(Limits::default(), &event), "events[1].label", "64 MB");
    common_chain_still_loads();
}

#[test]
fn the_copies_of_all_values_of_a_script_share_one_budget() {
    // Each copy of `t` (about 2.5 MB) fits in 4 MB; both together do not.
    let half = "local t = {} for i = 1, 20000 do t[i] = string.rep('x', 100) end";
    let src = format!(
        "{half} return {{ context = {{ a = t }}, middleware = {{ {{ 'tag', tag = 'x', more = t }} }}, events = {{}} }}"
    );
    let limits = Limits { memory_bytes: Some(4 << 20), ..Limits::UNLIMITED };
    // Which of the two copies is made first depends on Lua's key order.
    let error = load_error(limits, &src);
    let path = if error.to_string().starts_with("test.lua: context") { "context" } else { "middleware[1].more" };
    assert_too_large(&error, path, "4 MB");
    let alone = format!("{half} return {{ context = {{ a = t }}, events = {{}} }}");
    assert!(builder(limits).load_str("test.lua", &alone).is_ok());
}

#[test]
fn a_small_shared_table_is_copied_to_each_place() {
    let chain = load(
        Limits::default(),
        r#"local item = { sku = "tea", qty = 1 }
           return { context = { counter = 0, a = item, b = { item, item } },
             events = { { name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end } } }"#,
    );
    let (result, ctx) = run_attack(&chain, false);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.value("a").map(Value::to_json), Some(serde_json::json!({"qty": 1, "sku": "tea"})));
    assert_eq!(ctx.value("b").and_then(Value::as_array).map(Vec::len), Some(2));
    runs_cleanly_twice(&chain);
}

hostile! {
    doubling_table_returned_by_a_handler(MEMORY): &format!("{DOUBLING} return {{ t = t }}")
        => LimitExceeded, "memory limit (8 MB) exceeded by values written to ctx in event `attack`";
    doubling_table_written_to_ctx(MEMORY): &format!("{DOUBLING} ctx.t = t")
        => LimitExceeded, "memory limit (8 MB) exceeded by values written to ctx in event `attack`";
}

fn common_chain_still_loads() {
    let chain = load(Limits::default(), &attack_template("", ""));
    runs_cleanly_twice(&chain);
}

// ------------------------------------------------------------ item 10: numbers that do not fit
#[test]
fn extreme_numbers_in_the_scripts_limits_load_and_keep_the_host_caps() {
    for limits in [
        "timeout_ms = 1e30",
        "timeout_ms = 1e308",
        "timeout_ms = 2^64",
        "instructions = 1e30",
        "instructions = math.maxinteger",
        "instructions = 2^63",
        "memory_mb = 1e300",
        "memory_mb = math.maxinteger",
        "timeout_ms = 1e30, instructions = 1e300, memory_mb = 1e300",
    ] {
        let src = attack_template("", "").replacen("return {", &format!("return {{ limits = {{ {limits} }},"), 1);
        let chain = builder(Limits::default())
            .load_str("test.lua", &src)
            .unwrap_or_else(|e| panic!("`{limits}` should load: {e}"));
        assert_eq!(chain.limits(), Limits::default(), "{limits}: the host's caps apply");
        runs_cleanly_twice(&chain);
    }
}

#[test]
fn numbers_that_are_not_positive_and_finite_are_load_errors() {
    for (value, shown) in [
        ("0/0", "NaN"),
        ("-(0/0)", "NaN"),
        ("math.huge", "inf"),
        ("-math.huge", "-inf"),
        ("-1", "-1"),
        ("0", "0"),
        ("-1e300", "-1e300"),
        ("'5'", "a string"),
    ] {
        for key in ["timeout_ms", "instructions", "memory_mb"] {
            let src = format!("return {{ limits = {{ {key} = {value} }}, events = {{}} }}");
            let error = load_error(Limits::default(), &src);
            let text = error.to_string();
            assert!(text.starts_with(&format!("test.lua: limits.{key}: expected a positive number, got ")), "{text}");
            if !shown.contains("NaN") {
                assert!(text.ends_with(shown), "{key} = {value}: {text}");
            } else {
                assert!(text.to_lowercase().ends_with("nan"), "{key} = {value}: {text}");
            }
        }
    }
    common_chain_still_loads();
}

#[test]
fn a_host_time_cap_of_duration_max_means_no_cap() {
    let host = Limits { instructions: Some(1_000_000), memory_bytes: Some(64 << 20), timeout: Some(Duration::MAX) };
    // Top-level code long enough to reach the count hook, events, a loop stopped by the instruction cap.
    let src = attack_template("while true do end", "").replacen("return {", "for i = 1, 100000 do end return {", 1);
    let chain = builder(host).load_str("test.lua", &src).unwrap_or_else(|e| panic!("{e}"));
    let (result, _) = run_attack(&chain, true);
    let failure = &result.failures()[0];
    assert_eq!(failure.kind(), ErrorKind::LimitExceeded, "{failure}");
    assert_eq!(failure.message(), INSTR);
    runs_cleanly_twice(&chain);
    // The script's own huge cap is no cap either, and a context deadline far in the future is none.
    let src = attack_template("", "").replacen("return {", "return { limits = { timeout_ms = 1e300 },", 1);
    let chain = builder(Limits { timeout: Some(Duration::MAX), ..Limits::UNLIMITED })
        .load_str("test.lua", &src)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = chain.new_context();
    ctx.set_deadline(std::time::Instant::now().checked_add(Duration::from_secs(u64::MAX / 2)));
    assert!(chain.execute(&mut ctx).is_clean());
    runs_cleanly_twice(&chain);
}
