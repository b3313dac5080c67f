//! Exports the `logging` middleware's spans as OpenTelemetry spans, with
//! `tracing-opentelemetry`, to an in-process exporter (no network): every
//! event execution becomes a span named after the event, with the chain, the
//! event, the outcome and the error kind as attributes and an OpenTelemetry
//! status. `tests/opentelemetry.rs` runs [`export_spans`] and checks it.
//!
//! `cargo run -p eventchains-middleware --example opentelemetry`
//!
//! In an application, put a real exporter (OTLP, ...) where the in-memory one is.

use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent};
use eventchains_middleware::{Logging, LoggingConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// Runs a lenient chain `{reserve, charge}` (charge fails) under `logging`,
/// with a `tracing-opentelemetry` layer exporting to memory; returns the
/// exported spans.
pub fn export_spans() -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("eventchains")));
    let chain = EventChain::new()
        .named("checkout")
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(Logging::new(LoggingConfig::default()))
        .event(FnEvent::new("reserve", |_| Ok(())))
        .event(FnEvent::new("charge", |_| Err(EventError::new("card declined"))));
    tracing::subscriber::with_default(subscriber, || {
        chain.execute(&mut EventContext::new());
    });
    provider.force_flush().expect("the in-memory exporter flushes");
    exporter.get_finished_spans().expect("the in-memory exporter has the spans")
}

fn main() {
    for span in export_spans() {
        let attributes: Vec<String> = span.attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        eprintln!("{} {:?} [{}]", span.name, span.status, attributes.join(", "));
    }
}
