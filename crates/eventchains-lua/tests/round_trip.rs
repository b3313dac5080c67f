//! Property: any context value survives being read and rebuilt in Lua.

mod common;

use common::load;
use eventchains_core::{EventContext, Map, Value};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1.0e12..1.0e12f64).prop_map(Value::Float),
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
