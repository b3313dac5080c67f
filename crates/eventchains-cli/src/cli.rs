//! The command line: `eventchains run`, `check`, `schema` and `types`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Run and check Lua chain scripts.
#[derive(Debug, Parser)]
#[command(
    name = "eventchains",
    version,
    about = "Run and check eventchains Lua chain scripts",
    after_help = "Examples:\n  \
        eventchains run examples/scripts/seed.lua\n  \
        eventchains run examples/scripts/orders.lua --context '{\"order\": {\"id\": \"B-7\"}}' --format json\n  \
        eventchains run examples/scripts/seed.lua --repeat 10000 --format json --log info\n  \
        eventchains run examples/scripts/seed.lua --watch   (re-runs on every save; Ctrl-C stops)\n  \
        eventchains run examples/scripts/orders.lua --repeat 100 --metrics prometheus\n  \
        eventchains check examples/scripts/orders.lua\n  \
        eventchains schema retry       (JSON Schema of a named part's config; no name: the script format)\n  \
        eventchains types --out .types (editor definitions; see docs/editor-setup.md)\n  \
        eventchains test examples/scripts (runs the *.test.lua files; see docs/script-testing.md)\n\n\
        Exit codes: 0 the chain completed (with or without warnings), 1 it failed,\n\
        2 the script or the arguments are invalid."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log level for stderr (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log: String,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the chain and run it on the script's context (merged with --context).
    Run(RunArgs),
    /// Load and build the chain without running it; list its events and middleware (with
    /// their effective configs) and warn about `ctx` keys read but never set.
    Check {
        /// The chain script (a .lua file returning a table).
        script: PathBuf,
        /// Exit 1 when there are warnings (exit 0 otherwise).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of the script format, or of one named middleware's or event's config.
    Schema {
        /// A registered middleware or event name (e.g. `retry`); none for the whole script format.
        name: Option<String>,
    },
    /// Run Lua test files (`NAME.test.lua` next to `NAME.lua`) against their scripts.
    /// Exit 0 when every case passed, 1 when one failed, 2 when a test file is invalid.
    Test(TestArgs),
    /// Print (or write into DIR) Lua language-server definitions of the script format,
    /// the sandbox, the host functions and every named part (for editors and analyzers).
    Types {
        /// Write `eventchains.d.lua` into this directory instead of printing it.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Arguments of `eventchains run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The chain script (a .lua file returning a table).
    pub script: PathBuf,
    /// Initial context values as a JSON object; they win over the script's `context`.
    #[arg(long, value_name = "JSON", conflicts_with = "context_file")]
    pub context: Option<String>,
    /// Like --context, read from a file.
    #[arg(long, value_name = "FILE")]
    pub context_file: Option<PathBuf>,
    /// Run the chain N times, each on a fresh copy of the initial context; the last run is reported.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Development mode: run, then watch the script and run it again after every change.
    /// A script that fails to load is reported on stderr and the last good version is kept
    /// (and not re-run). Each run prints its report (one JSON line each with --format json).
    /// Runs until interrupted (Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    /// Print the metrics of the run (what the `metrics` middleware, breakers, limits and
    /// retries report) after the report: with --format text after a `metrics:` line, with
    /// --format json as the string key `metrics`.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub metrics: Option<MetricsFormat>,
}

/// How `run --metrics` prints the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    /// The Prometheus text exposition format.
    Prometheus,
}

/// Arguments of `eventchains test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files, or directories searched for `*.test.lua` (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// Run again whenever a test file or its script changes (polls every 300 ms; Ctrl-C stops).
    #[arg(long)]
    pub watch: bool,
}

/// How `test` prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// One line per case, the differences of failed cases, `N passed, M failed`.
    Text,
    /// JUnit XML on stdout (for CI systems).
    Junit,
}

/// How `run` prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON object on stdout.
    Json,
}
