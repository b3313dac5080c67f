//! Executions in flight on one current-thread runtime, each Lua handler
//! awaiting a timer through an async host function: the wall time of N of
//! them and the memory each holds while all N wait, for two models:
//!
//! - [`Model::Coroutines`] (ours): one VM per thread, every execution a
//!   coroutine of it with its own `ctx`;
//! - [`Model::VmPool`]: a pool of VMs, each execution holding one VM
//!   exclusively for its whole duration, awaits included (the model of a
//!   pool shared by tokio's workers with mlua's `send` feature, measured here
//!   on one thread without `send`: N chains of the same script, so N VMs).
//!   The pool is sized to the concurrency (no execution waits for a VM), so
//!   both models run the same N executions concurrently, and is warm (every
//!   VM ran one execution before the measured run), as in a running service.
//!
//! Memory is read through a counter of live heap bytes that the caller
//! provides: the `eventchains-bench-inflight` binary installs a counting
//! global allocator (mlua allocates the Lua heap through it too) and the
//! suite runs that binary in its own process, so the counting slows nothing
//! else. See docs/benchmarks.md (`async.concurrent_*`, `async.vm_pool_*`).

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eventchains_lua::{LuaChain, LuaChainBuilder};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// How the executions in flight get their VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// One VM per thread, a coroutine and its own `ctx` per execution.
    Coroutines,
    /// A pool of VMs (as many as executions in flight), one execution per VM at a time.
    VmPool,
}

impl Model {
    /// The name on the command line and in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Coroutines => "coroutines",
            Model::VmPool => "vm_pool",
        }
    }

    /// The model called `name`.
    pub fn parse(name: &str) -> Option<Model> {
        [Model::Coroutines, Model::VmPool].into_iter().find(|m| m.as_str() == name)
    }
}

/// What one measurement found (the helper binary prints it as one JSON line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InflightFigures {
    /// The model measured.
    pub model: Model,
    /// Executions in flight at once.
    pub executions: usize,
    /// What each handler awaited, in ms.
    pub wait_ms: u64,
    /// From the first execution started to the last one finished, in ms.
    pub wall_ms: f64,
    /// Live heap bytes when all executions were waiting, minus before the
    /// first started (for the pool: before its VMs were built), per execution.
    pub bytes_per_inflight_execution: f64,
    /// Building the VMs the executions need before they start, in ms (the
    /// pool's N chains; 0 for coroutines, whose one VM exists already).
    pub setup_ms: f64,
}

/// The script: one event awaiting the host's `wait_for_stock`, then writing the context.
const SCRIPT: &str = r#"
return {
  name = "inflight",
  events = {
    { name = "reserve", handler = function(ctx)
        local stock = wait_for_stock(ctx.sku)
        ctx.stock = stock
        ctx.reserved = stock > 0
      end },
  },
}
"#;

/// Notes the live bytes when the last of `n` executions starts waiting.
#[derive(Debug)]
struct Probe {
    n: usize,
    waiting: AtomicUsize,
    at_peak: AtomicUsize,
    live: fn() -> usize,
}

impl Probe {
    fn waits(&self) {
        if self.waiting.fetch_add(1, Ordering::Relaxed) + 1 == self.n {
            self.at_peak.store((self.live)(), Ordering::Relaxed);
        }
    }
}

fn chain(probe: &Arc<Probe>, wait: Duration) -> Result<LuaChain, BenchError> {
    let probe = probe.clone();
    LuaChainBuilder::new()
        .register_async_fn("wait_for_stock", move |_sku: String| {
            probe.waits();
            async move {
                tokio::time::sleep(wait).await;
                Ok::<_, std::convert::Infallible>(3)
            }
        })
        .load_str("inflight.lua", SCRIPT)
        .map_err(crate::scenarios::lua_build_error)
}

/// Measures `n` executions of `model` in flight, each awaiting `wait`;
/// `live` reads the live heap bytes (0 without a counting allocator: then the
/// bytes figure is 0).
pub fn measure(model: Model, n: usize, wait: Duration, live: fn() -> usize) -> Result<InflightFigures, BenchError> {
    let n = n.max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| BenchError::Build { subject: "runtime".into(), message: e.to_string() })?;
    let probe = Arc::new(Probe { n, waiting: AtomicUsize::new(0), at_peak: AtomicUsize::new(0), live });
    // Warm up the timer wheel and the allocator's arenas with one VM.
    let warm = Rc::new(chain(&probe, wait)?);
    runtime.block_on(run_all(&vec![warm.clone(); 64], 64))?;
    let (pool, before, setup) = match model {
        Model::Coroutines => (vec![warm], live(), Duration::ZERO),
        Model::VmPool => {
            drop(warm);
            let before = live();
            let start = Instant::now();
            let pool = (0..n).map(|_| chain(&probe, wait).map(Rc::new)).collect::<Result<Vec<_>, _>>()?;
            let setup = start.elapsed();
            // A pool in service is warm: every VM has run once (its coroutine
            // and caches exist; counted in the bytes, not in the wall time).
            runtime.block_on(run_all(&pool, n))?;
            (pool, before, setup)
        }
    };
    probe.waiting.store(0, Ordering::Relaxed);
    let start = Instant::now();
    runtime.block_on(run_all(&pool, n))?;
    let wall = start.elapsed();
    let peak = probe.at_peak.load(Ordering::Relaxed);
    Ok(InflightFigures {
        model,
        executions: n,
        wait_ms: wait.as_millis() as u64,
        wall_ms: wall.as_secs_f64() * 1e3,
        bytes_per_inflight_execution: peak.saturating_sub(before) as f64 / n as f64,
        setup_ms: setup.as_secs_f64() * 1e3,
    })
}

/// Runs `n` executions at once; each checks a chain (so a VM) out of `pool`
/// for its whole duration, or shares the only one when `pool` holds one
/// chain several times or once (coroutines).
async fn run_all(pool: &[Rc<LuaChain>], n: usize) -> Result<(), BenchError> {
    let shared = pool.len() == 1 || pool.iter().all(|c| Rc::ptr_eq(c, &pool[0]));
    let free = Rc::new(std::cell::RefCell::new(pool.to_vec()));
    let slots = Rc::new(tokio::sync::Semaphore::new(if shared { n } else { pool.len() }));
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (free, slots, first) = (free.clone(), slots.clone(), pool[0].clone());
            local.spawn_local(async move {
                let _slot = slots.acquire().await.map_err(|e| e.to_string())?;
                let chain = if shared { first } else { free.borrow_mut().pop().ok_or("the pool ran dry")? };
                let mut ctx = chain.new_context();
                ctx.set("sku", if i % 2 == 0 { "tea" } else { "coffee" });
                let result = chain.execute_async(&mut ctx).await;
                if !shared {
                    free.borrow_mut().push(chain);
                }
                if result.is_clean() && ctx.get::<i64>("stock") == Some(3) {
                    Ok(())
                } else {
                    Err(format!("execution {i} failed: {:?}", result.failures()))
                }
            })
        })
        .collect();
    local.await;
    for handle in handles {
        let outcome = handle.await.map_err(|e| e.to_string()).and_then(|r| r);
        outcome
            .map_err(|message| BenchError::WrongResult { subject: "inflight executions".into(), detail: message })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_models_run_every_execution_and_name_round_trips() {
        for model in [Model::Coroutines, Model::VmPool] {
            assert_eq!(Model::parse(model.as_str()), Some(model));
            let figures = measure(model, 8, Duration::from_millis(1), || 0).expect("measures");
            assert_eq!((figures.model, figures.executions, figures.wait_ms), (model, 8, 1));
            assert!(figures.wall_ms > 0.0);
            assert_eq!(figures.bytes_per_inflight_execution, 0.0);
        }
        assert_eq!(Model::parse("threads"), None);
    }
}
