//! Lua middleware, mixed Rust/Lua stacks and the three fault-tolerance modes.

mod common;

use common::{load, log_of, run};
use eventchains_core::{ChainStatus, ErrorKind, Origin};

const TRACE: &str = r#"
local function tracer(tag)
  return function(event, ctx, next)
    ctx.log[#ctx.log + 1] = tag .. ">" .. event.name
    local ok, err = next(ctx)
    ctx.log[#ctx.log + 1] = tag .. "<" .. event.name
    return ok, err
  end
end
"#;

#[test]
fn lua_middleware_is_lifo_like_rust_and_mixes_with_it() {
    let chain = load(&format!(
        r#"{TRACE}
        return {{
          context = {{ log = {{}} }},
          middleware = {{ tracer("l1"), {{ "tag", tag = "r1" }}, tracer("l2"), {{ "tag", tag = "r2" }} }},
          events = {{
            {{ name = "a", handler = function(ctx) ctx.log[#ctx.log + 1] = "a" end }},
            {{ name = "b", rust = "rust_log", label = "b" }},
          }},
        }}"#
    ));
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(
        log_of(&ctx),
        [
            "r2>", "l2>a", "r1>", "l1>a", "a", "l1<a", "r1<", "l2<a", "r2<", //
            "r2>", "l2>b", "r1>", "l1>b", "rust:b", "l1<b", "r1<", "l2<b", "r2<",
        ]
    );
}

#[test]
fn middleware_may_skip_the_event() {
    let chain = load(
        r#"return {
          middleware = { function(event, ctx, next) if event.name == "skipped" then return true end return next(ctx) end },
          events = {
            { name = "skipped", handler = function(ctx) ctx.ran_skipped = true end },
            { name = "runs", handler = function(ctx) ctx.ran = true end },
          },
        }"#,
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean());
    assert!(!ctx.contains("ran_skipped"));
    assert_eq!(ctx.get::<bool>("ran"), Some(true));
}

#[test]
fn middleware_may_turn_a_failure_into_success() {
    let chain = load(
        r#"return {
          middleware = { function(event, ctx, next)
            local ok, err = next(ctx)
            if not ok then ctx.recovered = err return true end
          end },
          events = { { name = "bad", handler = function(ctx) return nil, "boom" end } },
        }"#,
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<&str>("recovered"), Some("boom"));
}

#[test]
fn returning_nothing_passes_on_the_result_of_next() {
    let chain = load(
        r#"return {
          middleware = { function(event, ctx, next) next(ctx) end },
          events = { { name = "bad", handler = function(ctx) return nil, "boom" end } },
        }"#,
    );
    let (result, _) = run(&chain);
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(result.failures()[0].message(), "boom");
    assert_eq!(result.failures()[0].origin(), Origin::Event);
}

/// A middleware's results are read like a handler's (one decoder for both).
#[test]
fn middleware_results_are_read_like_handler_results() {
    let with_return = |ret: &str| {
        load(&format!(
            r#"return {{
              fault_tolerance = "lenient",
              middleware = {{ function(event, ctx, next) local ok = next(ctx) {ret} end }},
              events = {{ {{ name = "bad", handler = function(ctx) return nil, "boom" end }} }},
            }}"#
        ))
    };
    // `ctx` itself is "nothing": the result of `next` goes on.
    let (result, _) = run(&with_return("return ctx"));
    assert_eq!(result.failures()[0].message(), "boom");
    assert_eq!(result.failures()[0].origin(), Origin::Event);
    // A returned table is merged, and the result of `next` goes on.
    let (result, ctx) = run(&with_return("return { merged = 7, tag = 'mw' }"));
    assert_eq!(result.failures()[0].message(), "boom");
    assert_eq!((ctx.get::<i64>("merged"), ctx.get::<&str>("tag")), (Some(7), Some("mw")));
    // `true` wins over the failure.
    let (result, _) = run(&with_return("return true"));
    assert!(result.is_clean(), "{result}");
    // `false` with a non-string message: a middleware failure naming it.
    let (result, _) = run(&with_return("return false, 42"));
    assert_eq!(result.failures()[0].message(), "42");
    assert_eq!(result.failures()[0].origin(), Origin::Middleware);
    // A value the chain cannot read is a middleware failure that says so.
    let (result, _) = run(&with_return("return 'done'"));
    assert!(result.failures()[0].message().contains("returned a string"), "{result}");
    assert_eq!(result.failures()[0].origin(), Origin::Middleware);
    // An error object that is not a string is named, as for handlers.
    let (result, _) = run(&with_return("error({})"));
    assert!(result.failures()[0].message().contains("table"), "{result}");
}

#[test]
fn passing_on_a_failure_keeps_its_kind_and_origin() {
    let chain = load(
        r#"return {
          fault_tolerance = "best_effort",
          middleware = { function(event, ctx, next) local ok, err = next(ctx) return ok, err end },
          events = {
            { name = "bad", handler = function(ctx) return nil, "boom" end },
            { name = "after", handler = function(ctx) ctx.after = true end },
          },
        }"#,
    );
    let (result, ctx) = run(&chain);
    assert_eq!(result.status(), ChainStatus::CompletedWithWarnings, "an event failure does not stop best effort");
    assert_eq!(result.failures()[0].kind(), ErrorKind::Event);
    assert_eq!(ctx.get::<bool>("after"), Some(true));
}

#[test]
fn middleware_failures_are_middleware_failures_and_stop_best_effort() {
    for body in ["return nil, 'rate limited'", "error('rate limited')", "return false"] {
        let chain = load(&format!(
            r#"return {{
              fault_tolerance = "best_effort",
              middleware = {{ function(event, ctx, next) {body} end }},
              events = {{
                {{ name = "a", handler = function(ctx) ctx.a = true end }},
                {{ name = "b", handler = function(ctx) ctx.b = true end }},
              }},
            }}"#
        ));
        let (result, ctx) = run(&chain);
        assert_eq!(result.status(), ChainStatus::Failed, "{body}");
        assert_eq!(result.events_run(), 1, "{body}");
        let f = &result.failures()[0];
        assert_eq!((f.kind(), f.origin()), (ErrorKind::Middleware, Origin::Middleware), "{body}");
        assert!(f.message().contains("rate limited") || f.message().contains("returned false"), "{}", f.message());
        assert!(!ctx.contains("a"));
    }
}

#[test]
fn lua_middleware_error_names_the_position() {
    let chain = load(
        "return {\n middleware = { function(event, ctx, next)\n error('no quota')\n end },\n events = { { name = 'a', handler = function() end } },\n}",
    );
    let (result, _) = run(&chain);
    assert_eq!(result.failures()[0].message(), "test.lua:3: no quota");
}

#[test]
fn next_can_be_called_again_for_a_retry() {
    let chain = load(
        r#"return {
          context = { attempts = 0 },
          middleware = { function(event, ctx, next)
            local ok, err
            for _ = 1, 3 do
              ok, err = next(ctx)
              if ok then return true end
            end
            return ok, err
          end },
          events = { { name = "flaky", handler = function(ctx)
            ctx.attempts = ctx.attempts + 1
            if ctx.attempts < 3 then return nil, "try again" end
          end } },
        }"#,
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("attempts"), Some(3));
}

#[test]
fn next_outside_its_middleware_is_an_error() {
    let chain = load(
        r#"local saved_next
        return {
          fault_tolerance = "lenient",
          middleware = { function(event, ctx, next) saved_next = next return next(ctx) end },
          events = {
            { name = "a", handler = function(ctx) end },
            { name = "b", handler = function(ctx) return saved_next(ctx) end },
          },
        }"#,
    );
    let (result, _) = run(&chain);
    assert_eq!(result.failures().len(), 1);
    assert!(result.failures()[0].message().contains("next() can only be called by the middleware"), "{result}");
}

#[test]
fn rust_middleware_failure_stops_best_effort_but_not_lenient() {
    for (mode, status, ran) in [
        ("best_effort", ChainStatus::Failed, 1),
        ("lenient", ChainStatus::CompletedWithWarnings, 2),
        ("strict", ChainStatus::Failed, 1),
    ] {
        let chain = load(&format!(
            r#"return {{ fault_tolerance = "{mode}", middleware = {{ "broken" }},
               events = {{ {{ name = "a", handler = function() end }}, {{ name = "b", rust = "rust_log" }} }} }}"#
        ));
        let (result, _) = run(&chain);
        assert_eq!(result.status(), status, "{mode}");
        assert_eq!(result.events_run(), ran, "{mode}");
        assert_eq!(result.failures()[0].origin(), Origin::Middleware);
    }
}

/// Mixed Rust and Lua events with failures on both sides, in all three modes.
#[test]
fn mixed_chains_in_all_three_modes() {
    let script = |mode: &str| {
        format!(
            r#"return {{
              fault_tolerance = "{mode}",
              context = {{ n = 1 }},
              events = {{
                {{ name = "lua_ok", handler = function(ctx) ctx.n = ctx.n + 1 end }},
                {{ name = "rust_bad", rust = "rust_fail", message = "rust says no" }},
                {{ name = "rust_ok", rust = "double" }},
                {{ name = "lua_bad", handler = function(ctx) return nil, "lua says no" end }},
                {{ name = "last", handler = function(ctx) ctx.last = ctx.n end }},
              }},
            }}"#
        )
    };
    let (strict, ctx) = run(&load(&script("strict")));
    assert_eq!(strict.status(), ChainStatus::Failed);
    assert_eq!(strict.events_run(), 2);
    assert_eq!(ctx.get::<i64>("n"), Some(2));

    for mode in ["lenient", "best_effort"] {
        let (result, ctx) = run(&load(&script(mode)));
        assert_eq!(result.status(), ChainStatus::CompletedWithWarnings, "{mode}");
        let failed: Vec<(&str, &str)> = result.failures().iter().map(|f| (f.event(), f.message())).collect();
        assert_eq!(failed, [("rust_bad", "rust says no"), ("lua_bad", "lua says no")], "{mode}");
        assert_eq!(ctx.get::<i64>("last"), Some(4), "{mode}: Lua saw Rust's doubling");
    }
}

#[test]
fn host_functions_are_callable_with_typed_arguments() {
    // No wall-clock cap: a panic prints its backtrace (with RUST_BACKTRACE
    // set), which can take longer than the default second on a loaded machine.
    let no_time_cap = eventchains_lua::Limits { timeout: None, ..eventchains_lua::Limits::default() };
    let chain = common::builder()
        .limits(no_time_cap)
        .register_fn("price_of", |(sku, qty): (String, i64)| if sku == "tea" { 3.5 * qty as f64 } else { 0.0 })
        .register_fn("boom", |()| -> i64 { panic!("host exploded") })
        .load_str(
            "fns.lua",
            r#"return { fault_tolerance = "lenient", events = {
                 { name = "price", handler = function(ctx) ctx.price = price_of("tea", 2) end },
                 { name = "panics", handler = function(ctx) boom() end },
                 { name = "caught", handler = function(ctx) ctx.caught = not pcall(boom) end },
               } }"#,
        )
        .expect("loads");
    let (result, ctx) = run(&chain);
    assert_eq!(ctx.get::<f64>("price"), Some(7.0));
    assert_eq!(result.failures().len(), 1, "{result}");
    assert_eq!(result.failures()[0].event(), "panics");
    assert!(result.failures()[0].message().contains("host function `boom` panicked: host exploded"), "{result}");
    assert_eq!(ctx.get::<bool>("caught"), Some(true));
}

/// A named Rust middleware runs with the context's deadline narrowed to the
/// script's wall-clock cap, so no config a script writes can make it wait past
/// the event's time (a retry backoff, a rate-limit wait); the deadline is
/// restored after the event, and without a time cap none is set.
#[test]
fn named_rust_middleware_see_the_scripts_time_cap_as_the_deadline() {
    use std::time::{Duration, Instant};

    use eventchains_core::{FnMiddleware, MiddlewareRegistry};
    use eventchains_lua::{Limits, LuaChainBuilder};

    let mut registry = MiddlewareRegistry::new();
    registry.register_shared(
        "deadline_probe",
        std::sync::Arc::new(FnMiddleware::new("deadline_probe", |_event, ctx, next| {
            // Seconds left before the deadline, or -1 when none is set.
            let left = ctx.deadline().map_or(-1.0, |d| d.saturating_duration_since(Instant::now()).as_secs_f64());
            ctx.set("left", left);
            next.run(ctx)
        })),
    );
    let script = |limits: &str| {
        format!(
            r#"return {{ {limits} middleware = {{ "deadline_probe" }},
               events = {{ {{ name = "e", handler = function(ctx) ctx.seen = true end }} }} }}"#
        )
    };
    let builder = || LuaChainBuilder::new().middleware_registry(registry.clone());

    // The script's own cap (lower than the host's) bounds the deadline.
    let chain = builder().load_str("capped.lua", &script("limits = { timeout_ms = 5000 },")).expect("loads");
    let mut ctx = chain.new_context();
    assert!(chain.execute(&mut ctx).is_clean());
    let left: f64 = ctx.get("left").expect("probe ran");
    assert!(left > 0.0 && left <= 5.0, "deadline within the script's 5 s cap, got {left} s left");
    assert_eq!(ctx.deadline(), None, "restored after the event");

    // A caller's nearer deadline is kept.
    let mut ctx = chain.new_context();
    ctx.set_deadline(Some(Instant::now() + Duration::from_secs(2)));
    assert!(chain.execute(&mut ctx).is_clean());
    let left: f64 = ctx.get("left").expect("probe ran");
    assert!(left <= 2.0, "the caller's nearer deadline wins, got {left} s left");
    assert!(ctx.deadline().is_some(), "the caller's deadline is restored");

    // No time cap at all: no deadline is invented.
    let chain = builder().limits(Limits::UNLIMITED).load_str("free.lua", &script("")).expect("loads");
    let mut ctx = chain.new_context();
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<f64>("left"), Some(-1.0));
}
