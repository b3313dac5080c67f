//! [`AppState`] and the axum [`router`].

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use eventchains_core::{ChainStatus, MiddlewareRegistry};
use eventchains_lua::{LoadError, LuaChainBuilder, ReloadableChain};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::inventory::Inventory;
use crate::order::OrderResponse;
use crate::prometheus::install_recorder;
use crate::rust_orders::{RustOrders, RustOrdersError};
use crate::workers::LuaWorkers;

/// What the service runs.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The chain script; `POST /admin/reload` rereads it.
    pub script: PathBuf,
    /// Lua worker threads behind `axum::serve` (0 when the router is served
    /// by [`serve_on_lua_threads`](crate::serve_on_lua_threads), whose threads
    /// run the executions themselves).
    pub workers: usize,
    /// The store behind the scripts' `inventory(sku)`.
    pub inventory: Inventory,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The script did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The worker threads or their runtimes could not start.
    #[error("cannot start the Lua workers: {0}")]
    Workers(#[from] std::io::Error),
    /// Another `metrics` recorder was installed first.
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
    /// The hand-written Rust chain of `POST /orders-rust` could not be built.
    #[error(transparent)]
    RustOrders(#[from] RustOrdersError),
}

/// The service's shared state: the chain, its workers, the hand-written Rust
/// chain, the script path and the Prometheus handle.
#[derive(Debug)]
pub struct AppState {
    chain: Arc<ReloadableChain>,
    workers: LuaWorkers,
    rust: RustOrders,
    script: PathBuf,
    prometheus: PrometheusHandle,
}

impl AppState {
    /// Installs the Prometheus recorder, loads the script (version 1) with
    /// every middleware of `eventchains-middleware` and the async `inventory`
    /// function, starts the workers, and builds the Rust chain of
    /// `POST /orders-rust` from the same registry and inventory.
    pub fn new(config: ServiceConfig) -> Result<Arc<Self>, ServiceError> {
        let prometheus = install_recorder()?;
        let mut registry = MiddlewareRegistry::new();
        eventchains_middleware::register_all(&mut registry);
        let inventory = config.inventory;
        let rust = RustOrders::new(&registry, inventory.clone())?;
        let builder = LuaChainBuilder::new()
            .middleware_registry(registry)
            .register_async_fn("inventory", move |sku: String| {
                let inventory = inventory.clone();
                async move { inventory.stock_of(&sku).await }
            })
            .document_fn("inventory", "The stock of a product (async: the calling handler waits).", &["sku"]);
        let chain = Arc::new(ReloadableChain::load_file(builder, &config.script)?);
        metrics::gauge!("http_service_script_version").set(chain.version() as f64);
        let workers = LuaWorkers::start(chain.clone(), config.workers)?;
        Ok(Arc::new(AppState { chain, workers, rust, script: config.script, prometheus }))
    }

    /// The script version serving new orders.
    pub fn version(&self) -> u64 {
        self.chain.version()
    }

    /// Runs the Lua chain of `POST /orders` on `order` on the calling thread
    /// (its VM; call it from a local task of a `LocalSet`), as the handler
    /// does on a thread of [`serve_on_lua_threads`](crate::serve_on_lua_threads).
    pub async fn run_lua_order(&self, order: serde_json::Value) -> OrderResponse {
        crate::workers::execute(&self.chain, order).await
    }

    /// Runs the hand-written Rust chain of `POST /orders-rust` on `order`.
    pub async fn run_rust_order(&self, order: serde_json::Value) -> OrderResponse {
        self.rust.run(order).await
    }
}

/// The routes: `POST /orders`, `POST /orders-rust`, `POST /admin/reload`, `GET /metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/orders", post(order))
        .route("/orders-rust", post(order_rust))
        .route("/admin/reload", post(reload))
        .route("/metrics", get(prometheus))
        .with_state(state)
}

async fn order(State(state): State<Arc<AppState>>, Json(order): Json<serde_json::Value>) -> Response {
    let response = if crate::local_serve::on_lua_thread() {
        // Served by this thread's LocalSet: run the execution here.
        let chain = state.chain.clone();
        tokio::task::spawn_local(async move { crate::workers::execute(&chain, order).await })
            .await
            .map_err(|_| crate::WorkerError::Stopped)
    } else {
        state.workers.run(order).await
    };
    match response {
        Ok(response) => {
            metrics::counter!("http_service_orders_total", "status" => response.status.as_str()).increment(1);
            answer(response)
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn order_rust(State(state): State<Arc<AppState>>, Json(order): Json<serde_json::Value>) -> Response {
    let response = state.run_rust_order(order).await;
    metrics::counter!("http_service_rust_orders_total", "status" => response.status.as_str()).increment(1);
    answer(response)
}

/// 200 with the response when the chain completed, 422 when it failed.
fn answer(response: OrderResponse) -> Response {
    let code = if response.status == ChainStatus::Failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    (code, Json(response)).into_response()
}

async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let reloading = state.clone();
    // Reading and compiling the script blocks: off the async workers.
    let result = tokio::task::spawn_blocking(move || reloading.chain.reload_file(&reloading.script)).await;
    match result {
        Ok(Ok(version)) => {
            metrics::counter!("http_service_reloads_total", "outcome" => "ok").increment(1);
            metrics::gauge!("http_service_script_version").set(version.number() as f64);
            Json(serde_json::json!({ "version": version.number() })).into_response()
        }
        Ok(Err(e)) => {
            metrics::counter!("http_service_reloads_total", "outcome" => "rejected").increment(1);
            let body = serde_json::json!({ "error": e.to_string(), "version": state.chain.version() });
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("reload panicked: {e}")),
    }
}

async fn prometheus(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render()).into_response()
}

fn error(code: StatusCode, message: String) -> Response {
    (code, Json(serde_json::json!({ "error": message }))).into_response()
}
