//! [`LuaMiddleware`]: a middleware written in Lua, `function(event, ctx, next)`.

use std::sync::Arc;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next};

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
}

impl LuaMiddleware {
    /// Runs the middleware as a coroutine of the thread's VM around `event`
    /// on `ctx`; each `next(ctx)` it makes runs `next` (the rest of the
    /// chain, awaited) while the coroutine waits.
    pub(crate) async fn handle_lua_async<N, F>(
        &self,
        event: &str,
        ctx: &mut EventContext,
        cancel: Option<CancelProbe>,
        mut next: N,
    ) -> EventResult
    where
        N: FnMut(&mut EventContext) -> F,
        F: std::future::Future<Output = EventResult>,
    {
        let vm = vm_rc(&self.script).map_err(|e| EventError::middleware(format!("no Lua VM on this thread: {e}")))?;
        let mut call = vm.middleware_call(self.index, &self.label, event, cancel)?;
        loop {
            match call.step(ctx).await {
                Step::Done(result) => return result,
                Step::Next => {
                    call.before_next(ctx);
                    let result = next(ctx).await;
                    call.next_returned(result);
                }
            }
        }
    }
}
