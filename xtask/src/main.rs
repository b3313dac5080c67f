//! `cargo xtask`: project automation for the eventchains workspace.
//!
//! - `cargo xtask ci`: what CI runs, in one command: it runs `.ci/run` (format
//!   check, clippy with `-D warnings`, every feature of the middleware crate
//!   alone, the test suite, the Lua crate on LuaJIT, `cargo xtask bench --quick`).
//! - `cargo xtask bench [--quick] [--filter NAME] [--compare FILE] [--engines all|LIST]`:
//!   the measurement suite. It builds and runs the `eventchains-bench` binary with
//!   `cargo run --release`: xtask itself is built in the dev profile (the
//!   `cargo xtask` alias is a plain `cargo run`), so linking the measured code
//!   into xtask would measure unoptimized code. The report lands in
//!   `target/bench-report/` (`report.md`, `report.json`, `amortized.svg`).
//!   With `--engines`, the suite is first built once per Lua engine (mlua links
//!   one engine per build) and each build runs the short `engine` scenario into
//!   `target/bench-report/engines/<name>/`; the main (lua54) run then merges
//!   those rows into its report (`engines.<name>.*`). The main run first
//!   builds every binary of the bench crate: the suite starts
//!   `eventchains-bench-inflight` (executions in flight behind a counting
//!   allocator, in its own process) from beside its own executable.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// Project automation for the eventchains workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run what CI runs (`.ci/run`): fmt check, clippy -D warnings, feature checks, tests, LuaJIT tests, quick bench.
    Ci,
    /// Run the measurement suite (built in release mode) and write target/bench-report/.
    Bench {
        /// Short run for CI smoke tests (< 2 minutes after the build); the same method, fewer samples.
        #[arg(long)]
        quick: bool,
        /// Run only the scenario NAME (`cargo xtask bench --list` shows them).
        #[arg(long, value_name = "NAME")]
        filter: Option<String>,
        /// Also print the change of every figure against an earlier report.json.
        #[arg(long, value_name = "FILE")]
        compare: Option<PathBuf>,
        /// List the scenarios and exit.
        #[arg(long)]
        list: bool,
        /// Also measure Lua engines: `all` or a comma-separated list of lua54, lua55, luajit, luau
        /// (one release build and a short run each, merged into the report as `engines.<name>.*`).
        #[arg(long, value_name = "all|LIST", value_parser = parse_engines)]
        engines: Option<Engines>,
    },
}

/// Every Lua engine the suite can be built with (a Cargo feature of eventchains-bench each).
const ENGINES: [&str; 4] = ["lua54", "lua55", "luajit", "luau"];

/// The engines `--engines` selected, in the suite's order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Engines(Vec<&'static str>);

fn parse_engines(text: &str) -> Result<Engines, String> {
    if text == "all" {
        return Ok(Engines(ENGINES.to_vec()));
    }
    let mut picked = Vec::new();
    for name in text.split(',').map(str::trim) {
        let known = ENGINES
            .iter()
            .find(|e| **e == name)
            .ok_or_else(|| format!("unknown engine `{name}` (known: all, {})", ENGINES.join(", ")))?;
        if !picked.contains(known) {
            picked.push(*known);
        }
    }
    picked.sort_by_key(|e| ENGINES.iter().position(|k| k == e));
    Ok(Engines(picked))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Ci => ci(),
        Cmd::Bench { quick, filter, compare, list, engines } => {
            bench(BenchArgs { quick, filter, compare, list, engines: engines.map_or_else(Vec::new, |e| e.0) })
        }
    }
}

/// Runs `cargo ARGS` from the workspace root, failing if it fails.
fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Runs `.ci/run`, so that `cargo xtask ci` and CI can never drift apart.
fn ci() -> Result<()> {
    let root = workspace_root();
    eprintln!("xtask: bash .ci/run");
    let status = Command::new("bash")
        .arg(root.join(".ci").join("run"))
        .current_dir(&root)
        .status()
        .context("could not start `bash .ci/run`")?;
    if !status.success() {
        bail!("`.ci/run` failed ({status})");
    }
    Ok(())
}

/// What `cargo xtask bench` was asked for.
struct BenchArgs {
    quick: bool,
    filter: Option<String>,
    compare: Option<PathBuf>,
    list: bool,
    engines: Vec<&'static str>,
}

/// `cargo run --release` of the suite built with `features` (the default engine for `None`).
fn suite_command(features: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--release", "--quiet", "-p", "eventchains-bench"].map(str::to_owned).into();
    if let Some(features) = features {
        args.extend(["--no-default-features".into(), "--features".into(), features.to_owned()]);
    }
    args.extend(["--bin", "eventchains-bench", "--"].map(str::to_owned));
    args
}

/// `cargo build --release` of every binary of the bench crate (the suite and
/// the helpers it starts, e.g. `eventchains-bench-inflight`).
fn helpers_build_command() -> Vec<&'static str> {
    vec!["build", "--release", "--quiet", "-p", "eventchains-bench", "--bins"]
}

fn bench(opts: BenchArgs) -> Result<()> {
    let BenchArgs { quick, filter, compare, list, engines } = opts;
    let root = workspace_root();
    let out_dir = root.join("target").join("bench-report");
    let mut args = suite_command(None);
    if !list {
        for engine in &engines {
            let dir = out_dir.join("engines").join(engine);
            let mut engine_args = suite_command(Some(engine));
            engine_args.extend(["--filter".into(), "engine".into(), "--out-dir".into(), dir.display().to_string()]);
            if quick {
                engine_args.push("--quick".into());
            }
            eprintln!("xtask: measuring the {engine} engine (its own build)");
            cargo(&engine_args.iter().map(String::as_str).collect::<Vec<_>>())?;
            args.extend(["--engine-report".into(), dir.join("report.json").display().to_string()]);
        }
    }
    if list {
        args.push("--list".into());
    } else {
        cargo(&helpers_build_command())?;
    }
    if quick {
        args.push("--quick".into());
    }
    if let Some(name) = filter {
        args.extend(["--filter".into(), name]);
    }
    if let Some(file) = compare {
        // cargo runs from the workspace root: make the path independent of it.
        let file = std::fs::canonicalize(&file).with_context(|| format!("--compare {}", file.display()))?;
        args.extend(["--compare".into(), file.display().to_string()]);
    }
    args.extend(["--out-dir".into(), out_dir.display().to_string()]);
    cargo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_in_suite_order_and_reject_unknown_names() {
        assert_eq!(parse_engines("all"), Ok(Engines(ENGINES.to_vec())));
        assert_eq!(parse_engines("luau, lua54,luau"), Ok(Engines(vec!["lua54", "luau"])));
        assert!(parse_engines("lua51").unwrap_err().contains("unknown engine `lua51`"));
        let cmd = suite_command(Some("luajit"));
        assert!(cmd.windows(2).any(|w| w == ["--features", "luajit"]), "{cmd:?}");
        assert_eq!(cmd.last().map(String::as_str), Some("--"));
        assert!(!suite_command(None).contains(&"--no-default-features".to_owned()));
        // The main run builds the helper binaries of the same (default-engine) build.
        let helpers = helpers_build_command();
        assert!(helpers.windows(2).any(|w| w == ["-p", "eventchains-bench"]) && helpers.contains(&"--bins"));
        assert!(helpers.contains(&"--release") && !helpers.contains(&"--features"), "{helpers:?}");
    }
}
