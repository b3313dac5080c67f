//! `cargo xtask`: project automation for the eventchains workspace.
//!
//! - `cargo xtask ci`: what CI runs, in one command: it runs `.ci/run` (format
//!   check, clippy with `-D warnings`, every feature of the middleware crate
//!   alone, the test suite, the Lua crate on LuaJIT, `cargo xtask bench --quick`).
//! - `cargo xtask bench [--quick] [--filter NAME] [--compare FILE]`: the
//!   measurement suite. It builds and runs the `eventchains-bench` binary with
//!   `cargo run --release`: xtask itself is built in the dev profile (the
//!   `cargo xtask` alias is a plain `cargo run`), so linking the measured code
//!   into xtask would measure unoptimized code. The report lands in
//!   `target/bench-report/` (`report.md`, `report.json`, `amortized.svg`).

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
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Ci => ci(),
        Cmd::Bench { quick, filter, compare, list } => bench(quick, filter, compare, list),
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

fn bench(quick: bool, filter: Option<String>, compare: Option<PathBuf>, list: bool) -> Result<()> {
    let root = workspace_root();
    let out_dir = root.join("target").join("bench-report");
    let mut args: Vec<String> =
        ["run", "--release", "--quiet", "-p", "eventchains-bench", "--bin", "eventchains-bench", "--"]
            .map(str::to_owned)
            .into();
    if list {
        args.push("--list".into());
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
