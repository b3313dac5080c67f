//! [`MiddlewareRegistry`] and [`EventRegistry`]: named, configurable Rust
//! middleware and events that scripts and the CLI can refer to by name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::config_schema::ConfigSchema;
use crate::decode::{DecodeError, decode};
use crate::event::ChainableEvent;
use crate::middleware::EventMiddleware;
use crate::value::{Map, Value};

/// Why a registry could not build what was asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No factory is registered under that name.
    #[error("unknown {kind} `{name}`; registered: {}", list(.registered))]
    Unknown {
        /// `"middleware"` or `"event"`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// Every registered name, sorted.
        registered: Vec<String>,
    },
    /// The factory rejected the configuration.
    #[error("invalid config for {kind} `{name}`: {message}")]
    InvalidConfig {
        /// `"middleware"` or `"event"`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// What is wrong with the config.
        message: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
}

type Factory<T> = Arc<dyn Fn(&Value) -> Result<Arc<T>, String> + Send + Sync>;

/// A map from names to factories that build a `T` from a config [`Value`].
///
/// Use the aliases [`MiddlewareRegistry`] and [`EventRegistry`]. Registries are
/// cheap to clone (factories are shared) and `Send + Sync`, so a host can build
/// chains on any thread (for example when hot-reloading a script).
pub struct Registry<T: ?Sized> {
    kind: &'static str,
    factories: BTreeMap<String, Factory<T>>,
    /// The config schemas of the names registered with one.
    schemas: BTreeMap<String, ConfigSchema>,
}

/// Named Rust middleware, configured by a map such as `{"max_attempts": 3}`.
///
/// ```
/// use eventchains_core::{MiddlewareRegistry, FnMiddleware, Value};
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct TagConfig { tag: String }
///
/// let mut registry = MiddlewareRegistry::new();
/// registry.register("tag", |config: TagConfig| {
///     Ok::<_, std::convert::Infallible>(FnMiddleware::new("tag", move |_event, ctx, next| {
///         ctx.set("tag", config.tag.clone());
///         next.run(ctx)
///     }))
/// });
/// let config: Value = [("tag", "blue")].into_iter().collect();
/// assert!(registry.build("tag", &config).is_ok());
/// let err = registry.build("tga", &config).err().unwrap();
/// assert_eq!(err.to_string(), "unknown middleware `tga`; registered: tag");
/// let bad: Value = [("colour", "blue")].into_iter().collect();
/// assert!(registry.build("tag", &bad).err().unwrap().to_string().contains("unknown field `colour`"));
/// ```
pub type MiddlewareRegistry = Registry<dyn EventMiddleware>;

/// Named Rust events, configured by a map (often empty).
pub type EventRegistry = Registry<dyn ChainableEvent>;

impl<T: ?Sized> Registry<T> {
    fn with_kind(kind: &'static str) -> Self {
        Registry { kind, factories: BTreeMap::new(), schemas: BTreeMap::new() }
    }

    /// Registers a factory that receives the raw config; replaces an existing one.
    ///
    /// The config is [`Value::Nil`] when the script or caller gave none.
    /// A schema registered before under `name` is dropped (attach one with
    /// [`set_schema`](Self::set_schema)).
    pub fn register_raw(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn(&Value) -> Result<Arc<T>, String> + Send + Sync + 'static,
    ) -> &mut Self {
        let name = name.into();
        self.schemas.remove(&name);
        self.factories.insert(name, Arc::new(factory));
        self
    }

    /// Attaches the JSON Schema of `name`'s config (ignored if `name` is not
    /// registered). With a schema, a rejected config is explained from it (the
    /// key, the expected type, the allowed values), tools list the config's
    /// keys and defaults, and [`schema`](Self::schema) returns it.
    pub fn set_schema(&mut self, name: &str, schema: ConfigSchema) -> &mut Self {
        if self.factories.contains_key(name) {
            self.schemas.insert(name.to_owned(), schema);
        }
        self
    }

    /// The config schema of `name`, if it was registered with one.
    pub fn schema(&self, name: &str) -> Option<&ConfigSchema> {
        self.schemas.get(name)
    }

    /// Registers one shared instance, returned for every build; it takes no
    /// config (its schema is the empty table).
    pub fn register_shared(&mut self, name: impl Into<String>, instance: Arc<T>) -> &mut Self
    where
        T: Send + Sync + 'static,
    {
        let name = name.into();
        self.register_raw(name.clone(), move |config| match config {
            Value::Nil => Ok(instance.clone()),
            Value::Map(m) if m.is_empty() => Ok(instance.clone()),
            _ => Err("takes no config".to_owned()),
        });
        self.set_schema(&name, ConfigSchema::empty())
    }

    /// Builds the item registered as `name` with `config`.
    pub fn build(&self, name: &str, config: &Value) -> Result<Arc<T>, RegistryError> {
        let factory = self.factories.get(name).ok_or_else(|| RegistryError::Unknown {
            kind: self.kind,
            name: name.to_owned(),
            registered: self.names().map(str::to_owned).collect(),
        })?;
        factory(config).map_err(|message| RegistryError::InvalidConfig {
            kind: self.kind,
            name: name.to_owned(),
            // The schema explains a config that does not fit it better than
            // the decoder can; a config that fits was rejected for its values.
            message: match self.schemas.get(name).map(|s| s.check(config)) {
                Some(Err(mismatch)) => mismatch.to_string(),
                _ => message,
            },
        })
    }

    /// `true` if `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// The number of registered names.
    pub fn len(&self) -> usize {
        self.factories.len()
    }

    /// `true` if nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.factories.is_empty()
    }

    /// Copies every entry of `other` in (entries of `other` win).
    pub fn extend_from(&mut self, other: &Registry<T>) -> &mut Self {
        for (name, factory) in &other.factories {
            self.factories.insert(name.clone(), factory.clone());
            match other.schemas.get(name) {
                Some(schema) => self.schemas.insert(name.clone(), schema.clone()),
                None => self.schemas.remove(name),
            };
        }
        self
    }
}

/// Deserializes a typed config from a config value with the rules of
/// [`decode`] (integral floats read as integers, Lua's empty table reads as an
/// empty list or map, errors name the key path); `nil` reads as an empty map,
/// so every field takes its default.
pub fn decode_config<C: DeserializeOwned>(config: &Value) -> Result<C, DecodeError> {
    match config {
        Value::Nil => decode(&Value::Map(Map::default())),
        other => decode(other),
    }
}

impl Registry<dyn EventMiddleware> {
    /// An empty middleware registry.
    pub fn new() -> Self {
        Self::with_kind("middleware")
    }

    /// Registers `name`: its config is deserialized into `C` (use
    /// `#[serde(deny_unknown_fields)]` so typos are errors) and passed to `build`.
    pub fn register<C, M, E>(
        &mut self,
        name: impl Into<String>,
        build: impl Fn(C) -> Result<M, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: DeserializeOwned,
        M: EventMiddleware + 'static,
        E: fmt::Display,
    {
        self.register_raw(name, move |config| {
            let config = decode_config::<C>(config).map_err(|e| e.to_string())?;
            build(config).map(|m| Arc::new(m) as Arc<dyn EventMiddleware>).map_err(|e| e.to_string())
        })
    }

    /// Like [`register`](Self::register), and attaches `C`'s JSON Schema (see
    /// [`set_schema`](Registry::set_schema)): derive `schemars::JsonSchema`
    /// beside `Deserialize` on the config type.
    ///
    /// ```
    /// use eventchains_core::{MiddlewareRegistry, FnMiddleware, Value};
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct TagConfig { tag: String }
    ///
    /// let mut registry = MiddlewareRegistry::new();
    /// registry.register_with_schema("tag", |config: TagConfig| {
    ///     Ok::<_, std::convert::Infallible>(FnMiddleware::new("tag", move |_event, ctx, next| {
    ///         ctx.set("tag", config.tag.clone());
    ///         next.run(ctx)
    ///     }))
    /// });
    /// let bad: Value = [("tag", 7)].into_iter().collect();
    /// let err = registry.build("tag", &bad).err().unwrap().to_string();
    /// assert_eq!(err, "invalid config for middleware `tag`: `tag`: expected a string, got the integer 7");
    /// assert_eq!(registry.schema("tag").unwrap().fields()[0].name, "tag");
    /// ```
    #[cfg(feature = "schemars")]
    pub fn register_with_schema<C, M, E>(
        &mut self,
        name: impl Into<String>,
        build: impl Fn(C) -> Result<M, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: DeserializeOwned + schemars::JsonSchema,
        M: EventMiddleware + 'static,
        E: fmt::Display,
    {
        let name = name.into();
        self.register(name.clone(), build).set_schema(&name, ConfigSchema::of::<C>())
    }
}

impl Registry<dyn ChainableEvent> {
    /// An empty event registry.
    pub fn new() -> Self {
        Self::with_kind("event")
    }

    /// Registers `name`: its config is deserialized into `C` and passed to `build`.
    pub fn register<C, V, E>(
        &mut self,
        name: impl Into<String>,
        build: impl Fn(C) -> Result<V, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: DeserializeOwned,
        V: ChainableEvent + 'static,
        E: fmt::Display,
    {
        self.register_raw(name, move |config| {
            let config = decode_config::<C>(config).map_err(|e| e.to_string())?;
            build(config).map(|v| Arc::new(v) as Arc<dyn ChainableEvent>).map_err(|e| e.to_string())
        })
    }

    /// Like [`register`](Self::register), and attaches `C`'s JSON Schema (see
    /// [`set_schema`](Registry::set_schema)).
    #[cfg(feature = "schemars")]
    pub fn register_with_schema<C, V, E>(
        &mut self,
        name: impl Into<String>,
        build: impl Fn(C) -> Result<V, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: DeserializeOwned + schemars::JsonSchema,
        V: ChainableEvent + 'static,
        E: fmt::Display,
    {
        let name = name.into();
        self.register(name.clone(), build).set_schema(&name, ConfigSchema::of::<C>())
    }

    /// Registers a ready event under `name`; it takes no config.
    pub fn register_event(&mut self, name: impl Into<String>, event: impl ChainableEvent + 'static) -> &mut Self {
        self.register_shared(name, Arc::new(event))
    }
}

impl Default for Registry<dyn EventMiddleware> {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for Registry<dyn ChainableEvent> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Registry { kind: self.kind, factories: self.factories.clone(), schemas: self.schemas.clone() }
    }
}

impl<T: ?Sized> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("kind", &self.kind).field("names", &self.names().collect::<Vec<_>>()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::EventContext;
    use crate::event::FnEvent;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddConfig {
        #[serde(default = "one")]
        amount: i64,
    }
    fn one() -> i64 {
        1
    }

    fn registry() -> EventRegistry {
        let mut r = EventRegistry::new();
        r.register("add", |c: AddConfig| {
            if c.amount == 0 {
                return Err("amount must not be 0");
            }
            Ok(FnEvent::new("add", move |ctx: &mut EventContext| {
                let n: i64 = ctx.get_or("n", 0);
                ctx.set("n", n + c.amount);
                Ok(())
            }))
        });
        r.register_event("noop", FnEvent::new("noop", |_| Ok(())));
        r
    }

    #[test]
    fn builds_with_config_and_defaults() {
        let r = registry();
        let mut ctx = EventContext::new();
        r.build("add", &Value::Nil).expect("defaults").execute(&mut ctx).expect("runs");
        let five: Value = [("amount", 5)].into_iter().collect();
        r.build("add", &five).expect("config").execute(&mut ctx).expect("runs");
        assert_eq!(ctx.get::<i64>("n"), Some(6));
    }

    #[test]
    fn errors_list_names_and_explain_configs() {
        let r = registry();
        let err = r.build("ad", &Value::Nil).err().expect("unknown");
        assert_eq!(err.to_string(), "unknown event `ad`; registered: add, noop");
        let zero: Value = [("amount", 0)].into_iter().collect();
        assert_eq!(
            r.build("add", &zero).err().expect("rejected").to_string(),
            "invalid config for event `add`: amount must not be 0"
        );
        let typo: Value = [("amout", 2)].into_iter().collect();
        assert!(r.build("add", &typo).err().expect("typo").to_string().contains("unknown field `amout`"));
        let cfg: Value = [("x", 1)].into_iter().collect();
        assert_eq!(
            r.build("noop", &cfg).err().expect("no config").to_string(),
            "invalid config for event `noop`: takes no config"
        );
        assert_eq!(
            MiddlewareRegistry::new().build("x", &Value::Nil).err().expect("empty").to_string(),
            "unknown middleware `x`; registered: (none)"
        );
    }

    #[test]
    fn schemas_explain_rejected_configs_and_follow_their_names() {
        let schema = ConfigSchema::new(serde_json::json!({
            "type": "object",
            "properties": { "amount": { "type": "integer", "default": 1 } },
            "additionalProperties": false
        }));
        let mut r = registry();
        r.set_schema("add", schema.clone()).set_schema("nope", schema.clone());
        assert!(r.schema("nope").is_none(), "no schema for an unregistered name");
        let typo: Value = [("amout", 2)].into_iter().collect();
        assert_eq!(
            r.build("add", &typo).err().expect("typo").to_string(),
            "invalid config for event `add`: unknown key `amout` (did you mean `amount`?); allowed keys: amount"
        );
        let wrong: Value = [("amount", "two")].into_iter().collect();
        assert_eq!(
            r.build("add", &wrong).err().expect("type").to_string(),
            "invalid config for event `add`: `amount`: expected an integer, got the string \"two\""
        );
        // A config that fits the schema but is rejected keeps the factory's message.
        let zero: Value = [("amount", 0)].into_iter().collect();
        assert!(r.build("add", &zero).err().expect("zero").to_string().ends_with("amount must not be 0"));
        assert_eq!(r.schema("noop"), Some(&ConfigSchema::empty()), "shared instances take no config");
        let mut copy = EventRegistry::new();
        copy.extend_from(&r);
        assert_eq!(copy.schema("add"), Some(&schema));
        r.register_raw("add", |_| Err("raw".to_owned()));
        assert!(r.schema("add").is_none(), "re-registering drops the old schema");
        copy.extend_from(&r);
        assert!(copy.schema("add").is_none(), "the schema follows the factory it describes");
    }
}
