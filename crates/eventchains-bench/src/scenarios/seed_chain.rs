//! The seed chain per execution, every subject interleaved in one comparison.

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::{Session, check};
use crate::subjects::{
    SeedOutcome, config_only, lua_chain, native::NativeSeed, pure_lua::PureLuaEngine, raw_mlua::RawMlua,
    reference::ReferenceSeed, rhai_chain, seed_method::SeedMethod,
};

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let expected = SeedOutcome::expected();
    let mut native = NativeSeed::new();
    let mut config =
        config_only::seed().map_err(|e| BenchError::Build { subject: "config".into(), message: e.to_string() })?;
    let mut reference = ReferenceSeed::new();
    let raw = RawMlua::new()?;
    let seed_method = SeedMethod::new()?;
    let pure = PureLuaEngine::new()?;
    let mut rhai =
        rhai_chain::seed().map_err(|e| BenchError::Build { subject: "rhai".into(), message: e.to_string() })?;
    let mut lua = lua_chain::seed(eventchains_lua::Limits::default()).map_err(crate::scenarios::lua_build_error)?;
    check("lua_chain", lua.execute(), &expected)?;
    check("native", native.execute(), &expected)?;
    check("lua_config_only", config.execute(), &expected)?;
    check("event_chains 0.2.1", reference.execute(), &expected)?;
    check("raw_mlua", raw.execute()?, &expected)?;
    check("seed_method", seed_method.execute()?, &expected)?;
    check("pure_lua_engine", pure.execute()?, &expected)?;
    check("rhai", rhai.execute(), &expected)?;

    let mut variants = vec![
        Variant::new("native", || native.execute()),
        Variant::new("lua_chain", || lua.execute()),
        Variant::new("lua_config_only", || config.execute()),
        Variant::new("event_chains_0_2_1", || reference.execute()),
        Variant::new("raw_mlua", || raw.execute()),
        Variant::new("raw_mlua_call", || raw.bare_call()),
        Variant::new("seed_method", || seed_method.execute()),
        Variant::new("pure_lua_engine", || pure.execute()),
        Variant::new("rhai", || rhai.execute()),
    ];
    let names: Vec<String> = variants.iter().map(|v| v.name().to_owned()).collect();
    s.step(&format!("{} variants interleaved: {}", names.len(), names.join(", ")));
    let summaries = s.compare(&mut variants, None);
    drop(variants);
    for (name, summary) in names.iter().zip(&summaries) {
        s.results.summary(format!("measurements.seed_chain.{name}_ns"), *summary);
        let key = match name.as_str() {
            "native" => {
                s.results.summary("per_execution.native_ns", *summary);
                continue;
            }
            "lua_chain" => {
                s.results.summary("per_execution.lua_ns", *summary);
                continue;
            }
            "lua_config_only" => "options.lua_config_only_ns",
            "event_chains_0_2_1" => "anchors.event_chains_0_2_1_ns",
            "raw_mlua" => "anchors.raw_mlua_ns",
            "raw_mlua_call" => "anchors.raw_mlua_call_ns",
            "seed_method" => "anchors.seed_method_lua_ns",
            "pure_lua_engine" => "options.pure_lua_engine_ns",
            "rhai" => "anchors.rhai_ns",
            _ => continue,
        };
        s.results.value(key, summary.median);
    }
    Ok(())
}
