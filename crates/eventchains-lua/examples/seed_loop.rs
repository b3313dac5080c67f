//! A loop for instruction counts of the seed chain (see docs/architecture.md):
//! `seed_loop chain|unlimited|unlimited_signal|memcap|timecap|timecap_signal|middleware|native|native_fresh|minimal [ITERATIONS]`
//! runs the experiment's 2-event chain through `LuaChain` (default or no
//! limits; the default memory cap alone; or the default time and memory caps
//! without an instruction cap, with the count hook (`timecap`) or with the
//! deadline signal installed instead (`timecap_signal`, Lua 5.4/5.5 on unix:
//! `DeadlineSignal`; `unlimited_signal`: no limits, the signal installed); or
//! wrapped in one pass-through Lua middleware, default limits), the same two
//! events written in Rust on `EventChain` (context reused: `native`; a fresh
//! context per execution, the suite's `fresh_context.native_ns`:
//! `native_fresh`), or the hand-written minimal mlua
//! loop of `benches/lua_bridge.rs`, ITERATIONS times.
//! Run it under `valgrind --tool=callgrind` at two iteration counts and divide
//! the difference.
use eventchains_core::{ChainableEvent, EventChain, EventContext, EventError, EventResult, Value};
use eventchains_lua::{Limits, LuaChainBuilder};
use mlua::{Function, Lua};
use std::hint::black_box;
const SEED: &str = include_str!("../../../examples/scripts/seed.lua");
const SEED_FUNCTIONS: &str = r#"
return function(ctx) ctx.counter = ctx.counter + 1 return ctx end,
       function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end
"#;
fn reset(ctx: &mut EventContext) {
    match ctx.value_mut("counter") {
        Some(v) => *v = Value::Int(0),
        None => {
            ctx.set("counter", 0);
        }
    }
    match ctx.value_mut("message") {
        Some(Value::String(s)) => {
            s.clear();
            s.push_str("start");
        }
        _ => {
            ctx.set("message", "start");
        }
    }
}
fn read_back(ctx: &EventContext) -> (i64, usize) {
    (ctx.get::<i64>("counter").unwrap_or_default(), ctx.get::<&str>("message").map_or(0, str::len))
}
/// The seed script wrapped in one pass-through Lua middleware.
fn middleware_script() -> String {
    let middleware = "  middleware = { function(event, ctx, next) return next(ctx) end },\n";
    SEED.replacen("  events = {", &format!("{middleware}  events = {{"), 1)
}
/// The seed's first event in Rust.
struct Increment;
impl ChainableEvent for Increment {
    fn name(&self) -> &str {
        "increment"
    }
    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        let n: i64 = ctx.try_get("counter")?;
        ctx.set("counter", n + 1);
        Ok(())
    }
}
/// The seed's second event in Rust.
struct Append;
impl ChainableEvent for Append {
    fn name(&self) -> &str {
        "append"
    }
    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        match ctx.value_mut("message") {
            Some(Value::String(s)) => {
                s.push_str(" -> processed");
                Ok(())
            }
            _ => Err(EventError::new("`message` is not a string")),
        }
    }
}
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match mode.as_str() {
        "chain" | "unlimited" | "unlimited_signal" | "memcap" | "timecap" | "timecap_signal" | "middleware" => {
            if mode.ends_with("_signal") {
                #[cfg(unix)]
                eventchains_lua::DeadlineSignal::install(libc::SIGUSR2).expect("the deadline signal");
            }
            let limits = match mode.as_str() {
                "unlimited" | "unlimited_signal" => Limits::UNLIMITED,
                "memcap" => Limits { memory_bytes: Limits::default().memory_bytes, ..Limits::UNLIMITED },
                "timecap" | "timecap_signal" => Limits { instructions: None, ..Limits::default() },
                _ => Limits::default(),
            };
            let source = if mode == "middleware" { middleware_script() } else { SEED.to_owned() };
            let chain = LuaChainBuilder::new().limits(limits).load_str("seed.lua", &source).unwrap();
            let mut ctx = chain.new_context();
            for _ in 0..n {
                reset(&mut ctx);
                black_box(chain.execute(&mut ctx));
                black_box(read_back(&ctx));
            }
            assert_eq!(read_back(&ctx), (1, "start -> processed".len()));
        }
        "native" => {
            let chain = EventChain::new().event(Increment).event(Append);
            let mut ctx = EventContext::new();
            for _ in 0..n {
                reset(&mut ctx);
                black_box(chain.execute(&mut ctx));
                black_box(read_back(&ctx));
            }
            assert_eq!(read_back(&ctx), (1, "start -> processed".len()));
        }
        "native_fresh" => {
            // The suite's `fresh_context.native_ns` shape: a fresh context per execution.
            let chain = EventChain::new().event(Increment).event(Append);
            for _ in 0..n {
                let mut ctx = EventContext::new();
                ctx.set("counter", 0);
                ctx.set("message", "start");
                black_box(chain.execute(&mut ctx));
                black_box(read_back(&ctx));
            }
        }
        "minimal" => {
            let lua = Lua::new();
            let (inc, append): (Function, Function) = lua.load(SEED_FUNCTIONS).eval().unwrap();
            let table = lua.create_table().unwrap();
            for _ in 0..n {
                table.set("counter", 0).unwrap();
                table.set("message", "start").unwrap();
                inc.call::<()>(&table).unwrap();
                append.call::<()>(&table).unwrap();
                let counter: i64 = table.get("counter").unwrap();
                let message: mlua::LuaString = table.get("message").unwrap();
                black_box((counter, message.as_bytes().len()));
            }
        }
        _ => panic!(
            "usage: seed_loop chain|unlimited|unlimited_signal|memcap|timecap|timecap_signal|middleware|native|native_fresh|minimal [ITERATIONS]"
        ),
    }
}
