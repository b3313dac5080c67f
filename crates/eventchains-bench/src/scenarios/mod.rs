//! Every scenario of the suite, in the order a full run executes them.

#[cfg(feature = "lua54")]
mod async_http;
mod async_inflight;
mod asynchronous;
mod engine;
mod executions;
pub use executions::EXECUTIONS;
mod fresh_context;
mod limits;
mod scaling;
mod seed_chain;
pub(crate) mod setup;
mod threads;

use crate::scenario::Scenario;

/// A Lua chain that does not load is a bug in a scenario's script.
pub(crate) fn lua_build_error(e: eventchains_lua::LoadError) -> crate::BenchError {
    crate::BenchError::Build { subject: "lua chain".into(), message: e.to_string() }
}

/// Every scenario, in run order (the default run skips those with `default: false`).
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "seed_chain",
            about: "seed chain per execution: ours, Lua chain, the three options, anchors and floor, interleaved",
            run: seed_chain::run,
            default: true,
        },
        Scenario {
            name: "fresh_context",
            about: "per-request shape: a fresh context per execution (Rust, event_chains 0.2.1, Lua, fresh-table floor)",
            run: fresh_context::run,
            default: true,
        },
        Scenario {
            name: "executions",
            about: "repeated execution with the chain reused: 100, 1,000 and 10,000 executions per sample",
            run: executions::run,
            default: true,
        },
        Scenario {
            name: "setup",
            about: "one-shot setup: VM creation, parse, build, first execution; the hard-coded equivalent",
            run: setup::run,
            default: true,
        },
        Scenario {
            name: "events",
            about: "scaling with the number of events (1, 10, 100)",
            run: scaling::events,
            default: true,
        },
        Scenario {
            name: "middleware",
            about: "scaling with the number of middleware (0, 1, 4)",
            run: scaling::middleware,
            default: true,
        },
        Scenario {
            name: "context",
            about: "scaling with the context size (2, 20, 200 keys)",
            run: scaling::context,
            default: true,
        },
        Scenario { name: "threads", about: "throughput with 1 and 2 threads", run: threads::run, default: true },
        Scenario {
            name: "async",
            about: "async: the seed chain as a future beside sync; executions in flight (coroutines vs a VM pool); the http service under load (Lua vs Rust handler; not with --quick)",
            run: asynchronous::run,
            default: true,
        },
        Scenario {
            name: "limits",
            about: "sandbox limits (instruction hook) on versus off",
            run: limits::run,
            default: true,
        },
        Scenario {
            name: "engine",
            about: "this build's Lua engine row (engines.<name>.*), for --engines; not in the default run",
            run: engine::run,
            default: false,
        },
    ]
}

/// The scenarios `filter` selects: the default run for `None`, else the one named so.
pub fn select(filter: Option<&str>) -> Result<Vec<Scenario>, crate::BenchError> {
    let all = all();
    match filter {
        None => Ok(all.into_iter().filter(|s| s.default).collect()),
        Some(name) => {
            let picked: Vec<Scenario> = all.iter().copied().filter(|s| s.name == name).collect();
            if picked.is_empty() {
                let known = all.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
                Err(crate::BenchError::UnknownScenario(name.to_owned(), known))
            } else {
                Ok(picked)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_selectable() {
        let all = all();
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(select(Some("setup")).expect("known").len(), 1);
        assert_eq!(select(None).expect("all").len(), all.len() - 1);
        assert!(select(None).expect("all").iter().all(|s| s.name != "engine"));
        assert_eq!(select(Some("engine")).expect("opt-in").len(), 1);
        let err = select(Some("nope")).expect_err("unknown");
        assert!(err.to_string().contains("known: seed_chain, fresh_context, executions"), "{err}");
    }
}
