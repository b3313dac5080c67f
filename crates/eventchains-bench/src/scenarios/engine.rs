//! The row of this build's Lua engine: the seed chain per execution (our Lua
//! chain and the minimal mlua program, interleaved, context reused) and the
//! setup (`load_str` of the seed script in a fresh sandboxed VM), recorded as
//! `engines.<engine>.*`. Not part of the default run: `cargo xtask bench
//! --engines all` runs it in one build per engine and merges the rows.

use eventchains_lua::{Limits, thread_vm_count};

use crate::engines::current;
use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::{Session, check};
use crate::scenarios::lua_build_error;
use crate::scenarios::setup::{sample_ns, timed};
use crate::subjects::{SEED_SCRIPT, SeedOutcome, lua_chain, raw_mlua::RawMlua};

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let engine = current();
    let mut lua = lua_chain::seed(Limits::default()).map_err(lua_build_error)?;
    let raw = RawMlua::new()?;
    check("lua_chain", lua.execute(), &SeedOutcome::expected())?;
    check("raw_mlua", raw.execute()?, &SeedOutcome::expected())?;
    s.step(&format!("{engine}: Lua chain and minimal mlua program, interleaved"));
    let mut variants = vec![Variant::new("lua_chain", || lua.execute()), Variant::new("raw_mlua", || raw.execute())];
    let out = s.compare(&mut variants, None);
    drop(variants);
    s.results.value(format!("engines.{engine}.lua_ns"), out[0].median);
    s.results.value(format!("engines.{engine}.raw_mlua_ns"), out[1].median);
    s.results.summary(format!("measurements.engines.{engine}.lua_ns"), out[0]);
    s.results.summary(format!("measurements.engines.{engine}.raw_mlua_ns"), out[1]);

    s.step(&format!("{engine}: setup (load_str of the seed script in a fresh sandboxed VM)"));
    let setup = sample_ns(s.harness().config().one_shot_samples(), || {
        let (chain, ns) = timed(|| lua_chain::load("seed.lua", SEED_SCRIPT, Limits::default()));
        drop(chain.map_err(lua_build_error)?);
        thread_vm_count();
        Ok(ns)
    })?
    .scaled(1e-3);
    s.results.value(format!("engines.{engine}.setup_us"), setup.median);
    s.results.summary(format!("measurements.engines.{engine}.setup_us"), setup);
    Ok(())
}
