//! End to end: run tiny scenarios, write the report files, read them back;
//! and the binary's `--quick --filter` / `--compare` path.

use std::path::PathBuf;
use std::process::Command;

use eventchains_bench::report::{REQUIRED_KEYS, REQUIRED_NUMBERS, lookup};
use eventchains_bench::{HarnessConfig, read_report_json, run_suite, write_report};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eventchains-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn one_tiny_scenario_end_to_end() {
    let mut lines = Vec::new();
    let report = run_suite(HarnessConfig::TINY, true, Some("seed_chain"), &mut |l: &str| lines.push(l.to_owned()))
        .expect("runs");
    assert!(lines.iter().any(|l| l.contains("seed_chain: (1/1)")), "{lines:?}");
    assert!(report.results.failed.is_empty(), "{:?}", report.results.notes);

    let dir = scratch("e2e");
    let written = write_report(&report, &dir).expect("writes");
    let json = read_report_json(&written.json).expect("reads back");
    for key in REQUIRED_KEYS {
        assert!(json.get(key).is_some(), "`{key}` missing");
    }
    for key in REQUIRED_NUMBERS {
        let v = lookup(&json, key).unwrap_or_else(|| panic!("`{key}` missing"));
        assert!(v.is_number() || v.is_null(), "`{key}` is {v}");
    }
    for key in [
        "per_execution.native_ns.median",
        "per_execution.lua_ns.median",
        "per_execution.overhead_ratio",
        "options.lua_handlers_ns",
        "anchors.event_chains_0_2_1_ns",
        "anchors.raw_mlua_ns",
        "anchors.raw_mlua_call_ns",
        "anchors.seed_method_lua_ns",
        "options.pure_lua_engine_ns",
        "options.lua_config_only_ns",
    ] {
        assert!(lookup(&json, key).is_some_and(|v| v.as_f64().is_some_and(|x| x > 0.0)), "`{key}` not measured");
    }
    // Everything else is null and explained.
    let missing = json["missing"].as_array().expect("list");
    assert!(missing.iter().any(|m| m["key"] == "setup.total_us"));
    let md = std::fs::read_to_string(&written.markdown).expect("markdown");
    assert!(md.contains("## Per execution") && md.contains("floor: minimal mlua program"));
    let svg = std::fs::read_to_string(&written.chart).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("Amortized cost per execution"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `async` scenario in its test size: the seed chain, 200 coroutines and
/// a pool of 20 VMs in flight (the helper binary), and 20 requests against
/// each http handler in both ways of serving (every response a 200, or the
/// scenario fails).
#[test]
fn the_async_scenario_measures_in_flight_executions_and_both_http_handlers() {
    let report = run_suite(HarnessConfig::TINY, false, Some("async"), &mut |_: &str| {}).expect("runs");
    assert!(report.results.failed.is_empty(), "{:?}", report.results.notes);
    let json = report.to_json();
    for key in [
        "async.sync_ns",
        "async.async_ns",
        "async.concurrent_200_wall_ms",
        "async.concurrent_200_per_s",
        "async.concurrent_200_bytes_per_inflight_execution",
        "async.vm_pool_20_wall_ms",
        "async.vm_pool_20_bytes_per_inflight_execution",
        "async.vm_pool_20_setup_ms",
        "async.http_lua_rps",
        "async.http_rust_rps",
        "async.http_lua_p50_ms",
        "async.http_rust_p50_ms",
        "async.http_lua_p99_ms",
        "async.http_rust_p99_ms",
        "async.http_lua_vs_rust_throughput",
        "async.http_handoff_lua_rps",
        "async.http_handoff_rust_rps",
        "async.http_handoff_lua_p99_ms",
        "async.http_handoff_lua_vs_rust_throughput",
        "measurements.async.http_lua_rps.median",
    ] {
        assert!(lookup(&json, key).is_some_and(|v| v.as_f64().is_some_and(|x| x > 0.0)), "`{key}` not measured");
    }
    let samples = |key: &str| lookup(&json, key).and_then(serde_json::Value::as_u64);
    assert_eq!(samples("measurements.async.http_rust_p99_ms.samples"), Some(1), "one round per handler");
    let md = report.to_markdown();
    assert!(
        md.contains("## Async: the http service under load")
            && md.contains("| Rust handler (POST /orders-rust), on Lua threads"),
        "{md}"
    );
    let cells = |line: &str| line.split('|').map(str::trim).map(str::to_owned).collect::<Vec<_>>();
    assert!(
        md.lines().map(cells).any(|c| c.len() > 3 && c[1] == "pool of VMs, one per execution" && c[2] == "20"),
        "{md}"
    );
}

#[test]
fn binary_quick_filter_and_compare() {
    let dir = scratch("bin");
    let bin = env!("CARGO_BIN_EXE_eventchains-bench");
    let run = |extra: &[&str]| {
        let out = Command::new(bin)
            .args(["--quick", "--filter", "limits", "--out-dir"])
            .arg(&dir)
            .args(extra)
            .output()
            .expect("starts");
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let first = run(&[]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("limits: (1/1)"), "{stderr}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("## Limits"), "{stdout}");
    let baseline = dir.join("baseline.json");
    std::fs::copy(dir.join("report.json"), &baseline).expect("copies");
    let second = run(&["--compare", baseline.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("| limits.raw_mlua_on_ns.median"), "{stdout}");

    let bad = Command::new(bin).args(["--filter", "nope", "--out-dir"]).arg(&dir).output().expect("starts");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no scenario named `nope`"));
    let _ = std::fs::remove_dir_all(&dir);
}
