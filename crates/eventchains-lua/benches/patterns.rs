//! Pattern matching through the sandbox's bounded functions vs the engine's
//! own C functions, both called in the same sandboxed VM with the same limits.
//!
//! Run with short settings (2-core machine):
//! `cargo bench -p eventchains-lua --features raw-pattern-bench --bench patterns -- --warm-up-time 1 --measurement-time 3`
//!
//! Each workload is the handler of a one-event [`LuaChain`] with default
//! limits (count hook, watchdog, sandbox), run as one chain execution per
//! iteration. `c` calls `string.c_find` & co. (the engine's C functions,
//! published by the `raw-pattern-bench` feature), `bounded` calls
//! `string.find` & co. (what every script gets). The rows name the path the
//! bounded call takes: `C` when the call's worst case is under the budget
//! (the dispatch calls the C function), `Rust` when it is not (the Rust
//! matcher with its step budget). Subjects: short (11-80 bytes) and long
//! (4 KiB, 16 KiB) with many matches.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/patterns.rs"]
mod workloads;
use eventchains_lua::Limits;
use workloads::{WORKLOADS, chain};

fn patterns(c: &mut Criterion) {
    let mut g = c.benchmark_group("patterns");
    for w in WORKLOADS {
        for side in ["c", "bounded"] {
            let chain = chain(w, side, Limits::default());
            let mut ctx = chain.new_context();
            g.bench_function(format!("{}/{side}", w.name), |b| {
                b.iter(|| {
                    let result = chain.execute(&mut ctx);
                    assert!(result.is_clean(), "{result}");
                    black_box(result)
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = patterns
}
criterion_main!(benches);
