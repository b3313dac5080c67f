//! The context bridge: Lua and Rust share one `EventContext`.

mod common;

use common::{load, one_event, run};
use eventchains_core::EventContext;
use eventchains_lua::LuaChainBuilder;

#[test]
fn nested_mutation_is_visible_to_later_rust_and_lua_events() {
    let chain = load(
        r#"
        return {
          context = { order = { items = { { sku = "tea", qty = 1 }, { sku = "cake", qty = 3 } } }, n = 2 },
          events = {
            { name = "bump", handler = function(ctx) ctx.order.items[1].qty = 2 end },
            { name = "double", rust = "double" },
            { name = "check", handler = function(ctx)
                ctx.seen_qty = ctx.order.items[1].qty
                ctx.seen_n = ctx.n
              end },
          },
        }"#,
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    let json = ctx.to_json();
    assert_eq!(json["order"]["items"][0]["qty"], 2);
    assert_eq!(json["order"]["items"][1]["qty"], 3);
    assert_eq!(ctx.get::<i64>("seen_qty"), Some(2));
    assert_eq!(ctx.get::<i64>("seen_n"), Some(4), "Lua sees what Rust wrote");
}

#[test]
// LuaJIT (Lua 5.1) has no integer subtype, `//` or `math.type`; Luau has no integer subtype or `math.type`.
#[cfg(not(any(feature = "luajit", feature = "luau")))]
fn integers_stay_integers_and_floats_floats() {
    let chain = load(&one_event(
        "ctx.i = 3; ctx.f = 3.0; ctx.sum = ctx.a + 1; ctx.fsum = ctx.b + 1; ctx.div = 7 // 2; ctx.types = math.type(ctx.a) .. ',' .. math.type(ctx.b)",
    ));
    let mut ctx = EventContext::new();
    ctx.set("a", 1);
    ctx.set("b", 1.5);
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.value("i"), Some(&eventchains_core::Value::Int(3)));
    assert_eq!(ctx.value("f"), Some(&eventchains_core::Value::Float(3.0)));
    assert_eq!(ctx.value("sum"), Some(&eventchains_core::Value::Int(2)));
    assert_eq!(ctx.value("fsum"), Some(&eventchains_core::Value::Float(2.5)));
    assert_eq!(ctx.value("div"), Some(&eventchains_core::Value::Int(3)));
    assert_eq!(ctx.get::<&str>("types"), Some("integer,float"));
}

#[test]
fn tables_become_arrays_or_maps_and_round_trip() {
    let chain = load(&one_event(
        "ctx.list = { 1, 'two', 3.5, { x = 1 } }; ctx.map = { a = { 1, 2 }, b = 'c' }; ctx.empty = {}; ctx.copy = ctx.map",
    ));
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(
        ctx.to_json(),
        serde_json::json!({
            "list": [1, "two", 3.5, {"x": 1}],
            "map": {"a": [1, 2], "b": "c"},
            "empty": {},
            "copy": {"a": [1, 2], "b": "c"},
        })
    );
}

#[test]
// LuaJIT's and Luau's table.insert/remove need real tables (raw access); see
// `arrays_and_maps_iterate_on_every_engine` for what works everywhere.
#[cfg(not(any(feature = "luajit", feature = "luau")))]
fn arrays_support_length_append_insert_remove_and_iteration() {
    let chain = load(&one_event(
        r#"
        local items = ctx.items
        items[#items + 1] = 4
        table.insert(items, 5)
        table.remove(items, 1)
        local sum, keys = 0, {}
        for i, v in ipairs(items) do sum = sum + v end
        for k, v in pairs(ctx.m) do keys[#keys + 1] = k .. '=' .. tostring(v) end
        ctx.sum, ctx.len, ctx.keys = sum, #items, table.concat(keys, ',')
        ctx.fresh = {}
        ctx.fresh[1] = 'first'
        ctx.m.b = nil
        "#,
    ));
    let mut ctx = EventContext::from_json(serde_json::json!({"items": [1, 2, 3], "m": {"a": 1, "b": 2}})).unwrap();
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.to_json()["items"], serde_json::json!([2, 3, 4, 5]));
    assert_eq!(ctx.get::<i64>("sum"), Some(14));
    assert_eq!(ctx.get::<i64>("len"), Some(4));
    assert_eq!(ctx.get::<&str>("keys"), Some("a=1,b=2"));
    assert_eq!(ctx.to_json()["fresh"], serde_json::json!(["first"]));
    assert_eq!(ctx.to_json()["m"], serde_json::json!({"a": 1}));
}

#[test]
fn arrays_and_maps_iterate_on_every_engine() {
    let chain = load(&one_event(
        r#"
        local items = ctx.items
        items[#items + 1] = 4
        local sum, keys, n = 0, {}, 0
        for i, v in ipairs(items) do sum = sum + i * v end
        for k, v in pairs(ctx.m) do keys[#keys + 1] = k .. '=' .. tostring(v) end
        for _ in pairs(ctx) do n = n + 1 end
        ctx.sum, ctx.len, ctx.keys, ctx.n = sum, #items, table.concat(keys, ','), n
        "#,
    ));
    let mut ctx = EventContext::from_json(serde_json::json!({"items": [1, 2, 3], "m": {"a": 1, "b": 2}})).unwrap();
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.to_json()["items"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(ctx.get::<i64>("sum"), Some(1 + 4 + 9 + 16));
    assert_eq!(ctx.get::<i64>("len"), Some(4));
    assert_eq!(ctx.get::<&str>("keys"), Some("a=1,b=2"));
    assert_eq!(ctx.get::<i64>("n"), Some(2), "items and m (the results are written after counting)");
}

/// Luau's generalized iteration (`for k, v in t do`) goes through `__iter`.
#[test]
#[cfg(feature = "luau")]
fn luau_generalized_iteration_over_ctx() {
    let chain = load(&one_event(
        "local s = '' for k, v in ctx.m do s = s .. k .. v end for i, v in ctx.items do s = s .. i .. v end \
         local libs = 0 for _ in string do libs = libs + 1 end ctx.s = s ctx.has_libs = libs > 0",
    ));
    let mut ctx = EventContext::from_json(serde_json::json!({"items": [7, 8], "m": {"a": 1}})).unwrap();
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<&str>("s"), Some("a11728"));
    assert_eq!(ctx.get::<bool>("has_libs"), Some(true));
}

/// What docs/lua-engines.md promises Luau scripts: `//`, compound assignment,
/// `bit32`, integral numbers stored as integers, no `math.type`.
#[test]
#[cfg(feature = "luau")]
fn luau_numbers_and_operators() {
    let chain = load(&one_event(
        "local n = 7 n += 1 ctx.div = 7 // 2 ctx.n = n ctx.band = bit32.band(6, 3) ctx.f = 3.0 ctx.h = 2.5 \
         ctx.no_math_type = math.type == nil",
    ));
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.value("div"), Some(&eventchains_core::Value::Int(3)));
    assert_eq!(ctx.value("n"), Some(&eventchains_core::Value::Int(8)));
    assert_eq!(ctx.value("band"), Some(&eventchains_core::Value::Int(2)));
    assert_eq!(ctx.value("f"), Some(&eventchains_core::Value::Int(3)), "no integer subtype");
    assert_eq!(ctx.value("h"), Some(&eventchains_core::Value::Float(2.5)));
    assert_eq!(ctx.get::<bool>("no_math_type"), Some(true));
}

#[test]
fn setting_nil_removes_and_missing_keys_read_nil() {
    let chain = load(&one_event("ctx.gone = nil; ctx.missing_is_nil = (ctx.nothing == nil)"));
    let mut ctx = EventContext::new();
    ctx.set("gone", 1);
    assert!(chain.execute(&mut ctx).is_clean());
    assert!(!ctx.contains("gone"));
    assert_eq!(ctx.get::<bool>("missing_is_nil"), Some(true));
}

#[test]
fn extensions_are_invisible_to_lua() {
    #[derive(Debug)]
    struct Pool;
    let chain = load(&one_event(
        "local n = 0 for _ in pairs(ctx) do n = n + 1 end ctx.count = n ctx.pool_seen = ctx.Pool ~= nil",
    ));
    let mut ctx = EventContext::new();
    ctx.extensions_mut().insert(Pool);
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<i64>("count"), Some(0));
    assert_eq!(ctx.get::<bool>("pool_seen"), Some(false));
    assert!(ctx.extensions().get::<Pool>().is_some());
}

#[test]
fn values_without_a_context_form_fail_the_event_with_a_clear_message() {
    let chain = load(
        r#"return { fault_tolerance = "lenient", events = {
            { name = "fn", handler = function(ctx) ctx.f = print end },
            { name = "nested", handler = function(ctx) ctx.o = { a = { 1, coroutine.create(print) } } end },
            { name = "nan", handler = function(ctx) ctx.x = 0/0 end },
            { name = "mixed", handler = function(ctx) ctx.m = { 1, 2, k = 3 } end },
        } }"#,
    );
    let (result, _) = run(&chain);
    let messages: Vec<(&str, &str)> = result.failures().iter().map(|f| (f.event(), f.message())).collect();
    assert_eq!(messages[0], ("fn", "test.lua:2: ctx.f: a function has no context value"));
    assert_eq!(messages[1], ("nested", "test.lua:3: ctx.o.a[2]: a thread has no context value"));
    assert!(messages[2].1.starts_with("test.lua:4: ctx.x: NaN has no context value"), "{messages:?}");
    assert!(messages[3].1.contains("ctx.m: table mixes a list (1..2) with the key `k`"), "{messages:?}");
}

#[test]
fn a_proxy_kept_after_its_call_is_a_clean_error() {
    let chain = load(
        r#"local kept, kept_root
        return { fault_tolerance = "lenient", events = {
            { name = "keep", handler = function(ctx) kept = ctx.order kept_root = ctx end },
            { name = "use", handler = function(ctx) return kept.id end },
            { name = "root", handler = function(ctx) ctx.same = rawequal(ctx, kept_root) end },
        } }"#,
    );
    let mut ctx = EventContext::from_json(serde_json::json!({"order": {"id": 1}})).unwrap();
    let result = chain.execute(&mut ctx);
    assert_eq!(result.failures().len(), 1, "{result}");
    assert_eq!(result.failures()[0].event(), "use");
    assert!(result.failures()[0].message().contains("belongs to a call that is over"), "{result}");
    assert_eq!(ctx.get::<bool>("same"), Some(true), "the root ctx is one object bound to the running call");
}

#[test]
fn ctx_kept_in_a_global_cannot_reach_a_context_after_the_call() {
    let chain = load(
        r#"local leak
        return { events = { { name = "keep", handler = function(ctx) leak = ctx end } } }"#,
    );
    let (result, _) = run(&chain);
    assert!(result.is_clean());
    // Outside any call there is no context; reading errors inside Lua instead of touching freed memory.
    let probe = load("return { events = {} }");
    drop(probe);
    let check = load(&one_event("ctx.ok = true"));
    let (r, ctx) = run(&check);
    assert!(r.is_clean());
    assert_eq!(ctx.get::<bool>("ok"), Some(true));
}

#[test]
fn tostring_of_ctx_is_json() {
    let chain = load(&one_event("ctx.text = tostring(ctx.order)"));
    let mut ctx = EventContext::from_json(serde_json::json!({"order": {"id": 7, "tags": ["a"]}})).unwrap();
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<&str>("text"), Some(r#"{"id":7,"tags":["a"]}"#));
}

#[test]
fn a_view_of_a_replaced_table_keeps_the_old_table_as_in_lua() {
    let chain =
        load(&one_event("local items = ctx.items ctx.items = 5 ctx.first = items[1] items[2] = 9 ctx.len = #items"));
    let mut ctx = EventContext::from_json(serde_json::json!({"items": [1]})).unwrap();
    let r = chain.execute(&mut ctx);
    assert!(r.is_clean(), "{r}");
    assert_eq!(ctx.to_json(), serde_json::json!({"items": 5, "first": 1, "len": 2}));
}

#[test]
fn rust_writes_are_seen_by_lua_in_the_same_chain() {
    let chain = LuaChainBuilder::new()
        .event_registry(common::events())
        .load_str("t.lua", "return { events = { { name = 'd', rust = 'double' }, { name = 'l', handler = function(ctx) ctx.seen = ctx.n end } } }")
        .expect("loads");
    let mut ctx = EventContext::new();
    ctx.set("n", 21);
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<i64>("seen"), Some(42));
}

#[test]
fn the_root_ctx_metatable_is_hidden_and_fixed() {
    let chain = load(&one_event(
        "ctx.kind = type(ctx) ctx.meta = getmetatable(ctx) ctx.cannot = not pcall(setmetatable, ctx, {}) ctx.n = #ctx",
    ));
    let (result, ctx) = run(&chain);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<&str>("kind"), Some("userdata"));
    assert_eq!(ctx.get::<&str>("meta"), Some("ctx"));
    assert_eq!(ctx.get::<bool>("cannot"), Some(true));
    assert_eq!(ctx.get::<i64>("n"), Some(0));
}

#[test]
fn root_ctx_copies_and_merges_resolve_to_values() {
    let chain = load(&one_event("ctx.snapshot = ctx return { again = ctx.a }"));
    let mut ctx = EventContext::new();
    ctx.set("a", 1);
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result} {:?}", result.failures());
    assert_eq!(ctx.to_json(), serde_json::json!({"a": 1, "snapshot": {"a": 1}, "again": 1}));
}

#[test]
fn a_host_function_may_run_another_chain_from_inside_a_handler() {
    let inner = load(&one_event("ctx.inner = (ctx.inner or 0) + 1"));
    let runner = inner.clone();
    let outer = common::builder()
        .register_fn("run_inner", move |start: i64| {
            let mut ctx = EventContext::new();
            ctx.set("inner", start);
            runner.execute(&mut ctx);
            ctx.get::<i64>("inner").unwrap_or(-1)
        })
        .load_str("outer.lua", "return { events = { { name = 'o', handler = function(ctx) ctx.got = run_inner(41) ctx.after = ctx.got + 1 end } } }")
        .expect("loads");
    let (result, ctx) = run(&outer);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.get::<i64>("got"), Some(42));
    assert_eq!(ctx.get::<i64>("after"), Some(43));
    let (again, _) = run(&inner);
    assert!(again.is_clean());
}

#[test]
fn contexts_with_different_key_orders_read_and_write_the_right_keys() {
    let chain = load(&one_event("ctx.b = ctx.a + 1 ctx.gone = nil ctx.s = ctx.s .. '!'"));
    let shapes = [
        serde_json::json!({"a": 1, "b": 0, "s": "x", "gone": 1}),
        serde_json::json!({"gone": 1, "s": "y", "b": 0, "a": 10}),
        serde_json::json!({"x": 5, "s": "", "a": 100}),
        serde_json::json!({"s": "z", "a": -1, "gone": true, "b": "text"}),
    ];
    for round in 0..3 {
        for shape in &shapes {
            let mut ctx = EventContext::from_json(shape.clone()).expect("object");
            let result = chain.execute(&mut ctx);
            assert!(result.is_clean(), "{result}");
            let a = shape["a"].as_i64().expect("a");
            assert_eq!(ctx.get::<i64>("b"), Some(a + 1), "round {round}: {shape}");
            assert!(!ctx.contains("gone"));
            assert_eq!(ctx.get::<String>("s"), Some(format!("{}!", shape["s"].as_str().expect("s"))));
            assert_eq!(ctx.get::<i64>("x"), shape["x"].as_i64());
        }
    }
}
