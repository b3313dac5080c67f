//! [`Backoff`] and [`Jitter`]: how long [`Retry`](super::Retry) waits before each retry.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How the delay grows from one retry to the next (before the cap and jitter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Backoff {
    /// No delay.
    None,
    /// `initial` before every retry.
    Fixed,
    /// `initial × n` before retry `n`.
    Linear,
    /// `initial × multiplier^(n-1)` before retry `n`.
    #[default]
    Exponential,
}

/// Randomisation of the delay, to spread out retries of many callers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Jitter {
    /// The delay as computed.
    #[default]
    None,
    /// Uniform in `[0, delay]` ("full jitter").
    Full,
    /// `delay / 2` plus uniform in `[0, delay / 2]` ("equal jitter").
    Equal,
}

impl Backoff {
    /// The delay before retry `retry` (1 for the first retry), capped at `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventchains_middleware::Backoff;
    /// let ms = Duration::from_millis;
    /// assert_eq!(Backoff::Exponential.delay(3, ms(10), 2.0, ms(1000)), ms(40));
    /// assert_eq!(Backoff::Exponential.delay(30, ms(10), 2.0, ms(1000)), ms(1000));
    /// assert_eq!(Backoff::Linear.delay(3, ms(10), 2.0, ms(1000)), ms(30));
    /// assert_eq!(Backoff::Fixed.delay(3, ms(10), 2.0, ms(1000)), ms(10));
    /// assert_eq!(Backoff::None.delay(3, ms(10), 2.0, ms(1000)), Duration::ZERO);
    /// ```
    pub fn delay(self, retry: u32, initial: Duration, multiplier: f64, max: Duration) -> Duration {
        let retry = retry.max(1);
        let delay = match self {
            Backoff::None => return Duration::ZERO,
            Backoff::Fixed => initial,
            Backoff::Linear => initial.saturating_mul(retry),
            Backoff::Exponential => {
                let factor = multiplier.powi(i32::try_from(retry - 1).unwrap_or(i32::MAX));
                let secs = initial.as_secs_f64() * factor;
                if secs.is_finite() && secs < max.as_secs_f64() { Duration::from_secs_f64(secs) } else { max }
            }
        };
        delay.min(max)
    }
}

impl Jitter {
    /// `delay` randomised with `rng`.
    pub fn apply(self, delay: Duration, rng: &mut impl Rng) -> Duration {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        match self {
            Jitter::None => delay,
            _ if ns == 0 => delay,
            Jitter::Full => Duration::from_nanos(rng.random_range(0..=ns)),
            Jitter::Equal => Duration::from_nanos(ns / 2 + rng.random_range(0..=ns - ns / 2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn jitter_stays_in_range_and_is_reproducible_with_a_seed() {
        let d = Duration::from_millis(100);
        let draw = |jitter: Jitter, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..50).map(|_| jitter.apply(d, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(Jitter::Full, 7), draw(Jitter::Full, 7));
        assert_ne!(draw(Jitter::Full, 7), draw(Jitter::Full, 8));
        assert!(draw(Jitter::Full, 1).iter().all(|x| *x <= d));
        assert!(draw(Jitter::Equal, 1).iter().all(|x| *x >= d / 2 && *x <= d));
        assert_eq!(draw(Jitter::None, 1)[0], d);
    }

    #[test]
    fn exponential_handles_huge_exponents() {
        let cap = Duration::from_secs(1);
        assert_eq!(Backoff::Exponential.delay(u32::MAX, Duration::from_millis(1), 10.0, cap), cap);
        assert_eq!(Backoff::Linear.delay(u32::MAX, Duration::from_secs(1), 2.0, cap), cap);
    }
}
