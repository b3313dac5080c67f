//! # audit-middleware
//!
//! An example of a **third-party middleware crate**: it depends on
//! `eventchains-core` only, implements [`EventMiddleware`], and offers a
//! `register` function so that hosts can make it available to Lua scripts
//! and the CLI by name, next to `eventchains-middleware`'s own.
//!
//! The middleware appends one [`AuditEntry`] per event execution (event name,
//! outcome, error kind and message, and a configurable actor read from the
//! context) to an [`AuditLog`] that the host keeps a handle to.
//!
//! ```
//! use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent};
//! use audit_middleware::{Audit, AuditConfig, AuditLog};
//!
//! let log = AuditLog::new();
//! let chain = EventChain::new()
//!     .fault_tolerance(FaultToleranceMode::Lenient)
//!     .middleware(Audit::new(AuditConfig::default(), log.clone()))
//!     .event(FnEvent::new("approve", |_| Ok(())))
//!     .event(FnEvent::new("pay", |_| Err(EventError::new("insufficient funds"))));
//! let mut ctx = EventContext::new();
//! ctx.set("user", "ada");
//! chain.execute(&mut ctx);
//!
//! let entries = log.entries();
//! assert_eq!(entries.len(), 2);
//! assert_eq!(entries[0].actor.as_deref(), Some("ada"));
//! assert_eq!(entries[1].error.as_deref(), Some("insufficient funds"));
//! ```

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, PoisonError};

use eventchains_core::{ChainableEvent, EventContext, EventMiddleware, EventResult, MiddlewareRegistry, Next};
use serde::Deserialize;

/// Config of [`Audit`], as a script writes it: `{ "audit", actor_key = "user" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The context key naming who runs the chain (default `"user"`).
    pub actor_key: String,
    /// Record successes too, not only failures (default `true`).
    pub successes: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { actor_key: "user".to_owned(), successes: true }
    }
}

/// One audited execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The event's name.
    pub event: String,
    /// The actor found in the context, if any.
    pub actor: Option<String>,
    /// `None` for a success, else the error kind (`"event"`, `"timeout"`, ...).
    pub kind: Option<&'static str>,
    /// The error message of a failure.
    pub error: Option<String>,
}

/// The audit trail: cloneable, shared between the host and the middleware.
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    entries: Arc<Mutex<Vec<AuditEntry>>>,
}

impl AuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the entries so far.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn push(&self, entry: AuditEntry) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    }
}

/// The audit middleware. Put it outermost to see every failure, including
/// those of other middleware (an open breaker, a rate limit).
#[derive(Clone, Debug)]
pub struct Audit {
    config: AuditConfig,
    log: AuditLog,
}

impl Audit {
    /// An audit middleware writing to `log`.
    pub fn new(config: AuditConfig, log: AuditLog) -> Self {
        Audit { config, log }
    }
}

impl EventMiddleware for Audit {
    fn name(&self) -> &str {
        "audit"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let result = next.run(ctx);
        if result.is_err() || self.config.successes {
            self.log.push(AuditEntry {
                event: event.name().to_owned(),
                actor: ctx.get::<&str>(&self.config.actor_key).map(str::to_owned),
                kind: result.as_ref().err().map(|e| e.kind().as_str()),
                error: result.as_ref().err().map(|e| e.message().to_owned()),
            });
        }
        result
    }
}

/// Registers `audit` in `registry`; every middleware it builds writes to `log`.
///
/// ```
/// use eventchains_core::{MiddlewareRegistry, Value};
/// let mut registry = MiddlewareRegistry::new();
/// let log = audit_middleware::AuditLog::new();
/// audit_middleware::register(&mut registry, &log);
/// let config: Value = [("actor_key", "account")].into_iter().collect();
/// assert!(registry.build("audit", &config).is_ok());
/// ```
pub fn register(registry: &mut MiddlewareRegistry, log: &AuditLog) {
    let log = log.clone();
    registry.register("audit", move |config: AuditConfig| {
        Ok::<_, std::convert::Infallible>(Audit::new(config, log.clone()))
    });
}
