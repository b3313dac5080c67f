//! [`RetryBudget`]: a cap on retries relative to traffic, like tower's
//! `TpsBudget`, so a failing dependency cannot cause a retry storm.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::config::{ConfigError, setters};

/// The account counts in billionths of a retry: one retry costs this much.
/// `u32::MAX` saved retries (the largest `max_saved`) are 4.3e18 units, and
/// the account never holds more than that, so it never overflows an `i64`.
const RETRY_COST: i64 = 1_000_000_000;

/// The smallest non-zero `ratio`: one unit of the account per call.
const MIN_RATIO: f64 = 1.0 / RETRY_COST as f64;

/// Parameters of a [`RetryBudget`] (the `budget` table of a retry config).
///
/// ```
/// use eventchains_middleware::BudgetConfig;
/// let c: BudgetConfig = serde_json::from_str(r#"{"ratio": 0.1}"#).unwrap();
/// assert_eq!(c, BudgetConfig::default().ratio(0.1));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BudgetConfig {
    /// Retries allowed per first attempt: each call deposits this fraction of
    /// a retry (default `0.2`, i.e. at most one retry per five calls). `0`, or
    /// from `1e-9` up; any larger value (even `1e300`) is fine: a deposit never
    /// exceeds `max_saved` retries.
    pub ratio: f64,
    /// Retries always allowed per second whatever the traffic (default `1.0`).
    /// The reserve they come from holds `max(min_per_sec, 1)` retries, so a
    /// fractional rate works as a rate: `0.5` allows one retry every two seconds.
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
        if self.ratio > 0.0 && self.ratio < MIN_RATIO {
            return Err(ConfigError::new(
                "retry",
                format!("budget ratio {} is below the resolution of the budget: use 0 or at least 1e-9", self.ratio),
            ));
        }
        Ok(())
    }
}

/// A shared account of retries: every call deposits `ratio` of a retry (up to
/// `max_saved` retries), every retry withdraws one; when the account is empty,
/// a reserve refilled at `min_per_sec` retries per second (holding up to
/// `max(min_per_sec, 1)` retries, full at the start) still allows a trickle.
/// As in tower's `TpsBudget`, a fractional `min_per_sec` is a rate (`0.25`:
/// one retry every four seconds) and only retries actually made withdraw.
/// Unlike `TpsBudget`, deposits do not expire; the cap bounds them instead.
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
    /// `max(min_per_sec, 1)`: the reserve can always hold one whole retry.
    reserve_cap: f64,
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
    ///
    /// Use a [validated](BudgetConfig) config ([`Retry`](super::Retry) checks
    /// it); out-of-range values are clamped here (a negative or NaN rate is 0).
    pub fn new(config: BudgetConfig, clock: SharedClock) -> Self {
        let now = clock.now();
        let max_balance = i64::from(config.max_saved) * RETRY_COST;
        // `as` saturates (NaN is 0); the cap keeps `balance + deposit` far from overflow.
        let deposit = ((config.ratio * RETRY_COST as f64).round() as i64).clamp(0, max_balance);
        let min_per_sec = if config.min_per_sec > 0.0 { config.min_per_sec } else { 0.0 };
        let reserve_cap = if min_per_sec > 0.0 { min_per_sec.max(1.0) } else { 0.0 };
        RetryBudget {
            inner: Arc::new(BudgetInner {
                balance: AtomicI64::new(0),
                deposit,
                max_balance,
                min_per_sec,
                reserve_cap,
                reserve: Mutex::new(Reserve { tokens: reserve_cap, refilled: now }),
                clock,
            }),
        }
    }

    /// Records a call (a first attempt).
    #[inline]
    pub fn deposit(&self) {
        let inner = &*self.inner;
        if inner.deposit > 0 {
            // Never above the cap, so never near overflow, whatever the ratio.
            let _ = inner.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b < inner.max_balance).then(|| (b + inner.deposit).min(inner.max_balance))
            });
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
        // `secs * min_per_sec` may be infinite for a huge rate: `min` caps it.
        reserve.tokens = (reserve.tokens + secs * inner.min_per_sec).min(inner.reserve_cap);
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
    fn fractional_rates_grant_retries_at_that_rate() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(BudgetConfig::default().ratio(0.0).min_per_sec(0.5), clock.shared());
        assert!(budget.try_withdraw(), "the reserve starts with one whole retry");
        assert!(!budget.try_withdraw());
        clock.advance(Duration::from_millis(1999));
        assert!(!budget.try_withdraw());
        clock.advance(Duration::from_millis(1));
        assert!(budget.try_withdraw(), "one retry per two seconds");
        clock.advance(Duration::from_secs(3600));
        assert_eq!((0..5).filter(|_| budget.try_withdraw()).count(), 1, "a fractional reserve holds one retry");
    }

    #[test]
    fn huge_ratios_and_rates_saturate() {
        let clock = ManualClock::new();
        for ratio in [1e300, f64::MAX, 4.3e9] {
            let config = BudgetConfig::default().ratio(ratio).min_per_sec(0.0).max_saved(u32::MAX);
            config.validate().expect("accepted");
            let budget = RetryBudget::new(config, clock.shared());
            for _ in 0..3 {
                budget.deposit();
            }
            assert_eq!(budget.saved(), f64::from(u32::MAX), "capped at max_saved, ratio {ratio}");
            assert!(budget.try_withdraw());
        }
        let budget = RetryBudget::new(BudgetConfig::default().ratio(0.0).min_per_sec(f64::MAX), clock.shared());
        clock.advance(Duration::from_secs(10));
        assert_eq!((0..1000).filter(|_| budget.try_withdraw()).count(), 1000);
    }

    #[test]
    fn ratios_below_the_resolution_are_rejected() {
        assert!(BudgetConfig::default().ratio(1e-10).validate().is_err());
        assert!(BudgetConfig::default().ratio(1e-9).validate().is_ok());
        assert!(BudgetConfig::default().ratio(0.0).validate().is_ok());
        let budget =
            RetryBudget::new(BudgetConfig::default().ratio(1e-9).min_per_sec(0.0), ManualClock::new().shared());
        budget.deposit();
        assert!(budget.saved() > 0.0, "the smallest accepted ratio still deposits");
    }

    #[test]
    fn negative_ratios_are_rejected() {
        assert!(BudgetConfig::default().ratio(-1.0).validate().is_err());
        assert!(BudgetConfig::default().min_per_sec(f64::NAN).validate().is_err());
    }
}
