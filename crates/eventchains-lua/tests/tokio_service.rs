//! Runs the `tokio_service` example's logic: a chain used from a tokio
//! multi-threaded runtime through `spawn_blocking`, reloaded midway.

#[allow(dead_code)]
#[path = "../examples/tokio_service.rs"]
mod tokio_service;

use tokio_service::run_demo;

#[test]
fn spawn_blocking_requests_are_priced_by_one_consistent_version() {
    let (before, after) = run_demo();
    assert_eq!((before.len(), after.len()), (200, 200));
    for p in &before {
        assert_eq!((p.version, p.rule.as_str()), (1, "tax"), "{p:?}");
        assert!((p.total - p.amount as f64 * 1.2).abs() < 1e-9, "{p:?}");
    }
    for p in &after {
        assert_eq!((p.version, p.rule.as_str()), (2, "tax+discount"), "{p:?}");
        let expected = p.amount as f64 * 1.2 - if p.amount >= 100 { 10.0 } else { 0.0 };
        assert!((p.total - expected).abs() < 1e-9, "{p:?}");
    }
}
