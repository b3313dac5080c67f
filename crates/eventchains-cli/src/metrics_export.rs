//! `eventchains run --metrics prometheus`: a Prometheus recorder installed as
//! the process's `metrics` recorder before the chain is built, rendered after
//! each run.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::CliError;
use crate::cli::MetricsFormat;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder for `format` (once per process).
pub fn install(format: MetricsFormat) -> Result<(), CliError> {
    match format {
        MetricsFormat::Prometheus => {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|e| CliError::Args(format!("--metrics: cannot install the recorder: {e}")))?;
            eventchains_middleware::telemetry::describe();
            let _ = HANDLE.set(handle);
        }
    }
    Ok(())
}

/// The exposition text of everything recorded so far, if a recorder is installed.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}
