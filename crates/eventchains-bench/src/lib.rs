//! # eventchains-bench
//!
//! The eventchains measurement suite behind `cargo xtask bench`: it re-runs
//! every measurement of the original "Lua + EventChains merged approach"
//! experiment with a sound method, beside the reference crate `event_chains`
//! 0.2.1 and the physical floor (a minimal hand-written mlua program), and
//! writes what the Lua layer really costs as Markdown, JSON and an SVG chart.
//!
//! - [`subjects`]: every way of running the experiment's seed chain;
//! - [`harness`]: warm-up, calibrated batches, interleaved variants;
//! - [`stats`]: median, percentiles, break-even and amortized cost;
//! - [`scenarios`]: the list of named measurements (`--filter NAME`);
//! - [`report`]: the report model and its writers, and `--compare`;
//! - [`http_load`]: the HTTP load generator of the `async` scenario;
//! - [`inflight`]: executions in flight and their memory (run by the
//!   `eventchains-bench-inflight` binary).
//!
//! ```
//! use eventchains_bench::{HarnessConfig, run_suite};
//! let report = run_suite(HarnessConfig::TINY, true, Some("limits"), &mut |_line: &str| {}).unwrap();
//! let json = report.to_json();
//! assert!(json["limits"]["raw_mlua_on_ns"]["median"].is_number());
//! assert!(json["per_execution"]["native_ns"]["median"].is_null()); // filtered out
//! ```

#![forbid(unsafe_code)]

pub mod engines;
pub mod error;
pub mod harness;
pub mod http_load;
pub mod inflight;
pub mod report;
pub mod results;
pub mod scenario;
pub mod scenarios;
pub mod stats;
pub mod subjects;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use error::BenchError;
pub use harness::{Harness, HarnessConfig, Variant};
pub use report::{Meta, Report};
pub use results::Results;
pub use scenario::{Scenario, Session};
pub use stats::Summary;

/// Runs the scenarios `filter` selects (all for `None`) and builds the report.
/// `progress` receives one line per step (the binary prints them on stderr).
pub fn run_suite(
    config: HarnessConfig,
    quick: bool,
    filter: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, BenchError> {
    let scenarios = scenarios::select(filter)?;
    let mut meta = Meta::detect(config, quick, filter);
    let start = Instant::now();
    let mut session = Session::new(config, quick, progress);
    session.run_all(&scenarios);
    meta.duration_s = start.elapsed().as_secs_f64();
    meta.load_end = report::load_average();
    Ok(Report::new(meta, session.into_results()))
}

/// The files [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.json`.
    pub json: PathBuf,
    /// `amortized.svg`.
    pub chart: PathBuf,
}

/// Writes `report.md`, `report.json` and `amortized.svg` into `dir` (created if needed).
pub fn write_report(report: &Report, dir: &Path) -> Result<Written, BenchError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BenchError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let written =
        Written { markdown: dir.join("report.md"), json: dir.join("report.json"), chart: dir.join("amortized.svg") };
    std::fs::write(&written.markdown, report.to_markdown()).map_err(io(&written.markdown))?;
    let json = serde_json::to_string_pretty(&report.to_json())
        .map_err(|source| BenchError::Json { path: written.json.display().to_string(), source })?;
    std::fs::write(&written.json, json + "\n").map_err(io(&written.json))?;
    report::write_chart(report, &written.chart)?;
    Ok(written)
}

/// Reads an earlier `report.json`.
pub fn read_report_json(path: &Path) -> Result<serde_json::Value, BenchError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| BenchError::Io { path: path.display().to_string(), source })?;
    serde_json::from_str(&text).map_err(|source| BenchError::Json { path: path.display().to_string(), source })
}

/// The README's quick starts (Rust chain; Lua + Rust + named middleware),
/// compiled and run as doctests here, the crate that sees every layer.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The Rust examples of `docs/lua-scripts.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/lua-scripts.md")]
struct LuaScriptsDoctests;

/// The Rust examples of `docs/async.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/async.md")]
struct AsyncDoctests;

/// The Rust examples of `docs/middleware.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/middleware.md")]
struct MiddlewareDoctests;
