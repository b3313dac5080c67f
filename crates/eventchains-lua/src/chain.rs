//! [`LuaChain`]: a chain built from a script, shareable across threads.

use std::fmt;
use std::sync::Arc;

use eventchains_core::{
    CancellationToken, ChainResult, EventChain, EventContext, FaultToleranceMode, LocalAsyncEventChain, Map,
};

use crate::limits::Limits;
use crate::script::Script;

/// A chain built from a script: an [`EventChain`] of Lua and Rust events and
/// middleware, plus the script's initial context.
///
/// `LuaChain` is `Send + Sync` and cheap to clone; execute it from any number
/// of threads at once. Each thread runs the Lua code in its own VM of the
/// script (built on first use from the compiled script), with no lock shared
/// between threads.
///
/// ```
/// use eventchains_lua::LuaChainBuilder;
/// let chain = LuaChainBuilder::new().load_str("seed.lua", r#"
///     return {
///       context = { counter = 0, message = "start" },
///       events = {
///         { name = "increment", handler = function(ctx) ctx.counter = ctx.counter + 1 return ctx end },
///         { name = "append", handler = function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end },
///       },
///     }
/// "#).unwrap();
/// let mut ctx = chain.new_context();
/// assert!(chain.execute(&mut ctx).is_clean());
/// assert_eq!(ctx.get::<i64>("counter"), Some(1));
/// assert_eq!(ctx.get::<&str>("message"), Some("start -> processed"));
/// assert_eq!(chain.event_names(), ["increment", "append"]);
/// ```
#[derive(Clone)]
pub struct LuaChain {
    script: Arc<Script>,
    chain: EventChain,
    async_chain: LocalAsyncEventChain,
}

impl LuaChain {
    pub(crate) fn new(script: Arc<Script>, chain: EventChain, async_chain: LocalAsyncEventChain) -> Self {
        LuaChain { script, chain, async_chain }
    }

    /// The loaded script.
    #[cfg_attr(not(test), allow(dead_code, reason = "used by the async unit tests"))]
    pub(crate) fn script(&self) -> &Arc<Script> {
        &self.script
    }

    /// Runs the chain on `ctx` (see [`EventChain::execute`]).
    pub fn execute(&self, ctx: &mut EventContext) -> ChainResult {
        self.chain.execute(ctx)
    }

    /// Runs the chain on `ctx` as a future: Lua handlers and middleware run
    /// as coroutines of this thread's VM and can call async host functions
    /// ([`register_async_fn`](crate::LuaChainBuilder::register_async_fn));
    /// many executions can be in flight on one thread (see docs/async.md).
    ///
    /// The future is not `Send` (a Lua VM belongs to its thread): run it on
    /// a current-thread runtime or in a `tokio::task::LocalSet`. Dropping it
    /// mid-way drops the awaited future and the coroutine; the context keeps
    /// the writes made so far, and the thread's VM stays clean.
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let chain = LuaChainBuilder::new()
    ///     .register_async_fn("stock_of", |sku: String| async move {
    ///         Ok::<_, std::convert::Infallible>(if sku == "tea" { 3 } else { 0 })
    ///     })
    ///     .load_str("s.lua", "return { events = { { name = 's', handler = function(ctx) ctx.stock = stock_of(ctx.sku) end } } }")
    ///     .unwrap();
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mut ctx = chain.new_context();
    /// ctx.set("sku", "tea");
    /// let result = runtime.block_on(chain.execute_async(&mut ctx));
    /// assert!(result.is_clean());
    /// assert_eq!(ctx.get::<i64>("stock"), Some(3));
    /// ```
    pub async fn execute_async(&self, ctx: &mut EventContext) -> ChainResult {
        self.async_chain.execute(ctx).await
    }

    /// [`execute_async`](Self::execute_async) that `token` can cancel: pending
    /// awaits end and running Lua code stops at its next hook tick
    /// ([`HOOK_INTERVAL`](crate::HOOK_INTERVAL) instructions); the failure has
    /// kind `cancelled`. Cancelled before the start, no event runs.
    pub async fn execute_cancellable(&self, ctx: &mut EventContext, token: CancellationToken) -> ChainResult {
        self.async_chain.execute_cancellable(ctx, token).await
    }

    /// The chain as an async chain (the same parts; see [`execute_async`](Self::execute_async)).
    pub fn async_chain(&self) -> &LocalAsyncEventChain {
        &self.async_chain
    }

    /// A context holding the script's initial `context` values.
    pub fn new_context(&self) -> EventContext {
        EventContext::from_values(self.script.spec.context.clone())
    }

    /// A context holding `values` plus the script's initial values for keys
    /// `values` does not have (the caller's values win).
    pub fn context_with(&self, values: Map) -> EventContext {
        let mut ctx = EventContext::from_values(values);
        ctx.merge_defaults(&self.script.spec.context);
        ctx
    }

    /// The script's initial context values.
    pub fn initial_context(&self) -> &Map {
        &self.script.spec.context
    }

    /// The underlying chain (to inspect it, or to run it with a custom executor).
    pub fn chain(&self) -> &EventChain {
        &self.chain
    }

    /// The chain's name: the script's `name`, or else its file name.
    pub fn name(&self) -> &str {
        self.chain.name().unwrap_or(&self.script.name)
    }

    /// The script's name as used in messages (e.g. `orders.lua`).
    pub fn script_name(&self) -> &str {
        &self.script.name
    }

    /// The script's source text.
    pub fn source(&self) -> &str {
        &self.script.source
    }

    /// [`content_hash`](crate::content_hash) of the script's source (the bytecode cache's key).
    pub fn content_hash(&self) -> u64 {
        self.script.content_hash
    }

    /// Whether loading this chain skipped compilation because the process-wide
    /// bytecode cache already held its source (see
    /// [`LuaChainBuilder::bytecode_cache`](crate::LuaChainBuilder::bytecode_cache)).
    pub fn bytecode_reused(&self) -> bool {
        self.script.from_cache
    }

    /// The fault-tolerance mode.
    pub fn mode(&self) -> FaultToleranceMode {
        self.chain.mode()
    }

    /// The limits in force: the host's caps lowered by the script's `limits`.
    pub fn limits(&self) -> Limits {
        self.script.limits
    }

    /// The event names in execution order.
    pub fn event_names(&self) -> Vec<&str> {
        self.chain.event_names().collect()
    }

    /// The middleware names from the outermost (runs first) to the innermost.
    pub fn middleware_names(&self) -> Vec<&str> {
        self.chain.middleware_names().collect()
    }

    /// In the order of [`middleware_names`](Self::middleware_names): the
    /// registry name and the script's config (`nil` if none) of each named
    /// Rust middleware, `None` for a Lua middleware.
    pub fn middleware_configs(&self) -> Vec<Option<(&str, &eventchains_core::Value)>> {
        self.script
            .spec
            .middleware
            .iter()
            .rev()
            .map(|m| match m {
                crate::spec::MiddlewareSpec::Named { name, config } => Some((name.as_str(), config)),
                crate::spec::MiddlewareSpec::Lua { .. } => None,
            })
            .collect()
    }
}

impl fmt::Debug for LuaChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LuaChain").field("script", &self.script.name).field("chain", &self.chain).finish()
    }
}
