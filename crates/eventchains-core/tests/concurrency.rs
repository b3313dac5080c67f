//! One chain shared by several threads, thousands of executions, each with its
//! own context: every result is correct and no state leaks between executions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eventchains_core::{ChainStatus, EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, FnMiddleware};

#[test]
fn shared_chain_many_threads_independent_contexts() {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let chain = Arc::new(
        EventChain::new()
            .fault_tolerance(FaultToleranceMode::Lenient)
            .middleware(FnMiddleware::new("count", move |_, ctx, next| {
                counted.fetch_add(1, Ordering::Relaxed);
                next.run(ctx)
            }))
            .event(FnEvent::new("square", |ctx| {
                let n: i64 = ctx.try_get("n")?;
                ctx.set("square", n * n);
                Ok(())
            }))
            .event(FnEvent::new("odd_fails", |ctx| {
                let n: i64 = ctx.try_get("n")?;
                if n % 2 == 1 { Err(EventError::new(format!("{n} is odd"))) } else { Ok(()) }
            }))
            .event(FnEvent::new("label", |ctx| {
                let sq: i64 = ctx.try_get("square")?;
                ctx.set("label", format!("sq={sq}"));
                Ok(())
            })),
    );

    const THREADS: i64 = 4;
    const PER_THREAD: i64 = 2_500;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let chain = chain.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let n = t * PER_THREAD + i;
                    let mut ctx = EventContext::new();
                    ctx.set("n", n);
                    let result = chain.execute(&mut ctx);
                    assert_eq!(ctx.get::<i64>("square"), Some(n * n));
                    assert_eq!(ctx.get::<String>("label"), Some(format!("sq={}", n * n)));
                    if n % 2 == 1 {
                        assert_eq!(result.status(), ChainStatus::CompletedWithWarnings);
                        assert_eq!(result.failures().len(), 1);
                        assert_eq!(result.failures()[0].message(), format!("{n} is odd"));
                    } else {
                        assert_eq!(result.status(), ChainStatus::Completed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker thread");
    }
    assert_eq!(calls.load(Ordering::Relaxed), (THREADS * PER_THREAD * 3) as u64);
}
