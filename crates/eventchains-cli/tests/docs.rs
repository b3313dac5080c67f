//! Runs every Lua example of `docs/lua-scripts.md` through the binary.

mod markdown;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_lua_example_in_the_docs_runs() {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect();
    let markdown = std::fs::read_to_string(root.join("docs/lua-scripts.md")).expect("docs exist");
    let blocks = markdown::lua_blocks(&markdown);
    assert!(blocks.len() >= 6, "found {} examples", blocks.len());
    let dir = std::env::temp_dir().join(format!("eventchains-docs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut contexts = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("example{}.lua", i + 1));
        std::fs::write(&path, block).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_eventchains"))
            .args(["run", &path.to_string_lossy(), "--format", "json"])
            .output()
            .expect("binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "example {}:\n{block}\n{stdout}\n{}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        contexts.push(json);
    }
    // Spot checks of what the examples promise.
    let find = |key: &str| contexts.iter().find(|j| j["context"].get(key).is_some()).map(|j| j["context"][key].clone());
    assert_eq!(find("skus"), Some(serde_json::json!("tea,cake")));
    assert_eq!(find("attempts"), Some(serde_json::json!(3)));
    assert_eq!(find("hinted_attempts"), Some(serde_json::json!(2)), "the failure table's hint, then a retry");
    assert_eq!(find("has_io"), Some(serde_json::json!(false)));
    assert_eq!(find("after"), Some(serde_json::json!(true)));
    assert_eq!(find("done"), Some(serde_json::json!(true)));
    assert_eq!(find("taken"), Some(serde_json::json!("a")), "table.remove on a view returns the removed table");
}
