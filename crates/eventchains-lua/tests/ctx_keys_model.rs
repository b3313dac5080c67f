//! Root `ctx` keys through the Lua bridge, against a model: random writes,
//! removals and reads of up to 20 keys by two Lua handlers with a Rust event
//! between them, so the context's map crosses the size where it starts
//! indexing its keys (8) in both directions, with the bridge's key cache
//! carried from one event to the next. What Lua reads, and the final context
//! (keys, their order, values), must be what an `IndexMap` doing the same
//! gives.

use std::sync::Arc;

use eventchains_core::{EventContext, EventRegistry, FnEvent, Value};
use eventchains_lua::LuaChainBuilder;
use indexmap::IndexMap;
use proptest::prelude::*;

const KEYS: u8 = 20;

/// Key `i`: lengths from 4 to 17 bytes, so short and long comparisons both run.
fn key(i: u8) -> String {
    format!("k{i}_{}", "x".repeat(usize::from(i % 12)))
}

#[derive(Clone, Debug)]
enum Op {
    SetInt(u8, i64),
    SetStr(u8, u8),
    SetTable(u8, i64),
    Remove(u8),
    /// Lua only: read the key and log what was found.
    Read(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS;
    prop_oneof![
        4 => (k.clone(), -1_000_000_000_000i64..1_000_000_000_000).prop_map(|(k, v)| Op::SetInt(k, v)),
        2 => (k.clone(), any::<u8>()).prop_map(|(k, s)| Op::SetStr(k, s)),
        1 => (k.clone(), -100i64..100).prop_map(|(k, v)| Op::SetTable(k, v)),
        3 => k.clone().prop_map(Op::Remove),
        3 => k.prop_map(Op::Read),
    ]
}

type Model = IndexMap<String, Value>;

fn string_value(s: u8) -> String {
    format!("s{s}")
}

fn table_value(v: i64) -> Value {
    Value::Map([("x", v)].into())
}

/// Applies `op` to the model; a read returns what Lua must log.
fn apply(model: &mut Model, op: &Op) -> Option<String> {
    match *op {
        Op::SetInt(k, v) => {
            model.insert(key(k), Value::Int(v));
        }
        Op::SetStr(k, s) => {
            model.insert(key(k), Value::String(string_value(s)));
        }
        Op::SetTable(k, v) => {
            model.insert(key(k), table_value(v));
        }
        Op::Remove(k) => {
            model.shift_remove(&key(k));
        }
        Op::Read(k) => {
            return Some(match model.get(&key(k)) {
                None => "nil".to_owned(),
                Some(Value::Int(v)) => v.to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Map(m)) => format!("t{}", m.get("x").map_or("?".to_owned(), ToString::to_string)),
                Some(other) => panic!("the model holds no {other:?}"),
            });
        }
    }
    None
}

/// The Lua statement doing `op` on `ctx`.
fn lua(op: &Op) -> String {
    match *op {
        Op::SetInt(k, v) => format!("ctx[\"{}\"] = {v}", key(k)),
        Op::SetStr(k, s) => format!("ctx[\"{}\"] = \"{}\"", key(k), string_value(s)),
        Op::SetTable(k, v) => format!("ctx[\"{}\"] = {{ x = {v} }}", key(k)),
        Op::Remove(k) => format!("ctx[\"{}\"] = nil", key(k)),
        Op::Read(k) => format!("read(ctx[\"{}\"])", key(k)),
    }
}

/// A Lua handler doing `ops` and storing what it read at `ctx[log_key]`.
fn handler(ops: &[Op], log_key: &str) -> String {
    let body: String = ops.iter().map(|op| format!("    {}\n", lua(op))).collect();
    format!(
        "function(ctx)
    local log = {{}}
    local function read(v)
      if type(v) == 'table' or type(v) == 'userdata' then log[#log + 1] = 't' .. tostring(v.x)
      else log[#log + 1] = tostring(v) end
    end
{body}    ctx[\"{log_key}\"] = table.concat(log, ',')
  end"
    )
}

/// Applies the Rust event's ops (writes and removals; reads are Lua's) to a context.
fn apply_in_rust(ctx: &mut EventContext, op: &Op) {
    match *op {
        Op::SetInt(k, v) => {
            ctx.set(key(k), v);
        }
        Op::SetStr(k, s) => {
            ctx.set(key(k), string_value(s));
        }
        Op::SetTable(k, v) => {
            ctx.set(key(k), table_value(v));
        }
        Op::Remove(k) => {
            ctx.remove(&key(k));
        }
        Op::Read(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn root_keys_behave_like_an_indexmap(
        initial in 0u8..12,
        first in proptest::collection::vec(op(), 0..30),
        middle in proptest::collection::vec(op(), 0..12),
        last in proptest::collection::vec(op(), 0..30),
    ) {
        let mut model = Model::new();
        let mut ctx = EventContext::new();
        for k in 0..initial {
            ctx.set(key(k), i64::from(k));
            model.insert(key(k), Value::Int(i64::from(k)));
        }
        let mut expected_logs = Vec::new();
        for (ops, log_key) in [(&first, "log1"), (&middle, ""), (&last, "log2")] {
            let reads: Vec<String> = ops.iter().filter_map(|op| apply(&mut model, op)).collect();
            if !log_key.is_empty() {
                model.insert(log_key.to_owned(), Value::String(reads.join(",")));
                expected_logs.push(reads.join(","));
            }
        }

        let rust_ops = Arc::new(middle.clone());
        let mut events = EventRegistry::new();
        events.register_event(
            "rust_ops",
            FnEvent::new("rust_ops", move |ctx| {
                for op in rust_ops.iter() {
                    apply_in_rust(ctx, op);
                }
                Ok(())
            }),
        );
        let script = format!(
            "return {{ events = {{
  {{ name = 'first', handler = {} }},
  {{ name = 'middle', rust = 'rust_ops' }},
  {{ name = 'last', handler = {} }},
}} }}",
            handler(&first, "log1"),
            handler(&last, "log2"),
        );
        let chain = LuaChainBuilder::new().event_registry(events).load_str("keys.lua", &script).expect("loads");
        // Twice on fresh contexts: the second run starts with the key cache the first left.
        for run in 0..2 {
            let mut fresh = EventContext::new();
            for (k, v) in ctx.iter() {
                fresh.set(k.as_str(), v.clone());
            }
            let result = chain.execute(&mut fresh);
            prop_assert!(result.is_clean(), "run {}: {}", run, result);
            prop_assert_eq!(fresh.get::<&str>("log1"), Some(expected_logs[0].as_str()), "run {}", run);
            prop_assert_eq!(fresh.get::<&str>("log2"), Some(expected_logs[1].as_str()), "run {}", run);
            let got: Vec<(&String, &Value)> = fresh.iter().collect();
            let want: Vec<(&String, &Value)> = model.iter().collect();
            prop_assert_eq!(got, want, "run {}: keys, order and values", run);
        }
    }
}
