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
