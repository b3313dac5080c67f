//! Per-event overhead of each middleware: executions of a chain of one no-op
//! event wrapped in that middleware, against the same chain with none; the same for the reference crate `event_chains`
//! 0.2.1 (whole one-event chain executions, compare the differences to its own
//! `none`); and the cost of metrics recording when several threads run the
//! same event (sharded vs a single shard).
//!
//! `cargo bench -p eventchains-middleware --bench overhead -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use eventchains_core::{ChainableEvent, EventChain, EventContext, EventMiddleware, EventResult, FnMiddleware};
use eventchains_middleware::{
    BudgetConfig, CircuitBreaker, CircuitBreakerConfig, ConcurrencyLimit, ConcurrencyLimitConfig, Logging, Metrics,
    MetricsHandle, RateLimit, RateLimitConfig, Retry, RetryConfig, Timeout, TimeoutConfig, Timing, TimingConfig,
};

struct Noop;

impl ChainableEvent for Noop {
    fn name(&self) -> &str {
        "noop"
    }
    fn execute(&self, _ctx: &mut EventContext) -> EventResult {
        Ok(())
    }
}

fn stacks() -> Vec<(&'static str, Vec<Arc<dyn EventMiddleware>>)> {
    let unlimited = RateLimitConfig::default().rate_per_sec(1e12).burst(u32::MAX);
    vec![
        ("none", vec![]),
        ("pass_through", vec![Arc::new(FnMiddleware::new("pass", |_event, ctx, next| next.run(ctx)))]),
        ("logging", vec![Arc::new(Logging::default())]),
        ("timing", vec![Arc::new(Timing::default())]),
        ("timing_slow_threshold", vec![Arc::new(Timing::new(TimingConfig::default().slow_ms(Some(1000))))]),
        ("metrics", vec![Arc::new(Metrics::new())]),
        ("retry", vec![Arc::new(Retry::new(RetryConfig::default()).expect("valid"))]),
        (
            "retry_budget",
            vec![Arc::new(Retry::new(RetryConfig::default().budget(Some(BudgetConfig::default()))).expect("valid"))],
        ),
        ("rate_limit", vec![Arc::new(RateLimit::new(unlimited.clone()).expect("valid"))]),
        ("rate_limit_per_event", vec![Arc::new(RateLimit::new(unlimited.per_event(true)).expect("valid"))]),
        ("circuit_breaker", vec![Arc::new(CircuitBreaker::new(CircuitBreakerConfig::default()).expect("valid"))]),
        (
            "circuit_breaker_rate",
            vec![Arc::new(
                CircuitBreaker::new(CircuitBreakerConfig::default().failure_rate(Some(0.5)).window(Some(100)))
                    .expect("valid"),
            )],
        ),
        (
            "circuit_breaker_slow_rate",
            vec![Arc::new(
                CircuitBreaker::new(CircuitBreakerConfig::default().slow_call_rate(Some(0.5)).window_ms(Some(10_000)))
                    .expect("valid"),
            )],
        ),
        ("concurrency_limit", vec![Arc::new(ConcurrencyLimit::new(ConcurrencyLimitConfig::default()).expect("valid"))]),
        ("timeout", vec![Arc::new(Timeout::new(TimeoutConfig::default()).expect("valid"))]),
    ]
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("overhead");
    for (name, stack) in stacks() {
        let chain = stack.into_iter().fold(EventChain::new().event(Noop), EventChain::middleware_arc);
        let mut ctx = EventContext::new();
        group.bench_function(name, |b| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))));
    }
    group.finish();
}

struct RefNoop;

impl event_chains::ChainableEvent for RefNoop {
    fn execute(&self, _ctx: &mut event_chains::EventContext) -> event_chains::EventResult<()> {
        event_chains::EventResult::Success(())
    }
    fn name(&self) -> &str {
        "noop"
    }
}

/// The reference crate's middleware that print nothing on the success path.
fn reference(c: &mut Criterion) {
    use event_chains::EventChain as RefChain;
    use event_chains::middleware::circuit_breaker::CircuitBreakerMiddleware;
    use event_chains::middleware::metrics::MetricsMiddleware;
    use event_chains::middleware::rate_limit::{RateLimitMiddleware, RateLimitStrategy};
    use event_chains::middleware::retry::RetryMiddleware;
    use event_chains::middleware::timing::TimingMiddleware;

    let chains = [
        ("none", RefChain::new().event(RefNoop)),
        (
            "timing_slow_threshold",
            RefChain::new().middleware(TimingMiddleware::new().with_threshold(Duration::from_secs(1))).event(RefNoop),
        ),
        ("metrics", RefChain::new().middleware(MetricsMiddleware::new()).event(RefNoop)),
        ("retry", RefChain::new().middleware(RetryMiddleware::new(2)).event(RefNoop)),
        (
            "rate_limit",
            RefChain::new()
                .middleware(RateLimitMiddleware::with_burst(u32::MAX, u32::MAX, RateLimitStrategy::Block))
                .event(RefNoop),
        ),
        ("circuit_breaker", RefChain::new().middleware(CircuitBreakerMiddleware::new()).event(RefNoop)),
    ];
    let mut group = c.benchmark_group("reference_event_chains");
    for (name, chain) in chains {
        let mut ctx = event_chains::EventContext::new();
        group.bench_function(name, |b| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))));
    }
    group.finish();
}

/// What one clock read costs here: timing, metrics and timeout read it twice per event.
fn clock_read(c: &mut Criterion) {
    c.bench_function("reference/instant_now", |b| b.iter(|| black_box(Instant::now())));
}

/// Wall time of `iters` metric records split over `threads` threads.
fn record_in_threads(handle: &MetricsHandle, threads: u64, iters: u64) -> Duration {
    let per_thread = iters / threads;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    handle.record(black_box("noop"), Duration::from_nanos(100), None);
                }
            });
        }
    });
    start.elapsed()
}

fn metrics_contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_threads");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() as u64).max(2);
    for (name, handle) in [("sharded", MetricsHandle::new()), ("one_shard", MetricsHandle::with_shards(1))] {
        group.bench_function(format!("{name}_{threads}threads"), |b| {
            b.iter_custom(|iters| record_in_threads(&handle, threads, iters.max(threads)))
        });
    }
    group.finish();
}

criterion_group!(benches, overhead, reference, clock_read, metrics_contention);
criterion_main!(benches);
