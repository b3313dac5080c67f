//! [`NamedEvent`]: a registry event shown under the script's name for it.

use std::sync::Arc;

use eventchains_core::{ChainableEvent, EventContext, EventResult};

/// A Rust event built from the host's registry (`rust = "validate_order"`),
/// named as the script names it (`name = "validate"`) in results and logs.
pub(crate) struct NamedEvent {
    pub(crate) name: String,
    pub(crate) inner: Arc<dyn ChainableEvent>,
}

impl ChainableEvent for NamedEvent {
    fn name(&self) -> &str {
        &self.name
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        self.inner.execute(ctx)
    }
}
