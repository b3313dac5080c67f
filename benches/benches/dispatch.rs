//! Dispatch cost of `EventChain::execute`: no-op events through 0, 1 and 4
//! pass-through middleware, for chains of 1, 10 and 100 events.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventchains_benches::{NoopEvent, PassThrough};
use eventchains_core::{EventChain, EventContext};

fn dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    for middleware in [0usize, 1, 4] {
        for events in [1usize, 10, 100] {
            let mut chain = EventChain::new();
            for _ in 0..events {
                chain.add_event(NoopEvent);
            }
            for _ in 0..middleware {
                chain.add_middleware(PassThrough);
            }
            let mut ctx = EventContext::new();
            group.throughput(Throughput::Elements(events as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("mw{middleware}"), format!("ev{events}")),
                &chain,
                |b, chain| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
