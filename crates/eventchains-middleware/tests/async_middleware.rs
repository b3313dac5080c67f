//! The async forms of the middleware in an `AsyncEventChain`. Time is tokio's
//! paused clock (or a `ManualClock`): no outcome depends on machine speed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{
    AsyncEventChain, BoxFuture, ChainStatus, ErrorKind, EventContext, EventError, FaultToleranceMode, FnAsyncEvent,
    FnEvent, MiddlewareRegistry, Origin, Value,
};
use eventchains_middleware::{
    Backoff, CircuitBreaker, CircuitBreakerConfig, CircuitState, ConcurrencyLimit, ConcurrencyLimitConfig, LogLevel,
    Logging, LoggingConfig, ManualClock, Metrics, RateLimit, RateLimitConfig, RateLimitStrategy, Retry, RetryConfig,
    Timeout, TimeoutConfig, Timing, TimingConfig,
};
use tokio::time::Instant;

/// An async event that sleeps `ms` on tokio's timer, then sets `key`.
fn sleeper(
    name: &str,
    ms: u64,
    key: &'static str,
) -> FnAsyncEvent<impl for<'a> Fn(&'a mut EventContext) -> BoxFuture<'a> + Send + Sync> {
    FnAsyncEvent::new(name, move |ctx| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ctx.set(key, true);
            Ok(())
        })
    })
}

#[tokio::test(start_paused = true)]
async fn timeout_drops_the_awaited_work_at_the_deadline() {
    let chain = AsyncEventChain::new()
        .middleware(Timeout::new(TimeoutConfig::default().timeout_ms(10)).expect("valid"))
        .async_event(sleeper("slow", 1000, "side_effect"));
    let start = Instant::now();
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx).await;
    assert_eq!(start.elapsed(), Duration::from_millis(10), "stopped at the deadline, not after the sleep");
    let failure = &result.failures()[0];
    assert_eq!((failure.kind(), failure.origin()), (ErrorKind::Timeout, Origin::Event));
    assert_eq!(failure.message(), "event `slow` did not finish within 10 ms; its pending work was dropped");
    // Long after the sleep would have ended, its side effect still never happened.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!ctx.contains("side_effect"));
    assert_eq!(ctx.deadline(), None, "the timeout's deadline was put back");
}

#[tokio::test(start_paused = true)]
async fn timeout_lets_work_within_its_limit_finish() {
    let chain = AsyncEventChain::new()
        .middleware(Timeout::new(TimeoutConfig::default().timeout_ms(100)).expect("valid"))
        .async_event(FnAsyncEvent::new("quick", |ctx| {
            Box::pin(async move {
                assert!(ctx.deadline().is_some(), "the deadline is in the context during the await");
                tokio::time::sleep(Duration::from_millis(20)).await;
                ctx.set("done", true);
                Ok(())
            })
        }));
    let mut ctx = EventContext::new();
    assert!(chain.execute(&mut ctx).await.is_clean());
    assert_eq!(ctx.get::<bool>("done"), Some(true));
}

#[tokio::test(start_paused = true)]
async fn retry_waits_on_the_runtime_timer() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let retry =
        Retry::new(RetryConfig::default().max_attempts(3).backoff(Backoff::Fixed).initial_ms(100)).expect("valid");
    let stats = retry.handle();
    let chain = AsyncEventChain::new().middleware(retry).async_event(FnAsyncEvent::new("flaky", move |_| {
        let c = c.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            if c.fetch_add(1, Ordering::SeqCst) < 2 { Err(EventError::new("busy")) } else { Ok(()) }
        })
    }));
    let start = Instant::now();
    // Another task keeps running on this thread while the retry waits.
    let ticker = tokio::spawn(async {
        let mut ticks = 0;
        while ticks < 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ticks += 1;
        }
        ticks
    });
    let result = chain.execute(&mut EventContext::new()).await;
    assert!(result.is_clean());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(stats.stats().retries, 2);
    // The paused clock moved by exactly the two delays: tokio's timer, not thread::sleep.
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(ticker.await.expect("ticker"), 10);
}

#[tokio::test(start_paused = true)]
async fn retry_with_a_manual_clock_does_not_wait() {
    let clock = ManualClock::new();
    let retry = Retry::new(RetryConfig::default().max_attempts(2).backoff(Backoff::Fixed).initial_ms(50))
        .expect("valid")
        .with_clock(clock.shared());
    let chain = AsyncEventChain::new()
        .middleware(retry)
        .async_event(FnAsyncEvent::new("fails", |_| Box::pin(async { Err(EventError::new("down")) })));
    let start = Instant::now();
    let result = chain.execute(&mut EventContext::new()).await;
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(clock.slept(), Duration::from_millis(50));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_awaits_a_permit_or_fails_fast() {
    let waiting =
        RateLimit::new(RateLimitConfig::default().rate_per_sec(10.0).burst(1).strategy(RateLimitStrategy::Wait))
            .expect("valid");
    let chain = AsyncEventChain::new().middleware(waiting).async_event(sleeper("call", 0, "called"));
    let start = Instant::now();
    assert!(chain.execute(&mut EventContext::new()).await.is_clean());
    assert!(chain.execute(&mut EventContext::new()).await.is_clean());
    assert_eq!(start.elapsed(), Duration::from_millis(100), "the second call awaited its token");

    let failing =
        RateLimit::new(RateLimitConfig::default().rate_per_sec(10.0).burst(1).strategy(RateLimitStrategy::FailFast))
            .expect("valid");
    let chain = AsyncEventChain::new().middleware(failing).async_event(sleeper("call", 0, "called"));
    let start = Instant::now();
    assert!(chain.execute(&mut EventContext::new()).await.is_clean());
    let refused = chain.execute(&mut EventContext::new()).await;
    assert_eq!(start.elapsed(), Duration::ZERO, "no wait at all");
    let f = &refused.failures()[0];
    assert_eq!((f.kind(), f.origin()), (ErrorKind::LimitExceeded, Origin::Middleware));
}

#[test]
fn logging_keeps_its_span_across_awaits_and_leaks_it_nowhere() {
    let capture = common::Capture::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
    capture.run(|| {
        rt.block_on(async {
            let chain = Arc::new(
                AsyncEventChain::new()
                    .middleware(Logging::new(LoggingConfig::default().level(LogLevel::Info)))
                    .async_event(FnAsyncEvent::new("wait", |_| {
                        Box::pin(async {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            tracing::info!("after the await");
                            Ok(())
                        })
                    })),
            );
            let bystander = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                tracing::info!("bystander");
            });
            let c = chain.clone();
            let execution = tokio::spawn(async move { c.execute(&mut EventContext::new()).await.is_clean() });
            assert!(execution.await.expect("joined"));
            bystander.await.expect("joined");
        });
    });
    let records = capture.records();
    let message = |text: &str| records.iter().find(|r| !r.is_span && r.field("message") == Some(text)).cloned();
    let inside = message("after the await").expect("logged");
    assert_eq!(inside.parent.as_deref(), Some("event"), "the event's log line is inside its span");
    let outside = message("bystander").expect("logged");
    assert_eq!(outside.parent, None, "the span is not entered while its execution waits");
    let span = records.iter().find(|r| r.is_span && r.name == "event").expect("span");
    assert_eq!(span.field("outcome"), Some("success"));
    assert_eq!(span.level, tracing::Level::INFO);
    // Logging reads the wall clock (not tokio's paused one): only its presence is checked.
    assert!(span.field("duration_us").and_then(|d| d.parse::<u64>().ok()).is_some());
}

#[tokio::test(start_paused = true)]
async fn metrics_timing_and_the_breaker_work_around_async_events() {
    let metrics = Metrics::new();
    let snapshot = metrics.handle();
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::default().failure_threshold(2)).expect("valid");
    let circuits = breaker.clone();
    let chain = AsyncEventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(Timing::new(TimingConfig::default().store(true)))
        .middleware(breaker)
        .middleware(metrics)
        .async_event(FnAsyncEvent::new("down", |_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(EventError::new("unreachable"))
            })
        }));
    let mut last = None;
    for _ in 0..3 {
        last = Some(chain.execute(&mut EventContext::new()).await);
    }
    let stats = snapshot.snapshot();
    let down = stats.event("down").expect("recorded");
    assert_eq!(down.executions, 3);
    assert_eq!(circuits.state("down"), CircuitState::Open);
    let last = last.expect("ran");
    assert_eq!(last.failures()[0].kind(), ErrorKind::Cancelled, "the open breaker refused the third call");
}

#[tokio::test(start_paused = true)]
async fn timing_stores_the_duration_across_awaits() {
    let chain = AsyncEventChain::new()
        .middleware(Timing::new(TimingConfig::default().store(true)).with_clock(eventchains_middleware::system_clock()))
        .async_event(sleeper("nap", 0, "napped"));
    let mut ctx = EventContext::new();
    assert!(chain.execute(&mut ctx).await.is_clean());
    assert!(ctx.contains("napped"));
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_makes_extra_executions_await_a_slot() {
    let limit = ConcurrencyLimit::new(ConcurrencyLimitConfig::default().max(1).wait_ms(1000)).expect("valid");
    let handle = limit.handle();
    let chain =
        Arc::new(AsyncEventChain::new().named("orders").middleware(limit).async_event(sleeper("work", 50, "done")));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let chain = chain.clone();
        tasks.spawn(async move { chain.execute(&mut EventContext::new()).await.is_clean() });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.expect("joined"));
    }
    assert_eq!(start.elapsed(), Duration::from_millis(150), "one at a time");
    assert_eq!(handle.stats().waited, 2);
    assert_eq!(handle.in_flight(Some("orders"), None), 0);
    assert_eq!(handle.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_sheds_or_times_out_and_a_dropped_waiter_leaves_nothing_behind() {
    let limit = ConcurrencyLimit::new(ConcurrencyLimitConfig::default().max(1).wait_ms(20)).expect("valid");
    let handle = limit.handle();
    let chain = Arc::new(AsyncEventChain::new().named("c").middleware(limit).async_event(sleeper("work", 100, "done")));
    let holder = tokio::spawn({
        let chain = chain.clone();
        async move { chain.execute(&mut EventContext::new()).await.is_clean() }
    });
    tokio::task::yield_now().await;
    assert_eq!(handle.in_flight(Some("c"), None), 1);
    // A waiter gives up after wait_ms.
    let start = Instant::now();
    let refused = chain.execute(&mut EventContext::new()).await;
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    let f = &refused.failures()[0];
    assert_eq!((f.kind(), f.origin()), (ErrorKind::LimitExceeded, Origin::Middleware));
    assert!(f.message().starts_with("concurrency limit reached (wait_timeout)"), "{}", f.message());
    // A waiter whose execution is dropped while it waits is un-counted.
    let dropped = tokio::time::timeout(Duration::from_millis(5), chain.execute(&mut EventContext::new())).await;
    assert!(dropped.is_err());
    assert_eq!(handle.waiting(), 0);
    assert!(holder.await.expect("joined"));
    assert_eq!(handle.in_flight(Some("c"), None), 0);
    // The slot is free again.
    assert!(chain.execute(&mut EventContext::new()).await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn registry_built_middleware_wrap_async_events() {
    let mut registry = MiddlewareRegistry::new();
    let _handles = eventchains_middleware::register_all(&mut registry);
    let config: Value = [("timeout_ms", Value::from(10))].into_iter().collect();
    let mut chain = AsyncEventChain::new();
    chain.add_middleware_arc(registry.build("timeout", &config).expect("builds"));
    chain.add_middleware_arc(registry.build("logging", &Value::Nil).expect("builds"));
    chain.add_middleware_arc(registry.build("metrics", &Value::Nil).expect("builds"));
    let chain = chain.async_event(sleeper("slow", 1000, "late"));
    assert!(chain.check().is_ok(), "every registry middleware has an async form");
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx).await;
    assert_eq!(result.failures()[0].kind(), ErrorKind::Timeout);
    assert!(!ctx.contains("late"));
}

#[tokio::test(start_paused = true)]
async fn mixed_sync_and_async_events_under_every_mode() {
    for mode in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
        let chain = AsyncEventChain::new()
            .fault_tolerance(mode)
            .middleware(Timeout::new(TimeoutConfig::default().timeout_ms(50)).expect("valid"))
            .event(FnEvent::new("sync_ok", |ctx| {
                ctx.set("sync_ok", true);
                Ok(())
            }))
            .async_event(sleeper("async_slow", 500, "async_slow"))
            .async_event(sleeper("async_ok", 5, "async_ok"))
            .event(FnEvent::new("sync_fails", |_| Err(EventError::new("bad input"))))
            .event(FnEvent::new("last", |ctx| {
                ctx.set("last", true);
                Ok(())
            }));
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx).await;
        let kinds: Vec<_> = result.failures().iter().map(|f| (f.event(), f.kind())).collect();
        assert_eq!(ctx.get::<bool>("sync_ok"), Some(true));
        assert!(!ctx.contains("async_slow"));
        match mode {
            FaultToleranceMode::Strict => {
                assert_eq!(result.status(), ChainStatus::Failed);
                assert_eq!(kinds, [("async_slow", ErrorKind::Timeout)]);
                assert!(!ctx.contains("async_ok"));
            }
            _ => {
                assert_eq!(result.status(), ChainStatus::CompletedWithWarnings, "{mode}");
                assert_eq!(kinds, [("async_slow", ErrorKind::Timeout), ("sync_fails", ErrorKind::Event)]);
                assert_eq!(ctx.get::<bool>("async_ok"), Some(true));
                assert_eq!(ctx.get::<bool>("last"), Some(true));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_half_open_trial_gives_its_slot_back() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::new(
        CircuitBreakerConfig::default().failure_threshold(1).open_ms(1000).half_open_max_calls(1).success_threshold(1),
    )
    .expect("valid")
    .with_clock(clock.shared());
    let circuits = breaker.clone();
    let fail = Arc::new(AtomicU32::new(1));
    let f = fail.clone();
    let chain = AsyncEventChain::new().middleware(breaker).async_event(FnAsyncEvent::new("dep", move |_| {
        let f = f.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if f.load(Ordering::SeqCst) == 1 { Err(EventError::new("down")) } else { Ok(()) }
        })
    }));
    assert_eq!(chain.execute(&mut EventContext::new()).await.status(), ChainStatus::Failed);
    assert_eq!(circuits.state("dep"), CircuitState::Open);
    clock.advance(Duration::from_millis(1500));
    fail.store(0, Ordering::SeqCst);
    // The trial call's client goes away mid-call.
    let dropped = tokio::time::timeout(Duration::from_millis(5), chain.execute(&mut EventContext::new())).await;
    assert!(dropped.is_err());
    assert_eq!(circuits.state("dep"), CircuitState::HalfOpen);
    // Its slot is free: the next trial is admitted and closes the circuit.
    assert!(chain.execute(&mut EventContext::new()).await.is_clean());
    assert_eq!(circuits.state("dep"), CircuitState::Closed);
}
