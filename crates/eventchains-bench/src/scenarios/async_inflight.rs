//! The `async` scenario's executions in flight: N Lua executions each
//! awaiting a 10 ms timer on one current-thread runtime, as coroutines of one
//! VM (ours) and with a pool of VMs, one per execution
//! ([`crate::inflight`]). Each measurement runs in its own process, the
//! `eventchains-bench-inflight` binary (a counting global allocator reads the
//! memory); the models and sizes are interleaved over several rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BenchError;
use crate::inflight::{InflightFigures, Model};
use crate::results::Results;
use crate::scenario::Session;
use crate::stats::Summary;

/// The helper binary (built beside the suite's binary).
const HELPER: &str = "eventchains-bench-inflight";

/// What one run of the scenario measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// (model, executions in flight), measured in this order every round.
    pub runs: Vec<(Model, usize)>,
    /// What each handler awaits, in ms.
    pub wait_ms: u64,
    /// Rounds over `runs`.
    pub rounds: usize,
}

impl Plan {
    /// The full run: 1,000 and 10,000 in flight, both models, 5 rounds; the
    /// quick run: 10,000 coroutines and a pool of 1,000, once; tests (fewer
    /// samples than the quick run): 200 coroutines and a pool of 20, 1 ms.
    pub(crate) fn for_session(s: &Session<'_>) -> Plan {
        let samples = s.harness().config().samples;
        let (coroutines, pool) = (Model::Coroutines, Model::VmPool);
        if s.quick() && samples >= crate::HarnessConfig::QUICK.samples {
            Plan { runs: vec![(coroutines, 10_000), (pool, 1_000)], wait_ms: 10, rounds: 1 }
        } else if samples < crate::HarnessConfig::QUICK.samples {
            Plan { runs: vec![(coroutines, 200), (pool, 20)], wait_ms: 1, rounds: 1 }
        } else {
            let runs = vec![(coroutines, 10_000), (pool, 10_000), (coroutines, 1_000), (pool, 1_000)];
            Plan { runs, wait_ms: 10, rounds: 5 }
        }
    }
}

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let plan = Plan::for_session(s);
    let helper = helper_path()?;
    let mut figures: Vec<Vec<InflightFigures>> = vec![Vec::new(); plan.runs.len()];
    for round in 0..plan.rounds {
        for (i, &(model, n)) in plan.runs.iter().enumerate() {
            s.step(&format!(
                "in flight, round {}/{}: {} x {n}, {} ms each",
                round + 1,
                plan.rounds,
                model.as_str(),
                plan.wait_ms
            ));
            figures[i].push(measure(&helper, model, n, plan.wait_ms)?);
        }
    }
    for runs in &figures {
        record(&mut s.results, runs);
    }
    Ok(())
}

/// The key label of `n` executions: `10k`, `1k`, or the number.
pub(crate) fn label(n: usize) -> String {
    match n {
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Records the medians (and summaries) of the runs of one model and size:
/// `async.concurrent_<label>_*` for coroutines, `async.vm_pool_<label>_*` for
/// the pool; the 10,000-coroutine run also gives the issue's
/// `async.concurrent_10k_wall_ms` and `async.bytes_per_inflight_execution`.
pub(crate) fn record(r: &mut Results, runs: &[InflightFigures]) {
    let Some(first) = runs.first() else { return };
    let prefix = match first.model {
        Model::Coroutines => format!("async.concurrent_{}", label(first.executions)),
        Model::VmPool => format!("async.vm_pool_{}", label(first.executions)),
    };
    let n = first.executions as f64;
    let mut put = |name: &str, values: Vec<f64>| {
        if let Some(summary) = Summary::of(&values) {
            r.summary(format!("measurements.{prefix}_{name}"), summary);
            r.value(format!("{prefix}_{name}"), summary.median);
        }
    };
    put("wall_ms", runs.iter().map(|f| f.wall_ms).collect());
    put("per_s", runs.iter().map(|f| n / (f.wall_ms / 1e3)).collect());
    put("bytes_per_inflight_execution", runs.iter().map(|f| f.bytes_per_inflight_execution).collect());
    if first.model == Model::VmPool {
        put("setup_ms", runs.iter().map(|f| f.setup_ms).collect());
    }
    if first.model == Model::Coroutines
        && first.executions == 10_000
        && let Some(bytes) = r.get("async.concurrent_10k_bytes_per_inflight_execution")
    {
        r.value("async.bytes_per_inflight_execution", bytes);
    }
}

/// The helper next to the running executable (the suite's binary in
/// `target/release/`, or a test in `target/<profile>/deps/`, one level below).
fn helper_path() -> Result<PathBuf, BenchError> {
    let name = format!("{HELPER}{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().map_err(|e| helper_error(e.to_string()))?;
    let dirs = exe.parent().into_iter().chain(exe.parent().and_then(Path::parent));
    dirs.map(|dir| dir.join(&name)).find(|p| p.is_file()).ok_or_else(|| {
        helper_error(format!(
            "not found beside {}; build it with `cargo build --release -p eventchains-bench --bins` (`cargo xtask bench` does)",
            exe.display()
        ))
    })
}

fn measure(helper: &Path, model: Model, n: usize, wait_ms: u64) -> Result<InflightFigures, BenchError> {
    let out = Command::new(helper)
        .args(["--model", model.as_str(), "--executions", &n.to_string(), "--wait-ms", &wait_ms.to_string()])
        .output()
        .map_err(|e| helper_error(format!("cannot start {}: {e}", helper.display())))?;
    if !out.status.success() {
        return Err(helper_error(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| helper_error(format!("unreadable output `{}`: {e}", String::from_utf8_lossy(&out.stdout).trim())))
}

fn helper_error(message: String) -> BenchError {
    BenchError::Helper { program: HELPER.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: Model, executions: usize, wall_ms: f64, bytes: f64) -> InflightFigures {
        InflightFigures { model, executions, wait_ms: 10, wall_ms, bytes_per_inflight_execution: bytes, setup_ms: 2.0 }
    }

    #[test]
    fn medians_go_under_the_model_and_size_keys() {
        let mut r = Results::default();
        record(
            &mut r,
            &[
                run(Model::Coroutines, 10_000, 400.0, 4000.0),
                run(Model::Coroutines, 10_000, 200.0, 3000.0),
                run(Model::Coroutines, 10_000, 300.0, 5000.0),
            ],
        );
        assert_eq!(r.get("async.concurrent_10k_wall_ms"), Some(300.0));
        assert_eq!(r.get("async.concurrent_10k_per_s"), Some(10_000.0 / 0.3));
        assert_eq!(r.get("async.bytes_per_inflight_execution"), Some(4000.0));
        assert_eq!(r.summaries["measurements.async.concurrent_10k_wall_ms"].max, 400.0);
        assert_eq!(r.get("async.concurrent_10k_setup_ms"), None);
        record(&mut r, &[run(Model::VmPool, 1_000, 50.0, 80_000.0)]);
        assert_eq!(r.get("async.vm_pool_1k_wall_ms"), Some(50.0));
        assert_eq!(r.get("async.vm_pool_1k_bytes_per_inflight_execution"), Some(80_000.0));
        assert_eq!(r.get("async.vm_pool_1k_setup_ms"), Some(2.0));
        assert_eq!(r.get("async.bytes_per_inflight_execution"), Some(4000.0), "only the 10k coroutines give it");
        record(&mut r, &[run(Model::Coroutines, 200, 5.0, 100.0)]);
        assert_eq!(r.get("async.concurrent_200_wall_ms"), Some(5.0));
        assert_eq!(r.get("async.bytes_per_inflight_execution"), Some(4000.0));
        record(&mut r, &[]);
        assert_eq!(
            (label(10_000), label(1_000), label(1_500), label(20)),
            ("10k".into(), "1k".into(), "1500".into(), "20".into())
        );
    }
}
