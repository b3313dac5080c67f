//! Limits (instructions, time, memory) and the sandbox.

mod common;

use std::time::{Duration, Instant};

use common::{builder, one_event, run};
use eventchains_core::{ChainStatus, ErrorKind, EventChain, EventContext, FnMiddleware};
use eventchains_lua::{Limits, LoadError, LuaChain};

fn limited(limits: Limits, src: &str) -> LuaChain {
    builder().limits(limits).load_str("lim.lua", src).unwrap_or_else(|e| panic!("{e}"))
}

const SPIN_THEN_OK: &str = r#"return { fault_tolerance = "lenient", events = {
    { name = "spin", handler = function(ctx) while true do end end },
    { name = "after", handler = function(ctx) ctx.after = (ctx.after or 0) + 1 end },
} }"#;

#[test]
fn infinite_loop_hits_the_instruction_limit_and_the_chain_stays_usable() {
    let chain = limited(Limits { instructions: Some(100_000), ..Limits::UNLIMITED }, SPIN_THEN_OK);
    for _ in 0..3 {
        let (result, ctx) = run(&chain);
        assert_eq!(result.status(), ChainStatus::CompletedWithWarnings);
        let f = &result.failures()[0];
        assert_eq!(f.event(), "spin");
        assert_eq!(f.kind(), ErrorKind::LimitExceeded);
        assert_eq!(f.message(), "instruction limit (100000) exceeded in event `spin`");
        assert_eq!(ctx.get::<i64>("after"), Some(1));
    }
}

#[test]
fn catching_the_limit_error_does_not_escape_it() {
    for body in [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end",
        "while true do pcall(string.gsub, string.rep('a', 100), 'a', function() while true do end end) end",
    ] {
        let chain = limited(Limits { instructions: Some(50_000), ..Limits::UNLIMITED }, &one_event(body));
        let (result, _) = run(&chain);
        assert_eq!(result.failures()[0].kind(), ErrorKind::LimitExceeded, "{body}: {result}");
    }
}

#[test]
fn wall_clock_limit_is_a_timeout() {
    let chain = limited(
        Limits { timeout: Some(Duration::from_millis(30)), ..Limits::UNLIMITED },
        &one_event("while true do end"),
    );
    let (result, _) = run(&chain);
    let f = &result.failures()[0];
    assert_eq!(f.kind(), ErrorKind::Timeout);
    assert_eq!(f.message(), "wall-clock limit (30 ms) exceeded in event `e`");
}

#[test]
fn the_scripts_limits_lower_the_host_caps() {
    let chain = limited(
        Limits::default(),
        "return { limits = { instructions = 20000 }, events = { { name = 'spin', handler = function() while true do end end } } }",
    );
    let (result, _) = run(&chain);
    assert_eq!(result.failures()[0].message(), "instruction limit (20000) exceeded in event `spin`");
}

#[test]
fn a_deadline_set_by_a_timeout_middleware_is_honoured() {
    let lua = limited(Limits::UNLIMITED, &one_event("while true do end"));
    let chain = EventChain::new()
        .middleware(FnMiddleware::new("timeout", |_, ctx, next| {
            let previous = ctx.set_deadline(Some(Instant::now() + Duration::from_millis(20)));
            let r = next.run(ctx);
            ctx.set_deadline(previous);
            r
        }))
        .event_arc(lua.chain().events()[0].clone());
    let result = chain.execute(&mut EventContext::new());
    assert_eq!(result.failures()[0].kind(), ErrorKind::Timeout);
    assert_eq!(result.failures()[0].message(), "the context's deadline passed in event `e`");
}

#[test]
fn memory_limit_fails_the_event_and_the_vm_recovers() {
    let chain = limited(
        Limits { memory_bytes: Some(8 << 20), ..Limits::UNLIMITED },
        r#"return { fault_tolerance = "lenient", events = {
            { name = "bomb", handler = function(ctx) local t = {} for i = 1, 1e8 do t[i] = string.rep("x", 64) .. i end end },
            { name = "big", handler = function(ctx) local s = string.rep("x", 1e9) end },
            { name = "after", handler = function(ctx) ctx.after = string.rep("y", 1000):len() end },
        } }"#,
    );
    for _ in 0..2 {
        let (result, ctx) = run(&chain);
        assert_eq!(result.failures().len(), 2, "{result} {:?}", result.failures());
        for f in result.failures() {
            assert_eq!(f.kind(), ErrorKind::LimitExceeded, "{f}");
            assert!(f.message().starts_with("memory limit (8 MB) exceeded in event `"), "{f}");
        }
        assert_eq!(ctx.get::<i64>("after"), Some(1000));
    }
}

#[test]
fn a_limit_hit_by_lua_middleware_is_a_middleware_failure() {
    let chain = limited(
        Limits { instructions: Some(10_000), ..Limits::UNLIMITED },
        r#"return { fault_tolerance = "best_effort",
            middleware = { function(event, ctx, next) while true do end end },
            events = { { name = "a", handler = function() end }, { name = "b", handler = function() end } } }"#,
    );
    let (result, _) = run(&chain);
    assert_eq!(result.status(), ChainStatus::Failed);
    let f = &result.failures()[0];
    assert_eq!(f.kind(), ErrorKind::LimitExceeded);
    assert_eq!(f.origin(), eventchains_core::Origin::Middleware);
    assert!(f.message().contains("around event `a`"), "{f}");
}

#[test]
fn an_endless_top_level_is_stopped_while_loading() {
    let err = builder()
        .limits(Limits { instructions: Some(10_000), ..Limits::UNLIMITED })
        .load_str("loop.lua", "while true do end")
        .unwrap_err();
    assert!(matches!(err, LoadError::Limit { .. }));
    assert_eq!(err.to_string(), "loop.lua: instruction limit (10000) exceeded while running the script");
}

/// Lua code setting `ctx.binary` to whether a binary chunk is refused by `load`.
#[cfg(not(feature = "luau"))]
const BINARY_CHECK: &str =
    r#"local f, err = load(string.dump(function() end)) ctx.binary = f == nil and err:find("binary") ~= nil"#;
/// Luau has no `string.dump`: a hand-made chunk that mlua takes for bytecode
/// (version and types-version bytes) is refused all the same.
#[cfg(feature = "luau")]
const BINARY_CHECK: &str = r#"local f, err = load("\6\3\1\0\0\0") ctx.binary = f == nil and err:find("binary") ~= nil"#;

#[test]
fn the_sandbox_hides_io_os_execute_require_debug_and_binary_chunks() {
    let chain = limited(
        Limits::default(),
        &one_event(&format!(
            r#"
            ctx.io = io == nil
            ctx.execute = os.execute == nil
            ctx.getenv = os.getenv == nil
            ctx.require = require == nil
            ctx.package = package == nil
            ctx.debug = debug == nil
            ctx.dofile = dofile == nil and loadfile == nil
            ctx.clock = type(os.clock()) == "number" and type(os.time()) == "number" and type(os.date("%Y")) == "string"
            {BINARY_CHECK}
            ctx.text = load("return 41 + 1")() == 42
            "#
        )),
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    for key in ["io", "execute", "getenv", "require", "package", "debug", "dofile", "clock", "binary", "text"] {
        assert_eq!(ctx.get::<bool>(key), Some(true), "{key}");
    }
}

#[test]
fn calling_what_the_sandbox_removed_fails_the_event() {
    let chain = limited(Limits::default(), &one_event("os.execute('echo hi')"));
    let (result, _) = run(&chain);
    assert_eq!(result.status(), ChainStatus::Failed);
    let message = result.failures()[0].message();
    // Luau does not name the field: "attempt to call a nil value".
    let named = if cfg!(feature = "luau") { "a nil value" } else { "field 'execute'" };
    assert!(message.contains("attempt to call") && message.contains(named), "{message}");
}

#[test]
fn print_goes_to_the_log_not_stdout() {
    let chain = limited(Limits::default(), &one_event("print('hello', 1, nil) ctx.ok = true"));
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<bool>("ok"), Some(true));
}

#[test]
fn scripts_cannot_stop_the_garbage_collector() {
    let chain = limited(
        Limits::default(),
        r#"return { fault_tolerance = "lenient", events = {
            { name = "stop", handler = function(ctx) collectgarbage("stop") end },
            { name = "count", handler = function(ctx) ctx.kb = collectgarbage("count") collectgarbage() end },
        } }"#,
    );
    let (result, ctx) = run(&chain);
    assert_eq!(result.failures().len(), 1, "{result}");
    assert!(result.failures()[0].message().contains("collectgarbage('stop') is not allowed"), "{result}");
    assert!(ctx.get::<f64>("kb").is_some_and(|kb| kb > 0.0));
}
