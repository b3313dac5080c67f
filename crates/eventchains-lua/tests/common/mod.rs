//! Helpers shared by the integration tests.
#![allow(dead_code)]

use eventchains_core::{
    ChainResult, EventContext, EventError, EventRegistry, FnEvent, FnMiddleware, MiddlewareRegistry, Value,
};
use eventchains_lua::{LoadError, LuaChain, LuaChainBuilder};

/// Appends `entry` to the `log` array of the context.
pub fn log(ctx: &mut EventContext, entry: impl Into<String>) {
    let entry = Value::String(entry.into());
    match ctx.value_mut("log").and_then(Value::as_array_mut) {
        Some(items) => items.push(entry),
        None => {
            ctx.set("log", vec![entry]);
        }
    }
}

/// The `log` array as strings.
pub fn log_of(ctx: &EventContext) -> Vec<String> {
    ctx.get::<Vec<String>>("log").unwrap_or_default()
}

/// Rust events: `rust_log` (logs "rust:<label>", config `label`), `rust_fail`
/// (fails with config `message`), `double` (doubles `n`).
pub fn events() -> EventRegistry {
    let mut r = EventRegistry::new();
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Label {
        #[serde(default)]
        label: String,
    }
    r.register("rust_log", |c: Label| {
        Ok::<_, String>(FnEvent::new("rust_log", move |ctx: &mut EventContext| {
            log(ctx, format!("rust:{}", c.label));
            Ok(())
        }))
    });
    #[derive(serde::Deserialize)]
    struct Fail {
        message: String,
    }
    r.register("rust_fail", |c: Fail| {
        Ok::<_, String>(FnEvent::new("rust_fail", move |_ctx: &mut EventContext| {
            Err(EventError::new(c.message.clone()))
        }))
    });
    r.register_event(
        "double",
        FnEvent::new("double", |ctx| {
            let n: i64 = ctx.try_get("n")?;
            ctx.set("n", n * 2);
            Ok(())
        }),
    );
    r
}

/// Rust middleware: `tag` (logs "<tag>>" before and "<tag><" after, config `tag`)
/// and `broken` (a middleware failure).
pub fn middleware() -> MiddlewareRegistry {
    let mut r = MiddlewareRegistry::new();
    #[derive(serde::Deserialize)]
    struct Tag {
        tag: String,
    }
    r.register("tag", |c: Tag| {
        Ok::<_, String>(FnMiddleware::new(format!("tag:{}", c.tag), move |_event, ctx, next| {
            log(ctx, format!("{}>", c.tag));
            let r = next.run(ctx);
            log(ctx, format!("{}<", c.tag));
            r
        }))
    });
    r.register_shared(
        "broken",
        std::sync::Arc::new(FnMiddleware::new("broken", |_, _, _| Err(EventError::middleware("infrastructure down")))),
    );
    r
}

/// A builder with the test registries.
pub fn builder() -> LuaChainBuilder {
    LuaChainBuilder::new().event_registry(events()).middleware_registry(middleware())
}

/// Loads `src` as `test.lua` with the test registries.
pub fn load(src: &str) -> LuaChain {
    match builder().load_str("test.lua", src) {
        Ok(chain) => chain,
        Err(e) => panic!("script should load: {e}"),
    }
}

/// The load error of `src` (as `test.lua`), as text.
pub fn load_error(src: &str) -> String {
    load_error_of(src).to_string()
}

/// The load error of `src` (as `test.lua`).
pub fn load_error_of(src: &str) -> LoadError {
    match builder().load_str("test.lua", src) {
        Ok(_) => panic!("script should not load"),
        Err(e) => e,
    }
}

/// Runs `chain` on its initial context.
pub fn run(chain: &LuaChain) -> (ChainResult, EventContext) {
    let mut ctx = chain.new_context();
    let result = chain.execute(&mut ctx);
    (result, ctx)
}

/// A script with one Lua event whose body is `body`.
pub fn one_event(body: &str) -> String {
    format!("return {{ events = {{ {{ name = 'e', handler = function(ctx) {body} end }} }} }}")
}

/// The hostile-script shape of the adversarial suites: `attack` runs `body`
/// when `ctx.attack` is set, `count` then adds 1 to `counter`; `middleware`
/// is the text of the middleware list (empty for none).
pub fn attack_template(body: &str, middleware: &str) -> String {
    format!(
        r#"return {{
  context = {{ counter = 0 }},
  middleware = {{ {middleware} }},
  events = {{
    {{ name = "attack", handler = function(ctx)
      if ctx.attack then
{body}
      end
    end }},
    {{ name = "count", handler = function(ctx) ctx.counter = ctx.counter + 1 end }},
  }},
}}"#
    )
}

/// Runs `chain` on its initial context, with `attack = true` on top when `attack` is set.
pub fn run_attack(chain: &LuaChain, attack: bool) -> (ChainResult, EventContext) {
    let mut ctx = chain.new_context();
    if attack {
        ctx.set("attack", true);
    }
    let result = chain.execute(&mut ctx);
    (result, ctx)
}
