//! The registries the CLI offers scripts.

use eventchains_core::{EventRegistry, MiddlewareRegistry};

use crate::demo;

/// The named Rust middleware and events scripts run by the CLI can use.
pub fn host_registries() -> (MiddlewareRegistry, EventRegistry) {
    let mut middleware = MiddlewareRegistry::new();
    // eventchains-middleware registers here once merged:
    // eventchains_middleware::register_all(&mut middleware);
    demo::register_fallback_middleware(&mut middleware);
    let mut events = EventRegistry::new();
    demo::register_demo_events(&mut events);
    (middleware, events)
}
