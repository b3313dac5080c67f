//! Every loading error message names the script, the line or the key path.

mod common;

use common::{load_error, load_error_of};
use eventchains_lua::{LoadError, LuaChainBuilder};

#[test]
fn syntax_errors_give_file_and_line() {
    let err = load_error_of("return {\n  events = {\n    { name = 'a' handler = 1 },\n  }\n}");
    assert_eq!(err.line(), Some(3));
    // Luau's parser words it its own way.
    let expected = if cfg!(feature = "luau") {
        "test.lua:3: syntax error: Expected ',' after table constructor element"
    } else {
        "test.lua:3: syntax error: '}' expected near 'handler'"
    };
    assert_eq!(err.to_string(), expected);
    assert!(matches!(err, LoadError::Syntax { .. }));
}

#[test]
fn runtime_errors_while_loading_give_position() {
    // The wording after "attempt to index" differs between Lua 5.4 and LuaJIT;
    // Luau names the key instead of the variable.
    let err = load_error("local t = nil\nreturn t.x");
    assert!(err.starts_with("test.lua: error while running the script: test.lua:2: attempt to index"), "{err}");
    assert!(err.contains(if cfg!(feature = "luau") { "nil with 'x'" } else { "local 't'" }), "{err}");
}

#[test]
fn the_script_must_return_a_table_with_events() {
    assert_eq!(load_error("return 5"), "test.lua: the script must return a table, got a number");
    assert_eq!(load_error("x = 1"), "test.lua: the script must return a table, got nil");
    assert_eq!(load_error("return { name = 'x' }"), "test.lua: missing `events`");
}

#[test]
fn unknown_keys_are_errors() {
    assert_eq!(
        load_error("return { evnets = {} }"),
        "test.lua: evnets: unknown key (expected one of name, fault_tolerance, context, limits, middleware, events)"
    );
    assert_eq!(
        load_error("return { events = { { name = 'a', handler = function() end, hander = 1 } } }"),
        "test.lua: events[1].hander: unknown key (a Lua event takes `name` and `handler`)"
    );
    assert_eq!(
        load_error("return { limits = { instructons = 5 }, events = {} }"),
        "test.lua: limits.instructons: unknown key (expected one of instructions, memory_mb, timeout_ms)"
    );
    assert_eq!(
        load_error("return { 1, events = {} }"),
        "test.lua: unexpected list entry; expected the keys name, fault_tolerance, context, limits, middleware, events"
    );
}

#[test]
fn event_entries_are_checked() {
    let two =
        |second: &str| format!("return {{ events = {{ {{ name = 'a', handler = function() end }}, {second} }} }}");
    assert_eq!(load_error(&two("{ name = 'b' }")), "test.lua: events[2]: missing `handler` or `rust`");
    assert_eq!(load_error(&two("{ handler = function() end }")), "test.lua: events[2]: missing `name`");
    assert_eq!(
        load_error(&two("{ name = 'b', handler = 'nope' }")),
        "test.lua: events[2].handler: expected a function, got a string"
    );
    assert_eq!(
        load_error(&two("{ name = 'b', handler = function() end, rust = 'double' }")),
        "test.lua: events[2]: has both `handler` and `rust`; an event is one or the other"
    );
    assert_eq!(load_error(&two("'b'")), "test.lua: events[2]: expected a table, got a string");
    assert_eq!(load_error(&two("{ name = '', rust = 'double' }")), "test.lua: events[2].name: must not be empty");
    assert_eq!(
        load_error("return { events = { x = 1 } }"),
        "test.lua: events: expected a list (entries 1..n without other keys)"
    );
    assert_eq!(load_error("return { events = 5 }"), "test.lua: events: expected a list, got a number");
}

#[test]
fn registry_errors_name_the_entry() {
    assert_eq!(
        load_error("return { events = { { name = 'v', rust = 'validate' } } }"),
        "test.lua: events[1]: unknown event `validate`; registered: double, rust_fail, rust_log"
    );
    assert_eq!(
        load_error("return { middleware = { 'logging' }, events = {} }"),
        "test.lua: middleware[1]: unknown middleware `logging`; registered: broken, tag"
    );
    assert!(
        load_error("return { middleware = { { 'tag', tga = 'x' } }, events = {} }")
            .starts_with("test.lua: middleware[1]: invalid config for middleware `tag`: missing field `tag`"),
    );
    assert!(
        load_error("return { events = { { name = 'f', rust = 'rust_fail' } } }").contains("missing field `message`")
    );
}

#[test]
fn middleware_entries_are_checked() {
    assert_eq!(
        load_error("return { middleware = { 5 }, events = {} }"),
        "test.lua: middleware[1]: expected a name, a { name, key = value } table or a function, got a number"
    );
    assert_eq!(
        load_error("return { middleware = { { tag = 'x' } }, events = {} }"),
        "test.lua: middleware[1]: missing the middleware name at [1]"
    );
    assert_eq!(
        load_error("return { middleware = { { 'tag', 'extra' } }, events = {} }"),
        "test.lua: middleware[1]: expected { \"name\", key = value, ... }: the name first, then string keys"
    );
    assert_eq!(
        load_error("return { middleware = { { 'tag', tag = print } }, events = {} }"),
        "test.lua: middleware[1].tag: a function has no context value"
    );
}

#[test]
fn other_keys_are_type_checked() {
    assert_eq!(
        load_error("return { fault_tolerance = 'sloppy', events = {} }"),
        "test.lua: fault_tolerance: unknown fault tolerance mode `sloppy`; expected \"strict\", \"lenient\" or \"best_effort\""
    );
    assert_eq!(load_error("return { name = 5, events = {} }"), "test.lua: name: expected a string, got a number");
    assert_eq!(load_error("return { context = 5, events = {} }"), "test.lua: context: expected a table, got a number");
    assert_eq!(
        load_error("return { context = { 1 }, events = {} }"),
        "test.lua: context: expected a table with string keys, got a list"
    );
    assert_eq!(
        load_error("return { context = { f = print }, events = {} }"),
        "test.lua: context.f: a function has no context value"
    );
    assert_eq!(
        load_error("return { limits = { timeout_ms = -1 }, events = {} }"),
        "test.lua: limits.timeout_ms: expected a positive number, got -1"
    );
}

#[test]
fn missing_files_name_the_path() {
    let err = LuaChainBuilder::new().load_file("/nonexistent/dir/x.lua").unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().starts_with("/nonexistent/dir/x.lua: "), "{err}");
}
