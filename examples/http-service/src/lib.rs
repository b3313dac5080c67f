//! An order service built on eventchains: axum + tokio in front, a
//! hot-reloadable Lua chain behind.
//!
//! - `POST /orders` (JSON body, e.g. `{"items": [{"sku": "tea", "qty": 2, "price": 3.5}]}`)
//!   runs the script's chain on the order (the body is `ctx.order`) and answers
//!   with the chain's status, its failures (event, kind, message), the script
//!   version that ran it and the context ([`OrderResponse`]): 200 when the chain
//!   completed, 422 when it failed.
//! - `POST /orders-rust`: the same pipeline hand-written in async Rust
//!   ([`RustOrders`]; same inventory, middleware and JSON), the baseline of
//!   the load measurement (`cargo xtask bench --filter async`).
//! - `POST /admin/reload` reloads the script from disk ([`ReloadableChain`]):
//!   executions in flight finish on their version, new ones get the new one; a
//!   broken script is rejected (422) and the old version keeps serving.
//! - `GET /metrics`: Prometheus text of everything recorded through the
//!   `metrics` facade (the `metrics` middleware, limit hits, this service's counters).
//!
//! Lua executions are `!Send` (a VM belongs to its thread), so they run on
//! [`LuaWorkers`]: worker threads, each with a current-thread runtime and a
//! `LocalSet`, fed through channels; many executions are in flight on one
//! worker while their `inventory` lookups ([`Inventory`]) await. Or serve
//! the router with [`serve_on_lua_threads`]: an acceptor hands each
//! connection round-robin to one Lua thread, which serves all its requests
//! and runs their Lua executions itself (no hand-off per request).
//!
//! [`ReloadableChain`]: eventchains_lua::ReloadableChain

mod app;
mod inventory;
mod local_serve;
mod options;
mod order;
mod prometheus;
mod rust_orders;
mod workers;

pub use app::{AppState, ServiceConfig, ServiceError, router};
pub use inventory::{Hold, Inventory, InventoryError};
pub use local_serve::{Drained, LuaThreadServer, ThreadLoad, serve_on_lua_threads};
pub use options::{Options, OptionsError, Serving};
pub use order::{FailureReport, OrderResponse};
pub use prometheus::install_recorder;
pub use rust_orders::{RustOrders, RustOrdersError};
pub use workers::{LuaWorkers, WorkerError};
