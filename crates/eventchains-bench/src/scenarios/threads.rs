//! Throughput with 1 and 2 threads: each thread runs its own executions of
//! the same chain for a fixed time; rounds alternate 1 and 2 threads.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::scenario::Session;
use crate::scenarios::lua_build_error;
use crate::stats::Summary;
use crate::subjects::lua_chain;
use crate::subjects::native::{ChainSeed, RunsChain, seed_chain};

/// Makes one thread's runner: a closure doing one execution.
pub(crate) type MakeRunner<'a> = &'a (dyn Fn() -> Result<Box<dyn FnMut()>, BenchError> + Sync);

/// Executions per second over `duration` with `threads` threads.
pub(crate) fn throughput(threads: usize, duration: Duration, make: MakeRunner<'_>) -> Result<f64, BenchError> {
    let barrier = Barrier::new(threads);
    // `BenchError` may hold a non-`Send` mlua error: threads report errors as text.
    let counts: Vec<Result<(u64, Duration), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let runner = make();
                    barrier.wait();
                    let mut runner = runner.map_err(|e| e.to_string())?;
                    let start = Instant::now();
                    let mut count = 0u64;
                    while start.elapsed() < duration {
                        for _ in 0..64 {
                            runner();
                        }
                        count += 64;
                    }
                    Ok((count, start.elapsed()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut total = 0.0;
    for c in counts {
        let (count, took) = c.map_err(|message| BenchError::Build { subject: "thread runner".into(), message })?;
        total += count as f64 / took.as_secs_f64();
    }
    Ok(total)
}

/// Alternates 1- and 2-thread rounds and records the median throughputs under `prefix`.
pub(crate) fn measure(s: &mut Session<'_>, prefix: &str, make: MakeRunner<'_>) -> Result<(), BenchError> {
    let (rounds, duration) = if s.quick() { (3, Duration::from_millis(200)) } else { (7, Duration::from_secs(1)) };
    let mut one = Vec::new();
    let mut two = Vec::new();
    for round in 0..rounds {
        let chain = if prefix.is_empty() { "Lua chain" } else { "Rust chain" };
        s.step(&format!("{chain}: round {}/{rounds}", round + 1));
        one.push(throughput(1, duration, make)?);
        two.push(throughput(2, duration, make)?);
    }
    for (threads, samples) in [(1, one), (2, two)] {
        if let Some(sum) = Summary::of(&samples) {
            s.results.summary(format!("measurements.threads.{prefix}threads_{threads}_per_s"), sum);
            s.results.value(format!("scaling.{prefix}threads_{threads}_per_s"), sum.median);
        }
    }
    Ok(())
}

/// One thread's runner on a clone of `chain`, warmed up by one execution
/// (which builds the thread's Lua VM for a Lua chain).
fn runner<C: RunsChain + Clone + 'static>(chain: &C) -> Box<dyn FnMut()> {
    let mut seed = ChainSeed::from_chain(chain.clone());
    seed.execute();
    Box::new(move || {
        std::hint::black_box(seed.execute());
    })
}

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        s.results.note(format!("threads: only {cores} core available, 2-thread figures are not meaningful"));
    }
    // One chain shared by every thread, as a host would; each thread has its
    // own context (and, for Lua, its own VM, built by the warm-up execution).
    let native_chain = seed_chain();
    let lua_chain = lua_chain::load("seed.lua", crate::subjects::SEED_SCRIPT, eventchains_lua::Limits::default())
        .map_err(lua_build_error)?;
    measure(s, "", &|| Ok(runner(&lua_chain)))?;
    measure(s, "native_", &|| Ok(runner(&native_chain)))?;
    Ok(())
}
