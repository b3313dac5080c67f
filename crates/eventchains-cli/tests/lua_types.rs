//! Proves the editor definitions (`eventchains types`) with a real analyzer,
//! `emmylua_check`: zero diagnostics on the example scripts, the docs' chain
//! scripts and tests/lua_types/good.lua, and a diagnostic on every line marked
//! `-- expect-diagnostic` in the other files of tests/lua_types/ (a misspelled
//! top-level key, an unknown config key of a named middleware, a wrong-typed
//! limit, a host function called with the wrong argument type).
//!
//! The analyzer is found through `$EMMYLUA_CHECK`, then `PATH`, then
//! `~/.cargo/bin`. Without it the test is skipped with a loud message, unless
//! `EVENTCHAINS_REQUIRE_LUA_ANALYZER=1` (set by scripts/check-lua-types.sh,
//! which installs it, as CI does) makes a missing analyzer a failure.

mod markdown;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect()
}

fn analyzer() -> Option<PathBuf> {
    let works = |p: &Path| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("EMMYLUA_CHECK") {
        candidates.push(p.into());
    }
    candidates.push("emmylua_check".into());
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&home).join("bin/emmylua_check"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/emmylua_check"));
    }
    candidates.into_iter().find(|p| works(p))
}

/// The ```lua blocks of a Markdown file that are chain scripts (they name `events`).
fn chain_scripts(markdown: &str) -> Vec<String> {
    markdown::lua_blocks(markdown).into_iter().filter(|block| block.contains("events")).collect()
}

/// One diagnostic: 1-based line, severity (1 error, 2 warning, 3 info, 4 hint), code, message.
type Found = (u64, u64, String, String);

fn run_analyzer(analyzer: &Path, workspace: &Path, config: &Path) -> BTreeMap<String, Vec<Found>> {
    let report = workspace.join("diagnostics.json");
    let out = Command::new(analyzer)
        .arg("--config")
        .arg(config)
        .args(["--output-format", "json", "--output"])
        .arg(&report)
        .arg(workspace.join("scripts"))
        .output()
        .expect("the analyzer runs");
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no report ({e}); analyzer stderr: {}", String::from_utf8_lossy(&out.stderr)));
    let files: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let mut by_file = BTreeMap::new();
    for file in files.as_array().into_iter().flatten() {
        let name = Path::new(file["file"].as_str().unwrap_or_default())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let found = file["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["range"]["start"]["line"].as_u64().unwrap_or(0) + 1,
                    d["severity"].as_u64().unwrap_or(1),
                    d["code"].as_str().map(str::to_owned).unwrap_or_else(|| d["code"].to_string()),
                    d["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        by_file.insert(name, found);
    }
    by_file
}

#[test]
fn the_definitions_pass_real_scripts_and_catch_each_kind_of_mistake() {
    let Some(analyzer) = analyzer() else {
        if std::env::var("EVENTCHAINS_REQUIRE_LUA_ANALYZER").is_ok_and(|v| v == "1") {
            panic!("emmylua_check not found (EVENTCHAINS_REQUIRE_LUA_ANALYZER=1): run scripts/check-lua-types.sh");
        }
        eprintln!("\n=== SKIPPED: emmylua_check is not installed; the editor definitions were NOT checked ===");
        eprintln!("=== run scripts/check-lua-types.sh (it installs the analyzer and runs this test) ===\n");
        return;
    };
    let workspace = std::env::temp_dir().join(format!("eventchains-lua-types-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&workspace);
    let scripts = workspace.join("scripts");
    std::fs::create_dir_all(&scripts).expect("workspace");
    let types = workspace.join("types");
    let out = Command::new(env!("CARGO_BIN_EXE_eventchains"))
        .args(["types", "--out"])
        .arg(&types)
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = workspace.join("emmyrc.json");
    // The settings of docs/editor-setup.md.
    let settings = serde_json::json!({
        "runtime": { "version": "Lua5.4" },
        "strict": { "arrayIndex": false },
        "diagnostics": { "disable": ["missing-fields"] },
        "workspace": { "library": [types.to_string_lossy()] }
    });
    std::fs::write(&config, settings.to_string()).expect("config");

    // The files that must be clean, and the marked lines that must be reported.
    let mut clean: Vec<String> = Vec::new();
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("examples/scripts")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "lua") {
            let name = format!("example_{}", path.file_name().expect("name").to_string_lossy());
            std::fs::copy(&path, scripts.join(&name)).expect("copy");
            clean.push(name);
        }
    }
    for doc in ["lua-scripts.md", "editor-setup.md", "script-testing.md"] {
        let Ok(markdown) = std::fs::read_to_string(root().join("docs").join(doc)) else { continue };
        for (i, block) in chain_scripts(&markdown).iter().enumerate() {
            let name = format!("doc_{}_{}.lua", doc.trim_end_matches(".md").replace('-', "_"), i + 1);
            std::fs::write(scripts.join(&name), block).expect("write");
            clean.push(name);
        }
    }
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua_types");
    for entry in std::fs::read_dir(&cases).expect("cases") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("case");
        std::fs::write(scripts.join(&name), &text).expect("write");
        let marked: Vec<u64> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("-- expect-diagnostic"))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        if marked.is_empty() {
            clean.push(name);
        } else {
            expected.insert(name, marked);
        }
    }
    assert!(expected.len() >= 4 && clean.len() >= 8, "cases: {expected:?}, clean: {clean:?}");

    let found = run_analyzer(&analyzer, &workspace, &config);
    let serious = |name: &str| -> Vec<Found> {
        found.get(name).map(|d| d.iter().filter(|d| d.1 <= 2).cloned().collect()).unwrap_or_default()
    };
    for name in &clean {
        assert_eq!(serious(name), Vec::<Found>::new(), "{name} must have no errors or warnings");
    }
    for (name, lines) in &expected {
        let diagnostics = serious(name);
        for line in lines {
            assert!(
                diagnostics.iter().any(|d| d.0 == *line),
                "{name}:{line}: expected a diagnostic there; the analyzer reported {diagnostics:?}"
            );
        }
        for d in &diagnostics {
            assert!(lines.contains(&d.0), "{name}: an unexpected diagnostic {d:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&workspace);
}
