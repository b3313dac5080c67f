//! The `async` scenario's http load: examples/http-service on 127.0.0.1, its
//! `POST /orders` (the Lua chain) against `POST /orders-rust` (the same
//! pipeline hand-written in async Rust), driven by [`crate::http_load`] in the
//! same process: interleaved rounds (Lua then Rust, then Rust then Lua, ...),
//! requests per second and p50/p99 latency per round, medians over the
//! rounds. Two ways of serving, each measured with both handlers:
//!
//! - [`Serving::LuaThreads`] (`async.http_*`): `serve_on_lua_threads`, an
//!   acceptor handing each connection round-robin to one of 2 Lua threads,
//!   which serves it and runs its Lua executions itself (the OpenResty model;
//!   each round's log line says how many connections and requests each
//!   thread served);
//! - [`Serving::Handoff`] (`async.http_handoff_*`): `axum::serve` on a
//!   2-thread runtime handing each Lua execution to one of 2 Lua worker
//!   threads (a channel there, a oneshot back); the Rust handler runs on the
//!   server's threads.
//!
//! The load generator (1 thread) shares the machine's cores with the server.

use std::sync::Arc;
use std::time::Duration;

use http_service::{AppState, Inventory, ServiceConfig, ThreadLoad, router, serve_on_lua_threads};
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

/// How the service is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serving {
    /// `serve_on_lua_threads`: no hand-off; keys `async.http_*`.
    LuaThreads,
    /// `axum::serve` + the Lua workers; keys `async.http_handoff_*`.
    Handoff,
}

impl Serving {
    /// The key prefix after `async.`.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Serving::LuaThreads => "http",
            Serving::Handoff => "http_handoff",
        }
    }
}

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
    let mut measured = Ok(());
    for serving in [Serving::LuaThreads, Serving::Handoff] {
        measured = serve_and_load(s, &plan, script.clone(), serving).map(|runs| {
            for ((name, _), runs) in HANDLERS.iter().zip(&runs) {
                record(&mut s.results, serving.prefix(), name, runs);
            }
            record_round_ratio(&mut s.results, serving.prefix(), &runs[0], &runs[1]);
        });
        if measured.is_err() {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

fn runtime_error(e: std::io::Error) -> BenchError {
    BenchError::Http(format!("cannot start a runtime: {e}"))
}

/// Starts the service, sends the load, stops the service; the runs per handler, in [`HANDLERS`] order.
fn serve_and_load(
    s: &mut Session<'_>,
    plan: &Plan,
    script: std::path::PathBuf,
    serving: Serving,
) -> Result<Vec<Vec<LoadRun>>, BenchError> {
    let stock = [("tea", i64::MAX / 2), ("cake", i64::MAX / 2)].map(|(sku, n)| (sku.to_owned(), n));
    let inventory = Inventory::new(stock, INVENTORY_DELAY);
    let workers = if serving == Serving::Handoff { 2 } else { 0 };
    let state = AppState::new(ServiceConfig { script, workers, inventory })
        .map_err(|e| BenchError::Http(format!("cannot start the service: {e}")))?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BenchError::Http(format!("cannot bind 127.0.0.1: {e}")))?;
    let addr = listener.local_addr().map_err(|e| BenchError::Http(e.to_string()))?;
    let server = match serving {
        Serving::LuaThreads => Server::LuaThreads(
            serve_on_lua_threads(router(state), listener, 2)
                .map_err(|e| BenchError::Http(format!("cannot start the server threads: {e}")))?,
        ),
        Serving::Handoff => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("http-server")
                .enable_all()
                .build()
                .map_err(runtime_error)?;
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| {
                    let _entered = runtime.enter();
                    tokio::net::TcpListener::from_std(listener)
                })
                .map_err(|e| BenchError::Http(format!("listener: {e}")))?;
            runtime.spawn(async move { axum::serve(listener, router(Arc::clone(&state))).await });
            Server::Handoff(runtime)
        }
    };
    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(runtime_error)?;
    let body = Bytes::from_static(ORDER.as_bytes());
    let one = |path: &str, load_config: LoadConfig| client.block_on(load(addr, path, body.clone(), 200, load_config));
    let result = (|| {
        if plan.warmup > 0 {
            s.step(&format!("{} warm-up: {} requests per handler", serving.prefix(), plan.warmup));
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
                let before = server.load_per_thread();
                let run = checked(path, one(path, plan.load)?)?;
                s.step(&format!(
                    "{} round {}/{}: {name} {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms ({} connections, {} requests{})",
                    serving.prefix(),
                    round + 1,
                    plan.rounds,
                    run.requests_per_s(),
                    run.latency_ms(50.0),
                    run.latency_ms(99.0),
                    plan.load.connections,
                    run.ok,
                    thread_split(&before, &server.load_per_thread()),
                ));
                runs[i].push(run);
            }
        }
        Ok(runs)
    })();
    drop(client);
    match server {
        Server::LuaThreads(threads) => drop(threads),
        Server::Handoff(runtime) => runtime.shutdown_timeout(Duration::from_secs(10)),
    }
    result
}

/// What serves the service during one measurement.
enum Server {
    LuaThreads(http_service::LuaThreadServer),
    Handoff(tokio::runtime::Runtime),
}

impl Server {
    /// Per thread of the Lua-thread server, what it served so far (empty for the hand-off).
    fn load_per_thread(&self) -> Vec<ThreadLoad> {
        match self {
            Server::LuaThreads(threads) => threads.load_per_thread(),
            Server::Handoff(_) => Vec::new(),
        }
    }
}

/// `", per thread: 32+32 connections, 2000+2000 requests"` between two
/// readings of the Lua-thread server's counters (empty for the hand-off).
fn thread_split(before: &[ThreadLoad], after: &[ThreadLoad]) -> String {
    if after.is_empty() {
        return String::new();
    }
    let joined = |field: fn(&ThreadLoad) -> usize| {
        let deltas: Vec<String> = before.iter().zip(after).map(|(b, a)| (field(a) - field(b)).to_string()).collect();
        deltas.join("+")
    };
    format!(", per thread: {} connections, {} requests", joined(|t| t.connections), joined(|t| t.requests))
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
/// `async.<prefix>_<name>_rps`, `_p50_ms`, `_p99_ms` (prefix `http` or `http_handoff`).
pub(crate) fn record(r: &mut Results, prefix: &str, name: &str, runs: &[LoadRun]) {
    let figures: [(&str, Figure); 3] = [
        ("rps", LoadRun::requests_per_s),
        ("p50_ms", |run| run.latency_ms(50.0)),
        ("p99_ms", |run| run.latency_ms(99.0)),
    ];
    for (figure, of) in figures {
        if let Some(summary) = Summary::of(&runs.iter().map(of).collect::<Vec<_>>()) {
            r.summary(format!("measurements.async.{prefix}_{name}_{figure}"), summary);
            r.value(format!("async.{prefix}_{name}_{figure}"), summary.median);
        }
    }
}

/// The Lua / Rust throughput ratio of each round (the two handlers ran back
/// to back, so a load burst on the machine hits a pair more evenly than the
/// whole run): `async.<prefix>_lua_vs_rust_round_ratio`, the median over rounds.
pub(crate) fn record_round_ratio(r: &mut Results, prefix: &str, lua: &[LoadRun], rust: &[LoadRun]) {
    let ratios: Vec<f64> = lua.iter().zip(rust).map(|(l, r)| l.requests_per_s() / r.requests_per_s()).collect();
    if let Some(summary) = Summary::of(&ratios) {
        r.summary(format!("measurements.async.{prefix}_lua_vs_rust_round_ratio"), summary);
        r.value(format!("async.{prefix}_lua_vs_rust_round_ratio"), summary.median);
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
        record(
            &mut r,
            "http",
            "lua",
            &[run(100, 1000, &latencies), run(300, 1000, &latencies), run(200, 1000, &latencies)],
        );
        assert_eq!(r.get("async.http_lua_rps"), Some(200.0));
        assert_eq!(r.get("async.http_lua_p50_ms"), Some(50.5));
        assert!((r.get("async.http_lua_p99_ms").expect("p99") - 99.01).abs() < 1e-9);
        assert_eq!(r.summaries["measurements.async.http_lua_rps"].samples, 3);
        assert_eq!(r.get("async.http_rust_rps"), None);
        let lua = [run(100, 1000, &[1.0]), run(300, 1000, &[1.0]), run(90, 1000, &[1.0])];
        let rust = [run(200, 1000, &[1.0]), run(400, 1000, &[1.0]), run(100, 1000, &[1.0])];
        record_round_ratio(&mut r, "http", &lua, &rust);
        record(&mut r, "http_handoff", "rust", &rust);
        assert_eq!(r.get("async.http_handoff_rust_rps"), Some(200.0));
        assert_eq!(r.get("async.http_lua_vs_rust_round_ratio"), Some(0.75));
        assert_eq!(r.summaries["measurements.async.http_lua_vs_rust_round_ratio"].max, 0.9);
        let failed = LoadRun { failed: 1, first_failure: Some((503, "stopped".into())), ..run(3, 10, &[1.0]) };
        let err = checked("/orders", failed).expect_err("a failed response fails the round");
        assert!(err.to_string().contains("1 of 4 responses were not 200 (first: 503 stopped)"), "{err}");
        assert!(checked("/orders", run(0, 10, &[])).is_err(), "no response at all");
    }

    #[test]
    fn the_step_line_names_what_each_lua_thread_served_in_the_round() {
        let load = |connections, requests| ThreadLoad { connections, requests };
        let split = thread_split(&[load(1, 10), load(2, 20)], &[load(33, 2010), load(34, 2010)]);
        assert_eq!(split, ", per thread: 32+32 connections, 2000+1990 requests");
        assert_eq!(thread_split(&[], &[]), "", "nothing for the hand-off");
    }
}
