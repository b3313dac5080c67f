//! Property tests of retry: attempt counts against `max_attempts` and the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, FnEvent, Next};
use eventchains_middleware::{Backoff, BudgetConfig, ManualClock, Retry, RetryConfig, RetryHandle};
use proptest::prelude::*;

/// The budget as a plain model: milli-tokens saved, and a reserve refilled at
/// `min_per_sec` (up to `min_per_sec`) on the manual clock.
struct BudgetModel {
    balance: i64,
    deposit: i64,
    cap: i64,
    min_per_sec: f64,
    reserve: f64,
    refilled_ms: u64,
}

impl BudgetModel {
    fn withdraw(&mut self, now_ms: u64) -> bool {
        if self.balance >= 1000 {
            self.balance -= 1000;
            return true;
        }
        if self.min_per_sec <= 0.0 {
            return false;
        }
        let secs = Duration::from_millis(now_ms - self.refilled_ms).as_secs_f64();
        self.reserve = (self.reserve + secs * self.min_per_sec).min(self.min_per_sec);
        self.refilled_ms = now_ms;
        if self.reserve >= 1.0 {
            self.reserve -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Attempts the model expects for a call that fails `failures` times before succeeding.
fn model_attempts(failures: u32, max: u32, budget: &mut Option<BudgetModel>, now_ms: u64) -> u32 {
    if let Some(b) = budget {
        b.balance = (b.balance + b.deposit).min(b.cap);
    }
    let mut attempts = 1;
    loop {
        if attempts > failures || attempts >= max {
            return attempts;
        }
        if let Some(b) = budget
            && !b.withdraw(now_ms)
        {
            return attempts;
        }
        attempts += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn attempts_follow_max_attempts_and_the_budget(
        max in 1u32..6,
        calls in prop::collection::vec((0u32..8, 0u64..800), 1..40),
        budget in prop::option::of((0u32..=10, 0u32..3, 1u32..5)),
    ) {
        let budget_config = budget.map(|(tenths, min_per_sec, max_saved)| BudgetConfig::default()
            .ratio(f64::from(tenths) / 10.0)
            .min_per_sec(f64::from(min_per_sec))
            .max_saved(max_saved));
        let mut model = budget_config.as_ref().map(|c| BudgetModel {
            balance: 0,
            deposit: (c.ratio * 1000.0).round() as i64,
            cap: i64::from(c.max_saved) * 1000,
            min_per_sec: c.min_per_sec,
            reserve: c.min_per_sec,
            refilled_ms: 0,
        });
        let clock = ManualClock::new(); // moved only between calls, by the test
        let config = RetryConfig::default().max_attempts(max).backoff(Backoff::None).budget(budget_config);
        let retry = Retry::with_parts(config, RetryHandle::new(), clock.shared()).expect("valid");
        let stats = retry.handle();
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(retry)];

        let remaining = Arc::new(AtomicU32::new(0));
        let attempts = Arc::new(AtomicU32::new(0));
        let (r, a) = (remaining.clone(), attempts.clone());
        let event = FnEvent::new("flaky", move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            if r.load(Ordering::SeqCst) > 0 {
                r.fetch_sub(1, Ordering::SeqCst);
                Err(EventError::new("transient"))
            } else {
                Ok(())
            }
        });

        let mut total_retries = 0u64;
        let mut now_ms = 0;
        for (failures, pause_ms) in calls {
            clock.advance(Duration::from_millis(pause_ms));
            now_ms += pause_ms;
            remaining.store(failures, Ordering::SeqCst);
            attempts.store(0, Ordering::SeqCst);
            let result = Next::new(&event as &dyn ChainableEvent, &stack).run(&mut EventContext::new());
            let made = attempts.load(Ordering::SeqCst);
            let expected = model_attempts(failures, max, &mut model, now_ms);
            prop_assert!(made >= 1 && made <= max);
            prop_assert_eq!(made, expected);
            prop_assert_eq!(result.is_ok(), made > failures);
            if budget.is_none() {
                prop_assert_eq!(made, (failures + 1).min(max));
            }
            total_retries += u64::from(made - 1);
        }
        prop_assert_eq!(stats.stats().retries, total_retries);
        prop_assert_eq!(clock.sleeps(), 0);
    }
}
