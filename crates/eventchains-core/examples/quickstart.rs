//! A runnable example chain: an order pipeline with a tracing middleware, run in
//! each fault-tolerance mode. `cargo run -p eventchains-core --example quickstart`
#![allow(clippy::print_stdout)]

use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, FnMiddleware};

fn pipeline(mode: FaultToleranceMode) -> EventChain {
    EventChain::new()
        .named("orders")
        .fault_tolerance(mode)
        .middleware(FnMiddleware::new("audit", |event, ctx, next| {
            let result = next.run(ctx);
            let entry = format!("{}: {}", event.name(), if result.is_ok() { "ok" } else { "failed" });
            match ctx.value_mut("audit").and_then(|v| v.as_array_mut()) {
                Some(list) => list.push(entry.into()),
                None => {
                    ctx.set("audit", vec![entry]);
                }
            }
            result
        }))
        .event(FnEvent::new("validate", |ctx| {
            let qty: i64 = ctx.try_get("qty")?;
            if qty <= 0 {
                return Err(EventError::new(format!("quantity must be positive, got {qty}")));
            }
            Ok(())
        }))
        .event(FnEvent::new("price", |ctx| {
            let qty: i64 = ctx.try_get("qty")?;
            let unit: f64 = ctx.try_get("unit_price")?;
            ctx.set("total", qty as f64 * unit);
            Ok(())
        }))
        .event(FnEvent::new("confirm", |ctx| {
            let total: f64 = ctx.get_or("total", 0.0);
            ctx.set("message", format!("order confirmed: {total:.2}"));
            Ok(())
        }))
}

fn main() {
    for mode in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
        for qty in [3, 0] {
            let chain = pipeline(mode);
            let mut ctx = EventContext::new();
            ctx.set("qty", qty);
            ctx.set("unit_price", 2.5);
            let result = chain.execute(&mut ctx);
            println!("mode={mode:<11} qty={qty}: {result}");
            for failure in result.failures() {
                println!("    failure: {failure}");
            }
            println!("    context: {}", ctx.to_json());
        }
    }
}
