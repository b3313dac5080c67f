//! What the CLI offers scripts: registries and host functions.

use eventchains_core::{EventRegistry, MiddlewareRegistry};
use eventchains_lua::LuaChainBuilder;

use crate::demo;

/// The named Rust middleware and events scripts run by the CLI can use.
pub fn host_registries() -> (MiddlewareRegistry, EventRegistry) {
    let mut middleware = MiddlewareRegistry::new();
    eventchains_middleware::register_all(&mut middleware);
    let mut events = EventRegistry::new();
    demo::register_demo_events(&mut events);
    (middleware, events)
}

/// The builder of every command: the registries and the demo host function
/// `lookup_price`.
pub fn builder() -> LuaChainBuilder {
    let (middleware, events) = host_registries();
    builder_with(middleware, events)
}

/// The builder with these registries (a test replaces some of their entries)
/// and the host functions.
pub fn builder_with(middleware: MiddlewareRegistry, events: EventRegistry) -> LuaChainBuilder {
    LuaChainBuilder::new()
        .middleware_registry(middleware)
        .event_registry(events)
        .register_fn("lookup_price", demo::lookup_price)
        .document_fn("lookup_price", "The price of a product of the demo catalogue, nil for an unknown SKU.", &["sku"])
}
