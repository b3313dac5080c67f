//! [`Clock`]: where time-dependent middleware read the time and sleep, so that
//! tests can drive time with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A source of time that can also wait.
///
/// The breaker, the rate limiter, retry backoff, timeout and chaos latency all
/// go through a clock. Production uses [`SystemClock`]; tests use a
/// [`ManualClock`], whose `sleep` only moves its time forward.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Waits for `duration` (a manual clock advances instead).
    fn sleep(&self, duration: Duration);

    /// Waits for `duration` without blocking the thread: the async forms of
    /// the middleware wait through it. By default tokio's timer
    /// (`tokio::time::sleep`, so a tokio runtime with time enabled must run
    /// the future; tests may pause it); a [`ManualClock`] advances instead.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    fn sleep_async(&self, duration: Duration) -> eventchains_core::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock shared between middleware and their tests.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock: [`Instant::now`] and [`std::thread::sleep`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The process-wide [`SystemClock`] as a [`SharedClock`] (allocated once).
pub fn system_clock() -> SharedClock {
    static CLOCK: OnceLock<SharedClock> = OnceLock::new();
    CLOCK.get_or_init(|| Arc::new(SystemClock)).clone()
}

/// A clock that only moves when told to: by [`advance`](Self::advance), or by
/// [`Clock::sleep`], which advances it and records the sleep.
///
/// Clones share the same time, so a test keeps one clone and hands another to
/// the middleware.
///
/// ```
/// use std::time::Duration;
/// use eventchains_middleware::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(5));
/// clock.sleep(Duration::from_millis(10));
/// assert_eq!(clock.now() - t0, Duration::from_millis(15));
/// assert_eq!(clock.slept(), Duration::from_millis(10));
/// assert_eq!(clock.sleeps(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    base: Instant,
    offset_ns: AtomicU64,
    slept_ns: AtomicU64,
    sleeps: AtomicU64,
}

impl ManualClock {
    /// A clock frozen at the current instant.
    pub fn new() -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                offset_ns: AtomicU64::new(0),
                slept_ns: AtomicU64::new(0),
                sleeps: AtomicU64::new(0),
            }),
        }
    }

    /// Moves the time forward by `duration` (saturating at `u64::MAX`
    /// nanoseconds, about 584 years, after the clock's creation).
    pub fn advance(&self, duration: Duration) {
        saturating_add(&self.inner.offset_ns, nanos(duration));
    }

    /// How far the clock has moved since it was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_ns.load(Ordering::SeqCst))
    }

    /// The total time passed to [`Clock::sleep`].
    pub fn slept(&self) -> Duration {
        Duration::from_nanos(self.inner.slept_ns.load(Ordering::SeqCst))
    }

    /// How many times [`Clock::sleep`] was called with a non-zero duration.
    pub fn sleeps(&self) -> u64 {
        self.inner.sleeps.load(Ordering::SeqCst)
    }

    /// This clock as a [`SharedClock`] (sharing its time).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    /// The creation instant plus [`elapsed`](ManualClock::elapsed), checked:
    /// on a platform whose `Instant` cannot reach that far, the latest instant
    /// it can (to within a factor of two of the offset).
    fn now(&self) -> Instant {
        let mut offset = self.elapsed();
        loop {
            if let Some(now) = self.inner.base.checked_add(offset) {
                return now;
            }
            offset /= 2;
        }
    }

    fn sleep(&self, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        self.inner.sleeps.fetch_add(1, Ordering::SeqCst);
        saturating_add(&self.inner.slept_ns, nanos(duration));
        self.advance(duration);
    }

    /// Advances like [`sleep`](Clock::sleep) and is ready at once.
    #[cfg(feature = "async")]
    fn sleep_async(&self, duration: Duration) -> eventchains_core::BoxFuture<'static, ()> {
        self.sleep(duration);
        Box::pin(std::future::ready(()))
    }
}

fn saturating_add(counter: &AtomicU64, add: u64) {
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(add)));
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_time_and_zero_sleeps_are_not_counted() {
        let a = ManualClock::new();
        let b: SharedClock = a.shared();
        let t0 = b.now();
        b.sleep(Duration::ZERO);
        assert_eq!(a.sleeps(), 0);
        b.sleep(Duration::from_secs(2));
        assert_eq!(a.now() - t0, Duration::from_secs(2));
        assert_eq!(a.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn huge_advances_saturate_instead_of_wrapping_or_panicking() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        clock.advance(Duration::MAX);
        clock.sleep(Duration::MAX);
        assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
        assert_eq!(clock.slept(), Duration::from_nanos(u64::MAX));
        assert!(clock.now() > t0);
    }

    #[test]
    fn system_clock_moves_forward() {
        let clock = system_clock();
        let t0 = clock.now();
        assert!(clock.now() >= t0);
    }
}
