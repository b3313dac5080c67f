//! [`RustOrders`]: the order pipeline of `scripts/orders.lua` hand-written in
//! async Rust, served as `POST /orders-rust`: the baseline the Lua chain is
//! measured against (`async.http_rust_*` in docs/benchmarks.md).
//!
//! Same work as the script's version 1, step by step: the events `tag`,
//! `check_stock` (awaits [`Inventory::stock_of`] per item, the same future the
//! script's `inventory(sku)` awaits), `price`; the same middleware from the
//! same registry with the same configs (timeout, retry, concurrency limit,
//! metrics) and the trail middleware (written in Rust here); the same JSON
//! in (`ctx.order`) and out ([`OrderResponse`], `version` 0: no script).
//! Failures carry the script's messages without its `orders.lua:LINE: `
//! prefix. Unlike the Lua chain (whose VMs stay on their threads, see
//! [`LuaWorkers`](crate::LuaWorkers)), it runs on the server's own runtime:
//! its futures are `Send`.

use eventchains_core::{
    AsyncEventChain, EventContext, EventError, EventResult, FaultToleranceMode, FnAsyncEvent, FnAsyncMiddleware,
    FnEvent, MiddlewareRegistry, Value,
};
use serde_json::json;

use crate::inventory::Inventory;
use crate::order::OrderResponse;

/// The tag the script's version 1 writes (`VERSION`).
const VERSION: &str = "v1";

/// The hand-written Rust order chain.
#[derive(Debug)]
pub struct RustOrders {
    chain: AsyncEventChain,
}

/// Why the Rust chain could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Rust order chain: middleware `{name}`: {message}")]
pub struct RustOrdersError {
    name: &'static str,
    message: String,
}

impl RustOrders {
    /// The chain, with its named middleware built from `registry` (configured
    /// as in `scripts/orders.lua`) and its lookups answered by `inventory`.
    pub fn new(registry: &MiddlewareRegistry, inventory: Inventory) -> Result<Self, RustOrdersError> {
        let mut chain = AsyncEventChain::new()
            .named("orders-rust")
            .fault_tolerance(FaultToleranceMode::Strict)
            .event(FnEvent::new("tag", |ctx| {
                ctx.set("version_tag", VERSION);
                Ok(())
            }))
            .async_event(FnAsyncEvent::new("check_stock", move |ctx| {
                let inventory = inventory.clone();
                Box::pin(async move { check_stock(&inventory, ctx).await })
            }))
            .event(FnEvent::new("price", price))
            // Registration order as in the script: the last one is outermost.
            .async_middleware(FnAsyncMiddleware::new("trail", |event, ctx, next| {
                Box::pin(async move {
                    let outcome = next.run(ctx).await;
                    let step = format!("{VERSION}:{}:{}", event.name(), if outcome.is_ok() { "ok" } else { "failed" });
                    match ctx.value_mut("trail").and_then(Value::as_array_mut) {
                        Some(trail) => trail.push(Value::from(step)),
                        None => drop(ctx.set("trail", Value::Array(vec![Value::from(step)]))),
                    }
                    outcome
                })
            }));
        let named = [
            ("timeout", json!({ "timeout_ms": 5000 })),
            ("retry", json!({ "max_attempts": 2, "backoff": "fixed", "initial_ms": 1, "retry_on": ["timeout"] })),
            ("concurrency_limit", json!({ "max": 64, "wait_ms": 30000 })),
            ("metrics", json!({})),
        ];
        for (name, config) in named {
            let middleware = registry
                .build(name, &Value::from_json(config))
                .map_err(|e| RustOrdersError { name, message: e.to_string() })?;
            chain.add_middleware_arc(middleware);
        }
        Ok(RustOrders { chain })
    }

    /// Runs the chain on `order` (as `ctx.order`).
    pub async fn run(&self, order: serde_json::Value) -> OrderResponse {
        let mut ctx = EventContext::new();
        ctx.set("order", Value::from_json(order));
        let result = self.chain.execute(&mut ctx).await;
        OrderResponse::new(0, &result, ctx.to_json())
    }
}

/// One line of `ctx.order.items`.
struct Item {
    sku: String,
    qty: Number,
}

/// A Lua number: integer or float, with Lua's arithmetic (an integer unless a float takes part).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn of(value: Option<&Value>) -> Option<Number> {
        match value? {
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Float(f) => Some(Number::Float(*f)),
            _ => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    fn mul(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Number::Int(a.wrapping_mul(b)),
            (a, b) => Number::Float(a.as_f64() * b.as_f64()),
        }
    }

    fn add(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Number::Int(a.wrapping_add(b)),
            (a, b) => Number::Float(a.as_f64() + b.as_f64()),
        }
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        match n {
            Number::Int(i) => Value::Int(i),
            Number::Float(f) => Value::Float(f),
        }
    }
}

impl std::fmt::Display for Number {
    /// As Lua's `%d` prints it (a float with an integral value prints as that integer).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x:.0}"),
        }
    }
}

/// The order's items, or an error naming what is malformed.
fn items(ctx: &EventContext) -> Result<&Vec<Value>, EventError> {
    ctx.value("order")
        .and_then(Value::as_map)
        .and_then(|order| order.get("items"))
        .and_then(Value::as_array)
        .ok_or_else(|| EventError::new("order.items must be an array of { sku, qty, price }"))
}

fn field<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_map().and_then(|m| m.get(key))
}

async fn check_stock(inventory: &Inventory, ctx: &mut EventContext) -> EventResult {
    // Read the items before awaiting: the context is not borrowed across the lookups.
    let wanted = items(ctx)?
        .iter()
        .map(|item| {
            let sku = field(item, "sku").and_then(Value::as_str).map(str::to_owned);
            match (sku, Number::of(field(item, "qty"))) {
                (Some(sku), Some(qty)) => Ok(Item { sku, qty }),
                _ => Err(EventError::new("every order item needs a string `sku` and a number `qty`")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    for Item { sku, qty } in wanted {
        let stock = inventory.stock_of(&sku).await.map_err(|e| EventError::new(format!("inventory: {e}")))?;
        if (stock as f64) < qty.as_f64() {
            return Err(EventError::new(format!("not enough stock for {sku}: {qty} wanted, {stock} left")));
        }
    }
    ctx.set("checked_by", VERSION);
    Ok(())
}

fn price(ctx: &mut EventContext) -> EventResult {
    let mut total = Number::Int(0);
    for item in items(ctx)? {
        match (Number::of(field(item, "qty")), Number::of(field(item, "price"))) {
            (Some(qty), Some(price)) => total = total.add(qty.mul(price)),
            _ => return Err(EventError::new("every order item needs a number `qty` and a number `price`")),
        }
    }
    ctx.set("total", Value::from(total));
    ctx.set("priced_by", VERSION);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_lua_arithmetic_and_print_like_percent_d() {
        assert_eq!(Number::Int(2).mul(Number::Int(3)).add(Number::Int(1)), Number::Int(7));
        assert_eq!(Number::Int(2).mul(Number::Float(3.5)), Number::Float(7.0));
        assert_eq!(Number::Int(0).add(Number::Float(7.0)), Number::Float(7.0));
        assert_eq!(Number::Float(3.0).to_string(), "3");
        assert_eq!(Number::Int(-4).to_string(), "-4");
        assert_eq!(Number::of(Some(&Value::from("3"))), None);
    }
}
