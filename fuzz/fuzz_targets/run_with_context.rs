//! Fixed scripts run against arbitrary context JSON, and arbitrary script +
//! JSON split from one input.
//!
//! Input layout: the first byte picks the mode. For `0..SCRIPTS.len()` the
//! rest is context JSON for that fixed script; otherwise the rest is
//! `script \0 json`.
#![no_main]

use std::sync::OnceLock;

use eventchains_core::{EventContext, Value};
use eventchains_lua::LuaChain;
use libfuzzer_sys::fuzz_target;

#[path = "limits.rs"]
mod limits;

/// Scripts that walk, copy, rewrite and return whatever the context holds.
const SCRIPTS: &[&str] = &[
    // The seed chain of the original experiment.
    r#"return { context = { counter = 0, message = "start" }, events = {
        { name = "increment", handler = function(ctx) ctx.counter = ctx.counter + 1 return ctx end },
        { name = "append", handler = function(ctx) ctx.message = ctx.message .. " -> processed" return ctx end },
    } }"#,
    // Walk everything recursively, count it, stringify it.
    r#"local function walk(v, depth)
        if depth > 200 then return 0 end
        local n = 1
        if type(v) == "userdata" or type(v) == "table" then
          for k, x in pairs(v) do n = n + walk(x, depth + 1) end
          n = n + #v
          local _ = tostring(v)
        end
        return n
      end
      return { fault_tolerance = "lenient", events = {
        { name = "walk", handler = function(ctx) ctx.__count = walk(ctx, 0) end },
        { name = "json", handler = function(ctx) ctx.__json = tostring(ctx) end },
      } }"#,
    // Copy every value to another key, then move them around and delete them.
    r#"return { fault_tolerance = "lenient", events = {
        { name = "copy", handler = function(ctx)
            local keys = {}
            for k in pairs(ctx) do keys[#keys + 1] = k end
            for _, k in ipairs(keys) do ctx[k .. "_copy"] = ctx[k] end
          end },
        { name = "nest", handler = function(ctx)
            local all = {}
            for k, v in pairs(ctx) do all[#all + 1] = v end
            ctx.nested = { all = all, again = ctx.nested }
          end },
        { name = "delete", handler = function(ctx)
            for k in pairs(ctx) do if #k % 2 == 0 then ctx[k] = nil end end
          end },
        { name = "merge", handler = function(ctx) return { merged = true, first = ctx[next({})] } end },
      } }"#,
    // Arithmetic and string operations on whatever is there, under a Lua middleware.
    r#"return { fault_tolerance = "best_effort",
      middleware = { function(event, ctx, next) local ok, err = next(ctx) ctx.after = event.name return ok, err end },
      events = {
        { name = "math", handler = function(ctx)
            for k, v in pairs(ctx) do
              if type(v) == "number" then ctx[k] = v * 2 + 1 // 1 end
              if type(v) == "string" then ctx[k] = v:upper():rep(2) end
              if type(v) == "userdata" and #v > 0 then v[#v + 1] = #v end
            end
          end },
        { name = "fail", handler = function(ctx) return nil, tostring(ctx.reason) end },
      } }"#,
];

fn context(json: &[u8]) -> EventContext {
    match serde_json::from_slice::<serde_json::Value>(json).map(Value::from_json) {
        Ok(Value::Map(map)) => EventContext::from_values(map),
        Ok(other) => {
            let mut ctx = EventContext::new();
            ctx.set("input", other);
            ctx
        }
        Err(_) => EventContext::new(),
    }
}

/// The fixed scripts, loaded once and reused by every run (as a service would).
fn fixed() -> &'static [LuaChain] {
    static CHAINS: OnceLock<Vec<LuaChain>> = OnceLock::new();
    CHAINS.get_or_init(|| {
        SCRIPTS.iter().map(|s| limits::builder().load_str("fixed.lua", s).expect("fixed scripts load")).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let builder = limits::builder();
    let (chain, json) = match fixed().get(usize::from(mode)) {
        Some(chain) => (chain.clone(), rest),
        None => {
            let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            let source = String::from_utf8_lossy(&rest[..split]);
            match builder.load_str("fuzz.lua", &source) {
                Ok(chain) => (chain, rest.get(split + 1..).unwrap_or_default()),
                Err(_) => return,
            }
        }
    };
    let mut ctx = context(json);
    ctx.merge_defaults(chain.initial_context());
    let _ = chain.execute(&mut ctx);
    // The context stays serialisable whatever happened.
    let _ = ctx.to_json();
});
