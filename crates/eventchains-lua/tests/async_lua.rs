//! Async executions of Lua chains (issue 12): Lua handlers and middleware as
//! coroutines awaiting async host functions, many executions in flight on one
//! thread, limits, cancellation, dropped executions, errors, mixed chains.
//!
//! Time-dependent tests run on tokio's paused clock (virtual time advances
//! only when every task waits), so no outcome depends on the machine's speed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use eventchains_core::{
    CancellationToken, ChainStatus, ErrorKind, EventContext, EventEntry, EventError, FaultToleranceMode, FnAsyncEvent,
    FnEvent, Local, LocalAsyncEventChain,
};
use eventchains_lua::{Limits, LuaChain, LuaChainBuilder};

fn builder() -> LuaChainBuilder {
    LuaChainBuilder::new()
        .register_async_fn("sleep_ms", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Infallible>(())
        })
        .register_async_fn("inventory", |sku: String| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match sku.as_str() {
                "tea" => Ok(7),
                _ => Err(format!("unknown sku `{sku}`")),
            }
        })
}

fn load(builder: LuaChainBuilder, src: &str) -> LuaChain {
    builder.load_str("orders.lua", src).expect("loads")
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hundred_concurrent_executions_finish_far_sooner_than_one_after_another() {
    let chain = Arc::new(load(
        builder(),
        "return { events = { { name = 'wait', handler = function(ctx)
           sleep_ms(50)
           ctx.done = ctx.id
         end } } }",
    ));
    let start = tokio::time::Instant::now();
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..100i64)
        .map(|id| {
            let chain = chain.clone();
            local.spawn_local(async move {
                let mut ctx = chain.new_context();
                ctx.set("id", id);
                let result = chain.execute_async(&mut ctx).await;
                (id, result, ctx)
            })
        })
        .collect();
    local.await;
    for handle in handles {
        let (id, result, ctx) = handle.await.expect("task");
        assert!(result.is_clean(), "{result:?}");
        assert_eq!(ctx.get::<i64>("done"), Some(id));
    }
    assert!(start.elapsed() < Duration::from_millis(2500), "100 x 50 ms took {:?}", start.elapsed());
}

#[tokio::test(flavor = "current_thread")]
async fn an_endless_loop_in_an_async_handler_fails_with_limit_exceeded() {
    let limits = Limits { instructions: Some(1_000_000), timeout: None, ..Limits::default() };
    let chain = load(
        builder().limits(limits),
        "return { events = {
           { name = 'spin', handler = function(ctx) sleep_ms(1) while true do end end },
         } }",
    );
    for _ in 0..2 {
        let result = chain.execute_async(&mut chain.new_context()).await;
        let failure = &result.failures()[0];
        assert_eq!(failure.kind(), ErrorKind::LimitExceeded);
        assert_eq!(failure.message(), "instruction limit (1000000) exceeded in event `spin`");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelling_during_an_await_ends_it_and_skips_what_follows() {
    let chain = load(
        builder(),
        "return { events = {
           { name = 'slow', handler = function(ctx) ctx.before = true; sleep_ms(1000); ctx.after = true end },
           { name = 'next', handler = function(ctx) ctx.next_ran = true end },
         } }",
    );
    let token = CancellationToken::new();
    let canceller = token.clone();
    let mut ctx = chain.new_context();
    let (result, ()) = tokio::join!(chain.execute_cancellable(&mut ctx, token), async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        canceller.cancel();
    });
    assert_eq!(result.status(), ChainStatus::Failed);
    assert_eq!(result.failures()[0].kind(), ErrorKind::Cancelled, "{result:?}");
    assert_eq!(ctx.get::<bool>("before"), Some(true));
    assert_eq!(ctx.get::<bool>("after"), None, "the side effect after the await never happens");
    assert_eq!(ctx.get::<bool>("next_ran"), None);
    // The thread's VM is clean for the next execution.
    let mut ctx = chain.new_context();
    assert!(chain.execute_async(&mut ctx).await.is_clean());
    assert_eq!(ctx.get::<bool>("after"), Some(true));
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_during_a_lua_loop_stops_it_within_a_hook_interval() {
    let token = CancellationToken::new();
    let from_lua = token.clone();
    let chain = load(
        builder()
            .limits(Limits { instructions: None, timeout: None, ..Limits::default() })
            .register_fn("cancel_execution", move |()| from_lua.cancel()),
        "return { events = { { name = 'loop', handler = function(ctx)
           sleep_ms(1)
           cancel_execution()
           local i = 0
           while true do i = i + 1; ctx.i = i end
         end } } }",
    );
    let mut ctx = chain.new_context();
    let result = chain.execute_cancellable(&mut ctx, token).await;
    let failure = &result.failures()[0];
    assert_eq!(failure.kind(), ErrorKind::Cancelled, "{result:?}");
    let iterations = ctx.get::<i64>("i").expect("the loop ran");
    assert!(iterations <= i64::from(eventchains_lua::HOOK_INTERVAL), "ran {iterations} iterations after the cancel");
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_before_the_start_runs_no_event() {
    let chain = load(builder(), "return { events = { { name = 'e', handler = function(ctx) ctx.ran = true end } } }");
    let token = CancellationToken::new();
    token.cancel();
    let mut ctx = chain.new_context();
    let result = chain.execute_cancellable(&mut ctx, token).await;
    assert_eq!(result.events_run(), 0);
    assert_eq!(result.failures()[0].kind(), ErrorKind::Cancelled);
    assert_eq!(ctx.get::<bool>("ran"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_execution_is_followed_by_a_clean_one_on_the_same_thread() {
    let chain = load(
        builder().register_async_fn("never", |(): ()| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(())
        }),
        "return {
           middleware = { function(event, ctx, next) ctx.mw = (ctx.mw or 0) + 1; return next(ctx) end },
           events = { { name = 'e', handler = function(ctx)
             ctx.stage = 'before'
             if ctx.hang then never() end
             ctx.stage = 'after'
           end } } }",
    );
    let mut dropped = chain.new_context();
    dropped.set("hang", true);
    {
        let future = chain.execute_async(&mut dropped);
        let mut future = std::pin::pin!(future);
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
    }
    assert_eq!(dropped.get::<&str>("stage"), Some("before"), "writes before the pending await stay");
    for _ in 0..3 {
        let mut ctx = chain.new_context();
        assert!(chain.execute_async(&mut ctx).await.is_clean());
        assert_eq!(ctx.get::<&str>("stage"), Some("after"));
        assert_eq!(ctx.get::<i64>("mw"), Some(1));
        // The synchronous path on the same VM is clean as well.
        let mut ctx = chain.new_context();
        assert!(chain.execute(&mut ctx).is_clean());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn async_host_errors_are_lua_errors_a_script_can_pcall() {
    let chain = load(
        builder(),
        "return { events = {
           { name = 'lookup', handler = function(ctx)
               local ok, err = pcall(inventory, 'coffee')
               ctx.caught = not ok
               ctx.message = err
               ctx.stock = inventory('tea')
             end },
           { name = 'uncaught', handler = function(ctx)
               ctx.stock = inventory(ctx.sku)
             end },
         } }",
    );
    let mut ctx = chain.new_context();
    ctx.set("sku", "milk");
    let result = chain.execute_async(&mut ctx).await;
    assert_eq!(ctx.get::<bool>("caught"), Some(true));
    assert_eq!(ctx.get::<&str>("message"), Some("inventory: unknown sku `coffee`"));
    assert_eq!(ctx.get::<i64>("stock"), Some(7));
    let failure = &result.failures()[0];
    assert_eq!(failure.event(), "uncaught");
    assert_eq!(failure.message(), "orders.lua:9: inventory: unknown sku `milk`");
}

#[tokio::test(flavor = "current_thread")]
async fn a_lua_middleware_awaits_before_and_after_next() {
    let chain = load(
        builder(),
        "return {
           middleware = { function(event, ctx, next)
             local stock = inventory('tea')
             local ok, err = next(ctx)
             sleep_ms(1)
             ctx.log = (ctx.log or '') .. event.name .. ':' .. stock .. ';'
             return ok, err
           end },
           events = {
             { name = 'a', handler = function(ctx) sleep_ms(1); ctx.a = true end },
             { name = 'b', handler = function(ctx) ctx.b = true end },
           } }",
    );
    let mut ctx = chain.new_context();
    assert!(chain.execute_async(&mut ctx).await.is_clean());
    assert_eq!(ctx.get::<&str>("log"), Some("a:7;b:7;"));
}

#[tokio::test(flavor = "current_thread")]
async fn async_functions_refuse_synchronous_executions() {
    let chain = load(builder(), "return { events = { { name = 'e', handler = function(ctx) sleep_ms(1) end } } }");
    let result = chain.execute(&mut chain.new_context());
    let message = result.failures()[0].message();
    assert!(message.contains("`sleep_ms` is an async host function"), "{message}");
}

/// Sync Rust, async Rust and Lua events (and a Lua middleware) in one chain,
/// in every fault-tolerance mode.
#[tokio::test(flavor = "current_thread")]
async fn mixed_sync_rust_async_rust_and_lua_events_in_every_mode() {
    let script = load(
        builder(),
        "return {
           middleware = { function(event, ctx, next) ctx.mw = (ctx.mw or 0) + 1; return next(ctx) end },
           events = {
             { name = 'lua_ok', handler = function(ctx) sleep_ms(1); ctx.n = (ctx.n or 0) + 1 end },
             { name = 'lua_fail', handler = function(ctx) sleep_ms(1); return nil, 'lua failed' end },
             { name = 'lua_last', handler = function(ctx) ctx.n = ctx.n + 100 end },
           } }",
    );
    let lua = |name: &str| script.async_chain().events().iter().find(|e| e.name() == name).expect("lua event").clone();
    for mode in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
        let mut chain = LocalAsyncEventChain::new_local().named("mixed").fault_tolerance(mode);
        for m in script.async_chain().middleware_stack() {
            chain.add_middleware_entry(m.clone());
        }
        chain.add_event_entry(lua("lua_ok"));
        chain.add_event_arc(Arc::new(FnEvent::new("sync_rust", |ctx: &mut EventContext| {
            let n = ctx.get::<i64>("n").unwrap_or(0);
            ctx.set("n", n + 10);
            Err(EventError::new("sync failed"))
        })));
        chain.add_event_entry(EventEntry::<Local>::Async(Arc::new(FnAsyncEvent::local("async_rust", |ctx| {
            Box::pin(async move {
                tokio::task::yield_now().await;
                let n = ctx.get::<i64>("n").unwrap_or(0);
                ctx.set("n", n + 1000);
                Ok(())
            })
        }))));
        chain.add_event_entry(lua("lua_fail"));
        chain.add_event_entry(lua("lua_last"));
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx).await;
        let failed: Vec<_> = result.failures().iter().map(|f| (f.event(), f.message())).collect();
        if mode == FaultToleranceMode::Strict {
            {
                assert_eq!(result.status(), ChainStatus::Failed);
                assert_eq!(failed, [("sync_rust", "sync failed")]);
                assert_eq!(ctx.get::<i64>("n"), Some(11));
                assert_eq!(ctx.get::<i64>("mw"), Some(2));
            }
        } else {
            {
                assert_eq!(result.status(), ChainStatus::CompletedWithWarnings, "{mode:?}");
                assert_eq!(failed, [("sync_rust", "sync failed"), ("lua_fail", "lua failed")]);
                assert_eq!(ctx.get::<i64>("n"), Some(1111));
                assert_eq!(ctx.get::<i64>("mw"), Some(5));
            }
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_while_executions_await_leaves_each_on_its_version() {
    let reloadable = eventchains_lua::ReloadableChain::load_str(
        builder(),
        "v.lua",
        "return { events = { { name = 'e', handler = function(ctx) ctx.a = 'A'; sleep_ms(10); ctx.b = 'A' end } } }",
    )
    .expect("loads");
    let mut old = EventContext::new();
    let ((version, result), ()) = tokio::join!(reloadable.execute_async(&mut old), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        reloadable
            .reload_str("return { events = { { name = 'e', handler = function(ctx) ctx.a = 'B'; ctx.b = 'B' end } } }")
            .expect("reloads");
    });
    assert!(result.is_clean());
    assert_eq!(version, 1);
    assert_eq!((old.get::<&str>("a"), old.get::<&str>("b")), (Some("A"), Some("A")));
    let mut new = EventContext::new();
    let (version, _) = reloadable.execute_async(&mut new).await;
    assert_eq!((version, new.get::<&str>("b")), (2, Some("B")));
}

/// A named Rust middleware with an async form that records the deadline it sees.
struct DeadlineProbe;

impl eventchains_core::EventMiddleware for DeadlineProbe {
    fn name(&self) -> &str {
        "deadline_probe"
    }

    fn handle(
        &self,
        _event: &dyn eventchains_core::ChainableEvent,
        ctx: &mut EventContext,
        next: eventchains_core::Next<'_>,
    ) -> eventchains_core::EventResult {
        next.run(ctx)
    }

    fn as_local_async(&self) -> Option<&dyn eventchains_core::AsyncEventMiddleware<Local>> {
        Some(self)
    }
}

impl eventchains_core::AsyncEventMiddleware<Local> for DeadlineProbe {
    fn name(&self) -> &str {
        "deadline_probe"
    }

    fn handle<'a>(
        &'a self,
        _event: eventchains_core::EventRef<'a, Local>,
        ctx: &'a mut EventContext,
        next: eventchains_core::AsyncNext<'a, Local>,
    ) -> eventchains_core::LocalBoxFuture<'a> {
        Box::pin(async move {
            let left =
                ctx.deadline().map_or(-1.0, |d| d.saturating_duration_since(std::time::Instant::now()).as_secs_f64());
            ctx.set("left", left);
            next.run(ctx).await
        })
    }
}

/// Named Rust middleware of a script wrap its Lua async events through their
/// async form, under the script's time cap as deadline; one without an
/// async form cannot wrap an awaiting event (kind `middleware`).
#[tokio::test(flavor = "current_thread")]
async fn named_rust_middleware_wrap_lua_async_events_through_their_async_form() {
    let mut registry = eventchains_core::MiddlewareRegistry::new();
    registry.register_shared("deadline_probe", Arc::new(DeadlineProbe));
    registry.register_shared(
        "sync_only",
        Arc::new(eventchains_core::FnMiddleware::new("sync_only", |_event, ctx, next| next.run(ctx))),
    );
    let script = |middleware: &str| {
        format!(
            r#"return {{ limits = {{ timeout_ms = 5000 }}, middleware = {{ "{middleware}" }},
               events = {{ {{ name = "e", handler = function(ctx) sleep_ms(1); ctx.seen = true end }} }} }}"#
        )
    };
    let chain =
        builder().middleware_registry(registry.clone()).load_str("p.lua", &script("deadline_probe")).expect("loads");
    let mut ctx = chain.new_context();
    assert!(chain.execute_async(&mut ctx).await.is_clean());
    assert_eq!(ctx.get::<bool>("seen"), Some(true));
    let left: f64 = ctx.get("left").expect("the async form ran");
    assert!(left > 0.0 && left <= 5.0, "the script's 5 s cap is the deadline, got {left} s left");
    assert_eq!(ctx.deadline(), None, "restored after the event");

    let chain = builder().middleware_registry(registry).load_str("s.lua", &script("sync_only")).expect("loads");
    let mut ctx = chain.new_context();
    let result = chain.execute_async(&mut ctx).await;
    assert_eq!(result.failures()[0].kind(), ErrorKind::Middleware, "{result:?}");
    assert_eq!(ctx.get::<bool>("seen"), None);
}
