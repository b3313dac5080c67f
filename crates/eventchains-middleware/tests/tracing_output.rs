//! Logging and timing, observed through a capturing `tracing` layer.

mod common;

use std::time::Duration;

use common::Capture;
use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent};
use eventchains_middleware::{LogLevel, Logging, LoggingConfig, ManualClock, Timing, TimingConfig};
use tracing::Level;

#[test]
fn logging_opens_one_span_per_execution_with_outcome_and_duration() {
    let capture = Capture::default();
    let chain = EventChain::new()
        .named("checkout")
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(Logging::new(LoggingConfig::default().level(LogLevel::Debug).failure_level(LogLevel::Error)))
        .event(FnEvent::new("reserve", |_| {
            tracing::info!("inside reserve");
            Ok(())
        }))
        .event(FnEvent::new("charge", |_| Err(EventError::new("card declined"))));
    capture.run(|| chain.execute(&mut EventContext::new()));
    let records = capture.records();

    let spans: Vec<_> = records.iter().filter(|r| r.is_span).collect();
    assert_eq!(spans.len(), 2, "{records:#?}");
    assert!(spans.iter().all(|s| s.name == "event" && s.level == Level::DEBUG));
    assert_eq!(spans[0].field("event"), Some("reserve"));
    assert_eq!(spans[0].field("outcome"), Some("success"));
    assert!(spans[0].field("duration_us").is_some_and(|d| d.parse::<u64>().is_ok()));
    assert_eq!(spans[0].field("error_kind"), None);
    assert_eq!(spans[1].field("event"), Some("charge"));
    assert_eq!(spans[1].field("outcome"), Some("failure"));
    assert_eq!(spans[1].field("error_kind"), Some("event"));
    // Fields that tracing-opentelemetry maps onto OpenTelemetry spans.
    assert_eq!(spans[0].field("otel.status_code"), Some("ok"));
    assert_eq!(spans[0].field("otel.name"), Some("reserve"));
    assert_eq!(spans[0].field("error.type"), None);
    assert_eq!(spans[1].field("otel.status_code"), Some("error"));
    assert_eq!(spans[1].field("error.type"), Some("event"));
    assert_eq!(spans[1].field("otel.status_description"), Some("event: card declined"));
    assert!(spans.iter().all(|s| s.field("chain") == Some("checkout")), "{spans:#?}");

    let inner = records.iter().find(|r| r.field("message") == Some("inside reserve")).expect("event's own log");
    assert_eq!(inner.parent.as_deref(), Some("event"), "the event's logs are inside its span");

    let failed = records.iter().find(|r| r.field("message") == Some("event failed")).expect("failure logged");
    assert_eq!(failed.level, Level::ERROR);
    assert_eq!(failed.field("error"), Some("event: card declined"));
    assert_eq!(failed.field("event"), Some("charge"));
    let ok = records.iter().find(|r| r.field("message") == Some("event succeeded")).expect("success logged");
    assert_eq!(ok.level, Level::DEBUG);
}

#[test]
fn timing_warns_about_slow_events_only() {
    let capture = Capture::default();
    let clock = ManualClock::new();
    let c = clock.clone();
    let chain = EventChain::new()
        .middleware(Timing::new(TimingConfig::default().slow_ms(Some(100))).with_clock(clock.shared()))
        .event(FnEvent::new("quick", |_| Ok(())))
        .event(FnEvent::new("sluggish", move |_| {
            c.advance(Duration::from_millis(250));
            Ok(())
        }));
    capture.run(|| chain.execute(&mut EventContext::new()));
    let warnings: Vec<_> = capture.records().into_iter().filter(|r| r.level == Level::WARN).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].field("event"), Some("sluggish"));
    assert_eq!(warnings[0].field("duration_us"), Some("250000"));
    assert_eq!(warnings[0].field("slow_ms"), Some("100"));
}
