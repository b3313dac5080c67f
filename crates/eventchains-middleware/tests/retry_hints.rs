//! Retry-after hints, a retry budget shared by the events of a chain, and the
//! retry counters of the `metrics` facade. Time is a `ManualClock`: a retry's
//! delay is what the clock slept.

#[path = "common/recorder.rs"]
mod recorder;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent};
use eventchains_middleware::telemetry::names;
use eventchains_middleware::{Backoff, BudgetConfig, Clock, ManualClock, Retry, RetryConfig};

/// An event failing `failures` times with a hint of `hint_ms`, then succeeding.
fn hinted(
    failures: u32,
    hint_ms: u64,
) -> (FnEvent<impl Fn(&mut EventContext) -> eventchains_core::EventResult>, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let event = FnEvent::new("busy", move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < failures {
            Err(EventError::new("try later").with_retry_after(Duration::from_millis(hint_ms)))
        } else {
            Ok(())
        }
    });
    (event, calls)
}

fn retry(clock: &ManualClock, config: RetryConfig) -> Retry {
    Retry::new(config.backoff(Backoff::Fixed).initial_ms(5).max_ms(50)).expect("valid").with_clock(clock.shared())
}

#[test]
fn a_retry_after_hint_stretches_the_delay_even_beyond_max_ms() {
    let clock = ManualClock::new();
    let (event, calls) = hinted(2, 200);
    let chain = EventChain::new().middleware(retry(&clock, RetryConfig::default())).event(event);
    assert!(chain.execute(&mut EventContext::new()).is_success());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(clock.slept(), Duration::from_millis(400), "two waits of the hinted 200 ms, not the fixed 5 ms");

    // A hint shorter than the backoff changes nothing.
    let clock = ManualClock::new();
    let (event, _) = hinted(1, 1);
    let chain = EventChain::new().middleware(retry(&clock, RetryConfig::default())).event(event);
    assert!(chain.execute(&mut EventContext::new()).is_success());
    assert_eq!(clock.slept(), Duration::from_millis(5));

    // Ignored when told so.
    let clock = ManualClock::new();
    let (event, _) = hinted(1, 200);
    let chain =
        EventChain::new().middleware(retry(&clock, RetryConfig::default().honor_retry_after(false))).event(event);
    assert!(chain.execute(&mut EventContext::new()).is_success());
    assert_eq!(clock.slept(), Duration::from_millis(5));
}

#[test]
fn a_hint_past_the_deadline_returns_the_failure_at_once() {
    let clock = ManualClock::new();
    let (event, calls) = hinted(5, 10_000);
    let chain = EventChain::new().middleware(retry(&clock, RetryConfig::default())).event(event);
    let mut ctx = EventContext::new();
    ctx.set_deadline(Some(clock.now() + Duration::from_millis(1000)));
    let result = chain.execute(&mut ctx);
    assert_eq!(result.failures()[0].message(), "try later");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry could finish before the deadline");
    assert_eq!(clock.slept(), Duration::ZERO);
}

#[test]
fn one_budget_serves_every_event_of_the_chain() {
    // Every call deposits one retry (ratio 1) and there is no reserve: what
    // `bad` may retry depends on what `ok` deposited before it.
    let clock = ManualClock::new();
    let config = RetryConfig::default()
        .max_attempts(3)
        .budget(Some(BudgetConfig::default().ratio(1.0).min_per_sec(0.0).max_saved(10)));
    let middleware = retry(&clock, config);
    let stats = middleware.handle();
    let bad_calls = Arc::new(AtomicU32::new(0));
    let seen = bad_calls.clone();
    let chain = EventChain::new()
        .named("shop")
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(middleware)
        .event(FnEvent::new("ok", |_| Ok(())))
        .event(FnEvent::new("bad", move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            Err(EventError::new("down"))
        }));
    let rec = recorder::recorded(|| {
        chain.execute(&mut EventContext::new());
    });
    assert_eq!(bad_calls.load(Ordering::SeqCst), 3, "two deposits (ok's and bad's) pay for two retries");
    assert_eq!(stats.stats().budget_denied, 0);
    let labels = [("chain", "shop"), ("event", "bad")];
    assert_eq!(rec.counter(names::RETRY_ATTEMPTS, &labels), 2);
    assert_eq!(rec.counter(names::RETRY_BUDGET_EXHAUSTED, &labels), 0);

    // With nothing deposited, the budget refuses, and says so.
    let clock = ManualClock::new();
    let config = RetryConfig::default().budget(Some(BudgetConfig::default().ratio(0.0).min_per_sec(0.0)));
    let chain = EventChain::new()
        .named("shop")
        .middleware(retry(&clock, config))
        .event(FnEvent::new("bad", |_| Err(EventError::new("down"))));
    let rec = recorder::recorded(|| {
        chain.execute(&mut EventContext::new());
    });
    assert_eq!(rec.counter(names::RETRY_BUDGET_EXHAUSTED, &labels), 1);
    assert_eq!(rec.counter(names::RETRY_ATTEMPTS, &labels), 0);
}
