//! # eventchains-lua
//!
//! Chain scripts in Lua for [`eventchains_core`]: a script returns a table
//! (format v1, see `docs/lua-scripts.md`) naming events and middleware, written
//! in Lua or taken by name from the host's registries. The script is compiled
//! and validated once and built into a [`LuaChain`] that runs Lua and Rust
//! events on **one shared [`EventContext`](eventchains_core::EventContext)**:
//! `ctx.key` in Lua reads and writes the context's values in place.
//!
//! - [`LuaChainBuilder`] loads scripts with the host's registries, Rust
//!   functions ([`register_fn`](LuaChainBuilder::register_fn)), caps
//!   ([`Limits`]) and [`Sandbox`].
//! - [`LuaChain`] is `Send + Sync`; every thread runs the Lua code in its own
//!   VM, built on first use from the compiled script.
//! - [`ReloadableChain`] replaces a chain's script while threads execute it
//!   (executions in flight finish on their version; a broken reload is
//!   rejected and the old version keeps serving); with the feature `watch`,
//!   `ChainWatcher` reloads it when its file changes.
//! - Scripts are compiled once per distinct source in the process (a bytecode
//!   cache keyed by [`content_hash`]); every VM loads the bytecode.
//! - Loading errors are [`LoadError`]s that name the script, the line or the
//!   key path; run-time failures are ordinary chain failures.
//!
//! ```
//! use eventchains_lua::LuaChainBuilder;
//! let chain = LuaChainBuilder::new().load_str("orders.lua", r#"
//!     return {
//!       name = "orders",
//!       fault_tolerance = "lenient",
//!       context = { order = { items = { { sku = "tea", qty = 1, price = 3.5 } } } },
//!       middleware = {
//!         function(event, ctx, next)
//!           local ok, err = next(ctx)
//!           ctx.seen = (ctx.seen or 0) + 1
//!           return ok, err
//!         end,
//!       },
//!       events = {
//!         { name = "bump", handler = function(ctx) ctx.order.items[1].qty = 2 end },
//!         { name = "total", handler = function(ctx)
//!             local total = 0.0
//!             for _, item in ipairs(ctx.order.items) do total = total + item.qty * item.price end
//!             ctx.total = total
//!           end },
//!         { name = "charge", handler = function(ctx)
//!             if ctx.total > 5 then return nil, "card declined" end
//!           end },
//!       },
//!     }
//! "#).unwrap();
//! let mut ctx = chain.new_context();
//! let result = chain.execute(&mut ctx);
//! assert_eq!(ctx.get::<f64>("total"), Some(7.0));
//! assert_eq!(ctx.get::<i64>("seen"), Some(3));
//! assert_eq!(result.failures()[0].event(), "charge");
//! assert_eq!(result.failures()[0].message(), "card declined");
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "lua54", feature = "lua55", feature = "luajit", feature = "luau")))]
compile_error!(
    "eventchains-lua needs a Lua engine feature: `lua54` (default), `lua55`, `luajit` or `luau` (see docs/lua-engines.md)"
);

mod async_calls;
mod async_host_fn;
mod bounded_lib;
mod bridge;
mod builder;
mod bytecode_cache;
mod chain;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod close_scan;
mod context_proxy;
mod convert;
mod count_hook;
mod ctx_memory;
mod deadline_signal;
mod definitions;
mod error;
mod event_records;
mod execution_threads;
mod failure_value;
mod fast_ctx;
mod host_fn;
mod key_cache;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod limit_calls;
mod limits;
mod lua_error;
mod lua_event;
pub mod lua_metrics;
mod lua_middleware;
mod lua_type;
mod memory_ceiling;
mod named_event;
mod named_middleware;
mod pattern;
mod prelude;
mod raw_call;
#[cfg(any(feature = "lua54", feature = "lua55"))]
mod raw_fields;
mod reload;
#[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
mod running_lua;
mod sandbox;
mod script;
mod script_schema;
mod spec;
mod value_size;
mod view_fast;
mod view_handle;
mod views;
mod vm;
mod vm_table;
#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
mod watch;
mod watchdog;

pub use builder::LuaChainBuilder;
pub use bytecode_cache::{bytecode_cache_len, content_hash};
pub use chain::LuaChain;
pub use deadline_signal::{DeadlineSignal, DeadlineSignalError};
pub use definitions::{DEFINITIONS_FILE, Definitions};
pub use error::LoadError;
pub use limits::{HOOK_INTERVAL, Limits};
pub use mlua::StdLib;
pub use reload::{ChainVersion, ReloadableChain};
pub use sandbox::Sandbox;
pub use spec::MAX_LUA_MIDDLEWARE;
pub use vm_table::thread_vm_count;
#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
pub use watch::ChainWatcher;

/// The Rust examples of `docs/async.md` (core and Lua sections), run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/async.md")]
struct AsyncDocDoctests;
