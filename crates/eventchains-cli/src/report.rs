//! What `eventchains run` prints.

use std::fmt::Write as _;

use eventchains_core::{ChainResult, EventContext};
use serde::Serialize;

/// The result of `eventchains run`, as printed with `--format json`.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// `completed`, `completed_with_warnings` or `failed` (of the last execution).
    pub status: &'static str,
    /// The failures of the last execution.
    pub failures: Vec<FailureReport>,
    /// The context values after the last execution.
    pub context: serde_json::Value,
    /// How many times the chain ran.
    pub executions: u64,
    /// Where the time went.
    pub timing: Timing,
    /// With `--metrics prometheus`: the exposition text of the metrics recorded
    /// since the process started (all executions of this run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

/// One failure.
#[derive(Debug, Serialize)]
pub struct FailureReport {
    /// The event's name.
    pub event: String,
    /// The kind (`event`, `middleware`, `timeout`, `limit_exceeded`, `panic`, `cancelled`).
    pub kind: &'static str,
    /// The message.
    pub message: String,
}

/// Timing of a run, in microseconds.
#[derive(Debug, Serialize)]
pub struct Timing {
    /// Loading, validating and building the chain.
    pub setup_us: f64,
    /// Mean time of one execution (including copying the initial context).
    pub per_execution_us: f64,
}

impl RunReport {
    /// The report of the last execution.
    pub fn new(result: &ChainResult, ctx: &EventContext, executions: u64, timing: Timing) -> Self {
        RunReport {
            status: result.status().as_str(),
            failures: result
                .failures()
                .iter()
                .map(|f| FailureReport {
                    event: f.event().to_owned(),
                    kind: f.kind().as_str(),
                    message: f.message().to_owned(),
                })
                .collect(),
            context: ctx.to_json(),
            executions,
            timing,
            metrics: None,
        }
    }

    /// The report as human-readable text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "status: {}", self.status);
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failures:");
            for f in &self.failures {
                let _ = writeln!(out, "  - {} ({}): {}", f.event, f.kind, f.message);
            }
        }
        let context = serde_json::to_string_pretty(&self.context).unwrap_or_default();
        let _ = writeln!(out, "context: {context}");
        let _ = writeln!(
            out,
            "executions: {} (setup {:.1} us, {:.2} us per execution)",
            self.executions, self.timing.setup_us, self.timing.per_execution_us
        );
        if let Some(metrics) = &self.metrics {
            let _ = writeln!(out, "metrics:");
            out.push_str(metrics);
        }
        out
    }
}
