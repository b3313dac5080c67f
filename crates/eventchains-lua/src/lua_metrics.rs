//! Limit hits of Lua calls, counted through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`, on by default) as
//! `eventchains_lua_limit_hits_total{limit}`, where `limit` is `instructions`,
//! `timeout` (its own or an enclosing call's wall-clock cap), `deadline` or `memory` (Lua heap or values written to the context).
//! Without a recorder installed, or without the feature, counting costs nothing
//! worth measuring (and only failing calls count).

use crate::bridge::LimitHit;

/// The counter's name.
pub const LIMIT_HITS: &str = "eventchains_lua_limit_hits_total";

/// Counts the limit hit behind a failed call: `hit`, or a Lua memory error
/// when `is_memory` says so; calls that hit no limit count nothing.
pub(crate) fn count_limit_hit(hit: Option<LimitHit>, is_memory: impl FnOnce() -> bool) {
    let limit = match hit {
        Some(LimitHit::Instructions(_)) => "instructions",
        Some(LimitHit::Timeout(_) | LimitHit::Enclosing) => "timeout",
        Some(LimitHit::Deadline) => "deadline",
        Some(LimitHit::CtxMemory(_)) => "memory",
        // A cancellation is not a limit.
        Some(LimitHit::Cancelled) => return,
        None if is_memory() => "memory",
        None => return,
    };
    #[cfg(feature = "metrics")]
    metrics::counter!(LIMIT_HITS, "limit" => limit).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = limit;
}
