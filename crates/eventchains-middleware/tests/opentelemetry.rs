//! The `opentelemetry` example: `logging`'s spans reach an OpenTelemetry
//! exporter with their name, attributes and status.

#[path = "../examples/opentelemetry.rs"]
#[allow(dead_code)] // the example's `main` is not called here
mod example;

use opentelemetry::Value;
use opentelemetry::trace::Status;

fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
}

#[test]
fn logging_spans_export_as_opentelemetry_spans_with_status_and_attributes() {
    let spans = example::export_spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["reserve", "charge"]);
    let (reserve, charge) = (&spans[0], &spans[1]);

    assert_eq!(reserve.status, Status::Ok);
    assert_eq!(attribute(reserve, "chain"), Some(Value::from("checkout")));
    assert_eq!(attribute(reserve, "event"), Some(Value::from("reserve")));
    assert_eq!(attribute(reserve, "outcome"), Some(Value::from("success")));
    assert_eq!(attribute(reserve, "error.type"), None);

    assert_eq!(charge.status, Status::error("event: card declined"));
    assert_eq!(attribute(charge, "outcome"), Some(Value::from("failure")));
    assert_eq!(attribute(charge, "error.type"), Some(Value::from("event")));
    assert_eq!(attribute(charge, "error_kind"), Some(Value::from("event")));
    assert!(attribute(charge, "duration_us").is_some());
}
