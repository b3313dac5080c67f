//! Our Lua chain (`eventchains-lua`): Lua handlers run through EventChains on
//! the shared `EventContext`, and the scripts of the scaling scenarios.

use eventchains_core::{ChainResult, EventContext};
use eventchains_lua::{Limits, LoadError, LuaChain, LuaChainBuilder};

use super::SEED_SCRIPT;
use super::native::{ChainSeed, RunsChain};

impl RunsChain for LuaChain {
    fn run(&self, ctx: &mut EventContext) -> ChainResult {
        self.execute(ctx)
    }
}

/// The seed chain as a Lua chain, with a reused context.
pub type LuaSeed = ChainSeed<LuaChain>;

/// Loads `source` with the default sandbox and `limits`.
pub fn load(name: &str, source: &str, limits: Limits) -> Result<LuaChain, LoadError> {
    LuaChainBuilder::new().limits(limits).load_str(name, source)
}

/// The experiment's seed script as a Lua chain, with `limits`.
pub fn seed(limits: Limits) -> Result<LuaSeed, LoadError> {
    Ok(LuaSeed::from_chain(load("seed.lua", SEED_SCRIPT, limits)?))
}

/// A script of `n` events, each adding 1 to `ctx.counter` (the scaling twin of `n` `Increment`s).
pub fn events_script(n: usize) -> String {
    let events: String = (0..n)
        .map(|i| format!("    {{ name = \"e{i}\", handler = function(ctx) ctx.counter = ctx.counter + 1 end }},\n"))
        .collect();
    format!("return {{\n  context = {{ counter = 0, message = \"start\" }},\n  events = {{\n{events}  }},\n}}\n")
}

/// The seed script wrapped in `m` pass-through Lua middleware.
pub fn middleware_script(m: usize) -> String {
    let middleware = "    function(event, ctx, next) return next(ctx) end,\n".repeat(m);
    SEED_SCRIPT.replacen("  events = {", &format!("  middleware = {{\n{middleware}  }},\n  events = {{"), 1)
}

/// A script that only names the seed events, with an empty body (VM + sandbox cost).
pub const EMPTY_SCRIPT: &str = "return { events = {} }";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::SeedOutcome;

    #[test]
    fn the_seed_chain_runs_on_the_shared_context() {
        for limits in [Limits::default(), Limits::UNLIMITED] {
            let mut s = seed(limits).expect("loads");
            for _ in 0..3 {
                assert_eq!(s.execute(), SeedOutcome::expected());
            }
        }
    }

    #[test]
    fn scaling_scripts_load_and_do_their_work() {
        let mut ten = LuaSeed::from_chain(load("ev.lua", &events_script(10), Limits::default()).expect("loads"));
        assert_eq!(ten.execute().counter, 10);
        let four = load("mw.lua", &middleware_script(4), Limits::default()).expect("loads");
        assert_eq!(four.middleware_names().len(), 4);
        let mut four = LuaSeed::from_chain(four).with_extra_keys(5);
        assert_eq!(four.execute(), SeedOutcome::expected());
        assert!(load("empty.lua", EMPTY_SCRIPT, Limits::default()).is_ok());
    }
}
