//! Limit hits counted through the `metrics` facade, read from `metrics-util`'s
//! debugging recorder installed for this thread only (a chain runs its Lua
//! code on the calling thread).
#![cfg(feature = "metrics")]

use eventchains_core::ErrorKind;
use eventchains_lua::LuaChainBuilder;
use eventchains_lua::lua_metrics::LIMIT_HITS;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The limit-hit counts by `limit` label, recorded while `f` ran.
fn limit_hits(f: impl FnOnce()) -> Vec<(String, u64)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    let mut hits: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == LIMIT_HITS)
        .map(|(key, _, _, value)| {
            let limit = key.key().labels().find(|l| l.key() == "limit").map(|l| l.value().to_owned());
            let DebugValue::Counter(n) = value else { panic!("{LIMIT_HITS} is a counter") };
            (limit.expect("a limit label"), n)
        })
        .collect();
    hits.sort();
    hits
}

#[test]
fn instruction_and_memory_hits_are_counted_by_limit_and_other_failures_are_not() {
    let chain = LuaChainBuilder::new()
        .load_str(
            "limits.lua",
            r#"return {
              fault_tolerance = "lenient",
              limits = { instructions = 20000, memory_mb = 1 },
              events = {
                { name = "spin", handler = function() while true do end end },
                { name = "hog", handler = function(ctx) ctx.big = string.rep("x", 4 * 1024 * 1024) end },
                { name = "plain", handler = function() return nil, "just a failure" end },
              },
            }"#,
        )
        .expect("loads");
    let hits = limit_hits(|| {
        for _ in 0..3 {
            let result = chain.execute(&mut chain.new_context());
            let kinds: Vec<ErrorKind> = result.failures().iter().map(|f| f.kind()).collect();
            assert_eq!(kinds, [ErrorKind::LimitExceeded, ErrorKind::LimitExceeded, ErrorKind::Event], "{result:?}");
        }
    });
    assert_eq!(hits, [("instructions".to_owned(), 3), ("memory".to_owned(), 3)]);
}
