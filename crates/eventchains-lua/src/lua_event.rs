//! [`LuaEvent`]: an event whose handler is a Lua function.

use std::sync::Arc;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventResult};

use crate::script::Script;
use crate::vm_table::with_vm;

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
