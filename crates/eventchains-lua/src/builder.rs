//! [`LuaChainBuilder`]: loads chain scripts with the host's registries, functions and caps.

use std::fmt::{self, Display};
use std::future::Future;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use eventchains_core::{
    ChainableEvent, EventChain, EventMiddleware, EventRegistry, LocalAsyncEventChain, MiddlewareRegistry,
};
use mlua::{FromLuaMulti, IntoLuaMulti};

use crate::bytecode_cache::{self, Cached, Compiled};
use crate::chain::LuaChain;
use crate::error::LoadError;
use crate::host_fn::HostFn;
use crate::limits::Limits;
use crate::lua_event::LuaEvent;
use crate::lua_middleware::LuaMiddleware;
use crate::named_event::NamedEvent;
use crate::named_middleware::ScriptTimed;
use crate::sandbox::Sandbox;
use crate::script::Script;
use crate::spec::{self, EventSpec, MiddlewareSpec, Spec};
use crate::vm::{Ran, VmConfig};
use crate::vm_table;

/// Loads chain scripts (format v1) into [`LuaChain`]s.
///
/// The builder holds what the host offers scripts: the registries of named
/// Rust middleware and events, Rust functions callable from Lua, the caps on
/// Lua code ([`Limits`]) and the [`Sandbox`]. One builder can load any number
/// of scripts.
///
/// ```
/// use eventchains_core::{EventRegistry, FnEvent};
/// use eventchains_lua::LuaChainBuilder;
///
/// let mut events = EventRegistry::new();
/// events.register_event("double", FnEvent::new("double", |ctx| {
///     let n: i64 = ctx.try_get("n")?;
///     ctx.set("n", n * 2);
///     Ok(())
/// }));
/// let chain = LuaChainBuilder::new()
///     .event_registry(events)
///     .register_fn("price_of", |item: String| if item == "tea" { 3 } else { 5 })
///     .load_str("demo.lua", r#"
///         return {
///           context = { n = 1 },
///           events = {
///             { name = "add_price", handler = function(ctx) ctx.n = ctx.n + price_of("tea") end },
///             { name = "double", rust = "double" },
///           },
///         }
///     "#)
///     .unwrap();
/// let mut ctx = chain.new_context();
/// assert!(chain.execute(&mut ctx).is_clean());
/// assert_eq!(ctx.get::<i64>("n"), Some(8));
/// ```
#[derive(Clone, Default)]
pub struct LuaChainBuilder {
    middleware: MiddlewareRegistry,
    events: EventRegistry,
    host_fns: Vec<HostFn>,
    limits: Limits,
    sandbox: Sandbox,
    no_bytecode_cache: bool,
}

impl LuaChainBuilder {
    /// A builder with empty registries, no host functions, [`Limits::default`]
    /// and the default [`Sandbox`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The named Rust middleware scripts may use (`"logging"`, `{ "retry", max_attempts = 3 }`).
    #[must_use]
    pub fn middleware_registry(mut self, registry: MiddlewareRegistry) -> Self {
        self.middleware = registry;
        self
    }

    /// The named Rust events scripts may use (`{ name = "validate", rust = "validate_order" }`).
    #[must_use]
    pub fn event_registry(mut self, registry: EventRegistry) -> Self {
        self.events = registry;
        self
    }

    /// Exposes a Rust function to scripts as the global `name`.
    ///
    /// Arguments and results convert through mlua (`String`, numbers, `bool`,
    /// `Option`, tuples for several arguments or results, `mlua::Table`...). The function is
    /// installed in every VM of every thread; a panic in it becomes a Lua error.
    #[must_use]
    pub fn register_fn<F, A, R>(self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: FromLuaMulti + 'static,
        R: IntoLuaMulti + 'static,
    {
        self.register_fallible_fn(name, move |args: A| Ok::<R, Never>(f(args)))
    }

    /// Registers a host function made by `factory` from the VM itself (tests
    /// that look at the VM's state from inside a call).
    #[cfg(all(test, not(feature = "luau")))]
    #[must_use]
    pub(crate) fn register_raw_fn(mut self, host_fn: HostFn) -> Self {
        self.host_fns.retain(|h| h.name != host_fn.name);
        self.host_fns.push(host_fn);
        self
    }

    /// Like [`register_fn`](Self::register_fn), for a function that can fail:
    /// `Err(e)` raises a Lua error with the message `name: e` (a handler that
    /// does not catch it fails with that message).
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let chain = LuaChainBuilder::new()
    ///     .register_fallible_fn("parse_qty", |text: String| text.trim().parse::<i64>().map_err(|e| e.to_string()))
    ///     .load_str("q.lua", "return { events = { { name = 'q', handler = function(ctx) ctx.qty = parse_qty(ctx.text) end } } }")
    ///     .unwrap();
    /// let mut ctx = chain.new_context();
    /// ctx.set("text", "x");
    /// let result = chain.execute(&mut ctx);
    /// assert_eq!(result.failures()[0].message(), "q.lua:1: parse_qty: invalid digit found in string");
    /// ```
    #[must_use]
    pub fn register_fallible_fn<F, A, R, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
        A: FromLuaMulti + 'static,
        R: IntoLuaMulti + 'static,
        E: Display + 'static,
    {
        let name = name.into();
        self.host_fns.retain(|h| h.name != name);
        self.host_fns.push(HostFn::fallible(name, f));
        self
    }

    /// Registers an async Rust function that scripts call like any function
    /// (`local stock = inventory(sku)`): in an async execution the calling
    /// handler or middleware (a coroutine) yields while the future is
    /// pending, so other executions run on the thread meanwhile. `Err(e)`
    /// raises a Lua error `name: e` at the caller's line, which `pcall`
    /// catches; so does a panic. The future is created and polled on the
    /// thread running the execution (it need not be `Send`). Calling the
    /// function from a synchronous execution, or from a coroutine the script
    /// created, is a Lua error. See `docs/async.md`.
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let chain = LuaChainBuilder::new()
    ///     .register_async_fn("stock_of", |sku: String| async move {
    ///         Ok::<_, std::convert::Infallible>(if sku == "tea" { 3 } else { 0 })
    ///     })
    ///     .load_str("s.lua", "return { events = { { name = 's', handler = function(ctx) ctx.stock = stock_of(ctx.sku) end } } }")
    ///     .unwrap();
    /// assert_eq!(chain.event_names(), ["s"]);
    /// ```
    #[must_use]
    pub fn register_async_fn<F, A, Fut, R, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        A: FromLuaMulti + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        R: IntoLuaMulti + 'static,
        E: Display + 'static,
    {
        let name = name.into();
        self.host_fns.retain(|h| h.name != name);
        self.host_fns.push(HostFn::asynchronous(name, f));
        self
    }

    /// Documents the host function `name` for the editor definitions
    /// ([`lua_definitions`](Self::lua_definitions)): a description and the
    /// names of its parameters (the types come from the Rust signature).
    /// Unknown names are ignored.
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let defs = LuaChainBuilder::new()
    ///     .register_fn("price_of", |sku: String| sku.len() as f64)
    ///     .document_fn("price_of", "The price of a product.", &["sku"])
    ///     .lua_definitions();
    /// assert!(defs.text().contains("---The price of a product.\n---@param sku string\n---@return number\nfunction price_of(sku) end"));
    /// ```
    #[must_use]
    pub fn document_fn(mut self, name: &str, description: &str, params: &[&str]) -> Self {
        if let Some(f) = self.host_fns.iter_mut().find(|h| h.name == name) {
            f.signature.description = Some(description.to_owned());
            f.signature.names = params.iter().map(|p| (*p).to_owned()).collect();
        }
        self
    }

    /// The host's caps on Lua code; a script's `limits` can only lower them.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The libraries scripts get.
    #[must_use]
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Whether to use the process-wide bytecode cache (default `true`).
    ///
    /// With the cache, a script is compiled once per distinct (name, source)
    /// in the process: a second chain from the same source, or a reload with an
    /// unchanged source, loads the cached bytecode, and every VM (one per
    /// thread) loads bytecode instead of compiling. Without it, every VM
    /// compiles the source (slower; useful to measure the cache).
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let src = "return { events = {} } -- doc example of the cache";
    /// let first = LuaChainBuilder::new().load_str("c.lua", src).unwrap();
    /// let second = LuaChainBuilder::new().load_str("c.lua", src).unwrap();
    /// assert!(!first.bytecode_reused() && second.bytecode_reused());
    /// let uncached = LuaChainBuilder::new().bytecode_cache(false).load_str("c.lua", src).unwrap();
    /// assert!(!uncached.bytecode_reused());
    /// ```
    #[must_use]
    pub fn bytecode_cache(mut self, enabled: bool) -> Self {
        self.no_bytecode_cache = !enabled;
        self
    }

    /// Editor definitions (LuaLS / EmmyLua `---@meta`) of what scripts loaded
    /// by this builder can use: the script format, the callbacks, the
    /// sandbox, the host functions with Lua types derived from their Rust
    /// signatures, and the named parts with their config keys from the
    /// registries' schemas. A host with functions of its own ships these.
    ///
    /// ```
    /// use eventchains_lua::LuaChainBuilder;
    /// let defs = LuaChainBuilder::new().register_fn("price_of", |sku: String| sku.len() as f64).lua_definitions();
    /// assert!(defs.text().contains("---@param arg1 string\n---@return number\nfunction price_of(arg1) end"));
    /// ```
    pub fn lua_definitions(&self) -> crate::Definitions {
        crate::definitions::render(&crate::definitions::Host {
            middleware: &self.middleware,
            events: &self.events,
            host_fns: &self.host_fns,
        })
    }

    /// The JSON Schema of the script table (format v1) for this builder's
    /// registries: every named part with its config schema. A named part with
    /// a config, `{ "retry", max_attempts = 3 }`, is described as the object
    /// `{"1": "retry", "max_attempts": 3}`.
    pub fn script_schema(&self) -> serde_json::Value {
        crate::script_schema::script_schema(&self.middleware, &self.events)
    }

    /// The registries of named middleware and events (for tools that list or describe them).
    pub fn registries(&self) -> (&MiddlewareRegistry, &EventRegistry) {
        (&self.middleware, &self.events)
    }

    /// Loads a script from a file; its file name (`orders.lua`) names it in messages.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<LuaChain, LoadError> {
        let path = path.as_ref();
        let source =
            std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        self.load_str(&name, &source)
    }

    /// Loads a script from source text; `name` (e.g. `orders.lua`) names it in messages.
    ///
    /// The script is compiled once and run once in a fresh sandboxed VM, which
    /// becomes the calling thread's VM for it; other threads build theirs from
    /// the same bytecode on first use.
    pub fn load_str(&self, name: &str, source: &str) -> Result<LuaChain, LoadError> {
        let cached = Cached::lookup(name, source, !self.no_bytecode_cache);
        let Ran { vm, returned, bytecode } = self.vm_config(name).run(cached.code(source), cached.enabled)?;
        let (spec, functions) = spec::parse(vm.lua(), name, returned, self.limits.script_value_bytes())?;
        let limits = self.limits_for(name, &spec);
        vm.lower_limits(limits)?;
        let script = Arc::new(self.script(name, source, cached, bytecode, limits, spec));
        let chain = self.build_chain(&script)?;
        vm_table::insert(&script, Rc::new(vm.into_vm(functions, script.spec.event_names())?));
        Ok(LuaChain::new(script, chain.0, chain.1))
    }

    /// What every VM of the script `name` is built with (before its own `limits` are read).
    fn vm_config<'a>(&'a self, name: &'a str) -> VmConfig<'a> {
        VmConfig { script: name, sandbox: self.sandbox, host_fns: &self.host_fns, limits: self.limits }
    }

    /// The host's caps lowered by the script's own `limits` (a script cannot raise a cap).
    fn limits_for(&self, name: &str, spec: &Spec) -> Limits {
        let limits = self.limits.lowered_by(&spec.limits);
        if limits != spec.limits.lowered_by(&Limits::UNLIMITED).lowered_by(&self.limits) {
            tracing::warn!(script = name, "the script's limits are above the host's caps; the caps apply");
        }
        limits
    }

    /// The loaded script; a fresh compilation goes into the bytecode cache.
    fn script(
        &self,
        name: &str,
        source: &str,
        cached: Cached,
        bytecode: Option<Vec<u8>>,
        limits: Limits,
        spec: Spec,
    ) -> Script {
        let source: Arc<str> = Arc::from(source);
        let from_cache = cached.hit.is_some();
        let compiled = match (cached.hit, bytecode) {
            (Some(c), _) => Some(c),
            (None, Some(bytecode)) if cached.enabled => Some(bytecode_cache::insert(
                cached.hash,
                Compiled { name: name.to_owned(), source: source.clone(), bytecode },
            )),
            (None, _) => None,
        };
        Script {
            id: Script::next_id(),
            name: name.to_owned(),
            sandbox: self.sandbox,
            host_fns: self.host_fns.clone(),
            limits,
            source,
            content_hash: cached.hash,
            compiled,
            from_cache,
            spec,
        }
    }

    /// The script's chain, as a synchronous chain and as an async one (the
    /// same parts: Lua events and middleware run as coroutines in the latter).
    fn build_chain(&self, script: &Arc<Script>) -> Result<(EventChain, LocalAsyncEventChain), LoadError> {
        let spec = &script.spec;
        let name = spec.name.clone().unwrap_or_else(|| script.name.clone());
        let mut chain = EventChain::new().named(name.clone()).fault_tolerance(spec.mode);
        let mut async_chain = LocalAsyncEventChain::new_local().named(name).fault_tolerance(spec.mode);
        for (index, m) in spec.middleware.iter().enumerate() {
            match m {
                MiddlewareSpec::Named { name, config } => {
                    let built = self.middleware.build(name, config).map_err(|source| LoadError::Registry {
                        script: script.name.clone(),
                        path: format!("middleware[{}]", index + 1),
                        source,
                    })?;
                    let built: Arc<dyn EventMiddleware> = match script.limits.timeout {
                        Some(limit) => Arc::new(ScriptTimed { inner: built, limit }),
                        None => built,
                    };
                    chain.add_middleware_arc(built.clone());
                    async_chain.add_middleware_arc(built);
                }
                MiddlewareSpec::Lua { label } => {
                    let lua = Arc::new(LuaMiddleware { script: script.clone(), index, label: label.clone() });
                    chain.add_middleware_arc(lua.clone());
                    async_chain.add_async_middleware_arc(lua);
                }
            }
        }
        for (index, e) in spec.events.iter().enumerate() {
            match e {
                EventSpec::Lua { name } => {
                    let lua = Arc::new(LuaEvent { script: script.clone(), index, name: name.clone() });
                    chain.add_event_arc(lua.clone());
                    async_chain.add_async_event_arc(lua);
                }
                EventSpec::Rust { name, rust, config } => {
                    let inner = self.events.build(rust, config).map_err(|source| LoadError::Registry {
                        script: script.name.clone(),
                        path: format!("events[{}]", index + 1),
                        source,
                    })?;
                    let named: Arc<dyn ChainableEvent> = Arc::new(NamedEvent { name: name.clone(), inner });
                    chain.add_event_arc(named.clone());
                    async_chain.add_event_arc(named);
                }
            }
        }
        Ok((chain, async_chain))
    }
}

impl fmt::Debug for LuaChainBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LuaChainBuilder")
            .field("middleware", &self.middleware)
            .field("events", &self.events)
            .field("host_fns", &self.host_fns.iter().map(|h| h.name.as_str()).collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("sandbox", &self.sandbox)
            .field("bytecode_cache", &!self.no_bytecode_cache)
            .finish()
    }
}

/// The error of a function that cannot fail.
enum Never {}

impl Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}
