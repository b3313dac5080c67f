//! Criterion benchmarks of the Lua layer against issue 4's targets.
//!
//! Run with short settings (2-core machine):
//! `cargo bench -p eventchains-lua --bench lua_bridge -- --warm-up-time 1 --measurement-time 3`
//!
//! - `event_overhead`: a no-op Lua handler vs a no-op Rust event through the same kind of chain.
//! - `seed`: the experiment's 2-event chain (increment + append) through [`LuaChain`], vs a
//!   hand-written minimal mlua loop, vs the experiment's own method (global lookup per call,
//!   context in a Lua global). Each iteration resets the two fields from Rust and reads them back.
//! - `context_design`: the chosen design (a) `ctx` userdata proxy vs design (b) a Lua-table
//!   mirror of the context, synced per event or once per execution (lazy).
//! - `load`: parse + validate + build the seed script in a fresh sandboxed VM.
//! - `nested`: nested context views (`ctx.order.items[i].qty`): a read, a write, an `ipairs` sum.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use eventchains_core::{EventChain, EventContext, FnEvent, Value};
use eventchains_lua::{Limits, LuaChain, LuaChainBuilder};
use mlua::{Function, Lua, Table};

mod common;
use common::{read_back, reset};

const SEED: &str = include_str!("../../../examples/scripts/seed.lua");

const NOOP: &str = "return { events = { { name = 'noop', handler = function(ctx) end } } }";

/// Benchmarks the seed chain under `limits` (reset, execute, read back); returns the chain.
fn bench_seed_chain(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, limits: Limits) -> LuaChain {
    let chain = LuaChainBuilder::new().limits(limits).load_str("seed.lua", SEED).expect("loads");
    let mut ctx = chain.new_context();
    g.bench_function(label, |b| {
        b.iter(|| {
            reset(&mut ctx);
            black_box(chain.execute(&mut ctx));
            black_box(read_back(&ctx))
        })
    });
    chain
}

fn event_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_overhead");
    let rust = EventChain::new().event(FnEvent::new("noop", |_| Ok(())));
    let mut ctx = EventContext::new();
    g.bench_function("rust_noop", |b| b.iter(|| black_box(rust.execute(black_box(&mut ctx)))));
    let lua = LuaChainBuilder::new().load_str("noop.lua", NOOP).expect("loads");
    g.bench_function("lua_noop_default_limits", |b| b.iter(|| black_box(lua.execute(black_box(&mut ctx)))));
    let returns_ctx = LuaChainBuilder::new()
        .load_str("ret.lua", "return { events = { { name = 'noop', handler = function(ctx) return ctx end } } }")
        .expect("loads");
    g.bench_function("lua_return_ctx", |b| b.iter(|| black_box(returns_ctx.execute(black_box(&mut ctx)))));
    let one_read = LuaChainBuilder::new()
        .load_str(
            "read.lua",
            "return { events = { { name = 'read', handler = function(ctx) local c = ctx.counter end } } }",
        )
        .expect("loads");
    ctx.set("counter", 1);
    g.bench_function("lua_one_ctx_read", |b| b.iter(|| black_box(one_read.execute(black_box(&mut ctx)))));
    let unlimited = LuaChainBuilder::new().limits(Limits::UNLIMITED).load_str("noop.lua", NOOP).expect("loads");
    g.bench_function("lua_noop_unlimited", |b| b.iter(|| black_box(unlimited.execute(black_box(&mut ctx)))));
    // One Lua middleware around three no-op events (the `event` table lookup is per call).
    let middleware = LuaChainBuilder::new()
        .load_str(
            "mw.lua",
            "local h = function(ctx) end return { middleware = { function(event, ctx, next) return next(ctx) end }, \
             events = { { name = 'a', handler = h }, { name = 'b', handler = h }, { name = 'c', handler = h } } }",
        )
        .expect("loads");
    g.bench_function("lua_middleware_three_events", |b| b.iter(|| black_box(middleware.execute(black_box(&mut ctx)))));
    g.finish();
}

/// The seed handlers as plain Lua functions on a plain table.
const SEED_FUNCTIONS: &str = r#"
return function(ctx) ctx.counter = ctx.counter + 1 return ctx end,
       function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end
"#;

fn seed(c: &mut Criterion) {
    let mut g = c.benchmark_group("seed");
    for (label, limits) in [("chain_default_limits", Limits::default()), ("chain_unlimited", Limits::UNLIMITED)] {
        bench_seed_chain(&mut g, label, limits);
    }

    // A hand-written minimal mlua loop: stored functions, one reused table.
    let lua = Lua::new();
    let (inc, append): (Function, Function) = lua.load(SEED_FUNCTIONS).eval().expect("functions");
    let table = lua.create_table().expect("table");
    g.bench_function("minimal_mlua_loop", |b| {
        b.iter(|| {
            table.set("counter", 0).expect("set");
            table.set("message", "start").expect("set");
            inc.call::<()>(&table).expect("call");
            append.call::<()>(&table).expect("call");
            let counter: i64 = table.get("counter").expect("get");
            let message: mlua::LuaString = table.get("message").expect("get");
            black_box((counter, message.as_bytes().len()))
        })
    });

    // The experiment's method: handlers looked up by name on every call, context in a Lua global.
    let lua = Lua::new();
    lua.load(
        r#"handlers = {
             increment = function(ctx) ctx.counter = ctx.counter + 1 return ctx end,
             append = function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end,
           }
           context = { counter = 0, message = "start" }"#,
    )
    .exec()
    .expect("script");
    g.bench_function("experiment_method", |b| {
        b.iter(|| {
            let globals = lua.globals();
            let ctx: Table = globals.get("context").expect("ctx");
            ctx.set("counter", 0).expect("set");
            ctx.set("message", "start").expect("set");
            for name in ["increment", "append"] {
                let handlers: Table = globals.get("handlers").expect("handlers");
                let f: Function = handlers.get(name).expect("handler");
                let ctx: Table = globals.get("context").expect("ctx");
                let out: Table = f.call(ctx).expect("call");
                globals.set("context", out).expect("store");
            }
            let ctx: Table = globals.get("context").expect("ctx");
            let counter: i64 = ctx.get("counter").expect("get");
            let message: String = ctx.get("message").expect("get");
            black_box((counter, message.len()))
        })
    });
    g.finish();
}

fn to_lua(lua: &Lua, v: &Value) -> mlua::Value {
    match v {
        Value::Int(i) => mlua::Value::Integer(*i),
        Value::Float(f) => mlua::Value::Number(*f),
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::String(s) => mlua::Value::String(lua.create_string(s).expect("string")),
        _ => mlua::Value::Nil,
    }
}

fn from_lua(v: mlua::Value) -> Value {
    match v {
        mlua::Value::Integer(i) => Value::Int(i),
        mlua::Value::Number(f) => Value::Float(f),
        mlua::Value::Boolean(b) => Value::Bool(b),
        mlua::Value::String(s) => Value::String(s.to_string_lossy()),
        _ => Value::Nil,
    }
}

/// Copies every context value into `table`.
fn sync_in(lua: &Lua, ctx: &EventContext, table: &Table) {
    for (k, v) in ctx {
        table.raw_set(k.as_str(), to_lua(lua, v)).expect("set");
    }
}

/// Copies every key of the context back from `table`.
fn sync_out(ctx: &mut EventContext, table: &Table) {
    for (k, v) in ctx.values_mut() {
        *v = from_lua(table.raw_get(k.as_str()).expect("get"));
    }
}

fn context_design(c: &mut Criterion) {
    let mut g = c.benchmark_group("context_design");
    // (a) the chosen design: `ctx` userdata proxy, reads and writes go to the EventContext.
    let chain = bench_seed_chain(&mut g, "a_userdata_proxy", Limits::UNLIMITED);

    // (b) a Lua-table mirror of the context, synced around every event.
    let lua = Lua::new();
    let (inc, append): (Function, Function) = lua.load(SEED_FUNCTIONS).eval().expect("functions");
    let mirror = lua.create_table().expect("table");
    let mut ctx = chain.new_context();
    g.bench_function("b_table_mirror_per_event", |b| {
        b.iter(|| {
            reset(&mut ctx);
            for f in [&inc, &append] {
                sync_in(&lua, &ctx, &mirror);
                f.call::<()>(&mirror).expect("call");
                sync_out(&mut ctx, &mirror);
            }
            black_box(read_back(&ctx))
        })
    });
    // (b') lazy mirror: synced once per execution (only valid while no Rust event runs in between).
    g.bench_function("b_table_mirror_per_execution", |b| {
        b.iter(|| {
            reset(&mut ctx);
            sync_in(&lua, &ctx, &mirror);
            inc.call::<()>(&mirror).expect("call");
            append.call::<()>(&mirror).expect("call");
            sync_out(&mut ctx, &mirror);
            black_box(read_back(&ctx))
        })
    });
    g.finish();
}

/// Nested views (an order with 10 items): one handler per benchmark.
const NESTED: [(&str, &str); 3] = [
    ("read_field", "local q = ctx.order.items[1].qty"),
    ("write_field", "local it = ctx.order.items[2] it.qty = it.qty + 1"),
    ("ipairs_sum_10", "local s = 0 for _, item in ipairs(ctx.order.items) do s = s + item.qty end ctx.total = s"),
];

fn nested(c: &mut Criterion) {
    let mut g = c.benchmark_group("nested");
    let items: Vec<Value> = (0..10)
        .map(|i| [("sku", Value::from(format!("sku-{i}"))), ("qty", Value::Int(1))].into_iter().collect())
        .collect();
    let order: Value = [("id", Value::from("A-1")), ("items", Value::Array(items))].into_iter().collect();
    for (label, body) in NESTED {
        let src = format!("return {{ events = {{ {{ name = 'e', handler = function(ctx) {body} end }} }} }}");
        let chain = LuaChainBuilder::new().load_str("nested.lua", &src).expect("loads");
        let mut ctx = EventContext::new();
        ctx.set("order", order.clone());
        g.bench_function(label, |b| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))));
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    let builder = LuaChainBuilder::new();
    g.bench_function("seed_parse_build_fresh_sandboxed_vm", |b| {
        b.iter(|| black_box(builder.load_str("seed.lua", SEED).expect("loads")))
    });
    g.bench_function("lua_new_default_stdlib", |b| b.iter(|| black_box(Lua::new())));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = event_overhead, seed, context_design, nested, load
}
criterion_main!(benches);
