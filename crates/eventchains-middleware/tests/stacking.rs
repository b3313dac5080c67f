//! Middleware combined in one chain, in the order `docs/middleware.md` advises.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{ChainStatus, ErrorKind, EventChain, EventContext, EventError, FnEvent, Origin};
use eventchains_middleware::{
    Backoff, CircuitBreaker, CircuitBreakerConfig, CircuitState, ManualClock, Metrics, RateLimit, RateLimitConfig,
    Retry, RetryConfig, Timeout, TimeoutConfig,
};

#[test]
fn retry_inside_timeout_stops_when_the_deadline_is_near() {
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let ck = clock.clone();
    let chain = EventChain::new()
        // innermost first: retry wraps the event, timeout wraps retry
        .middleware(
            Retry::new(RetryConfig::default().max_attempts(10).backoff(Backoff::Fixed).initial_ms(30))
                .expect("valid")
                .with_clock(clock.shared()),
        )
        .middleware(Timeout::new(TimeoutConfig::default().timeout_ms(100)).expect("valid").with_clock(clock.shared()))
        .event(FnEvent::new("call", move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            ck.advance(Duration::from_millis(10));
            Err(EventError::new("refused"))
        }));
    let result = chain.execute(&mut EventContext::new());
    assert_eq!(result.status(), ChainStatus::Failed);
    // attempts at t = 0, 40, 80 (each 10 ms, 30 ms apart); a 4th would start at 120 > 100.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(result.failures()[0].kind(), ErrorKind::Event);
}

#[test]
fn breaker_outside_retry_counts_one_failure_per_exhausted_call() {
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(2)).expect("valid");
    let circuits = breaker.handle();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let chain = EventChain::new()
        .middleware(Retry::new(RetryConfig::default().max_attempts(3).backoff(Backoff::None)).expect("valid"))
        .middleware(breaker)
        .event(FnEvent::new("db", move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Err(EventError::new("down"))
        }));
    chain.execute(&mut EventContext::new());
    assert_eq!(circuits.state("db"), CircuitState::Closed);
    assert_eq!(circuits.consecutive_failures("db"), 1);
    chain.execute(&mut EventContext::new());
    assert_eq!(circuits.state("db"), CircuitState::Open);
    let refused = chain.execute(&mut EventContext::new());
    assert_eq!(refused.failures()[0].origin(), Origin::Middleware);
    assert_eq!(calls.load(Ordering::SeqCst), 6, "the open breaker spared the event");
}

#[test]
fn metrics_outermost_sees_rate_limit_refusals() {
    let clock = ManualClock::new();
    let metrics = Metrics::new();
    let handle = metrics.handle();
    let chain = EventChain::new()
        .fault_tolerance(eventchains_core::FaultToleranceMode::Lenient)
        .middleware(
            RateLimit::new(RateLimitConfig::default().rate_per_sec(1.0).burst(2))
                .expect("valid")
                .with_clock(clock.shared()),
        )
        .middleware(metrics)
        .event(FnEvent::new("a", |_| Ok(())))
        .event(FnEvent::new("b", |_| Ok(())))
        .event(FnEvent::new("c", |_| Ok(())));
    let result = chain.execute(&mut EventContext::new());
    assert_eq!(result.failures().len(), 1);
    assert_eq!(result.failures()[0].event(), "c");
    let snapshot = handle.snapshot().to_json();
    assert_eq!(snapshot["c"]["failures_by_kind"]["limit_exceeded"], 1);
    assert_eq!(snapshot["a"]["successes"], 1);
}

#[test]
fn metrics_counts_are_exact_under_many_threads() {
    let metrics = Metrics::new();
    let handle = metrics.handle();
    let chain = EventChain::new()
        .fault_tolerance(eventchains_core::FaultToleranceMode::Lenient)
        .middleware(metrics)
        .event(FnEvent::new("ok", |_| Ok(())))
        .event(FnEvent::new(
            "odd",
            |ctx| {
                if ctx.get_or("i", 0) % 2 == 1 { Err(EventError::new("odd")) } else { Ok(()) }
            },
        ));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for i in 0..500 {
                    let mut ctx = EventContext::new();
                    ctx.set("i", i);
                    chain.execute(&mut ctx);
                }
            });
        }
    });
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.event("ok").map(|m| m.successes), Some(4000));
    let odd = snapshot.event("odd").expect("ran");
    assert_eq!((odd.executions, odd.successes, odd.failures), (4000, 2000, 2000));
    assert!(odd.min_ns <= odd.p50_ns && odd.p50_ns <= odd.p99_ns);
}
