//! Option 2 of the experiment: Lua configuration only. A script lists Rust
//! events by name; the names are resolved once, at build time, through an
//! [`EventRegistry`], and executions run pure Rust.

use eventchains_core::{EventChain, EventRegistry};
use mlua::{Lua, Table};

use super::native::{Append, Increment, NativeSeed};

/// The configuration script: it only picks events.
pub const CONFIG_SCRIPT: &str = r#"return { name = "seed", events = { "increment", "append" } }"#;

/// Why a configuration could not be turned into a chain.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The script failed to load or run.
    #[error("config script: {0}")]
    Lua(#[from] mlua::Error),
    /// An event name is not registered.
    #[error(transparent)]
    Registry(#[from] eventchains_core::RegistryError),
}

/// The registry of Rust events the configuration may name.
pub fn registry() -> EventRegistry {
    let mut r = EventRegistry::new();
    r.register_event("increment", Increment);
    r.register_event("append", Append);
    r
}

/// Loads `script` in a fresh VM and builds the chain it names from `registry`.
pub fn build(script: &str, registry: &EventRegistry) -> Result<EventChain, ConfigError> {
    let lua = Lua::new();
    let config: Table = lua.load(script).set_name("config").into_function()?.call(())?;
    let mut chain = EventChain::new();
    if let Some(name) = config.get::<Option<String>>("name")? {
        chain = chain.named(name);
    }
    let events: Table = config.get("events")?;
    for name in events.sequence_values::<String>() {
        chain.add_event_arc(registry.build(&name?, &eventchains_core::Value::Nil)?);
    }
    Ok(chain)
}

/// The seed chain, configured by [`CONFIG_SCRIPT`].
pub fn seed() -> Result<NativeSeed, ConfigError> {
    Ok(NativeSeed::from_chain(build(CONFIG_SCRIPT, &registry())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::SeedOutcome;

    #[test]
    fn builds_from_names_and_runs() {
        let mut s = seed().expect("builds");
        assert_eq!(s.chain().event_names().collect::<Vec<_>>(), ["increment", "append"]);
        assert_eq!(s.execute(), SeedOutcome::expected());
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = build(r#"return { events = { "incremnt" } }"#, &registry()).expect_err("fails");
        assert!(err.to_string().contains("unknown event `incremnt`"), "{err}");
    }
}
