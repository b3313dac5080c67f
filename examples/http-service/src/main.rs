//! `http-service`: serves the order chain over HTTP (see the crate docs).
//!
//! ```text
//! cargo run -p http-service -- [--addr 127.0.0.1:8080] [--script examples/http-service/scripts/orders.lua] [--workers 2]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http_service::{AppState, Inventory, ServiceConfig, router};

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/orders.lua"));
    let mut workers = 2;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--addr", Some(v)) => addr = v,
            ("--script", Some(v)) => script = PathBuf::from(v),
            ("--workers", Some(v)) => match v.parse() {
                Ok(n) => workers = n,
                Err(e) => return usage(&format!("--workers {v}: {e}")),
            },
            (other, _) => return usage(&format!("unexpected argument `{other}`")),
        }
    }
    let stock = [("tea", 100_000), ("cake", 100_000), ("coffee", 5)].map(|(sku, n)| (sku.to_owned(), n));
    let inventory = Inventory::new(stock, Duration::from_millis(2));
    let state = match AppState::new(ServiceConfig { script, workers, inventory }) {
        Ok(state) => state,
        Err(e) => return fail(&e.to_string()),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "serving POST /orders, POST /admin/reload, GET /metrics");
        axum::serve(listener, router(state)).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn usage(message: &str) -> ExitCode {
    fail(&format!("{message}\nusage: http-service [--addr HOST:PORT] [--script PATH] [--workers N]"))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("http-service: {message}");
    ExitCode::FAILURE
}
