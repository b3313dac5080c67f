//! `--compare FILE`: the change of every headline figure against an earlier `report.json`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::table::{Table, num};

/// Top-level keys that describe the run, repeat other figures (`measurements`,
/// `targets`) or are not figures; left out of comparisons.
const SKIPPED_TOP_LEVEL: [&str; 9] = [
    "schema_version",
    "machine",
    "harness",
    "started_unix_s",
    "duration_s",
    "load_average",
    "measurements",
    "targets",
    "missing",
];

/// Leaves that describe spread rather than the figure itself; left out of comparisons.
const SPREAD_LEAVES: [&str; 6] = ["p5", "p95", "min", "max", "mean", "samples"];

/// Every numeric leaf of `json` by dotted path (array items by index, or by
/// their `executions` field when they have one), spread leaves excluded.
pub fn flatten_numbers(json: &Value) -> BTreeMap<String, f64> {
    fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, f64>) {
        let join = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
        match v {
            Value::Number(n) => {
                let leaf = path.rsplit('.').next().unwrap_or(path);
                if !SPREAD_LEAVES.contains(&leaf)
                    && let Some(x) = n.as_f64()
                {
                    out.insert(path.to_owned(), x);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    if path.is_empty() && SKIPPED_TOP_LEVEL.contains(&k.as_str()) {
                        continue;
                    }
                    if k != "limit" {
                        walk(v, &join(k), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let id =
                        item.get("executions").and_then(Value::as_u64).map_or_else(|| i.to_string(), |e| e.to_string());
                    let item = match item {
                        Value::Object(m) => Value::Object(
                            m.iter().filter(|(k, _)| *k != "executions").map(|(k, v)| (k.clone(), v.clone())).collect(),
                        ),
                        other => other.clone(),
                    };
                    walk(&item, &join(&id), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(json, "", &mut out);
    out
}

/// A table of `key | before | now | change` for every figure in both reports,
/// and the keys found in only one of them.
pub fn compare(before: &Value, now: &Value) -> String {
    let (a, b) = (flatten_numbers(before), flatten_numbers(now));
    let mut table = Table::new(["figure", "before", "now", "change"]);
    for (key, old) in &a {
        if let Some(new) = b.get(key) {
            let change =
                if *old != 0.0 { format!("{:+.1}%", (new - old) / old.abs() * 100.0) } else { "n/a".to_owned() };
            table.row([key.clone(), num(Some(*old)), num(Some(*new)), change]);
        }
    }
    let mut out = String::new();
    let commit = |v: &Value| v.get("commit").and_then(Value::as_str).unwrap_or("?").to_owned();
    out.push_str(&format!("Comparison: before = {}, now = {}\n\n", commit(before), commit(now)));
    out.push_str(&table.to_markdown());
    let only = |x: &BTreeMap<String, f64>, y: &BTreeMap<String, f64>| {
        let keys: Vec<&String> = x.keys().filter(|k| !y.contains_key(*k)).collect();
        let mut listed = keys.iter().take(12).map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        if keys.len() > 12 {
            listed.push_str(&format!(" (and {} more)", keys.len() - 12));
        }
        listed
    };
    let (gone, new) = (only(&a, &b), only(&b, &a));
    if !gone.is_empty() {
        out.push_str(&format!("\nOnly before: {gone}\n"));
    }
    if !new.is_empty() {
        out.push_str(&format!("\nOnly now: {new}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_medians_and_amortized_rows() {
        let v = json!({
            "commit": "abc",
            "machine": {"cores": 2},
            "per_execution": {"native_ns": {"median": 100.0, "p5": 90.0, "p95": 120.0, "samples": 5}},
            "amortized": [{"executions": 100, "per_execution_us": 5.0}],
            "anchors": {"raw_mlua_ns": 700, "seed_method_lua_ns": null},
            "measurements": {"seed_chain": {"native_ns": {"median": 100.0}}},
            "targets": [{"measured": 3.0}],
        });
        let flat = flatten_numbers(&v);
        assert_eq!(
            flat.into_iter().collect::<Vec<_>>(),
            [
                ("amortized.100.per_execution_us".to_owned(), 5.0),
                ("anchors.raw_mlua_ns".to_owned(), 700.0),
                ("per_execution.native_ns.median".to_owned(), 100.0),
            ]
        );
    }

    #[test]
    fn diff_shows_percent_change_and_one_sided_keys() {
        let before = json!({"commit": "old", "a": {"x_ns": 200.0}, "gone": 1.0, "zero": 0.0});
        let now = json!({"commit": "new", "a": {"x_ns": 150.0}, "added": 2.0, "zero": 3.0});
        let out = compare(&before, &now);
        assert!(out.contains("before = old, now = new"), "{out}");
        assert!(out.contains("| a.x_ns |    200 |  150 | -25.0% |"), "{out}");
        assert!(out.contains("| zero   |  0.000 | 3.00 |    n/a |"), "{out}");
        assert!(out.contains("Only before: gone"), "{out}");
        assert!(out.contains("Only now: added"), "{out}");
        let many: serde_json::Map<String, Value> = (0..20).map(|i| (format!("k{i:02}"), json!(1.0))).collect();
        let out = compare(&Value::Object(many), &json!({}));
        assert!(out.contains("Only before: k00, k01,") && out.contains("k11 (and 8 more)"), "{out}");
    }
}
