//! Property test of the circuit breaker's state machine against a simple model.

use std::sync::Arc;
use std::time::Duration;

use eventchains_core::{EventContext, EventError, EventMiddleware, EventResult, FnEvent, Next};
use eventchains_middleware::{CircuitBreaker, CircuitBreakerConfig, CircuitState, ManualClock};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Succeed,
    Fail,
    /// An error whose kind does not trip the breaker.
    Refuse,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Succeed),
        4 => Just(Op::Fail),
        1 => Just(Op::Refuse),
        2 => (0u64..40).prop_map(Op::Wait),
    ]
}

#[derive(Debug, PartialEq)]
enum Model {
    Closed { failures: u32 },
    Open { since: u64 },
    HalfOpen { successes: u32 },
}

struct Params {
    failure_threshold: u32,
    success_threshold: u32,
    open_ms: u64,
}

impl Model {
    /// Applies one call at time `now`; returns `false` when the call is refused.
    fn call(&mut self, p: &Params, now: u64, op: Op) -> bool {
        if let Model::Open { since } = *self {
            if now < since + p.open_ms {
                return false;
            }
            *self = Model::HalfOpen { successes: 0 };
        }
        match (&mut *self, op) {
            (Model::Closed { failures }, Op::Succeed) => *failures = 0,
            (Model::Closed { failures }, Op::Fail) => {
                *failures += 1;
                if *failures >= p.failure_threshold {
                    *self = Model::Open { since: now };
                }
            }
            (Model::HalfOpen { successes }, Op::Succeed) => {
                *successes += 1;
                if *successes >= p.success_threshold {
                    *self = Model::Closed { failures: 0 };
                }
            }
            (Model::HalfOpen { .. }, Op::Fail) => *self = Model::Open { since: now },
            _ => {}
        }
        true
    }

    fn state(&self) -> CircuitState {
        match self {
            Model::Closed { .. } => CircuitState::Closed,
            Model::Open { .. } => CircuitState::Open,
            Model::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn breaker_matches_the_model(
        failure_threshold in 1u32..4,
        success_threshold in 1u32..3,
        open_ms in 1u64..50,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let p = Params { failure_threshold, success_threshold, open_ms };
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::new(
            CircuitBreakerConfig::default()
                .failure_threshold(failure_threshold)
                .success_threshold(success_threshold)
                .open_ms(open_ms),
        )
        .expect("valid")
        .with_clock(clock.shared());
        let circuits = breaker.handle();
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(breaker)];
        let mut model = Model::Closed { failures: 0 };
        let mut now = 0u64;
        let mut refused = 0u64;

        for op in ops {
            if let Op::Wait(ms) = op {
                clock.advance(Duration::from_millis(ms));
                now += ms;
                continue;
            }
            let outcome: EventResult = match op {
                Op::Succeed => Ok(()),
                Op::Fail => Err(EventError::new("down")),
                _ => Err(EventError::limit_exceeded("not counted")),
            };
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let r = ran.clone();
            let event = FnEvent::new("svc", move |_| {
                r.store(true, std::sync::atomic::Ordering::SeqCst);
                outcome.clone()
            });
            let result = Next::new(&event, &stack).run(&mut EventContext::new());
            let admitted = model.call(&p, now, op);
            prop_assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), admitted);
            if !admitted {
                refused += 1;
                let err = result.expect_err("refused calls fail");
                prop_assert_eq!(err.kind(), eventchains_core::ErrorKind::Cancelled);
            }
            prop_assert_eq!(circuits.state("svc"), model.state(), "after {:?} at {} ms", op, now);
            if let Model::Closed { failures } = model {
                prop_assert_eq!(circuits.consecutive_failures("svc"), failures);
            }
        }
        prop_assert_eq!(circuits.rejected(), refused);
    }
}

/// One call of the rate-mode test: its outcome and how long it takes (the
/// event advances the manual clock), or a wait between calls.
#[derive(Clone, Copy, Debug)]
enum RateOp {
    Call { outcome: Op, took: u64 },
    Wait(u64),
}

fn rate_op() -> impl Strategy<Value = RateOp> {
    prop_oneof![
        8 => (prop_oneof![3 => Just(Op::Succeed), 3 => Just(Op::Fail), 1 => Just(Op::Refuse)], prop_oneof![3 => Just(0u64), 1 => 0u64..30])
            .prop_map(|(outcome, took)| RateOp::Call { outcome, took }),
        2 => (0u64..60).prop_map(RateOp::Wait),
    ]
}

/// The rate mode's reference: every judged call kept with its end time, the
/// window's rules applied by filtering.
#[derive(Debug)]
enum RateModel {
    Closed { calls: Vec<(u64, bool, bool)> },
    Open { since: u64 },
    HalfOpen { trials: Vec<(bool, bool)> },
}

#[derive(Debug)]
struct RateParams {
    failure_rate: Option<f64>,
    slow_rate: Option<f64>,
    slow_ms: u64,
    /// `Ok(calls)` for a count window, `Err(ms)` for a time window.
    window: Result<u32, u64>,
    minimum_calls: u32,
    permitted: u32,
    open_ms: u64,
}

impl RateParams {
    fn trips(&self, calls: &[(bool, bool)], minimum: u32) -> bool {
        let n = calls.len() as f64;
        let failed = calls.iter().filter(|c| c.0).count() as f64;
        let slow = calls.iter().filter(|c| c.1).count() as f64;
        calls.len() as u32 >= minimum
            && (self.failure_rate.is_some_and(|r| failed / n >= r) || self.slow_rate.is_some_and(|r| slow / n >= r))
    }

    /// The calls of `calls` still in the window at `now` (time windows: ten
    /// buckets counted from `base`, the end of the first judged call).
    fn in_window(&self, calls: &[(u64, bool, bool)], now: u64, base: u64) -> Vec<(bool, bool)> {
        match self.window {
            Ok(size) => calls.iter().rev().take(size as usize).map(|c| (c.1, c.2)).collect(),
            Err(ms) => {
                let width = (ms / 10).max(1);
                let buckets = ms.div_ceil(width);
                let epoch = |t: u64| (t - base) / width;
                calls.iter().filter(|c| epoch(c.0) + buckets > epoch(now)).map(|c| (c.1, c.2)).collect()
            }
        }
    }
}

impl RateModel {
    /// A call starting at `start` and ending at `end`; `false` when refused.
    fn call(&mut self, p: &RateParams, start: u64, end: u64, outcome: Op, base: &mut Option<u64>) -> bool {
        if let RateModel::Open { since } = *self {
            if start < since + p.open_ms {
                return false;
            }
            *self = RateModel::HalfOpen { trials: Vec::new() };
        }
        if let RateModel::HalfOpen { trials } = self
            && trials.len() as u32 >= p.permitted
        {
            return false;
        }
        let failed = match outcome {
            Op::Succeed => false,
            Op::Fail => true,
            _ => return true, // ignored: admitted, judged by nobody
        };
        let slow = p.slow_rate.is_some() && end - start >= p.slow_ms;
        match self {
            RateModel::Closed { calls } => {
                let base = *base.get_or_insert(end);
                calls.push((end, failed, slow));
                let window = p.in_window(calls, end, base);
                if p.trips(&window, p.minimum_calls) {
                    *self = RateModel::Open { since: end };
                }
            }
            RateModel::HalfOpen { trials } => {
                trials.push((failed, slow));
                if trials.len() as u32 >= p.permitted {
                    let trips = p.trips(trials, p.permitted);
                    *self =
                        if trips { RateModel::Open { since: end } } else { RateModel::Closed { calls: Vec::new() } };
                }
            }
            RateModel::Open { .. } => unreachable!("handled above"),
        }
        true
    }

    fn state(&self) -> CircuitState {
        match self {
            RateModel::Closed { .. } => CircuitState::Closed,
            RateModel::Open { .. } => CircuitState::Open,
            RateModel::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

fn rate_params() -> impl Strategy<Value = RateParams> {
    (
        prop_oneof![Just(None), (1u32..=10).prop_map(|n| Some(f64::from(n) / 10.0))],
        prop_oneof![Just(None), (1u32..=10).prop_map(|n| Some(f64::from(n) / 10.0))],
        1u64..20,
        prop_oneof![(1u32..8).prop_map(Ok), (1u64..120).prop_map(Err)],
        1u32..8,
        1u32..4,
        1u64..50,
    )
        .prop_filter("rate mode needs a rate", |t| t.0.is_some() || t.1.is_some())
        .prop_map(|(failure_rate, slow_rate, slow_ms, window, minimum_calls, permitted, open_ms)| RateParams {
            failure_rate,
            slow_rate,
            slow_ms,
            minimum_calls: match window {
                Ok(size) => minimum_calls.min(size),
                Err(_) => minimum_calls,
            },
            window,
            permitted,
            open_ms,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rate_breaker_matches_the_model(p in rate_params(), ops in prop::collection::vec(rate_op(), 1..120)) {
        let clock = ManualClock::new();
        let (window, window_ms) = match p.window {
            Ok(calls) => (Some(calls), None),
            Err(ms) => (None, Some(ms)),
        };
        let breaker = CircuitBreaker::new(
            CircuitBreakerConfig::default()
                .failure_rate(p.failure_rate)
                .slow_call_rate(p.slow_rate)
                .slow_call_ms(p.slow_ms)
                .window(window)
                .window_ms(window_ms)
                .minimum_calls(Some(p.minimum_calls))
                .half_open_max_calls(p.permitted)
                .open_ms(p.open_ms),
        )
        .expect("valid")
        .with_clock(clock.shared());
        let circuits = breaker.handle();
        let stack: Vec<Arc<dyn EventMiddleware>> = vec![Arc::new(breaker)];
        let mut model = RateModel::Closed { calls: Vec::new() };
        let mut base = None;
        let mut now = 0u64;
        let mut refused = 0u64;

        for op in ops {
            let (outcome, took) = match op {
                RateOp::Wait(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    now += ms;
                    continue;
                }
                RateOp::Call { outcome, took } => (outcome, took),
            };
            let result: EventResult = match outcome {
                Op::Succeed => Ok(()),
                Op::Fail => Err(EventError::new("down")),
                _ => Err(EventError::limit_exceeded("not counted")),
            };
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (r, event_clock) = (ran.clone(), clock.clone());
            let event = FnEvent::new("svc", move |_| {
                r.store(true, std::sync::atomic::Ordering::SeqCst);
                event_clock.advance(Duration::from_millis(took));
                result.clone()
            });
            let got = Next::new(&event, &stack).run(&mut EventContext::new());
            let admitted = model.call(&p, now, now + took, outcome, &mut base);
            prop_assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), admitted);
            if admitted {
                now += took;
            } else {
                refused += 1;
                prop_assert_eq!(got.expect_err("refused calls fail").kind(), eventchains_core::ErrorKind::Cancelled);
            }
            prop_assert_eq!(circuits.state("svc"), model.state(), "after {:?} at {} ms", op, now);
        }
        prop_assert_eq!(circuits.rejected(), refused);
    }
}
