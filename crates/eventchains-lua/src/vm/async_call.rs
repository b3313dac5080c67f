//! [`AsyncCall`]: a handler or Lua middleware call of an async execution,
//! run as a coroutine of the thread's VM.
//!
//! Many executions of one script are in flight on one thread (the OpenResty
//! model): each call is its own coroutine with its own context. The call's
//! scope, which makes the root `ctx` mean *this call's* context, is entered
//! only while the coroutine runs ([`Bridge::resume`](crate::bridge::Bridge::resume)
//! around each resume, and around each poll of a host future it waits for),
//! so each coroutine sees its own `ctx`. What lasts for the whole call (its
//! [`CallState`]: identity, instruction count, views, the result of `next`;
//! and the time it ran) is kept here and carries over from one resume to the
//! next. A coroutine yields for a [`Request`] (an async host function's
//! future, or the middleware's `next`); [`AsyncCall::step`] awaits it outside
//! of Lua and resumes the coroutine with the result.
//!
//! Dropping an `AsyncCall` mid-way drops the future it waits for and the
//! coroutine (never resumed again); no scope is ever left current, so the next
//! call on the VM starts clean.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use eventchains_core::{EventContext, EventError, EventResult};
use mlua::thread::ThreadStatus;
use mlua::{MultiValue, Thread};

use super::{Returned, Vm};
use crate::async_calls::{HostFuture, Request};
use crate::async_host_fn::panicked;
use crate::bridge::{CallState, LimitHit, limit_error};
use crate::lua_error::lua_error_message;

/// Finished coroutines a VM keeps for reuse.
const POOLED_THREADS: usize = 64;

/// Which function an [`AsyncCall`] runs.
enum Callee {
    /// The handler of event `name`.
    Handler { name: String },
    /// Lua middleware `label`, around event `event`.
    Middleware { label: String, event: String },
}

/// What [`AsyncCall::step`] stopped for.
pub(crate) enum Step {
    /// The call ended with this result.
    Done(EventResult),
    /// The middleware called `next(ctx)`: run the rest of the chain on the
    /// context, then hand its result to [`AsyncCall::next_returned`] and step again.
    Next,
}

/// What one resume of the coroutine ended with.
enum Resumed {
    /// It returned (its results read) or raised.
    Ended(mlua::Result<Returned>),
    /// It yielded (for a request, or to let other executions run).
    Yielded,
}

/// Whether a call's execution was cancelled (checked by the count hook while it runs).
pub(crate) type CancelProbe = Rc<dyn Fn() -> bool>;

/// One handler or middleware call of an async execution.
pub(crate) struct AsyncCall {
    vm: Rc<Vm>,
    thread: Thread,
    /// What lasts for the whole call (see [`Bridge::call`](crate::bridge::Bridge::call)).
    state: CallState,
    /// The time the call ran so far, over all its resumes.
    ran: Duration,
    /// A limit hit during an entry after which the coroutine is still
    /// suspended (the call is over: limits cannot be caught).
    hit: Option<LimitHit>,
    /// The values the next resume passes.
    args: MultiValue,
    callee: Callee,
    cancel: Option<CancelProbe>,
}

impl Vm {
    /// A call of the handler of event `index` (`name`) as a coroutine.
    pub(crate) fn handler_call(
        self: &Rc<Self>,
        index: usize,
        name: &str,
        cancel: Option<CancelProbe>,
    ) -> Result<AsyncCall, EventError> {
        let b = &self.base;
        let function = self
            .handlers
            .get(index)
            .and_then(Option::as_ref)
            .map(|key| b.lua.registry_value::<mlua::Function>(key))
            .transpose()
            .map_err(|e| EventError::new(lua_error_message(&e)))?
            .ok_or_else(|| EventError::new(format!("event `{name}` has no Lua handler in this VM")))?;
        let args = MultiValue::from_vec(vec![b.ctx_value()]);
        self.new_call(function, args, Callee::Handler { name: name.to_owned() }, cancel)
            .map_err(|e| EventError::new(format!("event `{name}`: {}", lua_error_message(&e))))
    }

    /// A call of Lua middleware `index` (`label`) around event `event` as a coroutine.
    pub(crate) fn middleware_call(
        self: &Rc<Self>,
        index: usize,
        label: &str,
        event: &str,
        cancel: Option<CancelProbe>,
    ) -> Result<AsyncCall, EventError> {
        let Some(Some(function)) = self.middleware.get(index) else {
            return Err(EventError::middleware(format!("{label} has no Lua function in this VM")));
        };
        let b = &self.base;
        let lua_error = |e: mlua::Error| EventError::middleware(format!("{label}: {}", lua_error_message(&e)));
        let function = b.lua.registry_value::<mlua::Function>(function).map_err(lua_error)?;
        let record = match self.event_records.get(event) {
            Some(key) => b.lua.registry_value::<mlua::Table>(key),
            // An event of another chain: a record for this call only.
            None => b.event_record(event),
        }
        .map_err(lua_error)?;
        let args = MultiValue::from_vec(vec![
            mlua::Value::Table(record),
            b.ctx_value(),
            mlua::Value::Function(b.async_next().map_err(lua_error)?),
        ]);
        let callee = Callee::Middleware { label: label.to_owned(), event: event.to_owned() };
        self.new_call(function, args, callee, cancel).map_err(lua_error)
    }

    fn new_call(
        self: &Rc<Self>,
        function: mlua::Function,
        args: MultiValue,
        callee: Callee,
        cancel: Option<CancelProbe>,
    ) -> mlua::Result<AsyncCall> {
        let b = &self.base;
        let pooled = b.calls.take_thread();
        let thread = match pooled {
            Some(thread) if thread.reset(function.clone()).is_ok() => thread,
            _ => {
                let thread = b.lua.create_thread(function)?;
                // Scripts must not resume it (`coroutine.running()` hands it out).
                crate::execution_threads::mark(&b.lua, &thread)?;
                thread
            }
        };
        Ok(AsyncCall {
            vm: self.clone(),
            thread,
            state: CallState::default(),
            ran: Duration::ZERO,
            hit: None,
            args,
            callee,
            cancel,
        })
    }
}

impl AsyncCall {
    /// Runs the coroutine on `ctx` until it ends or, for a middleware, until
    /// it calls `next`; awaits the async host functions it calls meanwhile.
    pub(crate) async fn step(&mut self, ctx: &mut EventContext) -> Step {
        loop {
            if let Some(hit) = self.hit {
                return Step::Done(self.result(Err(limit_error(hit)), Some(hit)));
            }
            if self.cancel.as_ref().is_some_and(|cancelled| cancelled()) {
                return Step::Done(Err(LimitHit::Cancelled.to_error(&self.what())));
            }
            let vm = self.vm.clone();
            let b = &vm.base;
            let args = std::mem::take(&mut self.args);
            let thread = &self.thread;
            let cancel = self.cancel.clone();
            let (resumed, hit) = b.bridge.resume(&self.state, ctx, &mut self.ran, |_| {
                // A request left by a call that then failed to yield is stale.
                drop(b.calls.take_request());
                let co = thread.state();
                // The coroutine runs with the VM's hook (mlua made it so); on a
                // VM using the deadline signal it is named as the running Lua
                // thread while it runs (see `crate::running_lua`).
                // SAFETY: a live coroutine of this VM, resumed on this thread.
                let result = unsafe {
                    b.bridge.count_hook().around(
                        co,
                        || false,
                        || b.calls.resuming(co, cancel, || thread.resume::<(mlua::Value, mlua::Value)>(args)),
                    )
                };
                match result {
                    Ok(_) if thread.status() == ThreadStatus::Resumable => Resumed::Yielded,
                    // Read while the scope is current (a returned table is merged into ctx).
                    Ok((first, second)) => Resumed::Ended(vm.interpret(first, second)),
                    Err(e) => Resumed::Ended(Err(e)),
                }
            });
            match resumed {
                Resumed::Ended(returned) => return Step::Done(self.result(returned, hit)),
                // It yielded after a limit stopped it (e.g. its time was up at the end of the resume).
                Resumed::Yielded if hit.is_some() => self.hit = hit,
                Resumed::Yielded => match b.calls.take_request() {
                    Some(Request::Host { name, future }) => {
                        self.args = self.await_host(ctx, &name, future).await;
                    }
                    Some(Request::Next) => match self.callee {
                        Callee::Middleware { .. } => return Step::Next,
                        Callee::Handler { .. } => {
                            self.args = self.raise("next() can only be called by the middleware it was given to");
                        }
                    },
                    // A plain `coroutine.yield()`, or the count hook giving the
                    // other executions of the thread their turn.
                    None => YieldNow(false).await,
                },
            }
        }
    }

    /// The result of the call, which returned (or raised) `returned` and left `hit`.
    fn result(&self, returned: mlua::Result<Returned>, hit: Option<LimitHit>) -> EventResult {
        match &self.callee {
            Callee::Handler { name } => self.vm.handler_result(returned, hit, name),
            Callee::Middleware { label, event } => {
                self.vm.middleware_result(returned, hit, self.state.take_next_result(), label, || event)
            }
        }
    }

    /// Before the rest of the chain runs on `ctx` (after [`Step::Next`]).
    pub(crate) fn before_next(&mut self) {
        self.state.before_next();
    }

    /// The rest of the chain returned `result`: `next` returns `ok, err` to the middleware.
    pub(crate) fn next_returned(&mut self, result: EventResult) {
        let lua = &self.vm.base.lua;
        let reply = match &result {
            Ok(()) => vec![mlua::Value::Boolean(true), mlua::Value::Nil],
            Err(e) => vec![
                mlua::Value::Boolean(false),
                lua.create_string(e.message()).map_or(mlua::Value::Nil, mlua::Value::String),
            ],
        };
        self.args = MultiValue::from_vec(reply);
        self.state.set_next_result(result);
    }

    /// Awaits a host function's future, each poll with this call's scope
    /// current (Lua functions the future calls run under this call's limits
    /// and context); returns what resumes the coroutine.
    async fn await_host(&mut self, ctx: &mut EventContext, name: &str, mut future: HostFuture) -> MultiValue {
        let bridge = &self.vm.base.bridge;
        let (state, ran, hit) = (&self.state, &mut self.ran, &mut self.hit);
        let output = poll_fn(|cx| {
            let (polled, polled_hit) = bridge.resume(state, ctx, ran, |_| poll_caught(&mut future, cx));
            if polled_hit.is_some() {
                // Raised when the call steps on (limits cannot be caught).
                *hit = polled_hit;
            }
            polled.map(|r| r.unwrap_or_else(|payload| Err(panicked(name, &*payload))))
        })
        .await;
        drop(future);
        let lua = &self.vm.base.lua;
        match output.and_then(|make| make(lua).map_err(|e| format!("{name}: {}", lua_error_message(&e)))) {
            Ok(mut values) => {
                values.push_front(mlua::Value::Boolean(true));
                values
            }
            Err(message) => self.fail_with(&message),
        }
    }

    /// Resumes with `false, message`: the async function raises `message`.
    fn fail_with(&self, message: &str) -> MultiValue {
        let lua = &self.vm.base.lua;
        let message = lua.create_string(message).map_or(mlua::Value::Nil, mlua::Value::String);
        MultiValue::from_vec(vec![mlua::Value::Boolean(false), message])
    }

    /// Resumes `next` so that it raises `message`.
    fn raise(&self, message: &str) -> MultiValue {
        let lua = &self.vm.base.lua;
        let message = lua.create_string(message).map_or(mlua::Value::Nil, mlua::Value::String);
        MultiValue::from_vec(vec![mlua::Value::Nil, mlua::Value::Nil, message])
    }

    /// "event `x`" or "middleware[1] (around event `x`)".
    fn what(&self) -> String {
        match &self.callee {
            Callee::Handler { name } => format!("event `{name}`"),
            Callee::Middleware { label, event } => format!("{label} (around event `{event}`)"),
        }
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        // A finished coroutine is reused; one dropped mid-way is never resumed
        // again (the future it waited for is already gone) and is collected.
        if self.thread.status() == ThreadStatus::Finished {
            self.vm.base.calls.put_thread(self.thread.clone(), POOLED_THREADS);
        }
    }
}

/// Polls `future`, a panic in it as `Err(payload)`.
fn poll_caught(
    future: &mut HostFuture,
    cx: &mut Context<'_>,
) -> Poll<Result<crate::async_calls::HostOutput, Box<dyn std::any::Any + Send>>> {
    match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Err(payload) => Poll::Ready(Err(payload)),
    }
}

/// Returns `Pending` once (waking itself), so the executor runs other tasks.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use eventchains_core::{ErrorKind, EventContext, EventResult};

    use super::CancelProbe;
    use crate::lua_event::LuaEvent;
    use crate::{Limits, LuaChain, LuaChainBuilder};

    fn builder() -> LuaChainBuilder {
        LuaChainBuilder::new()
            .register_async_fn("sleep_ms", |ms: u64| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Infallible>(())
            })
            .register_async_fn("lookup", |sku: String| async move {
                tokio::task::yield_now().await;
                match sku.as_str() {
                    "tea" => Ok(3),
                    "boom" => panic!("lookup exploded"),
                    _ => Err(format!("no such sku `{sku}`")),
                }
            })
            .register_async_fn("forever", |(): ()| async move {
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(())
            })
    }

    fn load(builder: LuaChainBuilder, src: &str) -> LuaChain {
        builder.load_str("a.lua", src).expect("loads")
    }

    fn event(chain: &LuaChain, index: usize) -> LuaEvent {
        LuaEvent { script: chain.script().clone(), index, name: chain.event_names()[index].to_owned() }
    }

    async fn run(chain: &LuaChain, index: usize, ctx: &mut EventContext) -> EventResult {
        event(chain, index).execute_lua_async(ctx, None).await
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn hundred_executions_wait_together_each_with_its_own_ctx() {
        let chain = load(
            builder(),
            "return { events = { { name = 'wait', handler = function(ctx)
               local mine = ctx.id
               sleep_ms(50)
               ctx.seen = ctx.id
               ctx.double = mine * 2
             end } } }",
        );
        let start = tokio::time::Instant::now();
        let local = tokio::task::LocalSet::new();
        let handles: Vec<_> = (0..100i64)
            .map(|id| {
                let event = event(&chain, 0);
                local.spawn_local(async move {
                    let mut ctx = EventContext::new();
                    ctx.set("id", id);
                    let result = event.execute_lua_async(&mut ctx, None).await;
                    (id, result, ctx)
                })
            })
            .collect();
        local.await;
        for handle in handles {
            let (id, result, ctx) = handle.await.expect("task");
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(ctx.get::<i64>("seen"), Some(id), "each coroutine sees its own ctx");
            assert_eq!(ctx.get::<i64>("double"), Some(id * 2));
        }
        // One after the other they would take 100 x 50 ms of (virtual) time.
        assert!(start.elapsed() < Duration::from_millis(2500), "took {:?}", start.elapsed());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_loop_in_an_async_handler_hits_the_instruction_cap() {
        let limits = Limits { instructions: Some(100_000), timeout: None, ..Limits::default() };
        let chain = load(
            builder().limits(limits),
            "return { events = { { name = 'spin', handler = function(ctx) sleep_ms(0) while true do end end } } }",
        );
        let err = run(&chain, 0, &mut EventContext::new()).await.expect_err("stopped");
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.message().contains("instruction limit (100000) exceeded in event `spin`"), "{}", err.message());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_instruction_count_runs_on_across_awaits() {
        // Each half fits the cap, both together do not.
        let limits = Limits { instructions: Some(1_000_000), timeout: None, ..Limits::default() };
        let chain = load(
            builder().limits(limits),
            "return { events = { { name = 'halves', handler = function(ctx)
               for i = 1, 600000 do end
               sleep_ms(0)
               for i = 1, 600000 do end
             end } } }",
        );
        let err = run(&chain, 0, &mut EventContext::new()).await.expect_err("the sum is over the cap");
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err:?}");
        let one_half = load(
            builder().limits(limits),
            "return { events = { { name = 'half', handler = function(ctx) for i = 1, 600000 do end sleep_ms(0) end } } }",
        );
        run(&one_half, 0, &mut EventContext::new()).await.expect("one half fits");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_host_errors_and_panics_are_lua_errors_the_script_can_catch() {
        // No time cap: a panic's backtrace (RUST_BACKTRACE) can take long to print.
        let chain = load(
            builder().limits(Limits { timeout: None, ..Limits::default() }),
            "return { events = {
               { name = 'caught', handler = function(ctx)
                   local ok, err = pcall(lookup, 'coffee')
                   ctx.ok = ok
                   ctx.err = err
                   local ok2, err2 = pcall(lookup, 'boom')
                   ctx.err2 = err2
                   ctx.stock = lookup('tea')
                 end },
               { name = 'uncaught', handler = function(ctx)
                   local x = 1
                   lookup('coffee')
                 end },
             } }",
        );
        let mut ctx = EventContext::new();
        run(&chain, 0, &mut ctx).await.expect("caught");
        assert_eq!(ctx.get::<bool>("ok"), Some(false));
        assert!(ctx.get::<&str>("err").expect("message").ends_with("lookup: no such sku `coffee`"), "{ctx:?}");
        assert!(ctx.get::<&str>("err2").expect("message").contains("host function `lookup` panicked: lookup exploded"));
        assert_eq!(ctx.get::<i64>("stock"), Some(3));
        let err = run(&chain, 1, &mut EventContext::new()).await.expect_err("raised");
        assert_eq!(err.kind(), ErrorKind::Event);
        assert_eq!(err.message(), "a.lua:12: lookup: no such sku `coffee`");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_execution_leaves_the_vm_clean() {
        let chain = load(
            builder(),
            "return { events = {
               { name = 'stuck', handler = function(ctx) ctx.before = true; forever(); ctx.after = true end },
               { name = 'ok', handler = function(ctx) sleep_ms(0); ctx.n = (ctx.n or 0) + 1 end },
             } }",
        );
        let mut first = EventContext::new();
        {
            let event = event(&chain, 0);
            let future = event.execute_lua_async(&mut first, None);
            let mut future = std::pin::pin!(future);
            let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await;
            assert!(polled.is_pending(), "waits for `forever`");
        }
        assert_eq!(first.get::<bool>("before"), Some(true));
        assert_eq!(first.get::<bool>("after"), None, "the code after the await never ran");
        let mut ctx = EventContext::new();
        run(&chain, 1, &mut ctx).await.expect("a clean execution");
        assert_eq!(ctx.get::<i64>("n"), Some(1));
        // The synchronous path finds no frame left behind either.
        let sync = load(
            LuaChainBuilder::new(),
            "return { events = { { name = 's', handler = function(ctx) ctx.s = 1 end } } }",
        );
        let mut ctx = EventContext::new();
        assert!(sync.execute(&mut ctx).is_clean());
        assert_eq!(ctx.get::<i64>("s"), Some(1));
        let mut ctx = EventContext::new();
        assert!(chain.execute(&mut ctx).failures()[0].message().contains("async host function"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cancelling_stops_a_lua_loop_within_a_hook_interval() {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        let chain = load(
            builder().register_fn("cancel_me", move |()| set.store(true, Ordering::SeqCst)),
            "return { events = { { name = 'loop', handler = function(ctx)
               sleep_ms(0)
               cancel_me()
               local i = 0
               while true do i = i + 1; ctx.i = i end
             end } } }",
        );
        let probe_flag = flag.clone();
        let probe: CancelProbe = std::rc::Rc::new(move || probe_flag.load(Ordering::SeqCst));
        let mut ctx = EventContext::new();
        let err = event(&chain, 0).execute_lua_async(&mut ctx, Some(probe)).await.expect_err("cancelled");
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
        assert!(ctx.get::<i64>("i").expect("ran") <= i64::from(crate::HOOK_INTERVAL), "{ctx:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_fns_refuse_sync_executions_and_script_coroutines() {
        let chain = load(
            builder(),
            "return { events = { { name = 'co', handler = function(ctx)
               local co = coroutine.create(function() return lookup('tea') end)
               local ok, err = coroutine.resume(co)
               ctx.err = tostring(err)
             end } } }",
        );
        let mut ctx = EventContext::new();
        run(&chain, 0, &mut ctx).await.expect("the error is caught");
        assert!(ctx.get::<&str>("err").expect("err").contains("from a coroutine the script created"), "{ctx:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn views_stay_valid_across_awaits() {
        let chain = load(
            builder(),
            "return { events = { { name = 'v', handler = function(ctx)
               local items = ctx.order.items
               sleep_ms(1)
               items[1].qty = 5
             end } } }",
        );
        let mut ctx = EventContext::new();
        ctx.set("order", serde_json::json!({ "items": [{ "qty": 1 }] }));
        run(&chain, 0, &mut ctx).await.expect("ok");
        let order = serde_json::to_value(ctx.value("order").expect("order")).expect("json");
        assert_eq!(order, serde_json::json!({ "items": [{ "qty": 5 }] }));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_middleware_awaits_around_next() {
        let chain = load(
            builder(),
            "return {
               middleware = { function(event, ctx, next)
                 sleep_ms(1)
                 ctx.trace = 'in'
                 local ok, err = next(ctx)
                 sleep_ms(1)
                 ctx.trace = ctx.trace .. ',out'
                 return ok, err
               end },
               events = { { name = 'e', handler = function(ctx)
                 sleep_ms(1)
                 ctx.trace = ctx.trace .. ',event'
                 return nil, 'inner failed'
               end } } }",
        );
        let mut ctx = EventContext::new();
        let result = chain.execute_async(&mut ctx).await;
        let failure = &result.failures()[0];
        assert_eq!(failure.kind(), ErrorKind::Event, "passing on `next`'s failure keeps its kind");
        assert_eq!(failure.message(), "inner failed");
        assert_eq!(ctx.get::<&str>("trace"), Some("in,event,out"));
    }

    // LuaJIT cannot yield from a hook.
    #[cfg(not(feature = "luajit"))]
    #[tokio::test(flavor = "current_thread")]
    async fn a_long_loop_lets_other_executions_run() {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = order.clone();
        let chain = load(
            builder()
                .limits(Limits { instructions: None, timeout: None, ..Limits::default() })
                .register_fn("log", move |s: String| log.lock().expect("log").push(s)),
            "return { events = {
               { name = 'long', handler = function(ctx) for i = 1, 2000000 do end log('long') end },
               { name = 'short', handler = function(ctx) log('short') end },
             } }",
        );
        let (mut a, mut b) = (EventContext::new(), EventContext::new());
        let (ra, rb) = tokio::join!(run(&chain, 0, &mut a), run(&chain, 1, &mut b));
        ra.expect("long");
        rb.expect("short");
        assert_eq!(order.lock().expect("log").as_slice(), ["short", "long"]);
    }
}
