//! A Lua handler's retry hint (`return nil, { message = ..., retry_after_ms = N }`)
//! reaches the `retry` middleware of the host: the same script retries at
//! once without the hint, and gives up when the hint lies past the event's
//! deadline (one hour here, so only the hint decides: no timing involved).

use std::time::Duration;

use eventchains_core::{ChainStatus, MiddlewareRegistry};
use eventchains_lua::{Limits, LuaChainBuilder};

fn script(failure: &str) -> String {
    format!(
        "return {{ name = 'hinted',
            middleware = {{ {{ 'retry', max_attempts = 2, backoff = 'fixed', initial_ms = 1 }} }},
            events = {{ {{ name = 'flaky', handler = function(ctx)
              ctx.calls = (ctx.calls or 0) + 1
              if ctx.calls == 1 then return nil, {failure} end
            end }} }} }}"
    )
}

fn run(failure: &str) -> (ChainStatus, Option<i64>, eventchains_middleware::RetryStats) {
    let mut registry = MiddlewareRegistry::new();
    let handles = eventchains_middleware::register_all(&mut registry);
    let limits = Limits { timeout: Some(Duration::from_secs(3600)), ..Limits::default() };
    let chain = LuaChainBuilder::new()
        .middleware_registry(registry)
        .limits(limits)
        .load_str("hinted.lua", &script(failure))
        .expect("loads");
    let mut ctx = chain.new_context();
    let result = chain.execute(&mut ctx);
    (result.status(), ctx.get::<i64>("calls"), handles.retry("retry").stats())
}

#[test]
fn a_hint_past_the_deadline_stops_the_retry_and_no_hint_retries() {
    let (status, calls, stats) = run("{ message = 'busy' }");
    assert_eq!((status, calls, stats.retries, stats.deadline_stops), (ChainStatus::Completed, Some(2), 1, 0));
    // About eleven days: past the one-hour deadline, so the retry middleware does not wait for it.
    let (status, calls, stats) = run("{ message = 'busy', retry_after_ms = 1e9 }");
    assert_eq!((status, calls, stats.retries, stats.deadline_stops), (ChainStatus::Failed, Some(1), 0, 1));
}
