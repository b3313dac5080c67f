//! The async chain: mixed sync and async parts, Send, panics, cancellation,
//! drops mid-way. Time is tokio's paused clock: nothing depends on machine speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use eventchains_core::{
    AsyncEventChain, ChainStatus, ErrorKind, EventContext, EventError, FaultToleranceMode, FnAsyncEvent,
    FnAsyncMiddleware, FnEvent, FnMiddleware, LocalAsyncEventChain, Origin,
};
use tokio_util::sync::CancellationToken;

fn sleeper(
    name: &'static str,
    ms: u64,
    key: &'static str,
) -> FnAsyncEvent<impl for<'a> Fn(&'a mut EventContext) -> eventchains_core::BoxFuture<'a> + Send + Sync> {
    FnAsyncEvent::new(name, move |ctx| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ctx.set(key, true);
            Ok(())
        })
    })
}

fn log(ctx: &mut EventContext, entry: String) {
    match ctx.value_mut("log").and_then(eventchains_core::Value::as_array_mut) {
        Some(a) => a.push(entry.into()),
        None => {
            ctx.set("log", vec![entry]);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn mixed_chain_keeps_fifo_events_and_lifo_middleware() {
    let chain = AsyncEventChain::new()
        .middleware(FnMiddleware::new("sync_inner", |event, ctx, next| {
            log(ctx, format!("s>{}", event.name()));
            let r = next.run(ctx);
            log(ctx, format!("s<{}", event.name()));
            r
        }))
        .async_middleware(FnAsyncMiddleware::new("async_outer", |event, ctx, next| {
            Box::pin(async move {
                log(ctx, format!("a>{}", event.name()));
                tokio::time::sleep(Duration::from_millis(1)).await;
                let r = next.run(ctx).await;
                log(ctx, format!("a<{}", event.name()));
                r
            })
        }))
        .event(FnEvent::new("one", |ctx| {
            log(ctx, "one".into());
            Ok(())
        }))
        .event(FnEvent::new("two", |ctx| {
            log(ctx, "two".into());
            Ok(())
        }));
    assert!(chain.check().is_ok());
    let mut ctx = EventContext::new();
    assert!(chain.execute(&mut ctx).await.is_clean());
    let log: Vec<String> = ctx.get("log").expect("log");
    assert_eq!(log, ["a>one", "s>one", "one", "s<one", "a<one", "a>two", "s>two", "two", "s<two", "a<two"]);
}

#[tokio::test(start_paused = true)]
async fn the_execution_future_is_send_and_spawnable() {
    let chain = Arc::new(AsyncEventChain::new().async_event(sleeper("wait", 10, "done")));
    let handle = tokio::spawn({
        let chain = chain.clone();
        async move {
            let mut ctx = EventContext::new();
            let result = chain.execute(&mut ctx).await;
            (result.is_clean(), ctx.get::<bool>("done"))
        }
    });
    assert_eq!(handle.await.expect("joined"), (true, Some(true)));
}

#[tokio::test(start_paused = true)]
async fn panics_in_async_events_and_middleware_name_their_origin() {
    let chain = AsyncEventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .async_middleware(FnAsyncMiddleware::new("picky", |event, ctx, next| {
            Box::pin(async move {
                tokio::task::yield_now().await;
                if event.name() == "second" {
                    panic!("middleware gave up");
                }
                next.run(ctx).await
            })
        }))
        .async_event(FnAsyncEvent::new("first", |_| {
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("event gave up")
            })
        }))
        .async_event(sleeper("second", 1, "second"))
        .async_event(sleeper("third", 1, "third"));
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx).await;
    assert_eq!(result.status(), ChainStatus::CompletedWithWarnings);
    let failures: Vec<_> = result.failures().iter().map(|f| (f.event(), f.kind(), f.origin())).collect();
    assert_eq!(
        failures,
        [("first", ErrorKind::Panic, Origin::Event), ("second", ErrorKind::Panic, Origin::Middleware)]
    );
    assert_eq!(result.failures()[0].message(), "event `first` panicked: event gave up");
    assert_eq!(result.failures()[1].message(), "middleware `picky` panicked: middleware gave up");
    assert_eq!(ctx.get::<bool>("third"), Some(true));
    assert!(!ctx.contains("second"));
}

#[tokio::test(start_paused = true)]
async fn a_sync_only_middleware_around_an_await_fails_clearly() {
    let chain = AsyncEventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(FnMiddleware::new("blocking", |_, ctx, next| next.run(ctx)))
        .event(FnEvent::new("sync", |ctx| {
            ctx.set("sync", true);
            Ok(())
        }))
        .async_event(sleeper("io", 1, "io"));
    let err = chain.check().expect_err("blocking middleware around io");
    assert_eq!(err.event, "io");
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx).await;
    assert_eq!(ctx.get::<bool>("sync"), Some(true), "a sync middleware still wraps sync events");
    assert!(!ctx.contains("io"));
    let failure = &result.failures()[0];
    assert_eq!((failure.event(), failure.kind(), failure.origin()), ("io", ErrorKind::Middleware, Origin::Middleware));
    assert!(failure.message().contains("middleware `blocking` is synchronous"), "{}", failure.message());
}

#[tokio::test(start_paused = true)]
async fn cancelling_before_the_start_runs_no_event() {
    let ran = Arc::new(AtomicU32::new(0));
    let r = ran.clone();
    let chain =
        AsyncEventChain::new().fault_tolerance(FaultToleranceMode::Lenient).event(FnEvent::new("a", move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
    let token = CancellationToken::new();
    token.cancel();
    let mut ctx = EventContext::new();
    let result = chain.execute_cancellable(&mut ctx, token).await;
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(result.events_run(), 0);
    assert_eq!(result.failures()[0].kind(), ErrorKind::Cancelled);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(ctx.cancellation().is_none(), "the token is taken off the context again");
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_an_await_stops_the_event_and_the_chain_in_every_mode() {
    for mode in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
        let chain = AsyncEventChain::new()
            .named("orders")
            .fault_tolerance(mode)
            .async_event(sleeper("slow", 1000, "after_await"))
            .event(FnEvent::new("later", |ctx| {
                ctx.set("later", true);
                Ok(())
            }));
        let token = CancellationToken::new();
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            canceller.cancel();
        });
        let mut ctx = EventContext::new();
        let result = chain.execute_cancellable(&mut ctx, token).await;
        assert_eq!(result.status(), ChainStatus::Failed, "{mode}");
        assert_eq!(result.events_run(), 1);
        let f = &result.failures()[0];
        assert_eq!((f.event(), f.kind()), ("slow", ErrorKind::Cancelled));
        assert_eq!(f.message(), "execution of chain `orders` cancelled during event `slow`");
        assert!(!ctx.contains("after_await") && !ctx.contains("later"));
    }
}

#[tokio::test(start_paused = true)]
async fn events_see_the_cancellation_through_the_context() {
    let token = CancellationToken::new();
    let canceller = token.clone();
    let chain = AsyncEventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .event(FnEvent::new("check", move |ctx| {
            canceller.cancel();
            if ctx.is_cancelled() { Err(EventError::cancelled("noticed")) } else { Ok(()) }
        }))
        .event(FnEvent::new("never", |ctx| {
            ctx.set("never", true);
            Ok(())
        }));
    let mut ctx = EventContext::new();
    let result = chain.execute_cancellable(&mut ctx, token).await;
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(result.failures().len(), 1);
    assert_eq!(result.failures()[0].message(), "noticed");
    assert!(!ctx.contains("never"));
}

#[tokio::test(start_paused = true)]
async fn dropping_an_execution_mid_way_leaves_the_context_usable() {
    let chain = AsyncEventChain::new()
        .event_time_limit(Duration::from_secs(5))
        .event(FnEvent::new("first", |ctx| {
            ctx.set("first", true);
            Ok(())
        }))
        .async_event(FnAsyncEvent::new("slow", |ctx| {
            Box::pin(async move {
                ctx.set("before_await", true);
                tokio::time::sleep(Duration::from_secs(1)).await;
                ctx.set("after_await", true);
                Ok(())
            })
        }));
    let mut ctx = EventContext::new();
    let early = Instant::now() + Duration::from_secs(3600);
    ctx.set_deadline(Some(early));
    let token = CancellationToken::new();
    let dropped = tokio::time::timeout(Duration::from_millis(10), chain.execute_cancellable(&mut ctx, token)).await;
    assert!(dropped.is_err(), "the execution was dropped at its await");
    assert_eq!(ctx.get::<bool>("first"), Some(true));
    assert_eq!(ctx.get::<bool>("before_await"), Some(true));
    assert!(!ctx.contains("after_await"));
    assert_eq!(ctx.deadline(), Some(early), "the chain's narrowed deadline was put back");
    assert!(ctx.cancellation().is_none(), "the execution's token was taken off");
    // The same context and chain run cleanly afterwards.
    let result = chain.execute(&mut ctx).await;
    assert!(result.is_clean());
    assert_eq!(ctx.get::<bool>("after_await"), Some(true));
}

#[tokio::test(start_paused = true)]
async fn many_executions_overlap_their_awaits() {
    let chain = Arc::new(AsyncEventChain::new().async_event(sleeper("nap", 50, "napped")));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let chain = chain.clone();
        tasks.spawn(async move { chain.execute(&mut EventContext::new()).await.is_clean() });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.expect("joined"));
    }
    // On the paused clock: concurrent sleeps take one sleep, not a hundred.
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[test]
fn a_local_chain_runs_futures_that_cannot_leave_the_thread() {
    let shared = std::rc::Rc::new(std::cell::Cell::new(0));
    let chain = LocalAsyncEventChain::new_local().async_event(FnAsyncEvent::local("rc", |ctx| {
        let local = std::rc::Rc::new(5);
        Box::pin(async move {
            tokio::task::yield_now().await;
            ctx.set("value", *local);
            Ok(())
        })
    }));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut ctx = EventContext::new();
    assert!(rt.block_on(chain.execute(&mut ctx)).is_clean());
    assert_eq!(ctx.get::<i64>("value"), Some(5));
    shared.set(1);
    assert_eq!(shared.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sync_chain_converts_and_behaves_the_same() {
    let sync = eventchains_core::EventChain::new()
        .fault_tolerance(FaultToleranceMode::BestEffort)
        .event(FnEvent::new("a", |_| Err(EventError::new("a failed"))))
        .event(FnEvent::new("b", |ctx| {
            ctx.set("b", true);
            Ok(())
        }));
    let expected = sync.execute(&mut EventContext::new());
    let chain: AsyncEventChain = sync.into();
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx).await;
    assert_eq!(result.status(), expected.status());
    assert_eq!(result.failures()[0].message(), "a failed");
    assert_eq!(ctx.get::<bool>("b"), Some(true));
}
