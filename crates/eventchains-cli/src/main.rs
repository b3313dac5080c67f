//! # eventchains (CLI)
//!
//! The `eventchains` command: `run` a Lua chain script (optionally many times,
//! printing text or one JSON object) and `check` that a script loads and
//! builds. Logs go to stderr; exit codes are 0 (completed), 1 (failed) and 2
//! (invalid script or arguments). See `eventchains --help`.

#![forbid(unsafe_code)]

mod check;
mod cli;
mod ctx_scan;
mod demo;
mod describe;
mod host;
mod metrics_export;
mod report;
mod script_test;
mod watch_mode;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use eventchains_core::{ChainStatus, EventContext, Map, Value};
use eventchains_lua::{LoadError, LuaChain};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, Format, RunArgs};
pub(crate) use crate::host::builder;
use crate::report::{RunReport, Timing};

/// Why the CLI could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// The script did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An argument is invalid.
    #[error("{0}")]
    Args(String),
    /// `check` found the script invalid (the message says where and what may help).
    #[error("{0}")]
    Check(String),
    /// stdout could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let outcome = match &cli.command {
        Command::Run(args) => run(args),
        Command::Check { script, deny_warnings } => check::check(script, *deny_warnings),
        Command::Schema { name } => describe::schema(name.as_deref()),
        Command::Types { out } => describe::types(out.as_deref()),
        Command::Test(args) => script_test::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &RunArgs) -> Result<ExitCode, CliError> {
    let caller = caller_context(args)?;
    if let Some(format) = args.metrics {
        metrics_export::install(format)?;
    }
    if args.watch {
        return watch_mode::run_watch(args, &caller);
    }
    let started = Instant::now();
    let chain = builder().load_file(&args.script)?;
    let setup = started.elapsed();
    run_and_print(&chain, caller, setup, args)
}

/// Runs `chain` as `args` say on `caller`'s values and prints the report; the
/// exit code tells whether the last execution failed.
fn run_and_print(
    chain: &LuaChain,
    caller: Map,
    setup: std::time::Duration,
    args: &RunArgs,
) -> Result<ExitCode, CliError> {
    let initial = chain.context_with(caller);
    tracing::info!(chain = chain.name(), repeat = args.repeat, "running");
    let (result, ctx, per_execution) = execute(chain, &initial, args.repeat);
    let mut report = RunReport::new(
        &result,
        &ctx,
        args.repeat,
        Timing { setup_us: setup.as_secs_f64() * 1e6, per_execution_us: per_execution * 1e6 },
    );
    report.metrics = metrics_export::render();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut stdout, &report).map_err(std::io::Error::other)?;
            writeln!(stdout)?;
        }
        Format::Text => write!(stdout, "{}", report.to_text())?,
    }
    Ok(if result.status() == ChainStatus::Failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Runs the chain `repeat` times on fresh copies of `initial`; returns the
/// last result and context and the mean seconds per execution.
fn execute(
    chain: &LuaChain,
    initial: &EventContext,
    repeat: u64,
) -> (eventchains_core::ChainResult, EventContext, f64) {
    let started = Instant::now();
    let mut last = None;
    for _ in 0..repeat {
        let mut ctx = initial.clone();
        let result = chain.execute(&mut ctx);
        last = Some((result, ctx));
    }
    let per_execution = started.elapsed().as_secs_f64() / repeat as f64;
    let (result, ctx) = last.unwrap_or_else(|| {
        let mut ctx = initial.clone();
        (chain.execute(&mut ctx), ctx)
    });
    (result, ctx, per_execution)
}

fn caller_context(args: &RunArgs) -> Result<Map, CliError> {
    let text = match (&args.context, &args.context_file) {
        (Some(json), _) => json.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Args(format!("--context-file {}: {e}", path.display())))?,
        (None, None) => return Ok(Map::default()),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CliError::Args(format!("--context is not valid JSON: {e}")))?;
    match Value::from_json(json) {
        Value::Map(map) => Ok(map),
        other => Err(CliError::Args(format!("--context must be a JSON object, got {}", other.type_name()))),
    }
}
