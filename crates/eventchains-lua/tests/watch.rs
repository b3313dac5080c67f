//! `ChainWatcher` (feature `watch`) on a temporary file: reloads on change,
//! reports rejected versions, keeps serving the last good one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use eventchains_lua::{ChainWatcher, LuaChainBuilder, ReloadableChain};

/// Generous bound for a file event to arrive and be handled (no timed assertion:
/// the test only fails if nothing arrives at all).
const WAIT: Duration = Duration::from_secs(30);

fn script(value: &str) -> String {
    format!("return {{ events = {{ {{ name = 'set', handler = function(ctx) ctx.v = '{value}' end }} }} }}")
}

struct TempScript(PathBuf);

impl TempScript {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("eventchains-watch-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempScript(dir.join("watched.lua"))
    }
}

impl Drop for TempScript {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes `initial` to `file`, loads it and watches it; outcomes arrive as version numbers or messages.
fn watched(file: &TempScript, initial: &str) -> (Arc<ReloadableChain>, Receiver<Result<u64, String>>, ChainWatcher) {
    std::fs::write(&file.0, initial).expect("write");
    let chain = Arc::new(ReloadableChain::load_file(LuaChainBuilder::new(), &file.0).expect("loads"));
    let (tx, rx) = mpsc::channel();
    let watcher = ChainWatcher::new(chain.clone(), &file.0, Duration::from_millis(50), move |outcome| {
        let _ = tx.send(outcome.map(|v| v.number()).map_err(|e| e.to_string()));
    })
    .expect("watches");
    (chain, rx, watcher)
}

fn value_of(chain: &ReloadableChain) -> String {
    let (_, result, ctx) = chain.execute_fresh();
    assert!(result.is_clean(), "{result}");
    ctx.get::<String>("v").expect("set")
}

#[test]
fn reloads_on_change_and_keeps_the_last_good_version_on_errors() {
    let file = TempScript::new("main");
    let (chain, rx, watcher) = watched(&file, &script("one"));
    assert_eq!(watcher.path(), file.0);

    std::fs::write(&file.0, script("two")).expect("write");
    assert_eq!(rx.recv_timeout(WAIT).expect("a reload"), Ok(2));
    assert_eq!(value_of(&chain), "two");

    std::fs::write(&file.0, "return { events = { { name = 'set' } } }").expect("write");
    let err = rx.recv_timeout(WAIT).expect("a rejected reload").expect_err("invalid");
    assert_eq!(err, "watched.lua: events[1]: missing `handler` or `rust`");
    assert_eq!((chain.version(), value_of(&chain)), (2, "two".to_owned()), "the good version keeps serving");

    // Saving by writing a new file and renaming it over the old one.
    let tmp = file.0.with_extension("tmp");
    std::fs::write(&tmp, script("three")).expect("write");
    std::fs::rename(&tmp, &file.0).expect("rename");
    assert_eq!(rx.recv_timeout(WAIT).expect("a reload"), Ok(3));
    assert_eq!(value_of(&chain), "three");

    drop(watcher);
    assert!(rx.recv_timeout(WAIT).is_err(), "the callback is dropped with the watcher");
}
