//! [`LuaMiddleware`]: a middleware written in Lua, `function(event, ctx, next)`.

use std::sync::Arc;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next};

use crate::script::Script;
use crate::vm_table::with_vm;

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
