//! `report.md` (and the terminal tables): the report as Markdown.

use std::fmt::Write as _;

use super::Report;
use super::table::{Table, num, ratio, spread};
use crate::engines::ENGINES;
use crate::results::Results;
use crate::scenarios::EXECUTIONS;

/// The seed-chain subjects: label and the variant name under `measurements.seed_chain`.
const SUBJECTS: [(&str, &str); 9] = [
    ("ours, Rust events (per_execution.native_ns)", "native"),
    ("ours, Lua handlers (per_execution.lua_ns, option 3)", "lua_chain"),
    ("option 1: pure-Lua engine", "pure_lua_engine"),
    ("option 2: Lua config only, Rust events", "lua_config_only"),
    ("anchor: event_chains 0.2.1", "event_chains_0_2_1"),
    ("anchor: the experiment's method", "seed_method"),
    ("anchor: rhai handlers on our chain (anchors.rhai_ns)", "rhai"),
    ("floor: minimal mlua program", "raw_mlua"),
    ("floor: bare stored-function call", "raw_mlua_call"),
];

fn row_of(r: &Results, label: &str, key: &str, unit_key: Option<&str>) -> Vec<String> {
    let s = r.summaries.get(key);
    let base = unit_key.and_then(|k| r.get(k));
    vec![
        label.to_owned(),
        num(s.map(|s| s.median).or_else(|| r.get(key))),
        spread(s),
        num(s.map(|s| s.mean)),
        ratio(s.map(|s| s.median).zip(base).map(|(a, b)| a / b)),
    ]
}

/// A table of `label | a | b | b / a` for each `(label, key a, key b)`.
fn pair_table(r: &Results, headers: [&str; 4], rows: &[(&str, &str, &str)]) -> String {
    let mut t = Table::new(headers);
    for (label, a, b) in rows {
        let (a, b) = (r.get(a), r.get(b));
        t.row([(*label).to_owned(), num(a), num(b), ratio(b.zip(a).map(|(b, a)| b / a))]);
    }
    t.to_markdown()
}

pub(super) fn to_markdown(report: &Report) -> String {
    let r = &report.results;
    let m = &report.meta;
    let mut out = String::new();
    let _ = writeln!(out, "# eventchains benchmark report\n");
    let _ =
        writeln!(out, "- machine: {} ({} cores, {}, {})", m.machine.cpu, m.machine.cores, m.machine.arch, m.machine.os);
    let _ = writeln!(out, "- engine: {}", m.engine);
    let _ = writeln!(out, "- commit: {}", m.commit);
    let _ = writeln!(
        out,
        "- profile: {}; mode: {}{}",
        m.profile,
        m.mode,
        m.filter.as_ref().map_or(String::new(), |f| format!("; filter: {f}"))
    );
    let _ = writeln!(
        out,
        "- harness: warm-up {} ms per variant, {} samples per variant of about {} µs each, variants interleaved; run took {:.1} s",
        num(Some(m.warmup_ms)),
        m.samples,
        num(Some(m.sample_target_us)),
        m.duration_s
    );
    let _ = writeln!(
        out,
        "- load average (1 min) at start / end: {} / {} (other processes share the cores)\n",
        num(m.load_start),
        num(m.load_end)
    );

    let _ = writeln!(out, "## Targets\n");
    let mut t = Table::new(["target", "measured", "limit", "verdict"]);
    for target in &report.targets {
        let verdict = match target.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let verdict = match &target.caveat {
            Some(caveat) => format!("{verdict} ({caveat})"),
            None => verdict.to_owned(),
        };
        t.row([target.goal.clone(), num(target.measured), num(target.limit), verdict]);
    }
    out.push_str(&t.to_markdown());

    let _ = writeln!(out, "\n## Per execution: the seed chain (increment + append), ns\n");
    let mut t = Table::new(["subject", "median ns", "p5–p95", "mean", "vs ours (Rust)"]);
    for (label, name) in SUBJECTS {
        t.row(row_of(r, label, &format!("measurements.seed_chain.{name}_ns"), Some("per_execution.native_ns")));
    }
    out.push_str(&t.to_markdown());
    let _ = writeln!(
        out,
        "\nLua chain over Rust chain: {} ns per execution, {} ns per event, ratio {}.",
        num(r.get("per_execution.overhead_ns")),
        num(r.get("per_execution.per_event_overhead_ns")),
        ratio(r.get("per_execution.overhead_ratio"))
    );

    let _ = writeln!(out, "\n## Fresh context per execution (the per-request shape), ns\n");
    let mut t = Table::new(["subject", "median ns", "p5–p95", "mean", "vs event_chains 0.2.1"]);
    for (label, key) in [
        ("ours, Rust events (fresh_context.native_ns)", "fresh_context.native_ns"),
        ("anchor: event_chains 0.2.1, its fresh context", "fresh_context.event_chains_0_2_1_ns"),
        ("ours, Lua handlers (fresh_context.lua_ns)", "fresh_context.lua_ns"),
        ("floor: minimal mlua program, fresh table", "fresh_context.raw_mlua_fresh_table_ns"),
    ] {
        t.row(row_of(r, label, key, Some("fresh_context.event_chains_0_2_1_ns")));
    }
    out.push_str(&t.to_markdown());
    let _ = writeln!(
        out,
        "\nOurs (Rust) / event_chains 0.2.1: {}; ours (Lua) / the fresh-table floor: {}.",
        ratio(r.get("fresh_context.native_vs_event_chains_ratio")),
        ratio(r.get("fresh_context.lua_vs_floor_ratio"))
    );
    let _ = writeln!(
        out,
        "\nPer event, from the `middleware` comparison: one Lua pass-through middleware {} ns \
         (per_execution.lua_middleware_per_event_ns), a Lua event over a Rust event {} ns \
         (per_execution.lua_event_per_event_ns).",
        num(r.get("per_execution.lua_middleware_per_event_ns")),
        num(r.get("per_execution.lua_event_per_event_ns"))
    );

    let _ = writeln!(out, "\n## Repeated execution, chain reused (ns per execution)\n");
    let mut t =
        Table::new(["executions", "Rust", "p5–p95", "Lua", "p5–p95", "overhead", "per event", "ratio", "raw mlua"]);
    for n in EXECUTIONS {
        let k = |s: &str| format!("repeated.n{n}.{s}");
        t.row([
            n.to_string(),
            num(r.get(&k("native_ns"))),
            spread(r.summaries.get(&k("native_ns"))),
            num(r.get(&k("lua_ns"))),
            spread(r.summaries.get(&k("lua_ns"))),
            num(r.get(&k("overhead_ns"))),
            num(r.get(&k("per_event_overhead_ns"))),
            ratio(r.get(&k("ratio"))),
            num(r.get(&k("raw_mlua_ns"))),
        ]);
    }
    out.push_str(&t.to_markdown());

    let _ = writeln!(out, "\n## Setup, one shot on fresh state (µs)\n");
    let mut t = Table::new(["phase", "median µs", "p5–p95"]);
    for (label, key) in [
        ("Lua chain: VM creation (setup.vm_new_us)", "setup.vm_new_us"),
        ("Lua chain: parse (setup.parse_us)", "setup.parse_us"),
        ("Lua chain: build (setup.build_us)", "setup.build_us"),
        ("Lua chain: total (setup.total_us)", "setup.total_us"),
        ("Lua chain: first execution", "setup.first_execution_us"),
        ("Lua chain: first execution on a new thread (builds its VM)", "setup.first_execution_new_thread_us"),
        ("Lua chain: a never-seen script, sandboxed, ready to run", "setup.never_seen_script_us"),
        ("anchor: the experiment's method (Lua::new + eval + handlers, unsandboxed)", "setup.seed_method_us"),
        ("anchor: rhai (new engine, compile, build the chain)", "anchors.rhai_setup_us"),
        ("Rust chain: build (hard-coded)", "setup.rust_build_us"),
        ("Rust chain: first execution", "setup.rust_first_execution_us"),
        ("anchor: Lua::new() (safe std libs)", "anchors.lua_new_us"),
        ("anchor: Lua VM without std libs", "anchors.lua_new_bare_us"),
        ("anchor: load + run the seed script on a live VM", "anchors.seed_script_load_us"),
    ] {
        let s = r.summaries.get(&format!("measurements.{key}"));
        t.row([label.to_owned(), num(r.get(key)), spread(s)]);
    }
    out.push_str(&t.to_markdown());

    let _ = writeln!(out, "\n## Cost analysis\n");
    let _ = writeln!(
        out,
        "Break-even (setup.total_us / per_execution.lua_ns, the experiment's definition): {} executions. \
         Rust chain (build / per execution): {} executions.\n",
        num(r.get("break_even_executions")),
        num(r.get("rust_break_even_executions"))
    );
    let mut t = Table::new(["executions", "Lua µs per execution", "Rust µs per execution", "Lua / Rust"]);
    for p in &report.amortized {
        t.row([
            p.executions.to_string(),
            num(p.per_execution_us),
            num(p.rust_per_execution_us),
            ratio(p.per_execution_us.zip(p.rust_per_execution_us).map(|(a, b)| a / b)),
        ]);
    }
    out.push_str(&t.to_markdown());

    let _ = writeln!(out, "\n## Scaling (ns per execution)\n");
    let mut t = Table::new(["dimension", "Rust", "p5–p95", "Lua", "p5–p95", "Lua / Rust"]);
    for (dim, points) in [("events", [1, 10, 100]), ("middleware", [0, 1, 4]), ("context", [2, 20, 200])] {
        for p in points {
            let k = |s: &str| format!("scaling.{dim}_{p}.{s}");
            let (rust, lua) = (r.get(&k("native_ns")), r.get(&k("lua_ns")));
            t.row([
                format!("{dim} = {p}"),
                num(rust),
                spread(r.summaries.get(&k("native_ns"))),
                num(lua),
                spread(r.summaries.get(&k("lua_ns"))),
                ratio(lua.zip(rust).map(|(a, b)| a / b)),
            ]);
        }
    }
    out.push_str(&t.to_markdown());

    let _ = writeln!(out, "\n## Threads (executions per second, median of alternating rounds)\n");
    let rows = [
        ("Lua chain", "scaling.threads_1_per_s", "scaling.threads_2_per_s"),
        ("Rust chain", "scaling.native_threads_1_per_s", "scaling.native_threads_2_per_s"),
        (
            "control: CPU-bound loop (what the machine allows)",
            "scaling.control_threads_1_per_s",
            "scaling.control_threads_2_per_s",
        ),
    ];
    out.push_str(&pair_table(r, ["chain", "1 thread", "2 threads", "speed-up"], &rows));

    let _ = writeln!(out, "\n## Limits: instruction hook off versus on (ns per execution)\n");
    let rows = [
        ("Lua chain", "limits.lua_off_ns", "limits.lua_on_ns"),
        ("minimal mlua program", "limits.raw_mlua_off_ns", "limits.raw_mlua_on_ns"),
    ];
    out.push_str(&pair_table(r, ["subject", "off", "on", "on / off"], &rows));
    let _ = writeln!(
        out,
        "\nPer Lua VM instruction ({} instructions per call of a loop; ns per call):\n",
        num(r.get("limits.loop_instructions"))
    );
    let rows = [
        ("minimal mlua: no hook / count hook", "limits.raw_loop_ns", "limits.raw_loop_hook_ns"),
        ("Lua chain: no caps / default caps", "limits.lua_loop_off_ns", "limits.lua_loop_on_ns"),
    ];
    out.push_str(&pair_table(r, ["subject", "off", "on", "on / off"], &rows));
    let mut t = Table::new(["per instruction", "ns"]);
    for (label, key) in [
        ("the count hook (minimal mlua)", "limits.hook_per_instruction_ns"),
        ("the instruction budget (chain with caps over minimal mlua)", "limits.budget_per_instruction_ns"),
        ("caps on over caps off (chain)", "limits.caps_per_instruction_ns"),
    ] {
        t.row([label.to_owned(), r.get(key).map_or_else(|| "n/a".to_owned(), |x| format!("{x:.3}"))]);
    }
    out.push_str(&t.to_markdown());
    if r.get("limits.lua_timecap_signal_ns").is_some() {
        let _ = writeln!(
            out,
            "\nA time cap alone (no instruction cap), count hook or deadline signal (ns per execution):\n"
        );
        let rows = [
            ("Lua chain: no caps / time cap, count hook", "limits.timecap_run_lua_off_ns", "limits.lua_timecap_ns"),
            (
                "Lua chain: no caps / time cap, deadline signal",
                "limits.timecap_run_lua_off_ns",
                "limits.lua_timecap_signal_ns",
            ),
            (
                "loop chain: no caps / time cap, deadline signal",
                "limits.timecap_run_loop_off_ns",
                "limits.lua_loop_timecap_signal_ns",
            ),
        ];
        out.push_str(&pair_table(r, ["subject", "off", "on", "on / off"], &rows));
    }

    if r.values.keys().any(|k| k.starts_with("async.http_") || k.starts_with("async.vm_pool_")) {
        out.push_str(&async_tables(r));
    }

    if r.values.keys().any(|k| k.starts_with("engines.")) {
        let _ = writeln!(out, "\n## Lua engines (one build each; seed chain, context reused)\n");
        let mut t = Table::new(["engine", "Lua chain ns", "minimal mlua ns", "chain / floor", "setup µs"]);
        for engine in ENGINES {
            let k = |s: &str| r.get(&format!("engines.{engine}.{s}"));
            t.row([
                engine.to_owned(),
                num(k("lua_ns")),
                num(k("raw_mlua_ns")),
                ratio(k("lua_ns").zip(k("raw_mlua_ns")).map(|(a, b)| a / b)),
                num(k("setup_us")),
            ]);
        }
        out.push_str(&t.to_markdown());
    }

    let _ = writeln!(out, "\n## The experiment's claims against this run\n");
    let mut t = Table::new(["claim", "experiment", "measured here"]);
    t.row([
        "Lua overhead per execution".to_owned(),
        "0.00% (3.00 µs vs 3.00 µs)".to_owned(),
        format!(
            "{} ({} ns Lua vs {} ns Rust)",
            r.get("per_execution.overhead_ratio")
                .map_or_else(|| "n/a".to_owned(), |x| format!("{:+.0}%", (x - 1.0) * 100.0)),
            num(r.get("per_execution.lua_ns")),
            num(r.get("per_execution.native_ns"))
        ),
    ]);
    t.row(["setup (parse + build)".to_owned(), "492.1 µs".to_owned(), format!("{} µs", num(r.get("setup.total_us")))]);
    t.row(["parse".to_owned(), "458.3 µs".to_owned(), format!("{} µs", num(r.get("setup.parse_us")))]);
    t.row(["build".to_owned(), "33.8 µs".to_owned(), format!("{} µs", num(r.get("setup.build_us")))]);
    t.row([
        "first execution".to_owned(),
        "15.4 µs".to_owned(),
        format!("{} µs", num(r.get("setup.first_execution_us"))),
    ]);
    t.row([
        "break-even".to_owned(),
        "about 164 executions".to_owned(),
        format!("{} executions", num(r.get("break_even_executions"))),
    ]);
    out.push_str(&t.to_markdown());

    if !r.missing.is_empty() {
        let _ = writeln!(out, "\n## Not measured in this run\n");
        for m in &r.missing {
            let _ = writeln!(out, "- `{}`: {}", m.key, m.reason);
        }
    }
    if !r.failed.is_empty() {
        let _ = writeln!(out, "\n## Failed scenarios\n\n{}", r.failed.join(", "));
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

/// The `async` scenario's http load and executions-in-flight tables.
fn async_tables(r: &Results) -> String {
    let mut out = String::new();
    let m = |key: &str| r.summaries.get(&format!("measurements.{key}"));
    let _ = writeln!(out, "\n## Async: the http service under load (medians of interleaved rounds)\n");
    let mut t = Table::new(["handler", "requests/s", "spread", "p50 ms", "p99 ms", "p99 spread"]);
    let rows = [
        ("Lua chain (POST /orders), on Lua threads", "http_lua"),
        ("Rust handler (POST /orders-rust), on Lua threads", "http_rust"),
        ("Lua chain, hand-off to Lua workers", "http_handoff_lua"),
        ("Rust handler, axum::serve", "http_handoff_rust"),
    ];
    for (label, name) in rows {
        let k = |figure: &str| format!("async.{name}_{figure}");
        t.row([
            label.to_owned(),
            num(r.get(&k("rps"))),
            spread(m(&k("rps"))),
            r.get(&k("p50_ms")).map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}")),
            r.get(&k("p99_ms")).map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}")),
            spread(m(&k("p99_ms"))),
        ]);
    }
    out.push_str(&t.to_markdown());
    for (label, serving) in [("on Lua threads", "http"), ("with hand-off", "http_handoff")] {
        let _ = writeln!(
            out,
            "\nLua / Rust throughput {label}: {} (ratio of the medians); median of the per-round ratios: {}",
            ratio(r.get(&format!("async.{serving}_lua_vs_rust_throughput"))),
            ratio(r.get(&format!("async.{serving}_lua_vs_rust_round_ratio")))
        );
    }
    let _ = writeln!(
        out,
        "\nLua on Lua threads / the faster Rust figure of the two servings: {}\n",
        ratio(r.get("async.http_lua_vs_best_rust_throughput"))
    );
    let _ = writeln!(out, "## Async: executions in flight, each awaiting a timer (medians of separate processes)\n");
    let mut t =
        Table::new(["model", "in flight", "wall ms", "spread", "executions/s", "bytes per execution", "VM setup ms"]);
    for (label, prefix) in [("coroutines, one VM (ours)", "concurrent"), ("pool of VMs, one per execution", "vm_pool")]
    {
        let sizes =
            r.values.keys().filter_map(|k| k.strip_prefix(&format!("async.{prefix}_"))?.strip_suffix("_wall_ms"));
        for size in sizes.collect::<Vec<_>>() {
            let k = |figure: &str| format!("async.{prefix}_{size}_{figure}");
            t.row([
                label.to_owned(),
                size.to_owned(),
                num(r.get(&k("wall_ms"))),
                spread(m(&k("wall_ms"))),
                num(r.get(&k("per_s"))),
                num(r.get(&k("bytes_per_inflight_execution"))),
                num(r.get(&k("setup_ms"))),
            ]);
        }
    }
    out.push_str(&t.to_markdown());
    out
}
