//! Hot reload under load: executions on several threads while another thread
//! reloads the chain between two versions (and tries broken versions).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use eventchains_core::EventContext;
use eventchains_lua::{LoadError, LuaChainBuilder, ReloadableChain, thread_vm_count};

/// Three events, so a half-swapped chain would show up as a mix: each event
/// records its version; `x` is multiplied by the version's factor.
fn version(tag: &str, factor: i64) -> String {
    format!(
        r#"return {{
          name = "calc",
          middleware = {{ function(event, ctx, next)
            ctx.seen = (ctx.seen or "") .. "{tag}"
            return next(ctx)
          end }},
          events = {{
            {{ name = "tag", handler = function(ctx) ctx.version = "{tag}" end }},
            {{ name = "compute", handler = function(ctx) ctx.x = ctx.x * {factor} end }},
            {{ name = "check", handler = function(ctx)
                if ctx.version ~= "{tag}" then return nil, "mixed: tag " .. ctx.version .. " in {tag}" end
                ctx.done = "{tag}"
              end }},
          }},
        }}"#
    )
}

const BROKEN: [&str; 3] = [
    "return { events = { { name = 'tag', handler = function(ctx) end } }",
    "return { events = { { name = 'tag' } } }",
    "return { events = { { name = 'tag', handler = function(ctx) end, typo = 1 } } }",
];

#[test]
fn every_execution_sees_exactly_one_version_while_reloading() {
    let a = version("A", 2);
    let b = version("B", 3);
    let chain = Arc::new(ReloadableChain::load_str(LuaChainBuilder::new(), "calc.lua", &a).expect("loads"));
    let stop = Arc::new(AtomicBool::new(false));

    let reloader = {
        let (chain, stop) = (chain.clone(), stop.clone());
        thread::spawn(move || {
            let (mut reloads, mut rejected) = (0_u64, 0_u64);
            while !stop.load(Ordering::Relaxed) {
                let source = if reloads % 2 == 0 { &b } else { &a };
                let before = chain.version();
                let v = chain.reload_str(source).expect("a good version reloads");
                assert_eq!(v.number(), before + 1);
                reloads += 1;
                let bad = BROKEN[(reloads % 3) as usize];
                let err = chain.reload_str(bad).expect_err("a broken version is rejected");
                assert!(matches!(err, LoadError::Syntax { .. } | LoadError::Invalid { .. }), "{err}");
                assert_eq!(chain.version(), v.number(), "the good version keeps serving");
                rejected += 1;
            }
            (reloads, rejected)
        })
    };

    let workers: Vec<_> = (0..3_i64)
        .map(|t| {
            let chain = chain.clone();
            thread::spawn(move || {
                let (mut seen_a, mut seen_b) = (0, 0);
                for i in 0..3000_i64 {
                    let mut ctx = EventContext::new();
                    let x = t * 10_000 + i;
                    ctx.set("x", x);
                    let result = chain.execute(&mut ctx);
                    assert!(result.is_clean(), "thread {t} run {i}: {result}");
                    let tag = ctx.get::<String>("version").expect("tagged");
                    let factor = if tag == "A" { 2 } else { 3 };
                    assert_eq!(ctx.get::<i64>("x"), Some(x * factor), "thread {t} run {i}: version {tag}");
                    assert_eq!(ctx.get::<String>("done").as_deref(), Some(tag.as_str()));
                    assert_eq!(ctx.get::<String>("seen").as_deref(), Some(&*tag.repeat(3)), "middleware of {tag}");
                    if tag == "A" { seen_a += 1 } else { seen_b += 1 }
                }
                (seen_a, seen_b, thread_vm_count())
            })
        })
        .collect();

    let mut totals = (0, 0);
    for w in workers {
        let (a, b, vms) = w.join().expect("worker ok");
        totals = (totals.0 + a, totals.1 + b);
        // Old versions' VMs are purged: only VMs of versions still alive when
        // this thread looked remain (the current one, the reloader's previous
        // one, and those the two other workers were running: at most 4),
        // instead of one per reload (over a hundred).
        assert!(vms <= 4, "worker kept {vms} VMs");
    }
    stop.store(true, Ordering::Relaxed);
    let (reloads, rejected) = reloader.join().expect("reloader ok");
    assert_eq!(totals.0 + totals.1, 9000);
    assert!(reloads >= 1 && rejected >= 1, "reloads happened during the run: {reloads}");
    assert_eq!(chain.version(), reloads + 1);
    eprintln!("executions A/B: {totals:?}, reloads {reloads}, rejected {rejected}");
}

#[test]
fn an_in_flight_execution_finishes_on_its_version() {
    // The handler of version 1 reloads the chain (through a host function)
    // in the middle of an execution: the rest of that execution stays on v1.
    use std::sync::OnceLock;
    static CHAIN: OnceLock<Arc<ReloadableChain>> = OnceLock::new();
    let builder = LuaChainBuilder::new().register_fn("reload_now", |()| {
        let chain = CHAIN.get().expect("set");
        chain.reload_str(&version("B", 3)).map(|v| v.number()).unwrap_or(0)
    });
    let first = r#"return {
        events = {
          { name = "tag", handler = function(ctx) ctx.version = "A"; ctx.reloaded_to = reload_now() end },
          { name = "compute", handler = function(ctx) ctx.x = ctx.x * 2 end },
          { name = "check", handler = function(ctx) ctx.done = "A" end },
        },
    }"#;
    let chain = CHAIN.get_or_init(|| Arc::new(ReloadableChain::load_str(builder, "calc.lua", first).expect("loads")));
    let mut ctx = EventContext::new();
    ctx.set("x", 5);
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!(ctx.get::<i64>("reloaded_to"), Some(2));
    assert_eq!((ctx.get::<i64>("x"), ctx.get::<String>("done").as_deref()), (Some(10), Some("A")));
    let mut ctx = EventContext::new();
    ctx.set("x", 5);
    assert!(chain.execute(&mut ctx).is_clean());
    assert_eq!((ctx.get::<i64>("x"), ctx.get::<String>("done").as_deref()), (Some(15), Some("B")));
}

#[test]
fn old_versions_vms_are_purged_after_reloads() {
    let chain = ReloadableChain::load_str(LuaChainBuilder::new(), "purge.lua", &version("A", 2)).expect("loads");
    let run = || {
        let mut ctx = EventContext::new();
        ctx.set("x", 1);
        assert!(chain.execute(&mut ctx).is_clean());
    };
    let worker_counts = thread::scope(|s| {
        s.spawn(|| {
            let before = thread_vm_count();
            run();
            let with_v1 = thread_vm_count();
            for i in 0..5 {
                chain.reload_str(&version(if i % 2 == 0 { "B" } else { "A" }, 2)).expect("reloads");
            }
            run();
            (before, with_v1, thread_vm_count())
        })
        .join()
        .expect("ok")
    });
    assert_eq!(worker_counts, (0, 1, 1), "one VM for the current version only");
}
