//! Demo Rust events that the example scripts use by name: `validate_order`
//! and `compute_total`. The named middleware come from `eventchains-middleware`.

use eventchains_core::{ChainableEvent, EventContext, EventError, EventRegistry, EventResult, Value};
use serde::Deserialize;

/// Checks `ctx.order`: an id, 1..=max_items items, each with a positive
/// integer `qty` and a non-negative `price`. Sets `order.valid = true`.
struct ValidateOrder {
    max_items: usize,
}

/// Config of `validate_order`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ValidateConfig {
    /// The most items an order may have.
    #[serde(default = "default_max_items")]
    max_items: usize,
}

fn default_max_items() -> usize {
    100
}

impl ChainableEvent for ValidateOrder {
    fn name(&self) -> &str {
        "validate_order"
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        let order = ctx.value_mut("order").and_then(Value::as_map_mut).ok_or_else(|| EventError::new("no order"))?;
        if order.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(EventError::new("order has no id"));
        }
        let items =
            order.get("items").and_then(Value::as_array).ok_or_else(|| EventError::new("order has no items"))?;
        if items.is_empty() || items.len() > self.max_items {
            return Err(EventError::new(format!("order must have 1 to {} items, has {}", self.max_items, items.len())));
        }
        for (i, item) in items.iter().enumerate() {
            let qty = item.as_map().and_then(|m| m.get("qty")).and_then(Value::as_i64).unwrap_or(0);
            let price = item.as_map().and_then(|m| m.get("price")).and_then(Value::as_f64).unwrap_or(-1.0);
            if qty <= 0 || price < 0.0 {
                return Err(EventError::new(format!("item {} needs a positive qty and a price", i + 1)));
            }
        }
        order.insert("valid".into(), Value::Bool(true));
        Ok(())
    }
}

/// Sums `qty * price` of `order.items`, applies `order.discount_pct` and the
/// configured `tax_rate`, and sets `subtotal`, `tax` and `total` (rounded to cents).
struct ComputeTotal {
    tax_rate: f64,
}

/// Config of `compute_total`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TotalConfig {
    /// The tax rate applied to the subtotal, from 0 to 1.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    tax_rate: f64,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl ChainableEvent for ComputeTotal {
    fn name(&self) -> &str {
        "compute_total"
    }

    fn execute(&self, ctx: &mut EventContext) -> EventResult {
        let order = ctx.value("order").and_then(Value::as_map).ok_or_else(|| EventError::new("no order"))?;
        let items =
            order.get("items").and_then(Value::as_array).ok_or_else(|| EventError::new("order has no items"))?;
        let gross: f64 = items
            .iter()
            .filter_map(Value::as_map)
            .map(|m| {
                m.get("qty").and_then(Value::as_f64).unwrap_or(0.0)
                    * m.get("price").and_then(Value::as_f64).unwrap_or(0.0)
            })
            .sum();
        let discount = order.get("discount_pct").and_then(Value::as_f64).unwrap_or(0.0);
        let subtotal = cents(gross * (1.0 - discount / 100.0));
        let tax = cents(subtotal * self.tax_rate);
        ctx.set("subtotal", subtotal);
        ctx.set("tax", tax);
        ctx.set("total", cents(subtotal + tax));
        Ok(())
    }
}

/// The price of a product in the demo catalogue (`nil` for an unknown SKU):
/// the host function `lookup_price(sku)` that scripts run by the CLI can call.
pub fn lookup_price(sku: String) -> Option<f64> {
    match sku.as_str() {
        "tea" => Some(3.5),
        "cake" => Some(4.0),
        "coffee" => Some(2.8),
        _ => None,
    }
}

/// Registers the demo events.
pub fn register_demo_events(events: &mut EventRegistry) {
    events.register_with_schema("validate_order", |c: ValidateConfig| {
        Ok::<_, String>(ValidateOrder { max_items: c.max_items })
    });
    events.register_with_schema("compute_total", |c: TotalConfig| {
        if !(0.0..=1.0).contains(&c.tax_rate) {
            return Err(format!("tax_rate must be between 0 and 1, got {}", c.tax_rate));
        }
        Ok(ComputeTotal { tax_rate: c.tax_rate })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_ctx(items: serde_json::Value) -> EventContext {
        EventContext::from_json(serde_json::json!({"order": {"id": "A-1", "items": items, "discount_pct": 10}}))
            .expect("object")
    }

    #[test]
    fn validate_and_total() {
        let mut ctx = order_ctx(serde_json::json!([{"qty": 2, "price": 3.5}, {"qty": 1, "price": 4.0}]));
        ValidateOrder { max_items: 5 }.execute(&mut ctx).expect("valid");
        ComputeTotal { tax_rate: 0.2 }.execute(&mut ctx).expect("total");
        assert_eq!(ctx.get::<f64>("subtotal"), Some(9.9));
        assert_eq!(ctx.get::<f64>("tax"), Some(1.98));
        assert_eq!(ctx.get::<f64>("total"), Some(11.88));
        let mut bad = order_ctx(serde_json::json!([{"qty": 0, "price": 1.0}]));
        let err = ValidateOrder { max_items: 5 }.execute(&mut bad).unwrap_err();
        assert_eq!(err.message(), "item 1 needs a positive qty and a price");
    }
}
