//! Runs the built `eventchains` binary on the example scripts.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eventchains"))
}

fn example(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", "scripts", name].iter().collect();
    path.to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn json_of(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one JSON line on stdout: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {text}"))
}

/// A script written to a temporary file.
fn temp_script(name: &str, src: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eventchains-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, src).expect("write script");
    path
}

#[test]
fn seed_runs_to_the_expected_context_as_json() {
    let out = run(&["run", &example("seed.lua"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["status"], "completed");
    assert_eq!(json["failures"], serde_json::json!([]));
    assert_eq!(json["context"], serde_json::json!({"counter": 1, "message": "start -> processed"}));
    assert_eq!(json["executions"], 1);
    assert!(json["timing"]["setup_us"].as_f64().is_some_and(|t| t > 0.0));
    assert!(json["timing"]["per_execution_us"].as_f64().is_some());
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["status", "failures", "context", "executions", "timing"]);
}

#[test]
fn repeat_runs_each_time_on_a_fresh_context() {
    let out = run(&["run", &example("seed.lua"), "--format", "json", "--repeat", "50"]);
    assert_eq!(out.status.code(), Some(0));
    let json = json_of(&out);
    assert_eq!(json["executions"], 50);
    assert_eq!(json["context"]["counter"], 1);
}

#[test]
fn orders_pipeline_completes_and_mixes_rust_and_lua() {
    let out = run(&["run", &example("orders.lua"), "--format", "json", "--log", "info"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["status"], "completed");
    assert_eq!(json["context"]["total"], 11.88);
    assert_eq!(json["context"]["order"]["items"][0]["sku"], "TEA");
    assert_eq!(json["context"]["order"]["valid"], true);
    assert_eq!(json["context"]["confirmation"], "A-1001-1188");
    assert_eq!(json["context"]["audit"].as_array().map(Vec::len), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("validate"), "logging middleware writes to stderr: {stderr}");
}

#[test]
fn caller_context_wins_and_event_failures_are_warnings() {
    let ctx = r#"{"order": {"id": "B-7", "coupon": "BOGUS", "items": [{"sku": "piano", "qty": 1, "price": 2500}]}}"#;
    let out = run(&["run", &example("orders.lua"), "--format", "json", "--context", ctx]);
    assert_eq!(out.status.code(), Some(0));
    let json = json_of(&out);
    assert_eq!(json["status"], "completed_with_warnings");
    assert_eq!(
        json["failures"],
        serde_json::json!([
            {"event": "apply_coupon", "kind": "event", "message": "unknown coupon BOGUS"},
            {"event": "review", "kind": "event", "message": "total 3000.00 is above 1000: manual review"},
        ])
    );
    assert_eq!(json["context"]["order"]["status"], "needs_review");
}

#[test]
fn context_file_is_read() {
    let file = temp_script("ctx.json", r#"{"counter": 41}"#);
    let out = run(&["run", &example("seed.lua"), "--format", "json", "--context-file", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["context"]["counter"], 42);
}

#[test]
fn a_failed_chain_exits_1() {
    let script = temp_script(
        "fail.lua",
        "return { events = { { name = 'charge', handler = function(ctx) return nil, 'card declined' end } } }",
    );
    let out = run(&["run", &script.to_string_lossy(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    assert_eq!(json["status"], "failed");
    assert_eq!(json["failures"], serde_json::json!([{"event": "charge", "kind": "event", "message": "card declined"}]));
}

#[test]
fn invalid_scripts_and_arguments_exit_2_with_a_clear_message() {
    let script = temp_script("broken.lua", "return {\n  events = {\n    { name = 'a' handler = 1 },\n  }\n}");
    let out = run(&["run", &script.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.lua:3: syntax error"), "{stderr}");
    assert!(out.stdout.is_empty());

    let invalid = temp_script("invalid.lua", "return { events = { { name = 'a' } } }");
    let out = run(&["check", &invalid.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid.lua: events[1]: missing `handler` or `rust`"));

    let out = run(&["run", &example("seed.lua"), "--context", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--context must be a JSON object, got array"));

    let out = run(&["run", &example("seed.lua"), "--context", "{"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&["run", &example("seed.lua"), "--repeat", "0"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&["run", "/nonexistent/x.lua"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.lua"));
}

#[test]
fn check_lists_events_and_middleware_in_execution_order() {
    let out = run(&["check", &example("orders.lua")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("orders.lua: ok (orders, fault tolerance best_effort)"), "{text}");
    let events = ["1. validate", "2. normalize", "3. apply_coupon", "4. total", "5. review", "6. confirm"];
    for e in events {
        assert!(text.contains(e), "{e} in {text}");
    }
    let logging = text.find("1. logging").expect("logging is outermost");
    let retry = text.find("2. retry").expect("retry second");
    let timeout = text.find("3. timeout").expect("timeout third");
    let lua = text.find("4. middleware[1] (orders.lua:").expect("lua middleware innermost");
    assert!(logging < retry && retry < timeout && timeout < lua);
}

#[test]
fn text_output_and_help() {
    let out = run(&["run", &example("seed.lua")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("status: completed\n"), "{text}");
    assert!(text.contains("\"message\": \"start -> processed\""));

    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("eventchains run examples/scripts/seed.lua"), "{text}");
    assert!(text.contains("Exit codes"));
}

#[test]
fn the_timeout_middleware_stops_a_looping_lua_handler_and_the_chain_goes_on() {
    let script = temp_script(
        "timeout.lua",
        r#"return {
  name = "deadline",
  fault_tolerance = "lenient",
  middleware = { { "timeout", timeout_ms = 50 } },
  events = {
    -- Each iteration is a few instructions and a 4 MB string: the CLI's
    -- 10M-instruction cap would take terabytes of copying, so only the
    -- middleware's 50 ms deadline can stop it, on any machine.
    { name = "spin", handler = function(ctx) while true do local s = string.rep("x", 1 << 22) end end },
    { name = "after", handler = function(ctx) ctx.after = true end },
  },
}"#,
    );
    let out = run(&["run", &script.to_string_lossy(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["status"], "completed_with_warnings");
    assert_eq!(json["failures"][0]["event"], "spin");
    assert_eq!(json["failures"][0]["kind"], "timeout");
    assert_eq!(json["context"]["after"], true);
}

#[test]
fn named_middleware_config_typos_are_load_errors() {
    let script = temp_script(
        "typo.lua",
        r#"return { middleware = { { "retry", max_attempt = 3 } }, events = { { name = "a", handler = function() end } } }"#,
    );
    let out = run(&["run", &script.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.lua") && stderr.contains("max_attempt"), "{stderr}");
}

/// The value of the Prometheus sample `name{...}` whose labels include all of `labels`.
fn sample(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (set, value) = rest.split_once("} ")?;
        let set: Vec<&str> = set.split(',').collect();
        labels.iter().all(|l| set.contains(l)).then(|| value.trim().parse().ok())?
    })
}

#[test]
fn metrics_prometheus_prints_the_exposition_after_the_report() {
    let script = temp_script(
        "metrics.lua",
        r#"return {
          name = "shop",
          fault_tolerance = "lenient",
          middleware = { "metrics", { "circuit_breaker", failure_rate = 0.5, window = 4, minimum_calls = 4 } },
          events = {
            { name = "ok", handler = function(ctx) end },
            { name = "bad", handler = function(ctx) return nil, "no" end },
          },
        }"#,
    );
    let script = script.to_string_lossy().into_owned();
    let out = run(&["run", &script, "--repeat", "6", "--format", "json", "--metrics", "prometheus"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    let text = json["metrics"].as_str().expect("metrics is the exposition text");
    let executions = "eventchains_event_executions_total";
    assert_eq!(sample(text, executions, &[r#"event="ok""#, r#"outcome="success""#, r#"chain="shop""#]), Some(6.0));
    // `bad` failed 4 times, then its circuit (outside `metrics`) opened and
    // refused the last 2 runs before they reached `metrics`.
    let failed = [r#"event="bad""#, r#"outcome="failure""#, r#"error_kind="event""#];
    assert_eq!(sample(text, executions, &failed), Some(4.0), "{text}");
    let refused = [r#"event="bad""#, r#"breaker="circuit_breaker""#];
    assert_eq!(sample(text, "eventchains_circuit_breaker_rejected_calls_total", &refused), Some(2.0), "{text}");
    let open = [r#"event="bad""#, r#"state="open""#];
    assert_eq!(sample(text, "eventchains_circuit_breaker_state", &open), Some(1.0), "{text}");
    assert_eq!(sample(text, "eventchains_event_duration_seconds_count", &[r#"event="ok""#]), Some(6.0), "{text}");
    assert!(text.contains("# TYPE eventchains_event_executions_total counter"), "{text}");

    // Text format: the exposition follows a `metrics:` line after the report.
    let out = run(&["run", &script, "--metrics", "prometheus"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (report, exposition) = stdout.split_once("\nmetrics:\n").expect("a metrics section");
    assert!(report.starts_with("status: completed_with_warnings"), "{stdout}");
    assert_eq!(sample(exposition, executions, &[r#"event="ok""#, r#"outcome="success""#]), Some(1.0), "{stdout}");
    // Without the flag, no metrics key.
    let out = run(&["run", &script, "--format", "json"]);
    assert!(json_of(&out).get("metrics").is_none());
    let out = run(&["run", &script, "--metrics", "statsd"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failure_rate_breaker_from_a_script_opens_on_an_alternating_pattern() {
    let script = temp_script(
        "alternating.lua",
        r#"local calls = 0
        return {
          middleware = { { "circuit_breaker", failure_rate = 0.5, window = 10, minimum_calls = 10 } },
          events = {
            { name = "flaky", handler = function(ctx)
                calls = calls + 1
                ctx.calls = calls
                if calls % 2 == 0 then return nil, "down" end
              end },
          },
        }"#,
    );
    let script = script.to_string_lossy().into_owned();
    // Ten calls, five failed: the circuit opens; the eleventh is refused
    // without running the handler (its count stays at 10).
    let out = run(&["run", &script, "--repeat", "11", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["failures"][0]["kind"], "cancelled", "{json}");
    assert!(json["failures"][0]["message"].as_str().is_some_and(|m| m.starts_with("circuit breaker open")), "{json}");
    let out = run(&["run", &script, "--repeat", "10", "--format", "json"]);
    assert_eq!(json_of(&out)["failures"][0]["kind"], "event", "the tenth call ran and failed");
}
