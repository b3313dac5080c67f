//! The `async` scenario (issue 12's measurements), in three parts:
//!
//! - async execution of the seed chain with nothing awaited, beside sync
//!   execution of the same chain, interleaved in one comparison ("at most
//!   +100 ns per execution"). The futures are polled to their end with a no-op
//!   waker: the cost of `.await`ing an execution inside a task, with no
//!   runtime scheduling around it (which a service pays per task, not per chain);
//! - executions in flight and their memory, coroutines against a pool of VMs
//!   ([`super::async_inflight`]);
//! - the http service under load, the Lua chain against the hand-written
//!   Rust handler ([`super::async_http`]; skipped by `--quick`, and measured
//!   only in the Lua 5.4 build, the engine of examples/http-service).

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::{Session, check};
use crate::subjects::SeedOutcome;
use crate::subjects::native::{ChainSeed, NativeSeed, async_events_seed_chain, async_seed_chain};

/// The variants, in order, with the keys of their medians.
pub(crate) const KEYS: [(&str, &str); 3] =
    [("sync", "async.sync_ns"), ("async", "async.async_ns"), ("async_events", "async.async_events_ns")];

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    seed(s)?;
    super::async_inflight::run(s)?;
    http(s)
}

#[cfg(feature = "lua54")]
fn http(s: &mut Session<'_>) -> Result<(), BenchError> {
    super::async_http::run(s)
}

#[cfg(not(feature = "lua54"))]
fn http(s: &mut Session<'_>) -> Result<(), BenchError> {
    s.results.missing("async.http_", "measured only in the Lua 5.4 build (the engine of examples/http-service)");
    Ok(())
}

/// The seed chain, sync against async, nothing awaited.
fn seed(s: &mut Session<'_>) -> Result<(), BenchError> {
    let expected = SeedOutcome::expected();
    let mut sync = NativeSeed::new();
    let mut on_async = ChainSeed::from_chain(async_seed_chain());
    let mut async_events = ChainSeed::from_chain(async_events_seed_chain());
    check("sync seed chain", sync.execute(), &expected)?;
    check("async seed chain", on_async.execute(), &expected)?;
    check("async seed chain with async events", async_events.execute(), &expected)?;
    let mut variants = vec![
        Variant::new(KEYS[0].0, || sync.execute()),
        Variant::new(KEYS[1].0, || on_async.execute()),
        Variant::new(KEYS[2].0, || async_events.execute()),
    ];
    s.step("3 variants interleaved: sync (EventChain), async (AsyncEventChain, sync events), async_events (async events awaiting nothing)");
    let summaries = s.compare(&mut variants, None);
    drop(variants);
    for ((name, key), summary) in KEYS.iter().zip(summaries) {
        s.results.summary(format!("measurements.async.{name}_ns"), summary);
        s.results.value(*key, summary.median);
    }
    Ok(())
}
