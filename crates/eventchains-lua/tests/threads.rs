//! One `LuaChain` shared by many threads; VMs of dropped scripts are purged.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use common::load;
use eventchains_core::{EventContext, Value};
use eventchains_lua::{LuaChain, thread_vm_count};

fn pipeline() -> LuaChain {
    load(
        r#"return {
          fault_tolerance = "lenient",
          middleware = { function(event, ctx, next)
            ctx.calls = (ctx.calls or 0) + 1
            return next(ctx)
          end },
          events = {
            { name = "bump", handler = function(ctx) ctx.order.items[1].qty = ctx.order.items[1].qty + ctx.id end },
            { name = "double", rust = "double" },
            { name = "check", handler = function(ctx)
                if ctx.n ~= ctx.id * 2 then return nil, "wrong n " .. tostring(ctx.n) end
                ctx.label = "thread " .. ctx.thread .. " run " .. ctx.id
              end },
          },
        }"#,
    )
}

#[test]
fn one_chain_many_threads_thousands_of_executions_all_correct() {
    let chain = Arc::new(pipeline());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let chain = chain.clone();
            thread::spawn(move || {
                for i in 0..1500_i64 {
                    let mut ctx = EventContext::from_json(serde_json::json!({
                        "order": {"items": [{"qty": 1}]}, "id": i, "n": i, "thread": t,
                    }))
                    .expect("object");
                    let result = chain.execute(&mut ctx);
                    assert!(result.is_clean(), "thread {t} run {i}: {result}");
                    assert_eq!(ctx.to_json()["order"]["items"][0]["qty"], serde_json::json!(1 + i));
                    assert_eq!(ctx.get::<i64>("calls"), Some(3));
                    assert_eq!(ctx.value("label"), Some(&Value::from(format!("thread {t} run {i}"))));
                }
                thread_vm_count()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("no panic"), 1, "one VM per thread for the script");
    }
}

#[test]
fn chain_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<LuaChain>();
}

#[test]
fn vms_of_dropped_scripts_are_purged_on_every_thread() {
    let chain = pipeline();
    let (to_worker, jobs) = mpsc::channel::<Option<LuaChain>>();
    let (reply, counts) = mpsc::channel::<usize>();
    let worker = thread::spawn(move || {
        while let Ok(job) = jobs.recv() {
            if let Some(chain) = job {
                let mut ctx = EventContext::from_json(
                    serde_json::json!({"order": {"items": [{"qty": 1}]}, "id": 1, "n": 1, "thread": 9}),
                )
                .expect("object");
                assert!(chain.execute(&mut ctx).is_clean());
            }
            reply.send(thread_vm_count()).expect("main listens");
        }
    });
    to_worker.send(Some(chain.clone())).expect("worker runs");
    assert_eq!(counts.recv().expect("count"), 1);
    drop(chain);
    to_worker.send(None).expect("worker runs");
    assert_eq!(counts.recv().expect("count"), 0, "the worker dropped the dead script's VM");
    drop(to_worker);
    worker.join().expect("no panic");
}
