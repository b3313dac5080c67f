//! [`ReloadableChain`]: a chain whose script can be replaced while it runs.

use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use eventchains_core::{ChainResult, EventContext};

use crate::builder::LuaChainBuilder;
use crate::chain::LuaChain;
use crate::error::LoadError;

/// One loaded version of a [`ReloadableChain`]: the chain and its number
/// (1 for the first load, +1 for each successful reload). Derefs to [`LuaChain`].
#[derive(Debug)]
pub struct ChainVersion {
    number: u64,
    chain: LuaChain,
    loaded_in: Duration,
}

impl ChainVersion {
    /// The version number: 1 for the first load, one more for each successful reload.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// How long reading, compiling, validating and building this version took
    /// (zero for a chain given to [`ReloadableChain::from_chain`]).
    pub fn loaded_in(&self) -> Duration {
        self.loaded_in
    }

    /// The chain of this version.
    pub fn chain(&self) -> &LuaChain {
        &self.chain
    }
}

impl Deref for ChainVersion {
    type Target = LuaChain;

    fn deref(&self) -> &LuaChain {
        &self.chain
    }
}

/// A chain that can be reloaded from new source while other threads execute it.
///
/// The current version is an `Arc<ChainVersion>` behind an [`ArcSwap`]: an
/// execution takes the current version with one lock-free load (no reference
/// count is touched on the fast path, no lock is held) and runs entirely on
/// it. A reload builds the new version **completely** on the calling thread
/// (compile, validate, build the chain; the bytecode cache skips compilation
/// for an unchanged source), then swaps it in atomically:
///
/// - executions in flight finish on the version they started with, new ones
///   see the new version, and no execution sees a half-loaded chain;
/// - a reload that fails to read, parse or validate returns its [`LoadError`]
///   and the old version keeps serving;
/// - once the last execution of an old version ends, its script is dropped and
///   every thread drops its VM of it on its next execution.
///
/// Reloads are serialized among themselves (a mutex only reloads take), so
/// version numbers follow the order of the reloads.
///
/// ```
/// use std::sync::Arc;
/// use eventchains_lua::{LuaChainBuilder, ReloadableChain};
/// let v1 = "return { events = { { name = 'x', handler = function(ctx) ctx.x = ctx.x * 2 end } } }";
/// let v2 = "return { events = { { name = 'x', handler = function(ctx) ctx.x = ctx.x * 3 end } } }";
/// let chain = Arc::new(ReloadableChain::load_str(LuaChainBuilder::new(), "calc.lua", v1).unwrap());
/// let run = |chain: &ReloadableChain| {
///     let mut ctx = eventchains_core::EventContext::new();
///     ctx.set("x", 7);
///     chain.execute(&mut ctx);
///     ctx.get::<i64>("x").unwrap()
/// };
/// assert_eq!(run(&chain), 14);
///
/// assert_eq!(chain.reload_str(v2).unwrap().number(), 2);
/// assert_eq!(run(&chain), 21);
///
/// // A broken reload is rejected; version 2 keeps serving.
/// let err = chain.reload_str("return { events = { { name = 'x' } } }").unwrap_err();
/// assert_eq!(err.to_string(), "calc.lua: events[1]: missing `handler` or `rust`");
/// assert_eq!((chain.version(), run(&chain)), (2, 21));
/// ```
pub struct ReloadableChain {
    builder: LuaChainBuilder,
    current: ArcSwap<ChainVersion>,
    reloading: Mutex<()>,
}

impl ReloadableChain {
    /// Version 1 from source text; `name` (e.g. `orders.lua`) names the script
    /// in messages, also after reloads.
    pub fn load_str(builder: LuaChainBuilder, name: &str, source: &str) -> Result<Self, LoadError> {
        let started = Instant::now();
        let chain = builder.load_str(name, source)?;
        Ok(Self::first(builder, chain, started.elapsed()))
    }

    /// Version 1 from a file.
    pub fn load_file(builder: LuaChainBuilder, path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let started = Instant::now();
        let chain = builder.load_file(path)?;
        Ok(Self::first(builder, chain, started.elapsed()))
    }

    /// Version 1 is `chain`; reloads use `builder` (the registries, functions,
    /// caps and sandbox new versions get).
    pub fn from_chain(builder: LuaChainBuilder, chain: LuaChain) -> Self {
        Self::first(builder, chain, Duration::ZERO)
    }

    fn first(builder: LuaChainBuilder, chain: LuaChain, loaded_in: Duration) -> Self {
        ReloadableChain {
            builder,
            current: ArcSwap::from_pointee(ChainVersion { number: 1, chain, loaded_in }),
            reloading: Mutex::new(()),
        }
    }

    /// Runs the current version on `ctx`. The whole execution uses the version
    /// current when it starts, even if a reload happens meanwhile.
    pub fn execute(&self, ctx: &mut EventContext) -> ChainResult {
        self.current.load().chain.execute(ctx)
    }

    /// [`LuaChain::execute_async`] on the version current when it starts
    /// (held by an `Arc` for the whole execution, whatever reloads happen
    /// while it awaits). Returns that version's number with the result.
    pub async fn execute_async(&self, ctx: &mut EventContext) -> (u64, ChainResult) {
        let version = self.current.load_full();
        let result = version.chain.execute_async(ctx).await;
        (version.number, result)
    }

    /// Runs the current version on a fresh context holding its initial values;
    /// returns the version, the result and the context.
    pub fn execute_fresh(&self) -> (u64, ChainResult, EventContext) {
        let version = self.current.load();
        let mut ctx = version.chain.new_context();
        let result = version.chain.execute(&mut ctx);
        (version.number, result, ctx)
    }

    /// The current version. Keep it to run several executions (or to build a
    /// context and execute it) on one consistent version.
    pub fn current(&self) -> Arc<ChainVersion> {
        self.current.load_full()
    }

    /// The current version number (1 for the first load).
    pub fn version(&self) -> u64 {
        self.current.load().number
    }

    /// [`content_hash`](crate::content_hash) of the current version's source.
    pub fn content_hash(&self) -> u64 {
        self.current.load().chain.content_hash()
    }

    /// Builds a new version from `source` (same script name) and makes it
    /// current; on error the current version stays.
    pub fn reload_str(&self, source: &str) -> Result<Arc<ChainVersion>, LoadError> {
        self.reload_with(Instant::now(), |builder, name| builder.load_str(name, source))
    }

    /// Builds a new version from the file at `path` and makes it current; on
    /// error (unreadable file included) the current version stays. The script
    /// keeps the name it was first loaded under.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<Arc<ChainVersion>, LoadError> {
        let started = Instant::now();
        let path = path.as_ref();
        let source =
            std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        self.reload_with(started, |builder, name| builder.load_str(name, &source))
    }

    fn reload_with(
        &self,
        started: Instant,
        load: impl FnOnce(&LuaChainBuilder, &str) -> Result<LuaChain, LoadError>,
    ) -> Result<Arc<ChainVersion>, LoadError> {
        let _serialized = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.current.load_full();
        let result = load(&self.builder, old.chain.script_name());
        let chain = match result {
            Ok(chain) => chain,
            Err(e) => {
                tracing::warn!(script = old.chain.script_name(), version = old.number, error = %e, "reload rejected; the current version keeps serving");
                return Err(e);
            }
        };
        let new = Arc::new(ChainVersion { number: old.number + 1, chain, loaded_in: started.elapsed() });
        self.current.store(new.clone());
        tracing::info!(
            script = new.chain.script_name(),
            version = new.number,
            bytecode_reused = new.chain.bytecode_reused(),
            "reloaded"
        );
        Ok(new)
    }
}

impl fmt::Debug for ReloadableChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableChain").field("current", &self.current.load()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(factor: i64) -> String {
        format!("return {{ events = {{ {{ name = 'x', handler = function(ctx) ctx.x = {factor} end }} }} }}")
    }

    #[test]
    fn reloadable_chain_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ReloadableChain>();
        check::<Arc<ChainVersion>>();
    }

    #[test]
    fn unchanged_source_reuses_bytecode_and_bumps_the_version() {
        let chain = ReloadableChain::load_str(LuaChainBuilder::new(), "unit_reload.lua", &source(41)).expect("loads");
        let hash = chain.content_hash();
        let v2 = chain.reload_str(&source(41)).expect("reloads");
        assert!(v2.bytecode_reused(), "same name and source: compiled once");
        assert_eq!((v2.number(), chain.content_hash()), (2, hash));
        let v3 = chain.reload_str(&source(42)).expect("reloads");
        assert!(!v3.bytecode_reused());
        assert_ne!(chain.content_hash(), hash);
        let (number, result, ctx) = chain.execute_fresh();
        assert!(result.is_clean());
        assert_eq!((number, ctx.get::<i64>("x")), (3, Some(42)));
    }

    #[test]
    fn a_version_kept_by_the_caller_stays_usable_after_a_reload() {
        let chain = ReloadableChain::load_str(LuaChainBuilder::new(), "kept.lua", &source(1)).expect("loads");
        let old = chain.current();
        chain.reload_str(&source(2)).expect("reloads");
        let mut ctx = old.new_context();
        assert!(old.execute(&mut ctx).is_clean());
        assert_eq!((old.number(), ctx.get::<i64>("x")), (1, Some(1)));
    }

    #[test]
    fn reloading_a_missing_file_is_an_io_error_and_keeps_serving() {
        let chain = ReloadableChain::load_str(LuaChainBuilder::new(), "io.lua", &source(5)).expect("loads");
        let err = chain.reload_file("/nonexistent/eventchains/io.lua").unwrap_err();
        assert!(matches!(err, LoadError::Io { .. }), "{err}");
        assert_eq!(chain.version(), 1);
    }
}
