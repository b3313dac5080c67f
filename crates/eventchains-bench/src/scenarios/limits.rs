//! The cost of the sandbox's instruction-count hook: limits on versus off,
//! on the raw mlua floor and on the Lua chain.

#[cfg(not(feature = "luau"))]
use mlua::{HookTriggers, VmState};

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::Session;
use crate::scenarios::lua_build_error;
use crate::subjects::lua_chain;
use crate::subjects::raw_mlua::RawMlua;

/// How often the hook fires, in VM instructions (as eventchains-lua sets it).
pub(crate) const HOOK_EVERY: u32 = eventchains_lua::HOOK_INTERVAL;

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let off = RawMlua::new()?;
    let on = RawMlua::new()?;
    let mut lua_off = lua_chain::seed(eventchains_lua::Limits::UNLIMITED).map_err(lua_build_error)?;
    let mut lua_on = lua_chain::seed(eventchains_lua::Limits::default()).map_err(lua_build_error)?;
    // Luau has no instruction hook (eventchains-lua uses its interrupt): there both raw rows are the same program.
    #[cfg(not(feature = "luau"))]
    on.lua().set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| Ok(VmState::Continue))?;
    #[cfg(feature = "luau")]
    s.results.note("limits: Luau has no instruction hook; limits.raw_mlua_on_ns runs without one");
    s.step(&format!(
        "Lua chain with default limits vs Limits::UNLIMITED; raw mlua with a hook every {HOOK_EVERY} instructions vs none"
    ));
    let mut variants = vec![
        Variant::new("lua_off", || lua_off.execute()),
        Variant::new("lua_on", || lua_on.execute()),
        Variant::new("raw_off", || off.execute()),
        Variant::new("raw_on", || on.execute()),
    ];
    let out = s.compare(&mut variants, None);
    drop(variants);
    s.results.summary("limits.lua_off_ns", out[0]);
    s.results.summary("limits.lua_on_ns", out[1]);
    s.results.summary("limits.raw_mlua_off_ns", out[2]);
    s.results.summary("limits.raw_mlua_on_ns", out[3]);
    Ok(())
}
