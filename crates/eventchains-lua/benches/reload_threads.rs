//! Criterion benchmarks of issue 5's production features.
//!
//! Run with short settings (2-core machine shared with other jobs):
//! `cargo bench -p eventchains-lua --bench reload_threads -- --warm-up-time 1 --measurement-time 3`
//!
//! - `hot_path`: the seed chain executed directly, through a [`ReloadableChain`]
//!   (arc-swap load), and through an `RwLock<Arc<LuaChain>>` read only to clone the `Arc`.
//! - `threads`: seed-chain throughput with 1 and 2 threads sharing one chain
//!   (persistent worker threads; criterion's time is per execution *per thread*,
//!   so perfect scaling shows the same time for 1 and 2 threads), beside a
//!   pure-CPU control without Lua that tells whether the machine had 2 free cores.
//! - `vm_setup`: the cost of a second VM (first execution of a chain on a new
//!   thread) with the bytecode cache (loads bytecode) and without (compiles the
//!   source); and loading a second chain from the same source, cached or not.
//! - `limits_cost`: a stored Lua function call, and a 1,000-iteration loop,
//!   with and without the count hook (the interrupt on Luau)
//!   (raw mlua), and the no-op Lua event with the default caps vs no caps.
//!
//! The load average is printed to stderr at the start and the end.

use std::hint::black_box;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventchains_core::{EventChain, EventContext, FnEvent};
use eventchains_lua::{Limits, LuaChain, LuaChainBuilder, ReloadableChain};
use mlua::{Lua, VmState};

mod common;
use common::{read_back, reset};

const SEED: &str = include_str!("../../../examples/scripts/seed.lua");
const NOOP: &str = "return { events = { { name = 'noop', handler = function(ctx) end } } }";

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "unknown".to_owned())
}

type Work = Arc<dyn Fn(&mut EventContext) + Send + Sync>;

/// One seed execution (reset, execute, read back) through `execute`.
fn seed_work(execute: impl Fn(&mut EventContext) + Send + Sync + 'static) -> Work {
    Arc::new(move |ctx: &mut EventContext| {
        reset(ctx);
        execute(ctx);
        black_box(read_back(ctx));
    })
}

/// Persistent worker threads running `work` on request.
struct Pool {
    workers: Vec<(Sender<u64>, Receiver<()>, JoinHandle<()>)>,
}

impl Pool {
    fn new(threads: usize, work: &Work) -> Self {
        let workers = (0..threads)
            .map(|_| {
                let (go, jobs) = mpsc::channel::<u64>();
                let (done, finished) = mpsc::channel::<()>();
                let work = work.clone();
                let handle = thread::spawn(move || {
                    let mut ctx = EventContext::new();
                    while let Ok(iters) = jobs.recv() {
                        for _ in 0..iters {
                            work(&mut ctx);
                        }
                        if done.send(()).is_err() {
                            break;
                        }
                    }
                });
                (go, finished, handle)
            })
            .collect();
        Pool { workers }
    }

    /// Wall time for every worker to run `iters` executions.
    fn run(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for (go, _, _) in &self.workers {
            go.send(iters).expect("worker alive");
        }
        for (_, finished, _) in &self.workers {
            finished.recv().expect("worker alive");
        }
        start.elapsed()
    }

    fn stop(self) {
        for (go, finished, handle) in self.workers {
            drop((go, finished));
            handle.join().expect("worker ok");
        }
    }
}

fn seed_chain() -> LuaChain {
    LuaChainBuilder::new().load_str("seed.lua", SEED).expect("loads")
}

fn variants() -> Vec<(&'static str, Work)> {
    let plain = seed_chain();
    let reloadable = ReloadableChain::load_str(LuaChainBuilder::new(), "seed.lua", SEED).expect("loads");
    let locked = RwLock::new(Arc::new(seed_chain()));
    vec![
        (
            "lua_chain",
            seed_work(move |ctx| {
                black_box(plain.execute(ctx));
            }),
        ),
        (
            "reloadable_arc_swap",
            seed_work(move |ctx| {
                black_box(reloadable.execute(ctx));
            }),
        ),
        (
            "rwlock_arc_clone",
            seed_work(move |ctx| {
                let chain = locked.read().expect("not poisoned").clone();
                black_box(chain.execute(ctx));
            }),
        ),
    ]
}

fn hot_path(c: &mut Criterion) {
    eprintln!("load average at start: {}", load_average().trim());
    let mut g = c.benchmark_group("hot_path");
    for (label, work) in variants() {
        let mut ctx = EventContext::new();
        g.bench_function(label, |b| b.iter(|| work(&mut ctx)));
    }
    g.finish();
}

/// A control without Lua: pure CPU work of about the seed chain's duration,
/// touching no shared memory. If it does not scale, the machine is busy.
fn cpu_control() -> Work {
    Arc::new(|_ctx: &mut EventContext| {
        let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
        for _ in 0..600 {
            x = x.rotate_left(7).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x1234;
        }
        black_box(x);
    })
}

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("threads");
    let mut all = variants();
    all.push(("cpu_control_no_lua", cpu_control()));
    for (label, work) in all {
        for n in [1, 2] {
            let pool = Pool::new(n, &work);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("{label}/{n}"), |b| b.iter_custom(|iters| pool.run(iters)));
            pool.stop();
        }
    }
    g.finish();
    eprintln!("load average after the thread benchmarks: {}", load_average().trim());
}

/// Time of the first execution of `chain` on a new thread (builds its VM there).
fn first_execution_on_new_thread(chain: &LuaChain, iters: u64) -> Duration {
    (0..iters)
        .map(|_| {
            let chain = chain.clone();
            thread::spawn(move || {
                let mut ctx = chain.new_context();
                let start = Instant::now();
                black_box(chain.execute(&mut ctx));
                start.elapsed()
            })
            .join()
            .expect("thread ok")
        })
        .sum()
}

/// A bigger script: 40 events whose handlers do some work (about 400 lines).
fn large_script() -> String {
    let mut src = String::from("return {\n  context = { n = 0, log = {} },\n  events = {\n");
    for i in 0..40 {
        src.push_str(&format!(
            r#"    {{ name = "step{i}", handler = function(ctx)
        local acc = 0
        for k = 1, 10 do
          if k % 2 == 0 then acc = acc + k * {i} else acc = acc - k end
        end
        local label = string.format("step %d: %d", {i}, acc)
        if #label > 40 then return nil, "label too long" end
        ctx.n = ctx.n + acc
      end }},
"#
        ));
    }
    src.push_str("  },\n}\n");
    src
}

fn vm_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("vm_setup");
    let large = large_script();
    for (script, source) in [("seed", SEED), ("large", large.as_str())] {
        for (mode, cache) in [("bytecode_cache", true), ("compile_source", false)] {
            let chain = LuaChainBuilder::new().bytecode_cache(cache).load_str("s.lua", source).expect("loads");
            g.bench_function(format!("second_vm_{script}_{mode}"), |b| {
                b.iter_custom(|iters| first_execution_on_new_thread(&chain, iters))
            });
        }
        for (mode, cache) in [("cached", true), ("uncached", false)] {
            let builder = LuaChainBuilder::new().bytecode_cache(cache);
            let _first = builder.load_str("s.lua", source).expect("loads");
            g.bench_function(format!("second_chain_same_source_{script}_{mode}"), |b| {
                b.iter(|| black_box(builder.load_str("s.lua", source).expect("loads")))
            });
        }
    }
    g.finish();
}

/// One Lua event looping 100,000 times.
const LOOP: &str = "return { events = { { name = 'loop', handler = function(ctx) local s = 0 for i = 1, 100000 do s = s + i end end } } }";

fn limits_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("limits_cost");
    let lua = Lua::new();
    let f: mlua::Function = lua.load("return function(t) end").eval().expect("function");
    let table = lua.create_table().expect("table");
    // A loop: 1,000 back-edges (Luau's interrupt runs at each one).
    let looping: mlua::Function =
        lua.load("return function() local s = 0 for i = 1, 1000 do s = s + i end return s end").eval().expect("loop");
    g.bench_function("mlua_call_no_hook", |b| b.iter(|| f.call::<()>(&table).expect("call")));
    g.bench_function("mlua_loop_1000_no_hook", |b| b.iter(|| looping.call::<f64>(()).expect("call")));
    install_limit_callback(&lua);
    g.bench_function("mlua_call_count_hook", |b| b.iter(|| f.call::<()>(&table).expect("call")));
    g.bench_function("mlua_loop_1000_count_hook", |b| b.iter(|| looping.call::<f64>(()).expect("call")));

    let rust = EventChain::new().event(FnEvent::new("noop", |_| Ok(())));
    let mut ctx = EventContext::new();
    g.bench_function("rust_noop_event", |b| b.iter(|| black_box(rust.execute(black_box(&mut ctx)))));
    for (label, limits) in
        [("lua_noop_event_default_caps", Limits::default()), ("lua_noop_event_no_caps", Limits::UNLIMITED)]
    {
        let chain = LuaChainBuilder::new().limits(limits).load_str("noop.lua", NOOP).expect("loads");
        g.bench_function(label, |b| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))));
    }
    // A handler running 100,000 loop iterations (~400,000 instructions, ~400
    // hook calls): what the instruction and time checks cost inside Lua code.
    for (label, limits) in
        [("lua_loop_event_default_caps", Limits::default()), ("lua_loop_event_no_caps", Limits::UNLIMITED)]
    {
        let chain = LuaChainBuilder::new().limits(limits).load_str("loop.lua", LOOP).expect("loads");
        g.bench_function(label, |b| b.iter(|| black_box(chain.execute(black_box(&mut ctx)))));
    }
    g.finish();
    eprintln!("load average at the end: {}", load_average().trim());
}

/// The callback the crate's limits use: a count hook every `HOOK_INTERVAL`
/// instructions (on Luau, which has no hooks, the VM interrupt).
#[cfg(not(feature = "luau"))]
fn install_limit_callback(lua: &Lua) {
    lua.set_global_hook(mlua::HookTriggers::new().every_nth_instruction(eventchains_lua::HOOK_INTERVAL), |_, _| {
        Ok(VmState::Continue)
    })
    .expect("hook");
}

#[cfg(feature = "luau")]
fn install_limit_callback(lua: &Lua) {
    lua.set_interrupt(|_| Ok(VmState::Continue));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hot_path, threads, vm_setup, limits_cost
}
criterion_main!(benches);
