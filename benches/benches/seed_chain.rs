//! The experiment's seed chain (increment + append) on every subject of the
//! report, as criterion benchmarks: our chain with Rust events, our Lua chain
//! (`eventchains-lua`), Lua config only, the `event_chains` 0.2.1 crate, a pure-Lua engine, the experiment's
//! method, and the physical floor (minimal mlua program, bare call).
//!
//! `cargo xtask bench` measures the same subjects with its own interleaving
//! harness for the report; this bench gives criterion's detailed statistics.
//! Short run: `cargo bench -p eventchains-benches --bench seed_chain -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eventchains_bench::subjects::{
    config_only, lua_chain, native::NativeSeed, pure_lua::PureLuaEngine, raw_mlua::RawMlua, reference::ReferenceSeed,
    seed_method::SeedMethod,
};

fn seed_chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("seed_chain");
    let mut native = NativeSeed::new();
    group.bench_function("native", |b| b.iter(|| black_box(native.execute())));
    let mut lua = lua_chain::seed(eventchains_lua::Limits::default()).expect("seed script loads");
    group.bench_function("lua_chain", |b| b.iter(|| black_box(lua.execute())));
    let mut config = config_only::seed().expect("config script builds");
    group.bench_function("lua_config_only", |b| b.iter(|| black_box(config.execute())));
    let mut reference = ReferenceSeed::new();
    group.bench_function("event_chains_0_2_1", |b| b.iter(|| black_box(reference.execute())));
    let pure = PureLuaEngine::new().expect("engine");
    group.bench_function("pure_lua_engine", |b| b.iter(|| black_box(pure.execute())));
    let method = SeedMethod::new().expect("vm");
    group.bench_function("seed_method", |b| b.iter(|| black_box(method.execute())));
    let raw = RawMlua::new().expect("vm");
    group.bench_function("raw_mlua", |b| b.iter(|| black_box(raw.execute())));
    group.bench_function("raw_mlua_call", |b| b.iter(|| black_box(raw.bare_call())));
    group.finish();
}

criterion_group!(benches, seed_chain);
criterion_main!(benches);
