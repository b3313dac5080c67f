//! The per-request shape as criterion benchmarks: every iteration builds a
//! fresh context with `counter = 0, message = "start"`, runs the seed chain
//! and reads both fields back. Our chain (Rust events), `event_chains` 0.2.1
//! with its own fresh context, our Lua chain, and the floor (hand-written mlua
//! creating a fresh table each run). `cargo xtask bench --filter fresh_context`
//! measures the same subjects interleaved for the report.
//! Short run: `cargo bench -p eventchains-benches --bench fresh_context -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eventchains_bench::subjects::{
    SEED_SCRIPT, lua_chain,
    native::{execute_fresh, seed_chain},
    raw_mlua::RawMlua,
    reference::ReferenceSeed,
};

fn fresh_context(c: &mut Criterion) {
    let mut group = c.benchmark_group("fresh_context");
    let native = seed_chain();
    group.bench_function("native", |b| b.iter(|| black_box(execute_fresh(&native))));
    let reference = ReferenceSeed::new();
    group.bench_function("event_chains_0_2_1", |b| b.iter(|| black_box(reference.execute_fresh())));
    let lua = lua_chain::load("seed.lua", SEED_SCRIPT, eventchains_lua::Limits::default()).expect("seed script loads");
    group.bench_function("lua", |b| b.iter(|| black_box(execute_fresh(&lua))));
    let raw = RawMlua::new().expect("vm");
    group.bench_function("raw_mlua_fresh_table", |b| b.iter(|| black_box(raw.execute_fresh_table())));
    group.finish();
}

criterion_group!(benches, fresh_context);
criterion_main!(benches);
