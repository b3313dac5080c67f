//! The Lua engines `eventchains-lua` supports, and the `engines.<name>.*` rows
//! of a report. mlua links one engine per build, so `cargo xtask bench
//! --engines all` builds this crate once per engine feature, runs the `engine`
//! scenario in each build, and the main (lua54) run merges the rows with
//! [`merge_engine_report`].

use serde_json::Value;

use crate::error::BenchError;
use crate::results::Results;

/// Every engine, in report order (the Cargo feature of this crate selecting it).
pub const ENGINES: [&str; 4] = ["lua54", "lua55", "luajit", "luau"];

/// The figures an engine row holds (under `engines.<name>.`).
pub const ENGINE_FIGURES: [&str; 3] = ["lua_ns", "raw_mlua_ns", "setup_us"];

/// The engine this build links.
pub const fn current() -> &'static str {
    if cfg!(feature = "luau") {
        "luau"
    } else if cfg!(feature = "luajit") {
        "luajit"
    } else if cfg!(feature = "lua55") {
        "lua55"
    } else {
        "lua54"
    }
}

/// Copies the `engines.<name>.*` figures of another build's `report.json` into
/// `results` (a figure this run measured itself is kept). Fails when the
/// report has no engine row, or names an engine this crate does not know.
pub fn merge_engine_report(results: &mut Results, report: &Value) -> Result<(), BenchError> {
    let invalid = |why: String| BenchError::Build { subject: "--engine-report".into(), message: why };
    let engines = report.get("engines").and_then(Value::as_object).ok_or_else(|| {
        invalid("the report has no `engines` object (was it made with `--filter engine`?)".to_owned())
    })?;
    for (name, figures) in engines {
        if !ENGINES.contains(&name.as_str()) {
            return Err(invalid(format!("unknown engine `{name}` (known: {})", ENGINES.join(", "))));
        }
        for figure in ENGINE_FIGURES {
            let key = format!("engines.{name}.{figure}");
            if let Some(x) = figures.get(figure).and_then(Value::as_f64)
                && results.get(&key).is_none()
            {
                results.value(key, x);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_engine_rows_and_rejects_other_reports() {
        let mut r = Results::default();
        r.value("engines.lua54.lua_ns", 1.0);
        let other = serde_json::json!({"engines": {"luajit": {"lua_ns": 200.0, "raw_mlua_ns": 150.0, "setup_us": 30.0},
                                                   "lua54": {"lua_ns": 9.0}}});
        merge_engine_report(&mut r, &other).expect("merges");
        assert_eq!(r.get("engines.luajit.raw_mlua_ns"), Some(150.0));
        assert_eq!(r.get("engines.lua54.lua_ns"), Some(1.0), "own figures win");
        assert!(merge_engine_report(&mut r, &serde_json::json!({"per_execution": {}})).is_err());
        let err = merge_engine_report(&mut r, &serde_json::json!({"engines": {"lua51": {}}})).expect_err("unknown");
        assert!(err.to_string().contains("unknown engine `lua51`"), "{err}");
        assert_eq!(current(), "lua54");
    }
}
