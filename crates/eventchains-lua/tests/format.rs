//! Every key of format v1.

mod common;

use common::{builder, load, log_of, run};
use eventchains_core::{ChainStatus, FaultToleranceMode, Map, Value};
use eventchains_lua::{Limits, LuaChainBuilder};
use std::time::Duration;

#[test]
fn seed_script_runs_unchanged() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/scripts/seed.lua");
    let chain = LuaChainBuilder::new().load_file(path).expect("seed loads");
    assert_eq!(chain.script_name(), "seed.lua");
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("counter"), Some(1));
    assert_eq!(ctx.get::<&str>("message"), Some("start -> processed"));
    // Executing again on a fresh context gives the same result.
    let (_, again) = run(&chain);
    assert_eq!(again.get::<i64>("counter"), Some(1));
}

#[test]
fn name_defaults_to_the_script_name() {
    let named = load("return { name = 'orders', events = {} }");
    assert_eq!(named.name(), "orders");
    assert_eq!(named.script_name(), "test.lua");
    let unnamed = load("return { events = {} }");
    assert_eq!(unnamed.name(), "test.lua");
}

#[test]
fn fault_tolerance_modes_are_read() {
    for (text, mode) in [
        ("strict", FaultToleranceMode::Strict),
        ("lenient", FaultToleranceMode::Lenient),
        ("best_effort", FaultToleranceMode::BestEffort),
    ] {
        let chain = load(&format!("return {{ fault_tolerance = '{text}', events = {{}} }}"));
        assert_eq!(chain.mode(), mode);
    }
    assert_eq!(load("return { events = {} }").mode(), FaultToleranceMode::Strict);
}

#[test]
fn context_gives_initial_values_and_callers_win() {
    let chain = load("return { context = { a = 1, b = 2.5, c = { 'x', 'y' }, d = { k = true } }, events = {} }");
    let ctx = chain.new_context();
    assert_eq!(ctx.to_json(), serde_json::json!({"a": 1, "b": 2.5, "c": ["x", "y"], "d": {"k": true}}));
    let mut caller = Map::default();
    caller.insert("a".into(), Value::Int(10));
    caller.insert("z".into(), Value::from("new"));
    let merged = chain.context_with(caller);
    assert_eq!(merged.get::<i64>("a"), Some(10));
    assert_eq!(merged.get::<f64>("b"), Some(2.5));
    assert_eq!(merged.get::<&str>("z"), Some("new"));
}

#[test]
fn limits_lower_the_host_caps_only() {
    let host =
        Limits { instructions: Some(5_000), memory_bytes: Some(64 << 20), timeout: Some(Duration::from_secs(1)) };
    let chain = builder()
        .limits(host)
        .load_str(
            "l.lua",
            "return { limits = { instructions = 100000, memory_mb = 16, timeout_ms = 50 }, events = {} }",
        )
        .expect("loads");
    assert_eq!(
        chain.limits(),
        Limits { instructions: Some(5_000), memory_bytes: Some(16 << 20), timeout: Some(Duration::from_millis(50)) }
    );
}

#[test]
fn middleware_by_name_with_config_and_in_lua() {
    let chain = load(
        r#"
        return {
          middleware = {
            { "tag", tag = "inner" },
            function(event, ctx, next)
              ctx.log[#ctx.log + 1] = "lua>" .. event.name
              local ok, err = next(ctx)
              ctx.log[#ctx.log + 1] = "lua<" .. event.name
              return ok, err
            end,
            { "tag", tag = "outer" },
          },
          context = { log = {} },
          events = { { name = "a", handler = function(ctx) ctx.log[#ctx.log + 1] = "a" end } },
        }"#,
    );
    assert_eq!(chain.middleware_names()[0], "tag:outer");
    assert!(chain.middleware_names()[1].starts_with("middleware[2] (test.lua:"), "{:?}", chain.middleware_names());
    assert_eq!(chain.middleware_names()[2], "tag:inner");
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(log_of(&ctx), ["outer>", "lua>a", "inner>", "a", "inner<", "lua<a", "outer<"]);
}

#[test]
fn rust_events_by_name_keep_the_script_name_and_get_their_config() {
    let chain = load(
        r#"
        return {
          fault_tolerance = "lenient",
          events = {
            { name = "first", rust = "rust_log", label = "one" },
            { name = "plain", rust = "rust_log" },
            { name = "nope", rust = "rust_fail", message = "out of stock" },
          },
        }"#,
    );
    assert_eq!(chain.event_names(), ["first", "plain", "nope"]);
    let (result, ctx) = run(&chain);
    assert_eq!(result.status(), ChainStatus::CompletedWithWarnings);
    assert_eq!(result.failures()[0].event(), "nope");
    assert_eq!(result.failures()[0].message(), "out of stock");
    assert_eq!(log_of(&ctx), ["rust:one", "rust:"]);
}

#[test]
fn empty_events_list_is_a_valid_chain() {
    let chain = load("return { events = {} }");
    let (result, _) = run(&chain);
    assert!(result.is_clean());
    assert!(chain.event_names().is_empty());
}
