//! The per-request shape: every execution builds a fresh context with the two
//! seed values, runs the chain and reads both fields back (what a service does
//! for each request). Our chain with Rust events, `event_chains` 0.2.1 with its
//! own fresh context, our Lua chain, and the floor (hand-written mlua creating
//! a fresh table each run), interleaved.

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::{Session, check};
use crate::scenarios::lua_build_error;
use crate::subjects::native::{execute_fresh, seed_chain};
use crate::subjects::{SeedOutcome, lua_chain, raw_mlua::RawMlua, reference::ReferenceSeed};

/// The subjects, in variant order, with the keys they are recorded under.
pub(crate) const KEYS: [&str; 4] = [
    "fresh_context.native_ns",
    "fresh_context.event_chains_0_2_1_ns",
    "fresh_context.lua_ns",
    "fresh_context.raw_mlua_fresh_table_ns",
];

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let expected = SeedOutcome::expected();
    let native = seed_chain();
    let reference = ReferenceSeed::new();
    let lua = lua_chain::load("seed.lua", crate::subjects::SEED_SCRIPT, eventchains_lua::Limits::default())
        .map_err(lua_build_error)?;
    let raw = RawMlua::new()?;
    check("native (fresh context)", execute_fresh(&native), &expected)?;
    check("event_chains 0.2.1 (fresh context)", reference.execute_fresh(), &expected)?;
    check("lua_chain (fresh context)", execute_fresh(&lua), &expected)?;
    check("raw_mlua (fresh table)", raw.execute_fresh_table()?, &expected)?;

    let mut variants = vec![
        Variant::new("native", || execute_fresh(&native)),
        Variant::new("event_chains_0_2_1", || reference.execute_fresh()),
        Variant::new("lua", || execute_fresh(&lua)),
        Variant::new("raw_mlua_fresh_table", || raw.execute_fresh_table()),
    ];
    s.step(
        "4 variants interleaved: native, event_chains_0_2_1, lua, raw_mlua_fresh_table (a fresh context per execution)",
    );
    let out = s.compare(&mut variants, None);
    drop(variants);
    for (key, summary) in KEYS.iter().zip(out) {
        s.results.summary(*key, summary);
    }
    Ok(())
}
