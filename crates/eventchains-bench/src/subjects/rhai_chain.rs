//! What a user might pick instead of Lua: [`rhai`], the Rust-native scripting
//! engine, running the seed chain's handlers as events of our [`EventChain`],
//! on the same [`EventContext`] (what one handler writes, the next reads, and
//! Rust reads the values afterwards).
//!
//! A rhai handler is a script function run with the context bound to `this`:
//! `fn increment() { this.counter += 1 }`. For the call, the context's values
//! move (no copy) into a registered type whose string indexer reads and writes
//! them one key at a time (rhai falls back to the indexer for `this.key`), and
//! move back afterwards. Reads convert a [`Value`] to a rhai [`Dynamic`]
//! (strings are copied, as Lua copies them); writes convert back, overwriting
//! a string in place. `this.key = ()` removes the key, as `ctx.key = nil`
//! does in Lua. The engine is built with rhai's `sync` feature, so that a
//! chain of rhai events is `Send + Sync` like every [`EventChain`].

use std::sync::Arc;

use eventchains_core::{ChainableEvent, EventChain, EventContext, EventError, EventResult, Map, Value};
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, Scope};

use super::native::NativeSeed;

/// The seed chain's two handlers in rhai.
pub const SEED_RHAI: &str = r#"
fn increment() { this.counter += 1; }
fn append() { this.message += " -> processed"; }
"#;

/// The context's values while a rhai handler runs (rhai's `this`).
#[derive(Clone, Debug, Default)]
pub struct RhaiCtx(Map);

/// Why a rhai script could not be turned into a chain.
#[derive(Debug, thiserror::Error)]
pub enum RhaiError {
    /// The script does not compile.
    #[error("rhai script: {0}")]
    Parse(#[from] rhai::ParseError),
    /// The script lacks a handler the chain names.
    #[error("rhai script has no function `{0}()`")]
    MissingHandler(String),
}

fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Nil => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Map(map) => Dynamic::from_map(map.iter().map(|(k, v)| (k.as_str().into(), to_dynamic(v))).collect()),
    }
}

fn to_value(key: &str, value: Dynamic) -> Result<Value, Box<EvalAltResult>> {
    if value.is_unit() {
        return Ok(Value::Nil);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Int(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Value::Float(f));
    }
    if value.is_string() {
        return Ok(Value::String(value.into_string().map_err(|t| format!("ctx.{key}: {t}"))?));
    }
    if value.is_array() {
        let items = value.into_array().map_err(|t| format!("ctx.{key}: {t}"))?;
        return items.into_iter().map(|v| to_value(key, v)).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if value.is_map() {
        let map = value.cast::<rhai::Map>();
        return map
            .into_iter()
            .map(|(k, v)| Ok((k.to_string(), to_value(key, v)?)))
            .collect::<Result<Map, _>>()
            .map(Value::Map);
    }
    Err(format!("ctx.{key}: a rhai {} cannot be stored in the context", value.type_name()).into())
}

/// Reads `this.key` (missing keys read as `()`, as `nil` in Lua).
fn index_get(ctx: &mut RhaiCtx, key: ImmutableString) -> Dynamic {
    ctx.0.get(key.as_str()).map_or(Dynamic::UNIT, to_dynamic)
}

/// Writes `this.key`; `()` removes the key; a string overwrites a string in place.
fn index_set(ctx: &mut RhaiCtx, key: ImmutableString, value: Dynamic) -> Result<(), Box<EvalAltResult>> {
    if value.is_string()
        && let Some(Value::String(old)) = ctx.0.get_mut(key.as_str())
    {
        let text = value.into_immutable_string().map_err(|t| format!("ctx.{key}: {t}"))?;
        old.clear();
        old.push_str(&text);
        return Ok(());
    }
    match to_value(&key, value)? {
        Value::Nil => {
            ctx.0.shift_remove(key.as_str());
        }
        value => match ctx.0.get_mut(key.as_str()) {
            Some(slot) => *slot = value,
            None => {
                ctx.0.insert(key.to_string(), value);
            }
        },
    }
    Ok(())
}

/// A rhai engine with the context type registered.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine.register_type_with_name::<RhaiCtx>("Ctx").register_indexer_get(index_get).register_indexer_set(index_set);
    engine
}

/// One rhai handler as an event of our chain.
pub struct RhaiEvent {
    name: String,
    engine: Arc<Engine>,
    ast: Arc<AST>,
}

impl ChainableEvent for RhaiEvent {
    fn name(&self) -> &str {
        &self.name
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        let mut this = Dynamic::from(RhaiCtx(std::mem::take(ctx.values_mut())));
        let options = CallFnOptions::new().eval_ast(false).bind_this_ptr(&mut this);
        let result = self.engine.call_fn_with_options::<Dynamic>(options, &mut Scope::new(), &self.ast, &self.name, ());
        match this.try_cast::<RhaiCtx>() {
            Some(RhaiCtx(values)) => *ctx.values_mut() = values,
            None => return Err(EventError::new(format!("rhai handler `{}` replaced `this`", self.name))),
        }
        result.map(drop).map_err(|e| EventError::new(format!("rhai handler `{}`: {e}", self.name)))
    }
}

impl std::fmt::Debug for RhaiEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiEvent").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Compiles `script` in a new engine and builds a chain of its functions `handlers`, in order.
pub fn build(script: &str, handlers: &[&str]) -> Result<EventChain, RhaiError> {
    let engine = Arc::new(engine());
    let ast = Arc::new(engine.compile(script)?);
    let mut chain = EventChain::new().named("seed");
    for name in handlers {
        if !ast.iter_functions().any(|f| f.name == *name && f.params.is_empty()) {
            return Err(RhaiError::MissingHandler((*name).to_owned()));
        }
        chain.add_event(RhaiEvent { name: (*name).to_owned(), engine: Arc::clone(&engine), ast: Arc::clone(&ast) });
    }
    Ok(chain)
}

/// The seed chain in rhai (`increment`, `append`), built from `script`.
pub fn seed_chain(script: &str) -> Result<EventChain, RhaiError> {
    build(script, &["increment", "append"])
}

/// The seed chain in rhai, with a reused context.
pub fn seed() -> Result<NativeSeed, RhaiError> {
    Ok(NativeSeed::from_chain(seed_chain(SEED_RHAI)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::SeedOutcome;

    #[test]
    fn does_the_seed_work_on_the_shared_context() {
        let mut s = seed().expect("builds");
        for _ in 0..3 {
            assert_eq!(s.execute(), SeedOutcome::expected());
        }
    }

    #[test]
    fn values_round_trip_and_unit_removes() {
        let chain = build(
            r#"fn f() { this.list = [1, 2.5, "x", true, #{a: ()}]; this.gone = (); this.n = this.missing; }"#,
            &["f"],
        )
        .expect("builds");
        let mut ctx = EventContext::new();
        ctx.set("gone", 1);
        let result = chain.execute(&mut ctx);
        assert!(result.is_success(), "{result:?}");
        assert!(!ctx.contains("gone") && !ctx.contains("n"));
        assert_eq!(ctx.to_json(), serde_json::json!({"list": [1, 2.5, "x", true, {"a": null}]}));
    }

    #[test]
    fn errors_name_the_handler_and_keep_the_context() {
        let chain = build(r#"fn bad() { this.x = 1; throw "nope"; }"#, &["bad"]).expect("builds");
        let mut ctx = EventContext::new();
        ctx.set("kept", 1);
        let result = chain.execute(&mut ctx);
        assert!(result.failures()[0].message().contains("rhai handler `bad`"), "{result:?}");
        assert_eq!(ctx.get::<i64>("kept"), Some(1));
        assert!(matches!(build("fn f() {}", &["g"]), Err(RhaiError::MissingHandler(n)) if n == "g"));
        assert!(matches!(build("fn (", &["f"]), Err(RhaiError::Parse(_))));
        let chain = build("fn f() { this.t = || 1; }", &["f"]).expect("builds");
        let result = chain.execute(&mut ctx);
        assert!(result.failures()[0].message().contains("cannot be stored"), "{result:?}");
    }
}
