//! What the benches share: resetting and reading back the seed chain's two fields.

use eventchains_core::{EventContext, Value};

/// Resets the two fields in place (what a Rust event would do).
pub fn reset(ctx: &mut EventContext) {
    match ctx.value_mut("counter") {
        Some(v) => *v = Value::Int(0),
        None => {
            ctx.set("counter", 0);
        }
    }
    match ctx.value_mut("message") {
        Some(Value::String(s)) => {
            s.clear();
            s.push_str("start");
        }
        _ => {
            ctx.set("message", "start");
        }
    }
}

/// The two fields as Rust reads them back.
pub fn read_back(ctx: &EventContext) -> (i64, usize) {
    (ctx.get::<i64>("counter").unwrap_or_default(), ctx.get::<&str>("message").map_or(0, str::len))
}
