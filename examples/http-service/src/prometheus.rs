//! The process's Prometheus recorder (`GET /metrics`).

use std::sync::{Mutex, PoisonError};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::app::ServiceError;

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs a Prometheus recorder as the process's `metrics` recorder (the
/// first call; later calls return the same handle) and describes the
/// middleware's metrics. Fails if another recorder was installed first.
pub fn install_recorder() -> Result<PrometheusHandle, ServiceError> {
    let mut handle = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = handle.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let installed = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| ServiceError::Recorder(e.to_string()))?;
    eventchains_middleware::telemetry::describe();
    metrics::describe_counter!("http_service_orders_total", "Orders handled, by chain status.");
    metrics::describe_counter!("http_service_reloads_total", "Script reloads, by outcome (`ok`, `rejected`).");
    metrics::describe_gauge!("http_service_script_version", "The script version serving new orders.");
    *handle = Some(installed.clone());
    Ok(installed)
}
