//! [`LuaMiddleware`]: a middleware written in Lua, `function(event, ctx, next)`.

use std::sync::Arc;

use eventchains_core::{
    AsyncEventMiddleware, AsyncNext, ChainableEvent, EventContext, EventError, EventMiddleware, EventRef, EventResult,
    Local, LocalBoxFuture, Next,
};

use crate::lua_event::cancel_probe;
use crate::script::Script;
use crate::vm::{CancelProbe, Step};
use crate::vm_table::{vm_rc, with_vm};

/// A Lua function in a script's `middleware` list. It takes part in the
/// chain's LIFO stack like any Rust middleware.
pub(crate) struct LuaMiddleware {
    pub(crate) script: Arc<Script>,
    pub(crate) index: usize,
    /// `middleware[3] (orders.lua:14)`.
    pub(crate) label: String,
}

impl EventMiddleware for LuaMiddleware {
    fn name(&self) -> &str {
        &self.label
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        with_vm(&self.script, |vm| vm.call_middleware(self.index, &self.label, event, ctx, next))
            .map_err(|e| EventError::middleware(format!("no Lua VM on this thread: {e}")))?
    }

    fn as_local_async(&self) -> Option<&dyn AsyncEventMiddleware<Local>> {
        Some(self)
    }
}

/// In a [`LocalAsyncEventChain`](eventchains_core::LocalAsyncEventChain) the
/// middleware runs as a coroutine; `next(ctx)` waits for the rest of the
/// chain (which may await) while the coroutine is suspended.
impl AsyncEventMiddleware<Local> for LuaMiddleware {
    fn name(&self) -> &str {
        &self.label
    }

    fn handle<'a>(
        &'a self,
        event: EventRef<'a, Local>,
        ctx: &'a mut EventContext,
        next: AsyncNext<'a, Local>,
    ) -> LocalBoxFuture<'a> {
        Box::pin(async move {
            let cancel = cancel_probe(ctx);
            self.handle_lua_async(event.name(), ctx, cancel, next).await
        })
    }
}

impl LuaMiddleware {
    /// Runs the middleware as a coroutine of the thread's VM around `event`
    /// on `ctx`; each `next(ctx)` it makes runs `next` (the rest of the
    /// chain, awaited) while the coroutine waits.
    pub(crate) async fn handle_lua_async(
        &self,
        event: &str,
        ctx: &mut EventContext,
        cancel: Option<CancelProbe>,
        next: AsyncNext<'_, Local>,
    ) -> EventResult {
        let vm = vm_rc(&self.script).map_err(|e| EventError::middleware(format!("no Lua VM on this thread: {e}")))?;
        let mut call = vm.middleware_call(self.index, &self.label, event, cancel)?;
        loop {
            match call.step(ctx).await {
                Step::Done(result) => return result,
                Step::Next => {
                    call.before_next(ctx);
                    let result = next.run(ctx).await;
                    call.next_returned(result);
                }
            }
        }
    }
}
