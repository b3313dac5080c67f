//! Property tests of retry: attempt counts against `max_attempts` and the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, FnEvent, Next};
use eventchains_middleware::{Backoff, BudgetConfig, ManualClock, Retry, RetryConfig, RetryHandle};
use proptest::prelude::*;

/// The budget as a plain model, in exact integers: billionths of a retry
/// saved (a deposit never above the cap), and a reserve refilled at
/// `min_per_sec` up to `max(min_per_sec, 1)` retries on the manual clock.
struct BudgetModel {
    balance: i128,
    deposit: i128,
    cap: i128,
    min_per_sec: f64,
    reserve: f64,
    reserve_cap: f64,
    refilled_ms: u64,
}

const UNIT: i128 = 1_000_000_000;

impl BudgetModel {
    fn new(c: &BudgetConfig) -> Self {
        let cap = i128::from(c.max_saved) * UNIT;
        let wanted = (c.ratio * UNIT as f64).round();
        let deposit = if wanted >= cap as f64 { cap } else { wanted as i128 };
        let reserve_cap = if c.min_per_sec > 0.0 { c.min_per_sec.max(1.0) } else { 0.0 };
        BudgetModel {
            balance: 0,
            deposit,
            cap,
            min_per_sec: c.min_per_sec,
            reserve: reserve_cap,
            reserve_cap,
            refilled_ms: 0,
        }
    }

    fn deposit(&mut self) {
        self.balance = (self.balance + self.deposit).min(self.cap);
    }

    fn withdraw(&mut self, now_ms: u64) -> bool {
        if self.balance >= UNIT {
            self.balance -= UNIT;
            return true;
        }
        if self.min_per_sec <= 0.0 {
            return false;
        }
        let secs = Duration::from_millis(now_ms - self.refilled_ms).as_secs_f64();
        self.reserve = (self.reserve + secs * self.min_per_sec).min(self.reserve_cap);
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
        b.deposit();
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

/// Every kind of accepted ratio: none, the smallest, tenths, fractions, large
/// and absurd ones (which must saturate at `max_saved`, not overflow).
fn ratio() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1e-9),
        (1u32..=10).prop_map(|t| f64::from(t) / 10.0),
        1e-9f64..1.0,
        1.0f64..1e6,
        Just(1e300),
        Just(f64::MAX),
    ]
}

/// Reserve rates: none, fractional (below one per second), whole, absurd.
fn min_per_sec() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.01f64..1.0, Just(0.5), (1u32..4).prop_map(f64::from), 1.0f64..5.0, Just(1e300)]
}

fn max_saved() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..5, Just(u32::MAX)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn attempts_follow_max_attempts_and_the_budget(
        max in 1u32..6,
        calls in prop::collection::vec((0u32..8, 0u64..3000), 1..40),
        budget in prop::option::of((ratio(), min_per_sec(), max_saved())),
    ) {
        let budget_config = budget.map(|(ratio, min_per_sec, max_saved)| BudgetConfig::default()
            .ratio(ratio)
            .min_per_sec(min_per_sec)
            .max_saved(max_saved));
        let mut model = budget_config.as_ref().map(BudgetModel::new);
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
