//! [`SlidingWindow`]: the recent calls a rate-based circuit breaker judges,
//! either the last N calls (count-based) or the calls of the last T
//! milliseconds (time-based, in ten buckets), as running totals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many buckets a time-based window is split into (fewer when the window
/// is shorter than that many milliseconds).
pub(super) const TIME_BUCKETS: u64 = 10;

/// Totals over a window: calls recorded, how many failed, how many were slow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) calls: u32,
    pub(super) failures: u32,
    pub(super) slow: u32,
}

impl Tally {
    pub(super) fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failed);
        self.slow += u32::from(slow);
    }

    fn sub(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    /// Failures over calls (0 with no calls).
    pub(super) fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// Slow calls over calls (0 with no calls).
    pub(super) fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 { 0.0 } else { f64::from(part) / f64::from(whole) }
}

/// The recent calls of one circuit.
#[derive(Debug)]
pub(super) enum SlidingWindow {
    /// The last `size` calls, oldest first: (failed, slow).
    Count { size: usize, calls: VecDeque<(bool, bool)>, total: Tally },
    /// Calls by bucket of `width`, counted from `base` (the first call): the
    /// window holds the current bucket and the `buckets - 1` before it.
    Time { width: Duration, buckets: u64, base: Option<Instant>, slots: VecDeque<(u64, Tally)>, total: Tally },
}

impl SlidingWindow {
    /// A window over the last `size` calls.
    pub(super) fn count(size: u32) -> Self {
        SlidingWindow::Count {
            size: size as usize,
            calls: VecDeque::with_capacity(size as usize),
            total: Tally::default(),
        }
    }

    /// A window over the last `window` of time (at least 1 ms).
    pub(super) fn time(window: Duration) -> Self {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let width = (ms / TIME_BUCKETS).max(1);
        SlidingWindow::Time {
            width: Duration::from_millis(width),
            buckets: ms.div_ceil(width),
            base: None,
            slots: VecDeque::new(),
            total: Tally::default(),
        }
    }

    /// Records a call that ended at `now`.
    pub(super) fn record(&mut self, now: Instant, failed: bool, slow: bool) {
        match self {
            SlidingWindow::Count { size, calls, total } => {
                if calls.len() == *size
                    && let Some((f, s)) = calls.pop_front()
                {
                    let mut old = Tally::default();
                    old.add(f, s);
                    total.sub(old);
                }
                calls.push_back((failed, slow));
                total.add(failed, slow);
            }
            SlidingWindow::Time { .. } => {
                let epoch = self.advance(now);
                let SlidingWindow::Time { slots, total, .. } = self else { unreachable!() };
                match slots.back_mut() {
                    Some((e, tally)) if *e == epoch => tally.add(failed, slow),
                    _ => {
                        let mut tally = Tally::default();
                        tally.add(failed, slow);
                        slots.push_back((epoch, tally));
                    }
                }
                total.add(failed, slow);
            }
        }
    }

    /// Drops the buckets that left a time window at `now`; returns the current
    /// bucket number.
    fn advance(&mut self, now: Instant) -> u64 {
        let SlidingWindow::Time { width, buckets, base, slots, total } = self else { return 0 };
        let base = *base.get_or_insert(now);
        let width_ns = width.as_nanos().max(1);
        let epoch = u64::try_from(now.saturating_duration_since(base).as_nanos() / width_ns).unwrap_or(u64::MAX);
        while let Some(&(e, tally)) = slots.front() {
            if e.saturating_add(*buckets) > epoch {
                break;
            }
            slots.pop_front();
            total.sub(tally);
        }
        epoch
    }

    /// The totals of the calls still in the window at `now`.
    pub(super) fn totals(&mut self, now: Instant) -> Tally {
        self.advance(now);
        match self {
            SlidingWindow::Count { total, .. } | SlidingWindow::Time { total, .. } => *total,
        }
    }

    /// Forgets every call (a time window keeps its bucket origin).
    pub(super) fn clear(&mut self) {
        match self {
            SlidingWindow::Count { calls, total, .. } => {
                calls.clear();
                *total = Tally::default();
            }
            SlidingWindow::Time { slots, total, .. } => {
                slots.clear();
                *total = Tally::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_window_keeps_the_last_n_calls() {
        let now = Instant::now();
        let mut w = SlidingWindow::count(3);
        for (failed, slow) in [(true, false), (false, true), (true, true), (false, false)] {
            w.record(now, failed, slow);
        }
        assert_eq!(w.totals(now), Tally { calls: 3, failures: 1, slow: 2 });
        w.clear();
        assert_eq!(w.totals(now), Tally::default());
    }

    #[test]
    fn a_time_window_forgets_buckets_older_than_the_window() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = SlidingWindow::time(Duration::from_millis(100)); // ten buckets of 10 ms
        w.record(ms(0), true, false);
        w.record(ms(55), false, true);
        assert_eq!(w.totals(ms(99)), Tally { calls: 2, failures: 1, slow: 1 });
        // At 100 ms the bucket [0, 10) leaves the window.
        assert_eq!(w.totals(ms(100)), Tally { calls: 1, failures: 0, slow: 1 });
        assert_eq!(w.totals(ms(150)), Tally { calls: 0, failures: 0, slow: 0 });
        assert_eq!(Tally { calls: 4, failures: 1, slow: 2 }.failure_rate(), 0.25);
        assert_eq!(Tally::default().slow_rate(), 0.0);
    }
}
