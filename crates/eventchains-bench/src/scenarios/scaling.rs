//! How the cost per execution grows with more events, more middleware and a
//! larger context, for the Rust and the Lua chain doing the same work; each
//! dimension's points (both chains) are measured interleaved.

use eventchains_core::EventChain;
use eventchains_lua::Limits;

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::Session;
use crate::scenarios::lua_build_error;
use crate::subjects::SEED_SCRIPT;
use crate::subjects::lua_chain::{self, LuaSeed};
use crate::subjects::native::{Append, Increment, NativeSeed, PassThrough, seed_chain};

fn record(
    s: &mut Session<'_>,
    dimension: &str,
    points: &[usize],
    mut natives: Vec<NativeSeed>,
    mut luas: Vec<LuaSeed>,
) {
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for ((native, lua), p) in natives.iter_mut().zip(luas.iter_mut()).zip(points) {
        variants.push(Variant::new(format!("native_{p}"), move || native.execute()));
        variants.push(Variant::new(format!("lua_{p}"), move || lua.execute()));
    }
    s.step(&format!("{} variants interleaved (Rust and Lua at {points:?})", variants.len()));
    let out = s.compare(&mut variants, None);
    drop(variants);
    for (p, pair) in points.iter().zip(out.chunks(2)) {
        s.results.summary(format!("scaling.{dimension}_{p}.native_ns"), pair[0]);
        s.results.summary(format!("scaling.{dimension}_{p}.lua_ns"), pair[1]);
    }
}

fn lua(name: &str, source: &str) -> Result<LuaSeed, BenchError> {
    Ok(LuaSeed::from_chain(lua_chain::load(name, source, Limits::default()).map_err(lua_build_error)?))
}

/// 1, 10 and 100 events (each adds 1 to `counter`).
pub(crate) fn events(s: &mut Session<'_>) -> Result<(), BenchError> {
    let points = [1usize, 10, 100];
    let natives = points
        .iter()
        .map(|&n| {
            let mut chain = EventChain::new();
            for _ in 0..n {
                chain.add_event(Increment);
            }
            NativeSeed::from_chain(chain)
        })
        .collect();
    let luas = points.iter().map(|&n| lua("events.lua", &lua_chain::events_script(n))).collect::<Result<_, _>>()?;
    record(s, "events", &points, natives, luas);
    Ok(())
}

/// 0, 1 and 4 pass-through middleware around the seed chain's two events
/// (Rust middleware on the Rust chain, Lua middleware on the Lua chain).
pub(crate) fn middleware(s: &mut Session<'_>) -> Result<(), BenchError> {
    let points = [0usize, 1, 4];
    let natives = points
        .iter()
        .map(|&m| {
            let mut chain = EventChain::new().event(Increment).event(Append);
            for _ in 0..m {
                chain.add_middleware(PassThrough);
            }
            NativeSeed::from_chain(chain)
        })
        .collect();
    let luas =
        points.iter().map(|&m| lua("middleware.lua", &lua_chain::middleware_script(m))).collect::<Result<_, _>>()?;
    record(s, "middleware", &points, natives, luas);
    Ok(())
}

/// The seed chain on a context of 2, 20 and 200 keys.
pub(crate) fn context(s: &mut Session<'_>) -> Result<(), BenchError> {
    let points = [2usize, 20, 200];
    let natives = points.iter().map(|&k| NativeSeed::from_chain(seed_chain()).with_extra_keys(k - 2)).collect();
    let luas = points
        .iter()
        .map(|&k| Ok::<_, BenchError>(lua("seed.lua", SEED_SCRIPT)?.with_extra_keys(k - 2)))
        .collect::<Result<_, _>>()?;
    record(s, "context", &points, natives, luas);
    Ok(())
}
