//! Configs of named Rust middleware as a Lua author writes them, through the
//! binary: Lua numbers and empty tables decode with the core's rules, and
//! values beyond the host's caps are load errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn check(name: &str, middleware: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("eventchains-cli-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join(name);
    let script = format!(
        "return {{\n  middleware = {{ {middleware} }},\n  events = {{ {{ name = \"ok\", handler = function(ctx) ctx.done = true end }} }},\n}}\n"
    );
    std::fs::write(&path, script).expect("write script");
    Command::new(env!("CARGO_BIN_EXE_eventchains")).arg("check").arg(&path).output().expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn lua_numbers_and_empty_tables_are_accepted() {
    let out = check(
        "accepted.lua",
        r#"{ "timeout", timeout_ms = 100 * 1.5, per_event = {} }, { "retry", max_attempts = 2.0, retry_on = {} }"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fractions_and_values_above_the_caps_are_load_errors() {
    let cases = [
        (
            "fraction.lua",
            r#"{ "timeout", timeout_ms = 150.5 }"#,
            "`timeout_ms`: expected a non-negative integer, got the number 150.5",
        ),
        (
            "hour.lua",
            r#"{ "retry", initial_ms = 3600000 }"#,
            "initial_ms = 3600000 is above the host's cap of 60000 ms",
        ),
        (
            "slow.lua",
            r#"{ "rate_limit", rate_per_sec = 1e-6, strategy = "wait" }"#,
            "rate_per_sec = 0.000001 with strategy \"wait\"",
        ),
        (
            "nested.lua",
            r#"{ "retry", budget = { ratio = "lots" } }"#,
            "`budget.ratio`: expected a number, got the string \"lots\"",
        ),
    ];
    for (name, middleware, expected) in cases {
        let out = check(name, middleware);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
    }
}
