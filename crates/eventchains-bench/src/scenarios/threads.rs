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

/// Rounds of 1 then 2 threads for every subject in turn (so load changes hit
/// all alike); records the median throughputs under `scaling.<prefix>threads_N_per_s`.
pub(crate) fn measure(s: &mut Session<'_>, subjects: &[(&str, MakeRunner<'_>)]) -> Result<(), BenchError> {
    let (rounds, duration) = if s.quick() { (3, Duration::from_millis(200)) } else { (7, Duration::from_secs(1)) };
    let mut samples = vec![(Vec::new(), Vec::new()); subjects.len()];
    for round in 0..rounds {
        s.step(&format!("round {}/{rounds}: 1 and 2 threads for each subject", round + 1));
        for ((_, make), (one, two)) in subjects.iter().zip(samples.iter_mut()) {
            one.push(throughput(1, duration, *make)?);
            two.push(throughput(2, duration, *make)?);
        }
    }
    for ((prefix, _), (one, two)) in subjects.iter().zip(samples) {
        for (threads, samples) in [(1, one), (2, two)] {
            if let Some(sum) = Summary::of(&samples) {
                s.results.summary(format!("measurements.threads.{prefix}threads_{threads}_per_s"), sum);
                s.results.value(format!("scaling.{prefix}threads_{threads}_per_s"), sum.median);
            }
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

/// A CPU-bound step that touches no shared memory (xorshift rounds).
fn spin() {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
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
    let load = crate::report::load_average();
    // The control, a CPU-bound loop that shares nothing, shows how much a
    // second thread can gain on this machine right now.
    measure(
        s,
        &[
            ("", &|| Ok(runner(&lua_chain))),
            ("native_", &|| Ok(runner(&native_chain))),
            ("control_", &|| Ok(Box::new(spin))),
        ],
    )?;
    let (one, two) =
        (s.results.get("scaling.control_threads_1_per_s"), s.results.get("scaling.control_threads_2_per_s"));
    if let (Some(one), Some(two)) = (one, two) {
        s.results.value("scaling.control_speedup_2_threads", two / one);
        if two / one < 1.8 {
            s.results.note(format!(
                "threads: a CPU-bound control loop gains only {:.2}x from a second thread here (load average {}): \
                 the machine cannot run two threads at full speed (other processes, or vCPUs that share a core), \
                 so the 2-thread figures say little about the chains",
                two / one,
                load.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.1}"))
            ));
        }
    }
    Ok(())
}
