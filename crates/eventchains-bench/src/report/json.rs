//! `report.json`: the report as nested JSON, every required key present.

use serde_json::{Map, Value, json};

use super::Report;

/// Top-level keys every `report.json` has.
pub const REQUIRED_KEYS: [&str; 7] = ["machine", "engine", "commit", "profile", "amortized", "missing", "targets"];

/// Dotted keys every `report.json` has, each a JSON number, or `null` listed in `missing`.
pub const REQUIRED_NUMBERS: [&str; 20] = [
    "per_execution.native_ns.median",
    "per_execution.lua_ns.median",
    "per_execution.overhead_ratio",
    "per_execution.per_event_overhead_ns",
    "setup.vm_new_us",
    "setup.parse_us",
    "setup.build_us",
    "setup.total_us",
    "break_even_executions",
    "anchors.event_chains_0_2_1_ns",
    "anchors.seed_method_lua_ns",
    "anchors.raw_mlua_ns",
    "anchors.raw_mlua_call_ns",
    "options.pure_lua_engine_ns",
    "options.lua_config_only_ns",
    "options.lua_handlers_ns",
    "scaling.threads_1_per_s",
    "scaling.threads_2_per_s",
    // Not in the minimum list but read by the targets and the chart:
    "setup.first_execution_us",
    "setup.rust_build_us",
];

/// The value at a dotted `key` (`"anchors.raw_mlua_ns"`), if present.
pub fn lookup<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(json, |v, part| v.get(part))
}

fn insert_path(root: &mut Map<String, Value>, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut node = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_owned(), value);
            return;
        }
        let child = node.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        let Value::Object(next) = child else { return };
        node = next;
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

pub(super) fn to_json(report: &Report) -> Value {
    let meta = &report.meta;
    let r = &report.results;
    let mut root = Map::new();
    root.insert("schema_version".into(), json!(1));
    root.insert("machine".into(), json!(meta.machine));
    root.insert("engine".into(), json!(meta.engine));
    root.insert("commit".into(), json!(meta.commit));
    root.insert("profile".into(), json!(meta.profile));
    root.insert("mode".into(), json!(meta.mode));
    root.insert("filter".into(), json!(meta.filter));
    root.insert("started_unix_s".into(), json!(meta.started_unix_s));
    root.insert("duration_s".into(), number(meta.duration_s));
    root.insert("load_average".into(), json!({"start": meta.load_start, "end": meta.load_end}));
    root.insert("failed_scenarios".into(), json!(r.failed));
    root.insert(
        "harness".into(),
        json!({"warmup_ms": meta.warmup_ms, "samples": meta.samples, "sample_target_us": meta.sample_target_us}),
    );
    for (key, value) in &r.values {
        insert_path(&mut root, key, number(*value));
    }
    for (key, summary) in &r.summaries {
        let s = summary;
        insert_path(
            &mut root,
            key,
            json!({"median": number(s.median), "p5": number(s.p5), "p95": number(s.p95),
                   "min": number(s.min), "max": number(s.max), "mean": number(s.mean), "samples": s.samples}),
        );
    }
    root.insert("amortized".into(), json!(report.amortized));
    root.insert("targets".into(), json!(report.targets));

    let mut missing: Vec<Value> = r.missing.iter().map(|m| json!({"key": m.key, "reason": m.reason})).collect();
    let mut root = Value::Object(root);
    for key in REQUIRED_NUMBERS {
        if lookup(&root, key).is_some_and(Value::is_number) {
            continue;
        }
        if r.missing_reason(key).is_none() {
            let reason = match &meta.filter {
                Some(f) => format!("not run: --filter {f}"),
                None => "not measured (its inputs are missing)".to_owned(),
            };
            missing.push(json!({"key": key, "reason": reason}));
        }
        if let Value::Object(map) = &mut root {
            insert_path(map, key, Value::Null);
        }
    }
    if let Value::Object(map) = &mut root {
        map.insert("missing".into(), Value::Array(missing));
        map.insert("notes".into(), json!(r.notes));
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::HarnessConfig;
    use crate::report::Meta;
    use crate::results::Results;
    use crate::stats::Summary;

    fn meta() -> Meta {
        Meta::detect(HarnessConfig::TINY, true, None)
    }

    /// Every figure a full run records, with made-up values.
    fn complete() -> Results {
        let mut r = Results::default();
        let s = |x: f64| Summary::of(&[x * 0.9, x, x * 1.1]).expect("summary");
        r.summary("per_execution.native_ns", s(100.0));
        r.summary("per_execution.lua_ns", s(300.0));
        for (k, v) in [
            ("setup.vm_new_us", 30.0),
            ("setup.parse_us", 20.0),
            ("setup.build_us", 10.0),
            ("setup.first_execution_us", 3.0),
            ("setup.rust_build_us", 0.2),
            ("setup.rust_first_execution_us", 0.1),
            ("anchors.event_chains_0_2_1_ns", 250.0),
            ("anchors.seed_method_lua_ns", 900.0),
            ("anchors.raw_mlua_ns", 280.0),
            ("anchors.raw_mlua_call_ns", 60.0),
            ("options.pure_lua_engine_ns", 350.0),
            ("options.lua_config_only_ns", 101.0),
            ("scaling.threads_1_per_s", 1e6),
            ("scaling.threads_2_per_s", 1.9e6),
        ] {
            r.value(k, v);
        }
        r
    }

    #[test]
    fn a_complete_run_has_every_required_key_as_a_number() {
        let json = Report::new(meta(), complete()).to_json();
        for key in REQUIRED_KEYS {
            assert!(json.get(key).is_some(), "missing top-level `{key}`");
        }
        for key in REQUIRED_NUMBERS {
            assert!(
                lookup(&json, key).is_some_and(Value::is_number),
                "`{key}` is not a number: {:?}",
                lookup(&json, key)
            );
        }
        assert!(json["machine"]["cores"].is_number());
        assert!(json["engine"].as_str().is_some_and(|e| e.starts_with("Lua")));
        assert_eq!(json["missing"], json!([]));
        let amortized = json["amortized"].as_array().expect("list");
        assert!(amortized.iter().all(|p| p["executions"].is_u64() && p["per_execution_us"].is_number()));
        assert!(amortized.iter().any(|p| p["executions"] == 10_000));
        assert_eq!(json["per_execution"]["overhead_ratio"], json!(3.0));
        // Round trip through text keeps numbers as numbers.
        let text = serde_json::to_string(&json).expect("serializes");
        let back: Value = serde_json::from_str(&text).expect("parses");
        assert!(lookup(&back, "per_execution.native_ns.p95").is_some_and(Value::is_f64));
    }

    #[test]
    fn unmeasured_keys_are_null_and_listed_with_a_reason() {
        let mut r = complete();
        r.summaries.remove("per_execution.lua_ns");
        r.values.remove("scaling.threads_2_per_s");
        r.missing("per_execution.lua_ns", "not measured: eventchains-lua not available");
        let json = Report::new(meta(), r).to_json();
        assert_eq!(lookup(&json, "per_execution.lua_ns.median"), Some(&Value::Null));
        assert_eq!(lookup(&json, "per_execution.overhead_ratio"), Some(&Value::Null));
        assert_eq!(lookup(&json, "scaling.threads_2_per_s"), Some(&Value::Null));
        let missing = json["missing"].as_array().expect("list");
        let reason =
            |key: &str| missing.iter().find(|m| m["key"] == key).and_then(|m| m["reason"].as_str()).map(str::to_owned);
        assert_eq!(reason("per_execution.lua_ns.median").as_deref(), None, "prefix entry is enough");
        assert_eq!(reason("per_execution.lua_ns").as_deref(), Some("not measured: eventchains-lua not available"));
        assert!(reason("scaling.threads_2_per_s").is_some());
        assert!(reason("per_execution.overhead_ratio").is_some());
        assert!(json["amortized"][0]["per_execution_us"].is_null());
        assert!(lookup(&json, "anchors.raw_mlua_ns").is_some_and(Value::is_number));
    }
}
