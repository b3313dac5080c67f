//! A loop for instruction counts of setup (see docs/benchmarks.md):
//! `setup_loop never_seen|seed_method|new_thread [ITERATIONS]` loads the
//! experiment's seed script ITERATIONS times, each time with a text never seen
//! before in the process (a unique trailing comment, so the bytecode cache
//! never hits), sandboxed and ready to run (`never_seen`); or does the
//! experiment's own unsandboxed setup (`Lua::new`, evaluate the handlers as
//! globals, check them) on the same kind of text (`seed_method`); or loads the
//! seed script once and runs its first execution on ITERATIONS new threads
//! (`new_thread`); or loads the seed script once, keeps that chain, and loads
//! the same text again ITERATIONS times (`cache_hit`: every load finds the
//! bytecode in the cache). Run it under `valgrind --tool=callgrind` at two iteration
//! counts and divide the difference.
use eventchains_lua::{LuaChainBuilder, thread_vm_count};
use mlua::{Function, Lua};
use std::hint::black_box;

const SEED: &str = include_str!("../../../examples/scripts/seed.lua");
const SEED_METHOD: &str = r#"
increment_handler = function(ctx) ctx.counter = ctx.counter + 1; return ctx end
append_handler = function(ctx) ctx.message = ctx.message .. " -> processed"; return ctx end
context = { counter = 0, message = "start" }
"#;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    match mode.as_str() {
        "never_seen" => {
            let builder = LuaChainBuilder::new();
            for i in 0..n {
                let source = format!("{SEED}\n-- never seen before: {i}\n");
                let chain = builder.load_str("seed.lua", &source).unwrap();
                black_box(&chain);
                drop(chain);
                // Frees the dropped chain's VM (as the benchmark does between samples).
                thread_vm_count();
            }
        }
        "seed_method" => {
            for i in 0..n {
                let source = format!("{SEED_METHOD}\n-- never seen before: {i}\n");
                let lua = Lua::new();
                lua.load(&source).set_name("seed_method").exec().unwrap();
                for key in ["increment_handler", "append_handler"] {
                    lua.globals().get::<Function>(key).unwrap();
                }
                black_box(lua);
            }
        }
        "new_thread" => {
            let chain = LuaChainBuilder::new().load_str("seed.lua", SEED).unwrap();
            for _ in 0..n {
                std::thread::scope(|scope| {
                    scope.spawn(|| {
                        let mut ctx = chain.new_context();
                        assert!(chain.execute(&mut ctx).is_clean());
                    });
                });
            }
        }
        "cache_hit" => {
            let builder = LuaChainBuilder::new();
            let kept = builder.load_str("seed.lua", SEED).unwrap();
            for _ in 0..n {
                let chain = builder.load_str("seed.lua", SEED).unwrap();
                assert!(chain.bytecode_reused());
                black_box(&chain);
                drop(chain);
                thread_vm_count();
            }
            drop(kept);
        }
        _ => panic!("usage: setup_loop never_seen|seed_method|new_thread|cache_hit [ITERATIONS]"),
    }
}
