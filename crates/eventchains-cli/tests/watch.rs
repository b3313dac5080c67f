//! `eventchains run --watch`: re-runs on change, reports bad versions, keeps
//! the last good one, and stops on Ctrl-C (SIGINT).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::{Guard, lines_of};

/// Generous bound for the watcher to react (the test fails only if nothing comes).
const WAIT: Duration = Duration::from_secs(30);

fn script(counter: i64) -> String {
    format!(
        "return {{ context = {{ n = 0 }}, events = {{ {{ name = 'set', handler = function(ctx) ctx.n = {counter} end }} }} }}"
    )
}

/// Waits for a line containing `needle`, returning it.
fn wait_for(lines: &Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|e| panic!("no line containing {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

#[test]
fn watch_reruns_on_change_keeps_the_last_good_version_and_stops_on_ctrl_c() {
    let dir: PathBuf = std::env::temp_dir().join(format!("eventchains-cli-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("live.lua");
    std::fs::write(&path, script(1)).expect("write");

    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_eventchains"))
            .args(["run", "--watch", "--format", "json"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs"),
    );
    let stdout = lines_of(child.0.stdout.take().expect("piped"));
    let stderr = lines_of(child.0.stderr.take().expect("piped"));

    let first: serde_json::Value = serde_json::from_str(&wait_for(&stdout, "\"status\"")).expect("JSON line");
    assert_eq!(first["context"]["n"], 1);
    wait_for(&stderr, "watching for changes");

    std::fs::write(&path, script(2)).expect("write");
    let second: serde_json::Value = serde_json::from_str(&wait_for(&stdout, "\"status\"")).expect("JSON line");
    assert_eq!((second["status"].as_str(), second["context"]["n"].as_i64()), (Some("completed"), Some(2)));
    wait_for(&stderr, "version 2 loaded");

    std::fs::write(&path, "return { events = { { name = 'set' } } }").expect("write");
    assert_eq!(wait_for(&stderr, "error:"), "error: live.lua: events[1]: missing `handler` or `rust`");
    wait_for(&stderr, "keeping version 2");

    std::fs::write(&path, script(3)).expect("write");
    let third: serde_json::Value = serde_json::from_str(&wait_for(&stdout, "\"status\"")).expect("JSON line");
    assert_eq!(third["context"]["n"], 3);

    // Ctrl-C.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill runs").success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the watcher did not stop on SIGINT");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(2), "ended by SIGINT: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_with_an_invalid_first_version_exits_2() {
    let dir: PathBuf = std::env::temp_dir().join(format!("eventchains-cli-watch-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.lua");
    std::fs::write(&path, "return {").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_eventchains"))
        .args(["run", "--watch"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.lua:1: syntax error"));
    let _ = std::fs::remove_dir_all(&dir);
}
