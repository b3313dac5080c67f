//! [`RetryBudget`]: a cap on retries relative to traffic, like tower's
//! `TpsBudget`, so a failing dependency cannot cause a retry storm.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::config::{ConfigError, setters};

/// One retry costs this many milli-tokens.
const RETRY_COST: i64 = 1000;

/// Parameters of a [`RetryBudget`] (the `budget` table of a retry config).
///
/// ```
/// use eventchains_middleware::BudgetConfig;
/// let c: BudgetConfig = serde_json::from_str(r#"{"ratio": 0.1}"#).unwrap();
/// assert_eq!(c, BudgetConfig::default().ratio(0.1));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Retries allowed per first attempt: each call deposits this fraction of
    /// a retry (default `0.2`, i.e. at most one retry per five calls).
    pub ratio: f64,
    /// Retries always allowed per second whatever the traffic (default `1.0`);
    /// also the size of that reserve.
    pub min_per_sec: f64,
    /// The most retries the deposits can save up (default `100`).
    pub max_saved: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { ratio: 0.2, min_per_sec: 1.0, max_saved: 100 }
    }
}

setters!(BudgetConfig {
    /// Sets the deposit per call.
    ratio: f64,
    /// Sets the reserve refilled every second.
    min_per_sec: f64,
    /// Sets the most retries that can be saved up.
    max_saved: u32,
});

impl BudgetConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(self.ratio) || !ok(self.min_per_sec) {
            return Err(ConfigError::new("retry", "budget ratio and min_per_sec must be finite and >= 0"));
        }
        Ok(())
    }
}

/// A shared account of retries: every call deposits `ratio` of a retry (up to
/// `max_saved` retries), every retry withdraws one; when the account is empty,
/// a reserve of `min_per_sec` retries per second still allows a trickle.
/// Unlike tower's `TpsBudget`, deposits do not expire; the cap bounds them
/// instead.
///
/// Cloning shares the account, so several [`Retry`](super::Retry) middleware
/// (or chains) can draw on one budget.
///
/// ```
/// use eventchains_middleware::{BudgetConfig, ManualClock, RetryBudget};
/// let budget = RetryBudget::new(BudgetConfig::default().ratio(0.5).min_per_sec(0.0), ManualClock::new().shared());
/// budget.deposit();
/// assert!(!budget.try_withdraw()); // half a retry saved
/// budget.deposit();
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    balance: AtomicI64,
    deposit: i64,
    max_balance: i64,
    min_per_sec: f64,
    reserve: Mutex<Reserve>,
    clock: SharedClock,
}

#[derive(Debug)]
struct Reserve {
    tokens: f64,
    refilled: Instant,
}

impl RetryBudget {
    /// A budget with `config`, its reserve full, reading time from `clock`.
    pub fn new(config: BudgetConfig, clock: SharedClock) -> Self {
        let now = clock.now();
        let to_milli = |x: f64| (x * RETRY_COST as f64).round() as i64;
        RetryBudget {
            inner: Arc::new(BudgetInner {
                balance: AtomicI64::new(0),
                deposit: to_milli(config.ratio),
                max_balance: i64::from(config.max_saved) * RETRY_COST,
                min_per_sec: config.min_per_sec,
                reserve: Mutex::new(Reserve { tokens: config.min_per_sec, refilled: now }),
                clock,
            }),
        }
    }

    /// Records a call (a first attempt).
    #[inline]
    pub fn deposit(&self) {
        let inner = &*self.inner;
        if inner.deposit > 0 {
            let before = inner.balance.fetch_add(inner.deposit, Ordering::Relaxed);
            if before + inner.deposit > inner.max_balance {
                inner.balance.fetch_min(inner.max_balance, Ordering::Relaxed);
            }
        }
    }

    /// Takes one retry from the account, or from the reserve; `false` when both are empty.
    pub fn try_withdraw(&self) -> bool {
        let inner = &*self.inner;
        let from_balance = inner
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| (b >= RETRY_COST).then_some(b - RETRY_COST))
            .is_ok();
        if from_balance {
            return true;
        }
        if inner.min_per_sec <= 0.0 {
            return false;
        }
        let mut reserve = inner.reserve.lock().unwrap_or_else(PoisonError::into_inner);
        let now = inner.clock.now();
        let secs = now.saturating_duration_since(reserve.refilled).as_secs_f64();
        reserve.tokens = (reserve.tokens + secs * inner.min_per_sec).min(inner.min_per_sec);
        reserve.refilled = now;
        if reserve.tokens >= 1.0 {
            reserve.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Retries the account can pay for now (not counting the reserve).
    pub fn saved(&self) -> f64 {
        self.inner.balance.load(Ordering::Relaxed) as f64 / RETRY_COST as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ManualClock;

    #[test]
    fn reserve_refills_with_time_and_deposits_are_capped() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(BudgetConfig { ratio: 1.0, min_per_sec: 2.0, max_saved: 3 }, clock.shared());
        for _ in 0..10 {
            budget.deposit();
        }
        assert_eq!(budget.saved(), 3.0);
        let granted = (0..10).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 5, "3 saved + 2 in reserve");
        clock.advance(Duration::from_millis(500));
        assert!(budget.try_withdraw(), "one token refilled in half a second");
        assert!(!budget.try_withdraw());
        clock.advance(Duration::from_secs(60));
        assert_eq!((0..10).filter(|_| budget.try_withdraw()).count(), 2, "reserve is capped at min_per_sec");
    }

    #[test]
    fn negative_ratios_are_rejected() {
        assert!(BudgetConfig::default().ratio(-1.0).validate().is_err());
        assert!(BudgetConfig::default().min_per_sec(f64::NAN).validate().is_err());
    }
}
