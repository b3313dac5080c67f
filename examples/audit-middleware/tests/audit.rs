//! The example crate used the way a host would: through the core registry.

use audit_middleware::{AuditEntry, AuditLog};
use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, MiddlewareRegistry, Value};

#[test]
fn registry_built_audit_records_failures_with_the_actor() {
    let mut registry = MiddlewareRegistry::new();
    let log = AuditLog::new();
    audit_middleware::register(&mut registry, &log);
    let config: Value =
        [("actor_key", Value::from("account")), ("successes", Value::Bool(false))].into_iter().collect();
    let chain = EventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware_arc(registry.build("audit", &config).expect("builds"))
        .event(FnEvent::new("validate", |_| Ok(())))
        .event(FnEvent::new("charge", |_| Err(EventError::timeout("gateway slow"))));
    let mut ctx = EventContext::new();
    ctx.set("account", "acme");
    chain.execute(&mut ctx);
    assert_eq!(
        log.entries(),
        [AuditEntry {
            event: "charge".into(),
            actor: Some("acme".into()),
            kind: Some("timeout"),
            error: Some("gateway slow".into()),
        }]
    );
    let typo: Value = [("actor", "x")].into_iter().collect();
    assert!(registry.build("audit", &typo).is_err());
    assert!(registry.build("audit", &Value::Nil).is_ok());
}
