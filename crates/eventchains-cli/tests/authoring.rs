//! `eventchains schema`, `types` and `check`'s effective configs, through the binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventchains")).args(args).output().expect("binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eventchains-authoring-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn temp_script(name: &str, src: &str) -> String {
    let path = temp_dir("scripts").join(name);
    std::fs::write(&path, src).expect("write script");
    path.to_string_lossy().into_owned()
}

#[test]
fn schema_prints_the_script_format_and_each_named_part() {
    let out = run(&["schema"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let keys: Vec<&String> = json["properties"].as_object().expect("properties").keys().collect();
    assert_eq!(keys, ["name", "fault_tolerance", "context", "limits", "middleware", "events"]);
    assert_eq!(json["$defs"]["middleware.retry"]["properties"]["max_attempts"]["default"], 3);
    assert_eq!(json["$defs"]["event.compute_total"]["properties"]["tax_rate"]["maximum"], 1.0);

    let out = run(&["schema", "retry"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let retry: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(retry["additionalProperties"], false);
    assert_eq!(retry["properties"]["max_attempts"]["type"], "integer");
    let out = run(&["schema", "validate_order"]);
    let validate: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(validate["properties"]["max_items"]["default"], 100);

    let out = run(&["schema", "retyr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no middleware or event named `retyr` (did you mean `retry`?)"), "{}", stderr(&out));
}

#[test]
fn a_bad_config_is_explained_from_the_schema_at_load_time() {
    let cases = [
        (
            "{ \"retry\", max_attempt = 3 }",
            "middleware[1]: invalid config for middleware `retry`: unknown key `max_attempt` (did you mean `max_attempts`?); allowed keys: id, max_attempts,",
        ),
        (
            "{ \"retry\", backoff = \"expo\" }",
            "`backoff`: expected one of \"none\", \"fixed\", \"linear\", \"exponential\", got the string \"expo\"",
        ),
        (
            "{ \"timeout\", timeout_ms = \"fast\" }",
            "`timeout_ms`: expected a non-negative integer, got the string \"fast\"",
        ),
    ];
    for (entry, expected) in cases {
        let script = temp_script("bad_config.lua", &format!("return {{ middleware = {{ {entry} }}, events = {{}} }}"));
        let out = run(&["check", &script]);
        assert_eq!(out.status.code(), Some(2), "{entry}");
        assert!(stderr(&out).contains(expected), "{entry}: {}", stderr(&out));
    }
    let script =
        temp_script("bad_event.lua", "return { events = { { name = 't', rust = 'compute_total', tax_rate = 2 } } }");
    let out = run(&["check", &script]);
    assert!(stderr(&out).contains("`tax_rate`: expected a number from 0 to 1, got the integer 2"), "{}", stderr(&out));
}

#[test]
fn check_lists_each_named_middleware_with_its_effective_config() {
    let script = temp_script(
        "effective.lua",
        "return { middleware = { function(e, ctx, next) return next(ctx) end, { 'retry', max_attempts = 5 }, 'logging' }, events = {} }",
    );
    let out = run(&["check", &script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("  1. logging {\"level\":\"info\",\"failure_level\":\"warn\"}\n"), "{text}");
    assert!(
        text.contains("  2. retry {\"id\":null,\"max_attempts\":5,\"backoff\":\"exponential\",\"initial_ms\":10,"),
        "{text}"
    );
    assert!(text.contains("  3. middleware[1] (effective.lua:1)\n"), "{text}");
}

#[test]
fn types_writes_the_definitions_of_this_host() {
    let dir = temp_dir("types");
    let out = run(&["types", "--out", &dir.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = dir.join("eventchains.d.lua");
    assert_eq!(stdout(&out).trim(), path.to_string_lossy());
    let text = std::fs::read_to_string(&path).expect("written");
    for expected in [
        "---@meta eventchains",
        "---@class eventchains.middleware.retry\n---@field [1] \"retry\"",
        "---@field max_attempts? integer",
        "---@class eventchains.event.validate_order",
        "---@param sku string\n---@return number?\nfunction lookup_price(sku) end",
    ] {
        assert!(text.contains(expected), "missing {expected:?}");
    }
    let printed = run(&["types"]);
    assert_eq!(stdout(&printed), text, "printing and writing give the same definitions");
    let out = run(&["types", "--out", "/proc/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_warns_about_ctx_keys_nothing_sets_and_fails_on_them_only_when_asked() {
    let script = temp_script(
        "warn.lua",
        "--! ctx: from_caller\nreturn { context = { seed = 1 }, events = {\n  { name = 'a', handler = function(ctx)\n    ctx.out = ctx.seed + ctx.from_caller + (ctx.missing or 0)\n  end },\n  { name = 'b', handler = function(ctx) return ctx.out end },\n} }\n",
    );
    let out = run(&["check", &script]);
    assert_eq!(out.status.code(), Some(0), "warnings alone do not fail: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: warn.lua:4: `ctx.missing` is read, but"), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "seed, from_caller and out are set: {err}");
    assert!(stdout(&out).ends_with("1 warning\n"), "{}", stdout(&out));
    let denied = run(&["check", &script, "--deny-warnings"]);
    assert_eq!(denied.status.code(), Some(1));
    for example in ["orders.lua", "pricing.lua", "seed.lua"] {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", "scripts", example].iter().collect();
        let out = run(&["check", &path.to_string_lossy(), "--deny-warnings"]);
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stderr(&out));
    }
}

#[test]
fn check_points_at_syntax_errors_and_suggests_registered_names() {
    let script = temp_script(
        "syntax.lua",
        "return {\n  events = {\n    { name = 'a', handler = function(ctx) ctx.x = = 1 end },\n  },\n}\n",
    );
    let out = run(&["check", &script]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: syntax.lua:3:51: syntax error: unexpected symbol near '='"),
        "{}",
        stderr(&out)
    );
    let script = temp_script(
        "unknown.lua",
        "return { middleware = { 'loging' }, events = { { name = 'v', rust = 'validate_ordr' } } }",
    );
    let out = run(&["check", &script]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown middleware `loging`; registered: circuit_breaker, concurrency_limit, logging,"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("(did you mean `logging`?)"), "{}", stderr(&out));
    let script = temp_script("unknown_event.lua", "return { events = { { name = 'v', rust = 'validate_ordr' } } }");
    assert!(stderr(&run(&["check", &script])).contains("(did you mean `validate_order`?)"));
}
