//! A loop for instruction counts of one order (see docs/architecture.md,
//! "Async executions"): `order_loop lua|rust [ITERATIONS]` runs the order of
//! the load measurement (`cargo xtask bench --filter async`: two items, two
//! inventory lookups) through the service's Lua chain (`POST /orders`, the
//! script scripts/orders.lua) or its hand-written Rust chain
//! (`POST /orders-rust`), ITERATIONS times, one after the other, on one
//! current-thread runtime, as the handlers do: the JSON body parsed, the chain
//! run, the response serialized. No network, and the inventory answers
//! without delay (its timer still runs), so the count is the per-request CPU
//! work of each handler. Run it under `valgrind --tool=callgrind` at two
//! iteration counts and divide the difference.
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use eventchains_core::ChainStatus;
use http_service::{AppState, Inventory, ServiceConfig};

/// The order every request of the load measurement sends.
const ORDER: &str =
    r#"{"id": 1, "items": [{"sku": "tea", "qty": 2, "price": 3.5}, {"sku": "cake", "qty": 1, "price": 4}]}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let handler = args.next().unwrap_or_else(|| "lua".to_owned());
    let iterations: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/orders.lua");
    let stock = [("tea".to_owned(), 1_000_000), ("cake".to_owned(), 1_000_000)];
    let inventory = Inventory::new(stock, Duration::ZERO);
    let state = AppState::new(ServiceConfig { script, workers: 0, inventory })?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let bytes = local.block_on(&runtime, async {
        let mut bytes = 0usize;
        for _ in 0..iterations {
            let order: serde_json::Value = serde_json::from_str(black_box(ORDER))?;
            let response = match handler.as_str() {
                "lua" => state.run_lua_order(order).await,
                "rust" => state.run_rust_order(order).await,
                other => return Err(format!("unknown handler `{other}` (lua|rust)").into()),
            };
            if response.status != ChainStatus::Completed {
                return Err(format!("the order failed: {:?}", response.failures).into());
            }
            bytes += serde_json::to_vec(&response)?.len();
        }
        Ok::<_, Box<dyn std::error::Error>>(bytes)
    })?;
    eprintln!("{handler}: {iterations} orders, {bytes} response bytes");
    Ok(())
}
