//! Runs one subject of the seed chain in a tight loop, for profilers:
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --release -p eventchains-bench --example profile_subject
//! perf record -g target/release/examples/profile_subject lua 5
//! ```
//!
//! Subjects: `native`, `lua`, `lua_unlimited`, `raw_mlua`, `seed_method`, `pure_lua_engine`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use eventchains_bench::subjects::{
    lua_chain, native::NativeSeed, pure_lua::PureLuaEngine, raw_mlua::RawMlua, seed_method::SeedMethod,
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
    let seconds: f64 = args.next().map_or(Ok(5.0), |s| s.parse())?;
    let mut step: Box<dyn FnMut()> = match subject.as_str() {
        "native" => {
            let mut s = NativeSeed::new();
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
        other => return Err(format!("unknown subject `{other}`").into()),
    };
    let until = Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| Instant::now().checked_add(d))
        .ok_or_else(|| format!("bad duration `{seconds}` s: expected a non-negative number of seconds"))?;
    let start = Instant::now();
    let mut n = 0u64;
    while Instant::now() < until {
        for _ in 0..1000 {
            step();
        }
        n += 1000;
    }
    eprintln!("{subject}: {n} executions, {:.1} ns each", start.elapsed().as_nanos() as f64 / n as f64);
    Ok(())
}
