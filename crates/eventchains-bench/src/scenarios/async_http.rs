//! The `async` scenario's http load: examples/http-service on 127.0.0.1, its
//! `POST /orders` (the Lua chain on the service's Lua workers) against
//! `POST /orders-rust` (the same pipeline hand-written in async Rust, on the
//! server's runtime), driven by [`crate::http_load`] in the same process:
//! interleaved rounds (Lua then Rust, then Rust then Lua, ...), requests per
//! second and p50/p99 latency per round, medians over the rounds. Server (2
//! runtime threads), Lua workers (2 threads) and load generator (1 thread)
//! share the machine's cores.

use std::sync::Arc;
use std::time::Duration;

use http_service::{AppState, Inventory, ServiceConfig, router};
use hyper::body::Bytes;

use crate::error::BenchError;
use crate::http_load::{LoadConfig, LoadRun, load};
use crate::results::Results;
use crate::scenario::Session;
use crate::stats::Summary;

/// The script the service runs (loaded from a copy in a temporary directory).
const SCRIPT: &str = include_str!("../../../../examples/http-service/scripts/orders.lua");

/// The order every request sends: two items, so two inventory lookups.
pub(crate) const ORDER: &str =
    r#"{"id": 1, "items": [{"sku": "tea", "qty": 2, "price": 3.5}, {"sku": "cake", "qty": 1, "price": 4}]}"#;

/// What the inventory waits before answering (a stand-in for a network round trip).
pub(crate) const INVENTORY_DELAY: Duration = Duration::from_millis(1);

/// The two handlers measured: (key name, path).
pub(crate) const HANDLERS: [(&str, &str); 2] = [("lua", "/orders"), ("rust", "/orders-rust")];

/// How much load, how many rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The load of one round of one handler.
    pub load: LoadConfig,
    /// Requests per handler sent before the measured rounds (not recorded).
    pub warmup: usize,
    /// Measured rounds per handler.
    pub rounds: usize,
}

impl Plan {
    /// The full run: 64 connections, 7 rounds of 4,000 requests per handler
    /// (each capped at 20 s); none for `--quick`; tests (fewer samples than
    /// the quick run): 4 connections, one round of 20 requests.
    pub(crate) fn for_session(s: &Session<'_>) -> Option<Plan> {
        let samples = s.harness().config().samples;
        if samples < crate::HarnessConfig::QUICK.samples {
            let load = LoadConfig { connections: 4, requests: 20, time_cap: Duration::from_secs(120) };
            return Some(Plan { load, warmup: 0, rounds: 1 });
        }
        if s.quick() {
            return None;
        }
        let load = LoadConfig { connections: 64, requests: 4_000, time_cap: Duration::from_secs(20) };
        Some(Plan { load, warmup: 2_000, rounds: 7 })
    }
}

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let Some(plan) = Plan::for_session(s) else {
        s.results.missing("async.http_", "skipped by --quick (the full run measures it)");
        return Ok(());
    };
    let dir = std::env::temp_dir().join(format!("eventchains-bench-http-{}", std::process::id()));
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| BenchError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let script = dir.join("orders.lua");
    std::fs::write(&script, SCRIPT).map_err(io(&script))?;
    let measured = serve_and_load(s, &plan, script);
    let _ = std::fs::remove_dir_all(&dir);
    let runs = measured?;
    for ((name, _), runs) in HANDLERS.iter().zip(&runs) {
        record(&mut s.results, name, runs);
    }
    record_round_ratio(&mut s.results, &runs[0], &runs[1]);
    Ok(())
}

fn runtime_error(e: std::io::Error) -> BenchError {
    BenchError::Http(format!("cannot start a runtime: {e}"))
}

/// Starts the service, sends the load, stops the service; the runs per handler, in [`HANDLERS`] order.
fn serve_and_load(
    s: &mut Session<'_>,
    plan: &Plan,
    script: std::path::PathBuf,
) -> Result<Vec<Vec<LoadRun>>, BenchError> {
    let stock = [("tea", i64::MAX / 2), ("cake", i64::MAX / 2)].map(|(sku, n)| (sku.to_owned(), n));
    let inventory = Inventory::new(stock, INVENTORY_DELAY);
    let state = AppState::new(ServiceConfig { script, workers: 2, inventory })
        .map_err(|e| BenchError::Http(format!("cannot start the service: {e}")))?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http-server")
        .enable_all()
        .build()
        .map_err(runtime_error)?;
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| BenchError::Http(format!("cannot bind 127.0.0.1: {e}")))?;
    let addr = listener.local_addr().map_err(|e| BenchError::Http(e.to_string()))?;
    server.spawn(async move { axum::serve(listener, router(Arc::clone(&state))).await });
    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(runtime_error)?;
    let body = Bytes::from_static(ORDER.as_bytes());
    let one = |path: &str, load_config: LoadConfig| client.block_on(load(addr, path, body.clone(), 200, load_config));
    let result = (|| {
        if plan.warmup > 0 {
            s.step(&format!("http warm-up: {} requests per handler", plan.warmup));
            for (_, path) in HANDLERS {
                checked(path, one(path, LoadConfig { requests: plan.warmup, ..plan.load })?)?;
            }
        }
        let mut runs = vec![Vec::new(), Vec::new()];
        for round in 0..plan.rounds {
            for k in 0..HANDLERS.len() {
                // Lua first in even rounds, Rust first in odd ones.
                let i = (k + round) % HANDLERS.len();
                let (name, path) = HANDLERS[i];
                let run = checked(path, one(path, plan.load)?)?;
                s.step(&format!(
                    "http round {}/{}: {name} {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms ({} connections, {} requests)",
                    round + 1,
                    plan.rounds,
                    run.requests_per_s(),
                    run.latency_ms(50.0),
                    run.latency_ms(99.0),
                    plan.load.connections,
                    run.ok
                ));
                runs[i].push(run);
            }
        }
        Ok(runs)
    })();
    drop(client);
    server.shutdown_timeout(Duration::from_secs(10));
    result
}

/// `run`, if every response was a 200 and at least one came back.
fn checked(path: &str, run: LoadRun) -> Result<LoadRun, BenchError> {
    if run.failed > 0 || run.ok == 0 {
        let first = run.first_failure.as_ref().map(|(status, body)| format!("{status} {body}")).unwrap_or_default();
        return Err(BenchError::Http(format!(
            "POST {path}: {} of {} responses were not 200 (first: {first})",
            run.failed,
            run.ok + run.failed
        )));
    }
    Ok(run)
}

/// One figure of a load run.
type Figure = fn(&LoadRun) -> f64;

/// Records the medians over the rounds (and their summaries) of one handler:
/// `async.http_<name>_rps`, `_p50_ms`, `_p99_ms`.
pub(crate) fn record(r: &mut Results, name: &str, runs: &[LoadRun]) {
    let figures: [(&str, Figure); 3] = [
        ("rps", LoadRun::requests_per_s),
        ("p50_ms", |run| run.latency_ms(50.0)),
        ("p99_ms", |run| run.latency_ms(99.0)),
    ];
    for (figure, of) in figures {
        if let Some(summary) = Summary::of(&runs.iter().map(of).collect::<Vec<_>>()) {
            r.summary(format!("measurements.async.http_{name}_{figure}"), summary);
            r.value(format!("async.http_{name}_{figure}"), summary.median);
        }
    }
}

/// The Lua / Rust throughput ratio of each round (the two handlers ran back
/// to back, so a load burst on the machine hits a pair more evenly than the
/// whole run): `async.http_lua_vs_rust_round_ratio`, the median over rounds.
pub(crate) fn record_round_ratio(r: &mut Results, lua: &[LoadRun], rust: &[LoadRun]) {
    let ratios: Vec<f64> = lua.iter().zip(rust).map(|(l, r)| l.requests_per_s() / r.requests_per_s()).collect();
    if let Some(summary) = Summary::of(&ratios) {
        r.summary("measurements.async.http_lua_vs_rust_round_ratio", summary);
        r.value("async.http_lua_vs_rust_round_ratio", summary.median);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ok: usize, ms: u64, latencies: &[f64]) -> LoadRun {
        LoadRun {
            ok,
            failed: 0,
            first_failure: None,
            elapsed: Duration::from_millis(ms),
            latencies_ms: latencies.to_vec(),
        }
    }

    #[test]
    fn medians_over_rounds_go_under_the_handler_keys() {
        let mut r = Results::default();
        let latencies: Vec<f64> = (1..=100).map(f64::from).collect();
        record(&mut r, "lua", &[run(100, 1000, &latencies), run(300, 1000, &latencies), run(200, 1000, &latencies)]);
        assert_eq!(r.get("async.http_lua_rps"), Some(200.0));
        assert_eq!(r.get("async.http_lua_p50_ms"), Some(50.5));
        assert!((r.get("async.http_lua_p99_ms").expect("p99") - 99.01).abs() < 1e-9);
        assert_eq!(r.summaries["measurements.async.http_lua_rps"].samples, 3);
        assert_eq!(r.get("async.http_rust_rps"), None);
        let lua = [run(100, 1000, &[1.0]), run(300, 1000, &[1.0]), run(90, 1000, &[1.0])];
        let rust = [run(200, 1000, &[1.0]), run(400, 1000, &[1.0]), run(100, 1000, &[1.0])];
        record_round_ratio(&mut r, &lua, &rust);
        assert_eq!(r.get("async.http_lua_vs_rust_round_ratio"), Some(0.75));
        assert_eq!(r.summaries["measurements.async.http_lua_vs_rust_round_ratio"].max, 0.9);
        let failed = LoadRun { failed: 1, first_failure: Some((503, "stopped".into())), ..run(3, 10, &[1.0]) };
        let err = checked("/orders", failed).expect_err("a failed response fails the round");
        assert!(err.to_string().contains("1 of 4 responses were not 200 (first: 503 stopped)"), "{err}");
        assert!(checked("/orders", run(0, 10, &[])).is_err(), "no response at all");
    }
}
