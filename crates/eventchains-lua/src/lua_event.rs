//! [`LuaEvent`]: an event whose handler is a Lua function.

use std::sync::Arc;

use std::rc::Rc;

use eventchains_core::{
    AsyncChainableEvent, ChainableEvent, EventContext, EventError, EventResult, Local, LocalBoxFuture,
};

use crate::script::Script;
use crate::vm::{CancelProbe, Step};
use crate::vm_table::{vm_rc, with_vm};

/// An event of a script whose `handler` is a Lua function. It runs in the
/// calling thread's VM of the script, on the chain's context.
pub(crate) struct LuaEvent {
    pub(crate) script: Arc<Script>,
    pub(crate) index: usize,
    pub(crate) name: String,
}

impl ChainableEvent for LuaEvent {
    fn name(&self) -> &str {
        &self.name
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        with_vm(&self.script, |vm| vm.call_handler(self.index, &self.name, ctx))
            .map_err(|e| EventError::new(format!("no Lua VM on this thread: {e}")))?
    }
}

impl LuaEvent {
    /// Runs the handler as a coroutine of the thread's VM on `ctx`, awaiting
    /// the async host functions it calls (see [`crate::vm::AsyncCall`]).
    pub(crate) async fn execute_lua_async(&self, ctx: &mut EventContext, cancel: Option<CancelProbe>) -> EventResult {
        let vm = vm_rc(&self.script).map_err(|e| EventError::new(format!("no Lua VM on this thread: {e}")))?;
        let mut call = vm.handler_call(self.index, &self.name, cancel)?;
        loop {
            match call.step(ctx).await {
                Step::Done(result) => return result,
                // Only middleware calls stop for `next` (a handler's `next` raises).
                Step::Next => call.next_returned(Ok(())),
            }
        }
    }
}

/// In a [`LocalAsyncEventChain`](eventchains_core::LocalAsyncEventChain) the
/// handler runs as a coroutine: it can call async host functions, and many
/// executions are in flight on the thread at once (see docs/async.md).
impl AsyncChainableEvent<Local> for LuaEvent {
    fn name(&self) -> &str {
        &self.name
    }

    fn execute<'a>(&'a self, ctx: &'a mut EventContext) -> LocalBoxFuture<'a> {
        Box::pin(async move {
            let cancel = cancel_probe(ctx);
            self.execute_lua_async(ctx, cancel).await
        })
    }
}

/// The probe the count hook checks while a call of the execution of `ctx`
/// runs: whether its cancellation token was cancelled.
pub(crate) fn cancel_probe(ctx: &EventContext) -> Option<CancelProbe> {
    let token = ctx.cancellation()?.clone();
    Some(Rc::new(move || token.is_cancelled()))
}
