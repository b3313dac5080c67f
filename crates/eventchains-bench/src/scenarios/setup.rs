//! One-shot setup costs: the Lua chain's VM creation, parse, build and first
//! execution, each timed separately on fresh state; the hard-coded Rust
//! equivalent; and the raw mlua anchors (VM creation, load of the seed script).

use mlua::{Lua, LuaOptions, StdLib, Table};

use crate::error::BenchError;
use crate::scenario::Session;
use crate::scenarios::LUA_MISSING;
use crate::subjects::{SEED_SCRIPT, native};

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let h = s.harness();
    s.step("hard-coded Rust chain: build, first execution");
    let build = h.one_shot(|| Ok::<_, BenchError>(native::seed_chain()))?;
    let mut first_ns = Vec::new();
    for _ in 0..h.config().one_shot_samples() {
        let chain = native::seed_chain();
        let mut ctx = native::seed_context();
        let start = std::time::Instant::now();
        let r = std::hint::black_box(chain.execute(&mut ctx));
        first_ns.push(start.elapsed().as_nanos() as f64);
        drop(r);
    }
    s.results.value("setup.rust_build_us", build.median / 1e3);
    s.results.summary("measurements.setup.rust_build_us", build.scaled(1e-3));
    if let Some(first) = crate::stats::Summary::of(&first_ns) {
        s.results.value("setup.rust_first_execution_us", first.median / 1e3);
        s.results.summary("measurements.setup.rust_first_execution_us", first.scaled(1e-3));
    }

    s.step("raw mlua anchors: Lua::new, bare VM, load + run of the seed script");
    let lua_new = h.one_shot(|| Ok::<_, BenchError>(Lua::new()))?;
    let lua_bare = h.one_shot(|| Ok::<_, BenchError>(Lua::new_with(StdLib::NONE, LuaOptions::default())?))?;
    let vm = Lua::new();
    let load = h.one_shot(|| Ok::<_, BenchError>(vm.load(SEED_SCRIPT).into_function()?.call::<Table>(())?))?;
    s.results.value("anchors.lua_new_us", lua_new.median / 1e3);
    s.results.value("anchors.lua_new_bare_us", lua_bare.median / 1e3);
    s.results.value("anchors.seed_script_load_us", load.median / 1e3);
    s.results.summary("measurements.setup.lua_new_us", lua_new.scaled(1e-3));
    s.results.summary("measurements.setup.lua_new_bare_us", lua_bare.scaled(1e-3));
    s.results.summary("measurements.setup.seed_script_load_us", load.scaled(1e-3));

    for key in ["vm_new_us", "parse_us", "build_us", "total_us", "first_execution_us"] {
        s.results.missing(format!("setup.{key}"), LUA_MISSING);
    }
    Ok(())
}
