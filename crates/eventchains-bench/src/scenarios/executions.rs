//! Repeated execution with the chain reused: samples of exactly 100, 1,000
//! and 10,000 executions, Rust and Lua side by side.

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::Session;
use crate::scenarios::lua_build_error;
use crate::subjects::{lua_chain, native::NativeSeed, raw_mlua::RawMlua};

/// The execution counts per sample the experiment reported.
pub const EXECUTIONS: [u64; 3] = [100, 1_000, 10_000];

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let mut native = NativeSeed::new();
    let raw = RawMlua::new()?;
    let mut lua = lua_chain::seed(eventchains_lua::Limits::default()).map_err(lua_build_error)?;
    for n in EXECUTIONS {
        s.step(&format!("{n} executions per sample"));
        let mut variants = vec![
            Variant::new("native", || native.execute()),
            Variant::new("lua", || lua.execute()),
            Variant::new("raw_mlua", || raw.execute()),
        ];
        let out = s.compare(&mut variants, Some(n));
        drop(variants);
        s.results.summary(format!("repeated.n{n}.native_ns"), out[0]);
        s.results.summary(format!("repeated.n{n}.lua_ns"), out[1]);
        s.results.summary(format!("repeated.n{n}.raw_mlua_ns"), out[2]);
    }
    Ok(())
}
