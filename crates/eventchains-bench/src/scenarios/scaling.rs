//! How the cost per execution grows with more events, more middleware and a
//! larger context; each dimension's points are measured interleaved.

use eventchains_core::EventChain;

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::Session;
use crate::scenarios::LUA_MISSING;
use crate::subjects::native::{Append, Increment, NativeSeed, PassThrough, seed_chain};

fn record(s: &mut Session<'_>, dimension: &str, points: &[usize], natives: Vec<NativeSeed>) {
    let mut natives = natives;
    let mut variants: Vec<Variant<'_>> =
        natives.iter_mut().zip(points).map(|(n, p)| Variant::new(format!("native_{p}"), move || n.execute())).collect();
    s.step(&format!("{} points interleaved", variants.len()));
    let out = s.harness().compare(&mut variants);
    drop(variants);
    for (p, summary) in points.iter().zip(out) {
        s.results.summary(format!("scaling.{dimension}_{p}.native_ns"), summary);
        s.results.missing(format!("scaling.{dimension}_{p}.lua_ns"), LUA_MISSING);
    }
}

/// 1, 10 and 100 events (each an `increment`).
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
    record(s, "events", &points, natives);
    Ok(())
}

/// 0, 1 and 4 pass-through middleware around the seed chain's two events.
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
    record(s, "middleware", &points, natives);
    Ok(())
}

/// The seed chain on a context of 2, 20 and 200 keys.
pub(crate) fn context(s: &mut Session<'_>) -> Result<(), BenchError> {
    let points = [2usize, 20, 200];
    let natives = points.iter().map(|&k| NativeSeed::from_chain(seed_chain()).with_extra_keys(k - 2)).collect();
    record(s, "context", &points, natives);
    Ok(())
}
