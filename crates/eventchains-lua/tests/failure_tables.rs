//! A handler or Lua middleware fails with a failure table to give a retry
//! hint: `return nil, { message = "busy", retry_after_ms = 250 }`.

mod common;

use std::time::Duration;

use common::{load, one_event, run};
use eventchains_core::{ErrorKind, Origin};

#[test]
fn a_handler_failure_table_carries_message_and_retry_hint() {
    for (body, message, hint) in [
        ("return nil, { message = 'busy', retry_after_ms = 250 }", "busy", Some(250)),
        ("return false, { retry_after_ms = 0.5 }", "handler returned false", Some(1)),
        ("return nil, { message = 'gone' }", "gone", None),
        ("return nil, 'plain'", "plain", None),
    ] {
        let (result, _) = run(&load(&one_event(body)));
        let failure = &result.failures()[0];
        assert_eq!((failure.kind(), failure.message()), (ErrorKind::Event, message), "{body}");
        assert_eq!(failure.error().retry_after(), hint.map(Duration::from_millis), "{body}");
    }
}

#[test]
fn a_bad_failure_table_fails_the_event_naming_the_key() {
    let (result, _) = run(&load(&one_event("return nil, { message = 'busy', retry_afterms = 5 }")));
    let failure = &result.failures()[0];
    assert_eq!((failure.event(), failure.kind()), ("e", ErrorKind::Event));
    assert!(
        failure.message().contains("unknown key `retry_afterms`; the keys are `message`, `retry_after_ms`"),
        "{}",
        failure.message()
    );
    assert_eq!(failure.error().retry_after(), None);
    let (result, _) = run(&load(&one_event("return nil, { retry_after_ms = -3 }")));
    assert!(result.failures()[0].message().contains("`retry_after_ms` is -3"), "{}", result.failures()[0].message());
}

#[test]
fn a_lua_middleware_failure_table_carries_the_hint() {
    // Load shedding in Lua: refuse without calling `next`, saying when to come back.
    let chain = load(
        "return { middleware = { function(event, ctx, next) return nil, { message = 'shed', retry_after_ms = 40 } end },
          events = { { name = 'e', handler = function(ctx) ctx.ran = true end } } }",
    );
    let (result, ctx) = run(&chain);
    let failure = &result.failures()[0];
    assert_eq!(
        (failure.kind(), failure.origin(), failure.message()),
        (ErrorKind::Middleware, Origin::Middleware, "shed")
    );
    assert_eq!(failure.error().retry_after(), Some(Duration::from_millis(40)));
    assert_eq!(ctx.get::<bool>("ran"), None);
    // Passing on the event's failure with a table keeps its kind and adds the hint.
    let chain = load(
        "return { middleware = { function(event, ctx, next)
            local ok, err = next(ctx)
            if not ok then return nil, { retry_after_ms = 7 } end
          end },
          events = { { name = 'e', handler = function(ctx) return nil, 'down' end } } }",
    );
    let (result, _) = run(&chain);
    let failure = &result.failures()[0];
    assert_eq!((failure.kind(), failure.origin(), failure.message()), (ErrorKind::Event, Origin::Event, "down"));
    assert_eq!(failure.error().retry_after(), Some(Duration::from_millis(7)));
}
