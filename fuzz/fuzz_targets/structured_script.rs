//! Structured format-v1 scripts: `arbitrary` builds a script table with
//! extreme numbers (NaN, infinities, 1e308, i64 extremes, 2^63, 2^64, tiny
//! floats), deep and shared nesting (tables referenced from several places,
//! a table that doubles at every level), wrong types in every key, named parts
//! with configs, and handlers that write such values, return them, move,
//! repeat and sort with extreme arguments, or loop. Loading must never panic,
//! hang or abort; a script that loads runs twice and every failure names its
//! event; the context still serialises.
#![no_main]

use std::fmt::Write;
use std::time::Duration;

use arbitrary::Arbitrary;
use eventchains_core::{EventRegistry, FnEvent, FnMiddleware, MiddlewareRegistry};
use eventchains_lua::{Limits, LuaChainBuilder};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Num {
    Int(i64),
    Float(f64),
    Edge(u8),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Nil,
    Bool(bool),
    Num(Num),
    Str(String),
    List(Vec<Val>),
    Map(Vec<(String, Val)>),
    Keyed(Vec<(Num, Val)>),
    Shared(u8),
    Doubling,
    Func,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Nothing,
    Loop,
    Rep(Val, Num, Option<Val>),
    Move(Num, Num, Num),
    Write(String, Val),
    Return(Val),
    Fail(Val),
    Error(Val),
    InsertFront(u16),
    Sort(u16),
    Unpack(Num, Num),
    Concat(Num, Num),
}

#[derive(Arbitrary, Debug)]
enum Mw {
    Named(bool, Vec<(String, Val)>),
    Lua(u8, Body),
    Other(Val),
}

#[derive(Arbitrary, Debug)]
enum Ev {
    Lua(Val, Body),
    Rust(Val, Vec<(String, Val)>),
    Other(Val),
}

#[derive(Arbitrary, Debug)]
struct Input {
    shared: Vec<Val>,
    doubling: u8,
    name: Option<Val>,
    fault: Option<Val>,
    context: Option<Val>,
    limits: Option<Vec<(u8, Val)>>,
    middleware: Option<Vec<Mw>>,
    events: Option<Vec<Ev>>,
    extra: Option<(String, Val)>,
    top_loop: u16,
    host_duration_max: bool,
}

const MAX_ITEMS: usize = 6;
const MAX_DEPTH: usize = 5;

fn num(out: &mut String, n: &Num) {
    match n {
        Num::Int(i64::MIN) => out.push_str("math.mininteger"),
        Num::Int(i) => write!(out, "({i})").unwrap(),
        Num::Float(f) if f.is_nan() => out.push_str("(0/0)"),
        Num::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "math.huge" } else { "(-math.huge)" }),
        Num::Float(f) => write!(out, "({f:e})").unwrap(),
        Num::Edge(e) => out.push_str(
            [
                "1e30", "1e308", "2^63", "2^64", "-0.0", "1e-300", "5e-324", "math.maxinteger", "(-1)", "0", "0.5",
                "4294967296", "2^53", "(2^53 + 1)", "1e15", "(-1e300)",
            ][usize::from(*e) % 16],
        ),
    }
}

fn string(out: &mut String, s: &str) {
    // Rust's escapes (\", \\, \n, \t, \r, \0, \u{..}) are valid in Lua strings.
    let s: String = s.chars().take(64).collect();
    write!(out, "{s:?}").unwrap();
}

fn val(out: &mut String, v: &Val, depth: usize, shared: usize) {
    if depth > MAX_DEPTH {
        out.push_str("nil");
        return;
    }
    match v {
        Val::Nil => out.push_str("nil"),
        Val::Bool(b) => write!(out, "{b}").unwrap(),
        Val::Num(n) => num(out, n),
        Val::Str(s) => string(out, s),
        Val::List(items) => {
            out.push('{');
            for item in items.iter().take(MAX_ITEMS) {
                val(out, item, depth + 1, shared);
                out.push_str(", ");
            }
            out.push('}');
        }
        Val::Map(items) => {
            out.push('{');
            fields(out, items, depth + 1, shared);
            out.push('}');
        }
        Val::Keyed(items) => {
            out.push('{');
            for (k, item) in items.iter().take(MAX_ITEMS) {
                out.push('[');
                num(out, k);
                out.push_str("] = ");
                val(out, item, depth + 1, shared);
                out.push_str(", ");
            }
            out.push('}');
        }
        // A shared table defined before (s0 .. s{shared - 1}), or nil.
        Val::Shared(i) if shared > 0 => write!(out, "s{}", usize::from(*i) % shared).unwrap(),
        Val::Shared(_) => out.push_str("nil"),
        Val::Doubling => out.push_str("d"),
        Val::Func => out.push_str("function() end"),
    }
}

/// `["key"] = value, ...` for string keys.
fn fields(out: &mut String, items: &[(String, Val)], depth: usize, shared: usize) {
    for (k, item) in items.iter().take(MAX_ITEMS) {
        out.push('[');
        string(out, k);
        out.push_str("] = ");
        val(out, item, depth, shared);
        out.push_str(", ");
    }
}

fn body(out: &mut String, b: &Body, shared: usize) {
    match b {
        Body::Nothing => {}
        Body::Loop => out.push_str("while true do end"),
        Body::Rep(s, n, sep) => {
            out.push_str("local r = string.rep(");
            val(out, s, 0, shared);
            out.push_str(", ");
            num(out, n);
            if let Some(sep) = sep {
                out.push_str(", ");
                val(out, sep, 0, shared);
            }
            out.push_str(") ctx.len = #r");
        }
        Body::Move(f, e, t) => {
            out.push_str("table.move({ 1, 2, 3 }, ");
            num(out, f);
            out.push_str(", ");
            num(out, e);
            out.push_str(", ");
            num(out, t);
            out.push(')');
        }
        Body::Write(k, v) => {
            out.push_str("ctx[");
            string(out, k);
            out.push_str("] = ");
            val(out, v, 0, shared);
        }
        Body::Return(v) => {
            out.push_str("do return ");
            val(out, v, 0, shared);
            out.push_str(" end");
        }
        Body::Fail(v) => {
            out.push_str("do return nil, ");
            val(out, v, 0, shared);
            out.push_str(" end");
        }
        Body::Error(v) => {
            out.push_str("error(");
            val(out, v, 0, shared);
            out.push(')');
        }
        Body::InsertFront(n) => write!(
            out,
            "local t = {{}} for i = 1, {n} do t[i] = i end for i = 1, {n} do table.insert(t, 1, i) table.remove(t, 1) end"
        )
        .unwrap(),
        Body::Sort(n) => write!(out, "local t = {{}} for i = 1, {n} do t[i] = -i end table.sort(t)").unwrap(),
        Body::Unpack(i, j) => {
            out.push_str("local _ = select('#', (table.unpack or unpack)({ 1 }, ");
            num(out, i);
            out.push_str(", ");
            num(out, j);
            out.push_str("))");
        }
        Body::Concat(i, j) => {
            out.push_str("local _ = table.concat({ 'a', 'b' }, ',', ");
            num(out, i);
            out.push_str(", ");
            num(out, j);
            out.push(')');
        }
    }
}

fn script(input: &Input) -> String {
    let mut out = String::new();
    let shared = input.shared.len().min(MAX_ITEMS);
    for (i, v) in input.shared.iter().take(MAX_ITEMS).enumerate() {
        write!(out, "local s{i} = ").unwrap();
        val(&mut out, v, 0, i);
        out.push('\n');
    }
    writeln!(out, "local d = {{ 1 }} for i = 1, {} do d = {{ d, d }} end", input.doubling % 48).unwrap();
    writeln!(out, "for i = 1, {} do end", input.top_loop).unwrap();
    out.push_str("return {\n");
    let field = |key: &str, v: &Option<Val>, out: &mut String| {
        if let Some(v) = v {
            write!(out, "  {key} = ").unwrap();
            val(out, v, 0, shared);
            out.push_str(",\n");
        }
    };
    field("name", &input.name, &mut out);
    field("fault_tolerance", &input.fault, &mut out);
    field("context", &input.context, &mut out);
    if let Some(limits) = &input.limits {
        out.push_str("  limits = { ");
        for (k, v) in limits.iter().take(MAX_ITEMS) {
            let key = ["instructions", "memory_mb", "timeout_ms", "other"][usize::from(*k) % 4];
            write!(out, "{key} = ").unwrap();
            val(&mut out, v, 0, shared);
            out.push_str(", ");
        }
        out.push_str("},\n");
    }
    if let Some(middleware) = &input.middleware {
        out.push_str("  middleware = {\n");
        for m in middleware.iter().take(MAX_ITEMS) {
            match m {
                Mw::Named(known, config) => {
                    out.push_str(if *known { "    { 'pass', " } else { "    { 'unknown', " });
                    fields(&mut out, config, 0, shared);
                    out.push_str("},\n");
                }
                Mw::Lua(calls, b) => {
                    out.push_str("    function(event, ctx, next) ");
                    body(&mut out, b, shared);
                    write!(out, " local ok, err for i = 1, {} do ok, err = next(ctx) end return ok, err end,\n", calls % 4)
                        .unwrap();
                }
                Mw::Other(v) => {
                    out.push_str("    ");
                    val(&mut out, v, 0, shared);
                    out.push_str(",\n");
                }
            }
        }
        out.push_str("  },\n");
    }
    if let Some(events) = &input.events {
        out.push_str("  events = {\n");
        for e in events.iter().take(MAX_ITEMS) {
            match e {
                Ev::Lua(name, b) => {
                    out.push_str("    { name = ");
                    val(&mut out, name, 0, shared);
                    out.push_str(", handler = function(ctx) ");
                    body(&mut out, b, shared);
                    out.push_str(" end },\n");
                }
                Ev::Rust(name, config) => {
                    out.push_str("    { name = ");
                    val(&mut out, name, 0, shared);
                    out.push_str(", rust = 'any', ");
                    fields(&mut out, config, 0, shared);
                    out.push_str("},\n");
                }
                Ev::Other(v) => {
                    out.push_str("    ");
                    val(&mut out, v, 0, shared);
                    out.push_str(",\n");
                }
            }
        }
        out.push_str("  },\n");
    }
    if let Some((k, v)) = &input.extra {
        out.push_str("  [");
        string(&mut out, k);
        out.push_str("] = ");
        val(&mut out, v, 0, shared);
        out.push_str(",\n");
    }
    out.push_str("}\n");
    out
}

fn builder(duration_max: bool) -> LuaChainBuilder {
    let mut events = EventRegistry::new();
    events.register("any", |_config: serde_json::Value| Ok::<_, String>(FnEvent::new("any", |_| Ok(()))));
    let mut middleware = MiddlewareRegistry::new();
    middleware.register("pass", |_config: serde_json::Value| {
        Ok::<_, String>(FnMiddleware::new("pass", |_event, ctx, next| next.run(ctx)))
    });
    let timeout = if duration_max { Duration::MAX } else { Duration::from_millis(200) };
    LuaChainBuilder::new().event_registry(events).middleware_registry(middleware).limits(Limits {
        instructions: Some(200_000),
        memory_bytes: Some(16 * 1024 * 1024),
        timeout: Some(timeout),
    })
}

fuzz_target!(|input: Input| {
    let source = script(&input);
    if let Ok(chain) = builder(input.host_duration_max).load_str("fuzz.lua", &source) {
        for _ in 0..2 {
            let mut ctx = chain.new_context();
            let result = chain.execute(&mut ctx);
            for failure in result.failures() {
                assert!(!failure.event().is_empty(), "{source}");
            }
            let _ = ctx.to_json();
        }
    }
});
