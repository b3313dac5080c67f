//! Every form of handler result.

mod common;

use common::{load, one_event, run};
use eventchains_core::{ChainStatus, ErrorKind, Origin};

fn outcome(body: &str) -> (ChainStatus, Option<(ErrorKind, String)>, eventchains_core::EventContext) {
    let chain = load(&one_event(body));
    let (result, ctx) = run(&chain);
    let failure = result.failures().first().map(|f| (f.kind(), f.message().to_owned()));
    (result.status(), failure, ctx)
}

#[test]
fn nothing_true_and_lone_nil_are_success() {
    for body in ["ctx.x = 1", "ctx.x = 1 return true", "ctx.x = 1 return nil", "ctx.x = 1 return ctx"] {
        let (status, failure, ctx) = outcome(body);
        assert_eq!(status, ChainStatus::Completed, "{body}: {failure:?}");
        assert_eq!(ctx.get::<i64>("x"), Some(1), "{body}");
    }
}

#[test]
fn nil_or_false_with_a_message_is_a_failure() {
    for body in ["return nil, 'invalid amount'", "return false, 'invalid amount'"] {
        let (status, failure, _) = outcome(body);
        assert_eq!(status, ChainStatus::Failed);
        assert_eq!(failure, Some((ErrorKind::Event, "invalid amount".to_owned())), "{body}");
    }
    let (_, failure, _) = outcome("return false");
    assert_eq!(failure, Some((ErrorKind::Event, "handler returned false".to_owned())));
    let (_, failure, _) = outcome("return nil, 42");
    assert_eq!(failure, Some((ErrorKind::Event, "42".to_owned())));
}

#[test]
fn error_carries_message_and_script_position() {
    let (status, failure, _) = outcome("error('card declined')");
    assert_eq!(status, ChainStatus::Failed);
    assert_eq!(failure, Some((ErrorKind::Event, "test.lua:1: card declined".to_owned())));
    let chain = load(
        "return { events = {\n  { name = 'e', handler = function(ctx)\n    local x = nil\n    return x.field\n  end },\n} }",
    );
    let (result, _) = run(&chain);
    // Lua 5.4: "attempt to index a nil value (local 'x')"; LuaJIT: "attempt to index local 'x' (a nil value)";
    // Luau: "attempt to index nil with 'field'".
    let message = result.failures()[0].message();
    let named = if cfg!(feature = "luau") { "nil with 'field'" } else { "local 'x'" };
    assert!(message.starts_with("test.lua:4: attempt to index") && message.contains(named), "{message}");
    assert_eq!(result.failures()[0].origin(), Origin::Event);
}

#[test]
fn error_with_a_table_value_still_fails_clearly() {
    let (_, failure, _) = outcome("error({ code = 7 })");
    let (kind, message) = failure.expect("fails");
    assert_eq!(kind, ErrorKind::Event);
    assert!(message.contains("table"), "{message}");
}

#[test]
fn returned_table_is_merged_into_the_context() {
    let (status, _, ctx) = outcome("return { total = 12.5, items = { 'a' }, counter = 2 }");
    assert_eq!(status, ChainStatus::Completed);
    assert_eq!(ctx.get::<f64>("total"), Some(12.5));
    assert_eq!(ctx.get::<i64>("counter"), Some(2));
    assert_eq!(ctx.to_json()["items"], serde_json::json!(["a"]));
}

#[test]
fn returning_ctx_is_a_no_op() {
    let chain = load(
        "return { context = { counter = 0 }, events = { { name = 'inc', handler = function(ctx) ctx.counter = ctx.counter + 1 return ctx end } } }",
    );
    let (result, ctx) = run(&chain);
    assert!(result.is_clean());
    assert_eq!(ctx.to_json(), serde_json::json!({"counter": 1}));
}

#[test]
fn other_return_values_are_an_error() {
    let (status, failure, _) = outcome("return 42");
    assert_eq!(status, ChainStatus::Failed);
    assert!(failure.expect("fails").1.contains("returned a integer; expected nothing, true"), "message names the rule");
    let (_, failure, _) = outcome("return { 1, 2 }");
    assert!(failure.expect("fails").1.contains("returned a list"));
}
