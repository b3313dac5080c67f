//! `eventchains test`, through the binary: passing and failing cases, the
//! differences of a failing case, limits, replaced host functions and events,
//! JUnit output, the name filter and the exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

mod support;
use support::{Guard, lines_of};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventchains")).args(args).output().expect("binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory with `files` written into it.
fn dir_with(name: &str, files: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("eventchains-script-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write");
    }
    dir.to_string_lossy().into_owned()
}

const SCRIPT: &str = r#"
return {
  fault_tolerance = "lenient",
  context = { n = 1 },
  events = {
    { name = "fetch", handler = function(ctx) ctx.price = lookup_price(ctx.sku, ctx.n) end },
    { name = "check", handler = function(ctx)
        if ctx.price == nil then return nil, "no price for " .. tostring(ctx.sku) end
      end },
    { name = "total", rust = "compute_total" },
  },
}
"#;

#[test]
fn passing_and_failing_cases_with_a_readable_difference() {
    let tests = r#"
return {
  script = "shop.lua",
  cases = {
    { name = "tea has a price",
      context = { sku = "tea" },
      mocks = { events = { compute_total = { set = { total = 3.5 } } } },
      expect = { status = "completed", context = { price = 3.5, total = 3.5 } } },
    { name = "a wrong expectation",
      context = { sku = "tea" },
      mocks = { events = { compute_total = {} } },
      expect = { status = "completed", context = { price = 4, n = 1 } } },
  },
}
"#;
    let dir = dir_with("diff", &[("shop.lua", SCRIPT), ("shop.test.lua", tests)]);
    let out = run(&["test", &dir]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("shop.test.lua :: tea has a price ... ok\n"), "{text}");
    assert!(text.contains("shop.test.lua :: a wrong expectation ... FAILED\n"), "{text}");
    assert!(text.contains("  context.price: expected 4, got 3.5\n"), "{text}");
    assert!(!text.contains("context.n:"), "matching keys are not listed: {text}");
    assert!(text.ends_with("1 passed, 1 failed\n"), "{text}");

    let only = run(&["test", &dir, "--filter", "tea"]);
    assert_eq!(only.status.code(), Some(0), "{}", stdout(&only));
    assert!(stdout(&only).ends_with("1 passed, 0 failed\n"));

    let junit = run(&["test", &dir, "--format", "junit"]);
    assert_eq!(junit.status.code(), Some(1));
    let xml = stdout(&junit);
    assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
    assert!(xml.contains(r#"<failure message="context.price: expected 4, got 3.5">"#), "{xml}");
}

#[test]
fn replaced_host_functions_record_their_arguments_and_events_their_calls() {
    let tests = r#"
return {
  script = "shop.lua",
  cases = {
    { name = "arguments are recorded",
      context = { sku = "cake", n = 2 },
      mocks = {
        functions = { lookup_price = { returns = 9 } },
        events = { compute_total = { fail = "no order here" } },
      },
      expect = {
        status = "completed_with_warnings",
        failures = { { event = "total", kind = "event", message = "^no order" } },
        context = { price = 9 },
        calls = { lookup_price = { { "cake", 2 } }, compute_total = 1 },
      } },
    { name = "wrong arguments are a difference",
      context = { sku = "cake" },
      mocks = { functions = { lookup_price = { returns = 9 } }, events = { compute_total = {} } },
      expect = { calls = { lookup_price = { { "tea", 1 } } } } },
    { name = "a replaced function that fails",
      context = { sku = "cake" },
      mocks = { functions = { lookup_price = { error = "down" } }, events = { compute_total = {} } },
      expect = { failures = { { event = "fetch", message = "lookup_price: down" }, { event = "check" } } } },
  },
}
"#;
    let dir = dir_with("mocks", &[("shop.lua", SCRIPT), ("shop.test.lua", tests)]);
    let out = run(&["test", &dir]);
    let text = stdout(&out);
    assert!(text.contains("arguments are recorded ... ok\n"), "{text}");
    assert!(text.contains("a replaced function that fails ... ok\n"), "{text}");
    assert!(text.contains("wrong arguments are a difference ... FAILED\n"), "{text}");
    assert!(text.contains("  calls.lookup_price: expected [[\"tea\",1]], got [[\"cake\",1]]\n"), "{text}");
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");
}

#[test]
fn a_case_whose_script_exceeds_a_limit_reports_it() {
    let script = r#"
return {
  limits = { instructions = 100000 },
  events = { { name = "spin", handler = function(ctx) while true do end end } },
}
"#;
    let tests = r#"
return { cases = {
  { name = "expects success", expect = { status = "completed" } },
  { name = "expects the limit", expect = { status = "failed", failures = { { event = "spin", kind = "limit_exceeded", message = "instruction" } } } },
} }
"#;
    let dir = dir_with("limit", &[("spin.lua", script), ("spin.test.lua", tests)]);
    let out = run(&["test", &dir]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("expects the limit ... ok\n"), "{text}");
    assert!(text.contains("  status: expected \"completed\", got \"failed\"\n"), "{text}");
    assert!(text.contains("  failures[1]: unexpected failure of `spin` (limit_exceeded): "), "{text}");
}

#[test]
fn invalid_test_files_and_arguments_exit_2() {
    let dir = dir_with(
        "invalid",
        &[
            ("x.lua", SCRIPT),
            ("x.test.lua", "return { cases = { { name = 'a', expect = { stauts = 'completed' } } } }"),
        ],
    );
    let out = run(&["test", &dir]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cases[1] (a).expect.stauts: unknown key (did you mean `status`?)"), "{err}");
    let empty = dir_with("empty", &[]);
    assert_eq!(run(&["test", &empty]).status.code(), Some(2));
    assert_eq!(run(&["test", "/no/such/path"]).status.code(), Some(2));
    let broken = dir_with("broken", &[("b.test.lua", "return {")]);
    assert_eq!(run(&["test", &broken]).status.code(), Some(2));
}

#[test]
fn the_example_scripts_pass_their_tests() {
    let examples: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", "scripts"].iter().collect();
    let out = run(&["test", &examples.to_string_lossy()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("orders.test.lua") && text.contains("pricing.test.lua"), "{text}");
    assert!(text.ends_with(" passed, 0 failed\n"), "{text}");
}

#[test]
fn watch_runs_the_tests_again_after_a_change() {
    // Generous: the test fails only if the runner never reacts.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);
    let case =
        |want: i64| format!("return {{ cases = {{ {{ name = 'n', expect = {{ context = {{ n = {want} }} }} }} }} }}");
    let dir = dir_with(
        "watch",
        &[
            ("w.lua", "return { events = { { name = 'a', handler = function(ctx) ctx.n = 1 end } } }"),
            ("w.test.lua", &case(2)),
        ],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventchains"))
        .args(["test", &dir, "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let _guard = Guard(child);
    let summary = |lines: &std::sync::mpsc::Receiver<String>| loop {
        let line = lines.recv_timeout(WAIT).expect("a summary line");
        if line.ends_with(" failed") {
            return line;
        }
    };
    assert_eq!(summary(&lines), "0 passed, 1 failed");
    std::fs::write(PathBuf::from(&dir).join("w.test.lua"), case(1)).expect("edit");
    assert_eq!(summary(&lines), "1 passed, 0 failed");
}
