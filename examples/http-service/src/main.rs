//! `http-service`: serves the order chain over HTTP (see the crate docs).
//!
//! ```text
//! cargo run -p http-service -- [--addr 127.0.0.1:8080] [--script examples/http-service/scripts/orders.lua] [--workers 2] [--serve axum|lua-threads]
//! ```
//!
//! `--serve axum` (the default): `axum::serve` on a multi-thread runtime,
//! each Lua execution handed to one of `--workers` Lua worker threads.
//! `--serve lua-threads`: `serve_on_lua_threads` with `--workers` Lua
//! threads, each serving whole connections and running their executions.
//!
//! Ctrl-C or SIGTERM stops it gracefully: no new connections, the requests
//! in flight answered (on Lua threads within [`GRACE`], then what is still
//! open is dropped), exit status 0.

use std::process::ExitCode;
use std::time::Duration;

use http_service::{AppState, Inventory, Options, ServiceConfig, Serving, router, serve_on_lua_threads};

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => return fail(&format!("{e}\n{}", Options::USAGE)),
    };
    let stock = [("tea", 100_000), ("cake", 100_000), ("coffee", 5)].map(|(sku, n)| (sku.to_owned(), n));
    let inventory = Inventory::new(stock, Duration::from_millis(2));
    // On Lua threads the serving threads run the executions: no workers.
    let workers = match options.serving {
        Serving::Axum => options.workers,
        Serving::LuaThreads => 0,
    };
    let state = match AppState::new(ServiceConfig { script: options.script, workers, inventory }) {
        Ok(state) => state,
        Err(e) => return fail(&e.to_string()),
    };
    let served = match options.serving {
        Serving::Axum => serve_axum(state, &options.addr),
        Serving::LuaThreads => serve_lua_threads(state, &options.addr, options.workers),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

const ROUTES: &str = "serving POST /orders, POST /orders-rust, POST /admin/reload, GET /metrics";

/// How long a graceful stop on Lua threads waits for the requests in flight.
const GRACE: Duration = Duration::from_secs(10);

fn serve_axum(state: std::sync::Arc<AppState>, addr: &str) -> std::io::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, serve = "axum", "{ROUTES}");
        axum::serve(listener, router(state)).with_graceful_shutdown(stop_requested()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn serve_lua_threads(state: std::sync::Arc<AppState>, addr: &str, threads: usize) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let server = serve_on_lua_threads(router(state), listener, threads)?;
    tracing::info!(addr = %local, serve = "lua-threads", threads = threads.max(1), "{ROUTES}");
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(stop_requested());
    let drained = server.shutdown(GRACE);
    tracing::info!(closed = drained.closed, dropped = drained.dropped, "stopped");
    Ok(())
}

/// Resolves at Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `docker stop` and
/// systemd send), logging which; a signal that cannot be listened for is
/// logged and never resolves.
async fn stop_requested() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "stopping: finishing the requests in flight"),
        () = terminate => tracing::info!(signal = "SIGTERM", "stopping: finishing the requests in flight"),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("http-service: {message}");
    ExitCode::FAILURE
}
