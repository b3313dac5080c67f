//! Serving a Lua chain from a tokio multi-threaded runtime.
//!
//! Chain executions are synchronous CPU work (Lua), so a service runs them
//! with `tokio::task::spawn_blocking` (or on its own threads), never directly
//! on the async workers. One [`ReloadableChain`] is shared through an `Arc`;
//! each blocking thread gets its own Lua VM on first use. Midway, the chain is
//! reloaded with a new pricing rule while requests keep flowing.
//!
//! Run: `cargo run -p eventchains-lua --example tokio_service`
//! (the test `tests/tokio_service.rs` runs [`run_demo`]).

use std::sync::Arc;

use eventchains_lua::{LuaChainBuilder, ReloadableChain};

/// Version 1: 20 % tax.
pub const PRICING_V1: &str = r#"
return {
  name = "pricing",
  events = {
    { name = "tax", handler = function(ctx) ctx.total = ctx.amount * 1.2 end },
    { name = "stamp", handler = function(ctx) ctx.rule = "tax" end },
  },
}
"#;

/// Version 2: 20 % tax, then 10 off orders of 100 or more.
pub const PRICING_V2: &str = r#"
return {
  name = "pricing",
  events = {
    { name = "tax", handler = function(ctx) ctx.total = ctx.amount * 1.2 end },
    { name = "discount", handler = function(ctx)
        if ctx.amount >= 100 then ctx.total = ctx.total - 10 end
      end },
    { name = "stamp", handler = function(ctx) ctx.rule = "tax+discount" end },
  },
}
"#;

/// What one request produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    /// The request's amount.
    pub amount: i64,
    /// The chain version that priced it.
    pub version: u64,
    /// The rule the script stamped (tells which version ran every event).
    pub rule: String,
    /// The computed total.
    pub total: f64,
}

/// Prices `amounts` concurrently: one `spawn_blocking` task per request.
pub async fn price_all(chain: Arc<ReloadableChain>, amounts: impl IntoIterator<Item = i64>) -> Vec<Priced> {
    let tasks: Vec<_> = amounts
        .into_iter()
        .map(|amount| {
            let chain = chain.clone();
            tokio::task::spawn_blocking(move || {
                // One consistent version for the context and the execution.
                let version = chain.current();
                let mut ctx = version.new_context();
                ctx.set("amount", amount);
                let result = version.execute(&mut ctx);
                assert!(result.is_clean(), "{result}");
                Priced {
                    amount,
                    version: version.number(),
                    rule: ctx.get::<String>("rule").unwrap_or_default(),
                    total: ctx.get::<f64>("total").unwrap_or_default(),
                }
            })
        })
        .collect();
    let mut priced = Vec::with_capacity(tasks.len());
    for task in tasks {
        priced.push(task.await.expect("the pricing task does not panic"));
    }
    priced
}

/// Builds a 2-worker runtime, prices 200 requests, reloads to version 2 (on
/// a blocking thread, as a file watcher would), prices 200 more.
pub fn run_demo() -> (Vec<Priced>, Vec<Priced>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let chain =
            Arc::new(ReloadableChain::load_str(LuaChainBuilder::new(), "pricing.lua", PRICING_V1).expect("v1 loads"));
        let before = price_all(chain.clone(), 1..=200).await;
        let reloader = chain.clone();
        tokio::task::spawn_blocking(move || reloader.reload_str(PRICING_V2).map(|v| v.number()))
            .await
            .expect("no panic")
            .expect("v2 loads");
        let after = price_all(chain, 1..=200).await;
        (before, after)
    })
}

#[allow(clippy::print_stdout)]
fn main() {
    let (before, after) = run_demo();
    let sum = |p: &[Priced]| p.iter().map(|p| p.total).sum::<f64>();
    println!("version 1: {} requests, total {:.2}", before.len(), sum(&before));
    println!("version 2: {} requests, total {:.2}", after.len(), sum(&after));
}
