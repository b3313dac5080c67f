//! Figures computed from the measurements: overheads and ratios, the
//! break-even point, the amortized cost, and the project's targets.

use serde::{Deserialize, Serialize};

use crate::results::Results;
use crate::stats::{CostModel, break_even_executions};

/// The execution counts of the amortized-cost table (the experiment's 100, 1,000, 10,000 among them).
pub const AMORTIZED_EXECUTIONS: [u64; 6] = [1, 10, 100, 1_000, 10_000, 100_000];

/// Events in the seed chain (for per-event overhead).
const SEED_EVENTS: f64 = 2.0;

/// Adds the derived figures to `r` (only those whose inputs were measured).
pub(crate) fn derive(r: &mut Results) {
    let native = r.get("per_execution.native_ns");
    let lua = r.get("per_execution.lua_ns");
    if let (Some(native), Some(lua)) = (native, lua) {
        r.value("per_execution.overhead_ns", lua - native);
        r.value("per_execution.overhead_ratio", lua / native);
        r.value("per_execution.per_event_overhead_ns", (lua - native) / SEED_EVENTS);
        r.value("options.lua_handlers_ns", lua);
    }
    for n in crate::scenarios::EXECUTIONS {
        let native = r.get(&format!("repeated.n{n}.native_ns"));
        let lua = r.get(&format!("repeated.n{n}.lua_ns"));
        if let (Some(native), Some(lua)) = (native, lua) {
            r.value(format!("repeated.n{n}.overhead_ns"), lua - native);
            r.value(format!("repeated.n{n}.per_event_overhead_ns"), (lua - native) / SEED_EVENTS);
            r.value(format!("repeated.n{n}.ratio"), lua / native);
        }
    }
    // One Lua middleware against one Lua event, per event, from the same
    // interleaved comparison (the `middleware` scenario).
    let (native0, lua0, lua1) = (
        r.get("scaling.middleware_0.native_ns"),
        r.get("scaling.middleware_0.lua_ns"),
        r.get("scaling.middleware_1.lua_ns"),
    );
    if let (Some(native0), Some(lua0), Some(lua1)) = (native0, lua0, lua1) {
        r.value("per_execution.lua_event_per_event_ns", (lua0 - native0) / SEED_EVENTS);
        r.value("per_execution.lua_middleware_per_event_ns", (lua1 - lua0) / SEED_EVENTS);
    }
    for (from, to) in [("limits.lua_off_ns", "limits.lua_ns_off"), ("limits.lua_on_ns", "limits.lua_ns_on")] {
        if let Some(x) = r.get(from) {
            r.value(to, x);
        }
    }
    if let (Some(sync), Some(on_async)) = (r.get("async.sync_ns"), r.get("async.async_ns")) {
        r.value("async.overhead_ns", on_async - sync);
    }
    for serving in ["http", "http_handoff"] {
        let (lua, rust) = (r.get(&format!("async.{serving}_lua_rps")), r.get(&format!("async.{serving}_rust_rps")));
        if let (Some(lua), Some(rust)) = (lua, rust) {
            r.value(format!("async.{serving}_lua_vs_rust_throughput"), lua / rust);
        }
    }
    // The Lua chain on its serving against the Rust handler on whichever serving suits it best.
    let best_rust =
        [r.get("async.http_rust_rps"), r.get("async.http_handoff_rust_rps")].into_iter().flatten().reduce(f64::max);
    if let (Some(lua), Some(rust)) = (r.get("async.http_lua_rps"), best_rust) {
        r.value("async.http_lua_vs_best_rust_throughput", lua / rust);
    }
    for n in ["1k", "10k"] {
        let (pool, ours) = (
            r.get(&format!("async.vm_pool_{n}_bytes_per_inflight_execution")),
            r.get(&format!("async.concurrent_{n}_bytes_per_inflight_execution")),
        );
        if let (Some(pool), Some(ours)) = (pool, ours)
            && ours > 0.0
        {
            r.value(format!("async.vm_pool_{n}_memory_ratio"), pool / ours);
        }
    }
    let fresh = |r: &Results, k: &str| r.get(&format!("fresh_context.{k}"));
    if let (Some(native), Some(reference)) = (fresh(r, "native_ns"), fresh(r, "event_chains_0_2_1_ns")) {
        r.value("fresh_context.native_vs_event_chains_ratio", native / reference);
    }
    if let (Some(lua), Some(floor)) = (fresh(r, "lua_ns"), fresh(r, "raw_mlua_fresh_table_ns")) {
        r.value("fresh_context.lua_vs_floor_ratio", lua / floor);
    }
    let parts = ["setup.vm_new_us", "setup.parse_us", "setup.build_us"].map(|k| r.get(k));
    if r.get("setup.total_us").is_none()
        && let [Some(a), Some(b), Some(c)] = parts
    {
        r.value("setup.total_us", a + b + c);
    }
    if let (Some(setup), Some(lua)) = (r.get("setup.total_us"), lua)
        && let Some(be) = break_even_executions(setup * 1e3, lua)
    {
        r.value("break_even_executions", be);
    }
    if let (Some(setup), Some(native)) = (r.get("setup.rust_build_us"), native)
        && let Some(be) = break_even_executions(setup * 1e3, native)
    {
        r.value("rust_break_even_executions", be);
    }
}

/// The cost model of the Lua chain, if its inputs were measured.
pub(crate) fn lua_model(r: &Results) -> Option<CostModel> {
    Some(CostModel {
        setup_ns: r.get("setup.total_us")? * 1e3,
        first_execution_ns: r.get("setup.first_execution_us")? * 1e3,
        per_execution_ns: r.get("per_execution.lua_ns")?,
    })
}

/// The cost model of the hard-coded Rust chain, if its inputs were measured.
pub(crate) fn rust_model(r: &Results) -> Option<CostModel> {
    Some(CostModel {
        setup_ns: r.get("setup.rust_build_us")? * 1e3,
        first_execution_ns: r.get("setup.rust_first_execution_us")? * 1e3,
        per_execution_ns: r.get("per_execution.native_ns")?,
    })
}

/// One row of the amortized-cost table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AmortizedPoint {
    /// Number of executions of one built chain.
    pub executions: u64,
    /// Lua chain: (setup + first + (n-1) × per execution) / n, in µs; `None` if not measured.
    pub per_execution_us: Option<f64>,
    /// The hard-coded Rust chain, same formula, in µs; `None` if not measured.
    pub rust_per_execution_us: Option<f64>,
}

/// The amortized cost per execution at [`AMORTIZED_EXECUTIONS`].
pub fn amortized(r: &Results) -> Vec<AmortizedPoint> {
    let (lua, rust) = (lua_model(r), rust_model(r));
    AMORTIZED_EXECUTIONS
        .iter()
        .map(|&n| AmortizedPoint {
            executions: n,
            per_execution_us: lua.map(|m| m.amortized_ns(n) / 1e3),
            rust_per_execution_us: rust.map(|m| m.amortized_ns(n) / 1e3),
        })
        .collect()
}

/// One of the project's goals, read against the measurements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Short identifier.
    pub name: String,
    /// The goal in words.
    pub goal: String,
    /// The measured value, in the goal's unit.
    pub measured: Option<f64>,
    /// The limit it is read against.
    pub limit: Option<f64>,
    /// Met (`true`), missed (`false`), or not measurable in this run (`None`).
    pub met: Option<bool>,
    /// Why the verdict may not say much about the code (e.g. a busy machine).
    pub caveat: Option<String>,
}

/// The project's targets (issues 6 and 11), each met, missed or unknown.
pub fn targets(r: &Results) -> Vec<Target> {
    let lua = r.get("per_execution.lua_ns");
    let t = |name: &str, goal: &str, measured: Option<f64>, limit: Option<f64>, at_most: bool| {
        let met = match (measured, limit) {
            (Some(m), Some(l)) => Some(if at_most { m <= l } else { m >= l }),
            _ => None,
        };
        Target { name: name.to_owned(), goal: goal.to_owned(), measured, limit, met, caveat: None }
    };
    let t1 = r.get("scaling.threads_1_per_s");
    let mut threads = t(
        "threads",
        "2 threads at least 1.8x the throughput of 1 (executions/s)",
        r.get("scaling.threads_2_per_s"),
        t1.map(|x| x * 1.8),
        false,
    );
    if let Some(control) = r.get("scaling.control_speedup_2_threads").filter(|c| *c < 1.8) {
        threads.caveat = Some(format!(
            "inconclusive: a CPU-bound control loop reached only {control:.2}x with 2 threads on this machine during the run"
        ));
    }
    vec![
        t(
            "lua_vs_floor",
            "Lua chain per execution at most 1.15x anchors.raw_mlua_ns (ns)",
            lua,
            r.get("anchors.raw_mlua_ns").map(|x| x * 1.15),
            true,
        ),
        t(
            "lua_vs_seed_method",
            "Lua chain per execution below anchors.seed_method_lua_ns (ns)",
            lua,
            r.get("anchors.seed_method_lua_ns"),
            true,
        ),
        t("setup", "setup.total_us at most 150 µs", r.get("setup.total_us"), Some(150.0), true),
        t(
            "native_vs_reference",
            "per_execution.native_ns at most half of anchors.event_chains_0_2_1_ns (ns)",
            r.get("per_execution.native_ns"),
            r.get("anchors.event_chains_0_2_1_ns").map(|x| x / 2.0),
            true,
        ),
        t(
            "fresh_native_vs_reference",
            "fresh_context.native_ns at most half of fresh_context.event_chains_0_2_1_ns (ns)",
            r.get("fresh_context.native_ns"),
            r.get("fresh_context.event_chains_0_2_1_ns").map(|x| x / 2.0),
            true,
        ),
        t(
            "lua_middleware_vs_event",
            "per_execution.lua_middleware_per_event_ns at most per_execution.lua_event_per_event_ns (ns)",
            r.get("per_execution.lua_middleware_per_event_ns"),
            r.get("per_execution.lua_event_per_event_ns"),
            true,
        ),
        t(
            "never_seen_setup",
            "setup.never_seen_script_us at most setup.seed_method_us (µs)",
            r.get("setup.never_seen_script_us"),
            r.get("setup.seed_method_us"),
            true,
        ),
        t(
            "async_overhead",
            "async.async_ns at most async.sync_ns + 100 ns (the seed chain, nothing awaited)",
            r.get("async.async_ns"),
            r.get("async.sync_ns").map(|x| x + 100.0),
            true,
        ),
        t(
            "http_throughput",
            "async.http_lua_rps at least 0.7x async.http_rust_rps (the http service, Lua chain vs Rust handler)",
            r.get("async.http_lua_rps"),
            r.get("async.http_rust_rps").map(|x| x * 0.7),
            false,
        ),
        t(
            "concurrent_10k_wall",
            "async.concurrent_10k_wall_ms at most 500 ms (10,000 executions awaiting 10 ms on one thread)",
            r.get("async.concurrent_10k_wall_ms"),
            Some(500.0),
            true,
        ),
        t(
            "bytes_per_inflight",
            "async.bytes_per_inflight_execution at most 8 KiB (8192 bytes)",
            r.get("async.bytes_per_inflight_execution"),
            Some(8192.0),
            true,
        ),
        threads,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    fn full() -> Results {
        let mut r = Results::default();
        r.summary("per_execution.native_ns", Summary::of(&[100.0]).expect("s"));
        r.summary("per_execution.lua_ns", Summary::of(&[500.0]).expect("s"));
        r.value("setup.vm_new_us", 30.0);
        r.value("setup.parse_us", 20.0);
        r.value("setup.build_us", 10.0);
        r.value("setup.first_execution_us", 2.0);
        r.value("setup.rust_build_us", 0.5);
        r.value("setup.rust_first_execution_us", 0.2);
        r.value("anchors.raw_mlua_ns", 400.0);
        r.value("anchors.seed_method_lua_ns", 900.0);
        r.value("anchors.event_chains_0_2_1_ns", 150.0);
        r.value("scaling.threads_1_per_s", 1000.0);
        r.value("scaling.threads_2_per_s", 1900.0);
        r.value("scaling.middleware_0.native_ns", 100.0);
        r.value("scaling.middleware_0.lua_ns", 300.0);
        r.value("scaling.middleware_1.lua_ns", 600.0);
        r.value("fresh_context.native_ns", 90.0);
        r.value("fresh_context.event_chains_0_2_1_ns", 200.0);
        r.value("fresh_context.lua_ns", 400.0);
        r.value("fresh_context.raw_mlua_fresh_table_ns", 320.0);
        r.value("setup.never_seen_script_us", 50.0);
        r.value("setup.seed_method_us", 40.0);
        r.value("limits.lua_on_ns", 330.0);
        r
    }

    #[test]
    fn derives_overheads_break_even_and_amortized() {
        let mut r = full();
        derive(&mut r);
        assert_eq!(r.get("per_execution.overhead_ratio"), Some(5.0));
        assert_eq!(r.get("per_execution.per_event_overhead_ns"), Some(200.0));
        assert_eq!(r.get("options.lua_handlers_ns"), Some(500.0));
        assert_eq!(r.get("setup.total_us"), Some(60.0));
        assert_eq!(r.get("break_even_executions"), Some(120.0));
        assert_eq!(r.get("per_execution.lua_event_per_event_ns"), Some(100.0));
        assert_eq!(r.get("per_execution.lua_middleware_per_event_ns"), Some(150.0));
        assert_eq!(r.get("fresh_context.native_vs_event_chains_ratio"), Some(0.45));
        assert_eq!(r.get("fresh_context.lua_vs_floor_ratio"), Some(1.25));
        assert_eq!(r.get("limits.lua_ns_on"), Some(330.0));
        assert_eq!(r.get("limits.lua_ns_off"), None);
        let a = amortized(&r);
        assert_eq!(a.len(), AMORTIZED_EXECUTIONS.len());
        assert_eq!(a[0].per_execution_us, Some(62.0));
        let hundred = a.iter().find(|p| p.executions == 100).expect("100");
        assert!((hundred.per_execution_us.expect("lua") - (60.0 + 2.0 + 99.0 * 0.5) / 100.0).abs() < 1e-9);
        assert!(hundred.rust_per_execution_us.expect("rust") < hundred.per_execution_us.expect("lua"));
    }

    #[test]
    fn async_overhead_is_read_against_the_sync_path_plus_100_ns() {
        let mut r = Results::default();
        let met = |r: &Results| targets(r).into_iter().find(|t| t.name == "async_overhead").and_then(|t| t.met);
        assert_eq!(met(&r), None);
        r.value("async.sync_ns", 60.0);
        r.value("async.async_ns", 150.0);
        derive(&mut r);
        assert_eq!(r.get("async.overhead_ns"), Some(90.0));
        assert_eq!(met(&r), Some(true));
        r.value("async.async_ns", 170.0);
        assert_eq!(met(&r), Some(false));
    }

    #[test]
    fn issue_12_figures_derive_ratios_and_targets() {
        let mut r = Results::default();
        let met = |r: &Results, n: &str| targets(r).into_iter().find(|t| t.name == n).and_then(|t| t.met);
        for name in ["http_throughput", "concurrent_10k_wall", "bytes_per_inflight"] {
            assert_eq!(met(&r, name), None, "{name} unknown without figures");
        }
        r.value("async.http_lua_rps", 700.0);
        r.value("async.http_rust_rps", 1000.0);
        r.value("async.concurrent_10k_wall_ms", 499.0);
        r.value("async.bytes_per_inflight_execution", 8192.0);
        r.value("async.concurrent_10k_bytes_per_inflight_execution", 4000.0);
        r.value("async.vm_pool_10k_bytes_per_inflight_execution", 80_000.0);
        r.value("async.vm_pool_1k_bytes_per_inflight_execution", 70_000.0);
        derive(&mut r);
        assert_eq!(r.get("async.http_lua_vs_rust_throughput"), Some(0.7));
        assert_eq!(r.get("async.http_handoff_lua_vs_rust_throughput"), None, "no hand-off figures");
        assert_eq!(r.get("async.http_lua_vs_best_rust_throughput"), Some(0.7));
        r.value("async.http_handoff_rust_rps", 1400.0);
        derive(&mut r);
        assert_eq!(r.get("async.http_lua_vs_best_rust_throughput"), Some(0.5));
        assert_eq!(r.get("async.vm_pool_10k_memory_ratio"), Some(20.0));
        assert_eq!(r.get("async.vm_pool_1k_memory_ratio"), None, "no 1k coroutine figure");
        assert_eq!(met(&r, "http_throughput"), Some(true));
        assert_eq!(met(&r, "concurrent_10k_wall"), Some(true));
        assert_eq!(met(&r, "bytes_per_inflight"), Some(true));
        r.value("async.http_lua_rps", 699.0);
        r.value("async.concurrent_10k_wall_ms", 501.0);
        r.value("async.bytes_per_inflight_execution", 8193.0);
        for name in ["http_throughput", "concurrent_10k_wall", "bytes_per_inflight"] {
            assert_eq!(met(&r, name), Some(false), "{name}");
        }
    }

    #[test]
    fn targets_are_met_missed_or_unknown() {
        let mut r = full();
        derive(&mut r);
        let t = targets(&r);
        let met = |n: &str| t.iter().find(|t| t.name == n).and_then(|t| t.met);
        assert_eq!(met("lua_vs_floor"), Some(false)); // 500 > 1.15 x 400
        assert_eq!(met("fresh_native_vs_reference"), Some(true));
        assert_eq!(met("lua_middleware_vs_event"), Some(false));
        assert_eq!(met("never_seen_setup"), Some(false));
        assert_eq!(met("lua_vs_seed_method"), Some(true));
        assert_eq!(met("setup"), Some(true));
        assert_eq!(met("native_vs_reference"), Some(false));
        assert_eq!(met("threads"), Some(true));
        r.value("scaling.control_speedup_2_threads", 1.1);
        let caveat = targets(&r).into_iter().find(|t| t.name == "threads").and_then(|t| t.caveat);
        assert!(caveat.is_some_and(|c| c.contains("1.10x")));
        let empty = targets(&Results::default());
        assert!(empty.iter().all(|t| t.met.is_none()));
        assert!(amortized(&Results::default()).iter().all(|p| p.per_execution_us.is_none()));
    }
}
