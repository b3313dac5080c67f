//! `eventchains-bench`: runs the measurement suite and writes the report.
//! Normally started by `cargo xtask bench`, which builds it in release mode.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use eventchains_bench::{HarnessConfig, read_report_json, report, run_suite, write_report};

/// Run the eventchains measurement suite and write target/bench-report/{report.md,report.json,amortized.svg}.
#[derive(Parser, Debug)]
#[command(name = "eventchains-bench", version, about)]
struct Args {
    /// Short run (CI smoke test): same method, fewer and shorter samples.
    #[arg(long)]
    quick: bool,
    /// Run only the scenario with this name (see --list).
    #[arg(long, value_name = "NAME")]
    filter: Option<String>,
    /// Print the change of every figure against an earlier report.json.
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    /// Where to write the report.
    #[arg(long, value_name = "DIR", default_value = "target/bench-report")]
    out_dir: PathBuf,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Merge the `engines.<name>.*` rows of another build's report.json (repeatable;
    /// `cargo xtask bench --engines` passes one per engine).
    #[arg(long, value_name = "FILE")]
    engine_report: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut stdout = std::io::stdout().lock();
    if args.list {
        for s in eventchains_bench::scenarios::all() {
            writeln!(stdout, "{:<14} {}", s.name, s.about)?;
        }
        return Ok(());
    }
    // Read the baseline first, so a wrong path fails before minutes of measuring.
    let baseline = args.compare.as_deref().map(read_report_json).transpose()?;
    let engine_reports = args.engine_report.iter().map(|p| read_report_json(p)).collect::<Result<Vec<_>, _>>()?;
    if cfg!(debug_assertions) {
        eprintln!("eventchains-bench: WARNING: debug build, figures are not meaningful (use `cargo xtask bench`)");
    }
    let config = if args.quick { HarnessConfig::QUICK } else { HarnessConfig::FULL };
    eprintln!("eventchains-bench: {} run", if args.quick { "quick" } else { "full" });
    let mut report = run_suite(config, args.quick, args.filter.as_deref(), &mut |line: &str| eprintln!("{line}"))?;
    for (path, json) in args.engine_report.iter().zip(&engine_reports) {
        eventchains_bench::engines::merge_engine_report(&mut report.results, json)
            .with_context(|| format!("--engine-report {}", path.display()))?;
    }
    let written = write_report(&report, &args.out_dir).context("writing the report")?;
    writeln!(stdout, "{}", report.to_markdown())?;
    if let Some(before) = baseline {
        writeln!(
            stdout,
            "\n## Against {}\n",
            args.compare.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        )?;
        writeln!(stdout, "{}", report::compare(&before, &report.to_json()))?;
    }
    eprintln!(
        "eventchains-bench: wrote {}, {}, {} in {:.1} s",
        written.markdown.display(),
        written.json.display(),
        written.chart.display(),
        report.meta.duration_s
    );
    if !report.results.failed.is_empty() {
        anyhow::bail!("scenarios failed: {} (see the notes in the report)", report.results.failed.join(", "));
    }
    Ok(())
}
