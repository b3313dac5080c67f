//! Property: any context value survives being read and rebuilt in Lua.

mod common;

use common::load;
use eventchains_core::{EventContext, Map, Value};
use proptest::prelude::*;

/// LuaJIT and Luau have no integer subtype: integers are exact only up to 2^53, and an
/// integral float comes back as an integer (see docs/lua-engines.md).
#[cfg(any(feature = "luajit", feature = "luau"))]
fn int() -> impl Strategy<Value = i64> {
    -(1i64 << 53)..(1i64 << 53)
}

#[cfg(not(any(feature = "luajit", feature = "luau")))]
fn int() -> impl Strategy<Value = i64> {
    any::<i64>()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        int().prop_map(Value::Int),
        (-1.0e12..1.0e12f64)
            .prop_filter("LuaJIT, Luau: integral floats become integers", |f| {
                !cfg!(any(feature = "luajit", feature = "luau")) || f.fract() != 0.0
            })
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4)
                .prop_map(|entries| Value::Map(entries.into_iter().collect::<Map>())),
        ]
    })
}

const REBUILD: &str = r#"
local function plain(v)
  if type(v) ~= "userdata" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = plain(x) end
  return t
end
return { events = { { name = "rebuild", handler = function(ctx)
  ctx.copy = plain(ctx.v)
  ctx.scalar_copy = ctx.scalar
end } } }
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn values_round_trip_through_lua(v in value(), scalar in leaf()) {
        let chain = load(REBUILD);
        let mut ctx = EventContext::new();
        ctx.set("v", v.clone());
        ctx.set("scalar", scalar.clone());
        let result = chain.execute(&mut ctx);
        prop_assert!(result.is_clean(), "{}", result);
        prop_assert_eq!(ctx.value("copy"), Some(&v));
        prop_assert_eq!(ctx.value("scalar_copy"), Some(&scalar));
    }
}
