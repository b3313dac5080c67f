//! Runs one subject of the seed chain in a tight loop, for profilers:
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --release -p eventchains-bench --example profile_subject
//! perf record -g target/release/examples/profile_subject lua 5
//! ```
//!
//! Subjects: `native`, `native_async` (the same chain on `AsyncEventChain`, nothing
//! awaited), `native_async_events` (both events async), `lua`, `lua_unlimited`, `raw_mlua`, `seed_method`, `pure_lua_engine`,
//! and the per-request shape (a fresh context per execution): `native_fresh`,
//! `reference_fresh`, `lua_fresh`, `raw_mlua_fresh`.
//!
//! Under callgrind, give a count of executions instead of seconds
//! (`valgrind --tool=callgrind target/release/examples/profile_subject native_fresh x100000`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use eventchains_bench::subjects::{
    lua_chain,
    native::{ChainSeed, NativeSeed, async_events_seed_chain, async_seed_chain, execute_fresh, seed_chain},
    pure_lua::PureLuaEngine,
    raw_mlua::RawMlua,
    reference::ReferenceSeed,
    seed_method::SeedMethod,
};
use eventchains_lua::Limits;

/// One execution as a boxed step; the result goes through `black_box`.
fn boxed<T>(mut f: impl FnMut() -> T + 'static) -> Box<dyn FnMut()> {
    Box::new(move || {
        black_box(f());
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let subject = args.next().unwrap_or_else(|| "lua".to_owned());
    let how_long = args.next().unwrap_or_else(|| "5".to_owned());
    let mut step: Box<dyn FnMut()> = match subject.as_str() {
        "native" => {
            let mut s = NativeSeed::new();
            boxed(move || s.execute())
        }
        "native_async" => {
            let mut s = ChainSeed::from_chain(async_seed_chain());
            boxed(move || s.execute())
        }
        "native_async_events" => {
            let mut s = ChainSeed::from_chain(async_events_seed_chain());
            boxed(move || s.execute())
        }
        "lua" | "lua_unlimited" => {
            let limits = if subject == "lua" { Limits::default() } else { Limits::UNLIMITED };
            let mut s = lua_chain::seed(limits)?;
            boxed(move || s.execute())
        }
        "raw_mlua" => {
            let s = RawMlua::new()?;
            boxed(move || s.execute())
        }
        "seed_method" => {
            let s = SeedMethod::new()?;
            boxed(move || s.execute())
        }
        "pure_lua_engine" => {
            let s = PureLuaEngine::new()?;
            boxed(move || s.execute())
        }
        "native_fresh" => {
            let chain = seed_chain();
            boxed(move || execute_fresh(&chain))
        }
        "reference_fresh" => {
            let r = ReferenceSeed::new();
            boxed(move || r.execute_fresh())
        }
        "lua_fresh" => {
            let chain = lua_chain::load("seed.lua", eventchains_bench::subjects::SEED_SCRIPT, Limits::default())?;
            boxed(move || execute_fresh(&chain))
        }
        "raw_mlua_fresh" => {
            let s = RawMlua::new()?;
            boxed(move || s.execute_fresh_table())
        }
        other => return Err(format!("unknown subject `{other}`").into()),
    };
    let start = Instant::now();
    let mut n = 0u64;
    if let Some(count) = how_long.strip_prefix('x') {
        // A fixed number of executions (for callgrind: divide its counts by it).
        n = count.parse()?;
        for _ in 0..n {
            step();
        }
    } else {
        let seconds: f64 = how_long.parse()?;
        let until = Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))
            .ok_or_else(|| format!("bad duration `{seconds}` s: expected a non-negative number of seconds"))?;
        while Instant::now() < until {
            for _ in 0..1000 {
                step();
            }
            n += 1000;
        }
    }
    eprintln!("{subject}: {n} executions, {:.1} ns each", start.elapsed().as_nanos() as f64 / n as f64);
    Ok(())
}
