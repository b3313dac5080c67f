//! [`OrderResponse`]: what `POST /orders` answers.

use eventchains_core::{ChainResult, ChainStatus};
use serde::{Deserialize, Serialize};

/// The outcome of one order: the chain's status, its failures, the script
/// version that ran it and the context after the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderResponse {
    /// `completed`, `completed_with_warnings` or `failed`.
    pub status: ChainStatus,
    /// The script version that ran the whole execution (1 for the first load;
    /// 0 for `POST /orders-rust`, which runs no script).
    pub version: u64,
    /// Every recorded failure, in order.
    pub failures: Vec<FailureReport>,
    /// The context after the chain (`order` plus what the script wrote).
    pub context: serde_json::Value,
}

/// One failure of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The event that failed.
    pub event: String,
    /// The error kind (`event`, `middleware`, `timeout`, `limit_exceeded`, ...).
    pub kind: String,
    /// The error message (script and line included for Lua errors).
    pub message: String,
}

impl OrderResponse {
    /// The response for `result`, run by `version`, with the final `context`.
    pub fn new(version: u64, result: &ChainResult, context: serde_json::Value) -> Self {
        let failures = result
            .failures()
            .iter()
            .map(|f| FailureReport {
                event: f.event().to_owned(),
                kind: f.kind().as_str().to_owned(),
                message: f.message().to_owned(),
            })
            .collect();
        OrderResponse { status: result.status(), version, failures, context }
    }
}
