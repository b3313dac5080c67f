//! One-shot setup costs, each sample on fresh state: the Lua chain's VM
//! creation, parse, build and first execution; the hard-coded Rust
//! equivalent; and the raw mlua anchors (VM creation, load of the seed script).
//!
//! `eventchains-lua` exposes loading as one call (`load_str`), so the phases
//! are measured as follows (see `docs/benchmarks.md`):
//! - total: `load_str` of the seed script (VM, sandbox, compile, run, validate, build);
//! - VM creation: `load_str` of an empty script (VM, sandbox, bridge, a trivial chunk);
//! - parse: compiling the seed script's source to a function on a live VM;
//! - build: total − VM creation − parse (running the chunk, validating, building the chain);
//! - first execution: the first `execute` of the freshly loaded chain on its thread.
//!
//! Beside them, interleaved sample by sample: a script never seen before (its
//! text is new, so no bytecode-cache hit) loaded sandboxed and ready to run,
//! against the experiment's own unsandboxed method (`Lua::new` + evaluate the
//! script + check its handlers are registered); and the rhai anchor's setup.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use eventchains_lua::{Limits, thread_vm_count};
use mlua::{Lua, LuaOptions, StdLib, Table};

use crate::error::BenchError;
use crate::scenario::Session;
use crate::scenarios::lua_build_error;
use crate::stats::Summary;
use crate::subjects::lua_chain::{self, EMPTY_SCRIPT, LuaSeed};
use crate::subjects::seed_method::{SETUP, SeedMethod};
use crate::subjects::{SEED_SCRIPT, SeedOutcome, native, rhai_chain};

/// Makes every "never seen" script text of this process unique.
static NEVER_SEEN: AtomicU64 = AtomicU64::new(0);

/// `source` with a comment that no earlier sample of this process had.
fn never_seen(source: &str) -> String {
    format!("{source}\n-- never seen before: {}\n", NEVER_SEEN.fetch_add(1, Ordering::Relaxed))
}

/// Like [`sample_ns`] for two measurements, alternating `a` and `b` sample by
/// sample so that both see the same machine.
fn sample_pair_ns(
    n: usize,
    mut a: impl FnMut() -> Result<f64, BenchError>,
    mut b: impl FnMut() -> Result<f64, BenchError>,
) -> Result<(Summary, Summary), BenchError> {
    for _ in 0..3 {
        a()?;
        b()?;
    }
    let (mut xs, mut ys) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % 2 == 0 {
            xs.push(a()?);
            ys.push(b()?);
        } else {
            ys.push(b()?);
            xs.push(a()?);
        }
    }
    let none = || BenchError::Build { subject: "setup".into(), message: "no samples".into() };
    Ok((Summary::of(&xs).ok_or_else(none)?, Summary::of(&ys).ok_or_else(none)?))
}

/// Runs `sample` `n` times (after 3 unrecorded runs); each returns the ns it measured.
pub(crate) fn sample_ns(n: usize, mut sample: impl FnMut() -> Result<f64, BenchError>) -> Result<Summary, BenchError> {
    for _ in 0..3 {
        sample()?;
    }
    let samples = (0..n).map(|_| sample()).collect::<Result<Vec<_>, _>>()?;
    Summary::of(&samples).ok_or_else(|| BenchError::Build { subject: "setup".into(), message: "no samples".into() })
}

/// Times `f`, returning its output and the ns it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = black_box(f());
    (out, start.elapsed().as_nanos() as f64)
}

fn record(s: &mut Session<'_>, key: &str, ns: Summary) {
    s.results.value(key, ns.median / 1e3);
    s.results.summary(format!("measurements.{key}"), ns.scaled(1e-3));
}

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let h = s.harness();
    let n = h.config().one_shot_samples();

    s.step(&format!("Lua chain: load_str of the seed script, of an empty script, first execution ({n} samples each)"));
    // Dropped chains' VMs are freed when the thread next looks its VMs up:
    // `thread_vm_count` does that between samples, outside the timed region.
    let load_ns = |name: &str, source: &str| {
        let (chain, ns) = timed(|| lua_chain::load(name, source, Limits::default()));
        drop(chain.map_err(lua_build_error)?);
        thread_vm_count();
        Ok(ns)
    };
    let total = sample_ns(n, || load_ns("seed.lua", SEED_SCRIPT))?;
    let vm_new = sample_ns(n, || load_ns("empty.lua", EMPTY_SCRIPT))?;
    let first = sample_ns(n, || {
        let mut seed =
            LuaSeed::from_chain(lua_chain::load("seed.lua", SEED_SCRIPT, Limits::default()).map_err(lua_build_error)?);
        let (outcome, ns) = timed(|| seed.execute());
        crate::scenario::check("lua chain first execution", outcome, &SeedOutcome::expected())?;
        drop(seed);
        thread_vm_count();
        Ok(ns)
    })?;
    let other_thread = sample_ns(n.min(200), || {
        let chain = lua_chain::load("seed.lua", SEED_SCRIPT, Limits::default()).map_err(lua_build_error)?;
        let ns = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut seed = LuaSeed::from_chain(chain.clone());
                    timed(|| seed.execute()).1
                })
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        drop(chain);
        thread_vm_count();
        Ok(ns)
    })?;
    s.step("parse: compiling the seed script on a live VM");
    let compiler = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())?;
    let parse = sample_ns(n, || {
        let (f, ns) = timed(|| compiler.load(SEED_SCRIPT).set_name("@seed.lua").into_function());
        drop(f?);
        Ok(ns)
    })?;
    let build_ns = total.median - vm_new.median - parse.median;
    record(s, "setup.total_us", total);
    record(s, "setup.vm_new_us", vm_new);
    record(s, "setup.parse_us", parse);
    s.results.value("setup.build_us", build_ns / 1e3);
    record(s, "setup.first_execution_us", first);
    record(s, "setup.other_thread_first_execution_us", other_thread);
    record(s, "setup.first_execution_new_thread_us", other_thread);
    if build_ns < 0.0 {
        s.results.note("setup.build_us is negative: the phases' medians do not add up (noise); read setup.total_us");
    }

    s.step("a never-seen script, sandboxed, vs the experiment's unsandboxed method (interleaved)");
    let (unseen, method) = sample_pair_ns(
        n,
        || {
            let source = never_seen(SEED_SCRIPT);
            let (chain, ns) = timed(|| lua_chain::load("seed.lua", &source, Limits::default()));
            drop(chain.map_err(lua_build_error)?);
            thread_vm_count();
            Ok(ns)
        },
        || {
            let source = never_seen(SETUP);
            let (lua, ns) = timed(|| SeedMethod::setup_vm(&source));
            drop(lua?);
            Ok(ns)
        },
    )?;
    record(s, "setup.never_seen_script_us", unseen);
    record(s, "setup.seed_method_us", method);

    s.step("rhai anchor: new engine, compile, build the chain");
    let rhai = sample_ns(n, || {
        let (chain, ns) = timed(|| rhai_chain::seed_chain(rhai_chain::SEED_RHAI));
        drop(chain.map_err(|e| BenchError::Build { subject: "rhai".into(), message: e.to_string() })?);
        Ok(ns)
    })?;
    record(s, "anchors.rhai_setup_us", rhai);

    s.step("hard-coded Rust chain: build, first execution");
    let build = sample_ns(n, || Ok(timed(native::seed_chain).1))?;
    let rust_first = sample_ns(n, || {
        let chain = native::seed_chain();
        let mut ctx = native::seed_context();
        Ok(timed(|| chain.execute(&mut ctx)).1)
    })?;
    record(s, "setup.rust_build_us", build);
    record(s, "setup.rust_first_execution_us", rust_first);

    s.step("raw mlua anchors: Lua::new, bare VM, load + run of the seed script");
    let lua_new = sample_ns(n, || Ok(timed(Lua::new).1))?;
    let lua_bare = sample_ns(n, || Ok(timed(|| Lua::new_with(StdLib::NONE, LuaOptions::default())).1))?;
    let vm = Lua::new();
    let load = sample_ns(n, || {
        let (t, ns) = timed(|| vm.load(SEED_SCRIPT).into_function().and_then(|f| f.call::<Table>(())));
        drop(t?);
        Ok(ns)
    })?;
    record(s, "anchors.lua_new_us", lua_new);
    record(s, "anchors.lua_new_bare_us", lua_bare);
    record(s, "anchors.seed_script_load_us", load);
    Ok(())
}
