//! The report: its model ([`Report`]), the figures derived from the
//! measurements, and its writers (JSON, Markdown, SVG chart, `--compare`).

mod chart;
mod compare;
mod derive;
mod json;
mod machine;
mod markdown;
mod table;

use serde::{Deserialize, Serialize};

pub use chart::write_chart;
pub use compare::{compare, flatten_numbers};
pub use derive::{AMORTIZED_EXECUTIONS, AmortizedPoint, Target, amortized, targets};
pub use json::{REQUIRED_KEYS, REQUIRED_NUMBERS, lookup};
pub use machine::{Machine, commit, engine, load_average, profile};
pub use table::{Table, num, ratio, spread};

use crate::harness::HarnessConfig;
use crate::results::Results;

/// How a run was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The machine.
    pub machine: Machine,
    /// The Lua engine and version.
    pub engine: String,
    /// The git commit measured.
    pub commit: String,
    /// The build profile (`release` for real figures).
    pub profile: String,
    /// `quick` or `full`.
    pub mode: String,
    /// The `--filter` in effect, if any.
    pub filter: Option<String>,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix_s: u64,
    /// Wall time of the run, in seconds.
    pub duration_s: f64,
    /// Harness settings: warm-up per variant, samples, target sample duration.
    pub warmup_ms: f64,
    /// Samples per variant.
    pub samples: usize,
    /// Target duration of one sample, in µs.
    pub sample_target_us: f64,
    /// 1-minute load average when the run started (other processes compete for the cores).
    pub load_start: Option<f64>,
    /// 1-minute load average when the run ended.
    pub load_end: Option<f64>,
}

impl Meta {
    /// Meta for a run on this machine with `config`.
    pub fn detect(config: HarnessConfig, quick: bool, filter: Option<&str>) -> Meta {
        Meta {
            machine: Machine::detect(),
            engine: engine(),
            commit: commit(),
            profile: profile().to_owned(),
            mode: if quick { "quick" } else { "full" }.to_owned(),
            filter: filter.map(str::to_owned),
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            duration_s: 0.0,
            warmup_ms: config.warmup.as_secs_f64() * 1e3,
            samples: config.samples,
            sample_target_us: config.sample_target.as_secs_f64() * 1e6,
            load_start: machine::load_average(),
            load_end: None,
        }
    }
}

/// A finished run: how it was made and what it measured (derived figures included).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// How the run was made.
    pub meta: Meta,
    /// Every figure, measured and derived.
    pub results: Results,
    /// Amortized cost per execution at several execution counts.
    pub amortized: Vec<AmortizedPoint>,
    /// The project's targets, met or missed.
    pub targets: Vec<Target>,
}

impl Report {
    /// Derives the computed figures (ratios, break-even, amortized cost, targets) from `results`.
    pub fn new(meta: Meta, mut results: Results) -> Report {
        derive::derive(&mut results);
        let amortized = amortized(&results);
        let targets = targets(&results);
        Report { meta, results, amortized, targets }
    }

    /// The report as JSON: every required key present (a number, or `null`
    /// listed in `missing` with the reason).
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(self)
    }

    /// The report as Markdown (the same tables the terminal shows).
    pub fn to_markdown(&self) -> String {
        markdown::to_markdown(self)
    }
}
