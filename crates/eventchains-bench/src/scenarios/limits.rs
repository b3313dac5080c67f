//! The cost of the sandbox's instruction-count hook: limits on versus off,
//! on the raw mlua floor and on the Lua chain.

use mlua::{HookTriggers, VmState};

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::Session;
use crate::scenarios::LUA_MISSING;
use crate::subjects::raw_mlua::RawMlua;

/// How often the hook fires, in VM instructions (as a sandbox would set it).
pub(crate) const HOOK_EVERY: u32 = 1_000;

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let off = RawMlua::new()?;
    let on = RawMlua::new()?;
    on.lua().set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| Ok(VmState::Continue))?;
    s.step(&format!("raw mlua, hook every {HOOK_EVERY} instructions vs none"));
    let mut variants = vec![Variant::new("off", || off.execute()), Variant::new("on", || on.execute())];
    let out = s.harness().compare(&mut variants);
    drop(variants);
    s.results.summary("limits.raw_mlua_off_ns", out[0]);
    s.results.summary("limits.raw_mlua_on_ns", out[1]);
    s.results.missing("limits.lua_off_ns", LUA_MISSING);
    s.results.missing("limits.lua_on_ns", LUA_MISSING);
    Ok(())
}
