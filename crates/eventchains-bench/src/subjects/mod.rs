//! The systems under test: every way of running the experiment's seed chain
//! (increment `counter`, append `" -> processed"` to `message`) that the
//! report compares, each behind a small type with an `execute` method that
//! starts from `counter = 0, message = "start"` and reads both fields back.

pub mod config_only;
pub mod lua_chain;
pub mod native;
pub mod pure_lua;
pub mod raw_mlua;
pub mod reference;
pub mod rhai_chain;
pub mod seed_method;

/// The suffix the seed chain's second event appends.
pub const SUFFIX: &str = " -> processed";

/// The experiment's seed script in format v1: the project's own
/// `examples/scripts/seed.lua`, so the suite measures the script users run.
pub const SEED_SCRIPT: &str = include_str!("../../../../examples/scripts/seed.lua");

/// What one execution of the seed chain leaves behind, read back by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOutcome {
    /// `counter` after the chain (1 when it worked).
    pub counter: i64,
    /// Length of `message` after the chain (`"start -> processed".len()` when it worked).
    pub message_len: usize,
}

impl SeedOutcome {
    /// The outcome of a correct execution.
    pub fn expected() -> SeedOutcome {
        SeedOutcome { counter: 1, message_len: "start".len() + SUFFIX.len() }
    }
}
