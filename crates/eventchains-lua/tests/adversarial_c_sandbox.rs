//! Hostile scripts against the parts of the sandbox built through the Lua C
//! API on Lua 5.4 and 5.5 (the lockdown and the read-only views, the
//! restricted `load`/`collectgarbage`/`error`/`setmetatable`/`rawset`, the
//! bounded library's C closures, `pcall`/`xpcall`/`coroutine.resume`/`wrap`
//! as C closures, the root `ctx`'s C metamethods). The same attacks run on
//! every engine: where LuaJIT and Luau keep the Lua versions, the tests
//! hold them to the same answers.
//!
//! Each test names the hole it guards against; the ones that found a hole
//! say so (and the fix). Caps are instruction caps with a wall-clock cap far
//! away (ten minutes), so no outcome depends on the machine's speed.

use std::time::Duration;

use eventchains_core::{ChainResult, EventContext};
use eventchains_lua::{Limits, LuaChain, LuaChainBuilder};

/// Instruction and memory caps; the wall clock far away.
const LIMITS: Limits =
    Limits { instructions: Some(20_000_000), memory_bytes: Some(64 << 20), timeout: Some(Duration::from_secs(600)) };

/// A chain of one Lua event `e` whose handler body is `body`.
fn one_event(body: &str) -> LuaChain {
    let src = format!("return {{ events = {{ {{ name = 'e', handler = function(ctx)\n{body}\nend }} }} }}");
    LuaChainBuilder::new().limits(LIMITS).load_str("attack.lua", &src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// Runs `chain` once on a fresh context.
fn run(chain: &LuaChain) -> (ChainResult, EventContext) {
    let mut ctx = chain.new_context();
    let result = chain.execute(&mut ctx);
    (result, ctx)
}

/// Runs `body` as a handler that sets `ctx.out`, twice on one chain (the
/// second run proves nothing carried over); both must succeed with the same
/// `ctx.out`, which is returned.
fn out(body: &str) -> String {
    let chain = one_event(body);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (result, ctx) = run(&chain);
        assert!(result.is_clean(), "{body}\n{result}: {:?}", result.failures());
        seen.push(ctx.get::<&str>("out").unwrap_or_else(|| panic!("no ctx.out: {body}")).to_owned());
    }
    assert_eq!(seen[0], seen[1], "the second execution differs: {body}");
    seen.remove(0)
}

// ---------------------------------------------------------------------------
// coroutine.resume / wrap as C closures

/// HOLE (fixed): a `coroutine.resume` whose first argument is not a thread
/// counted a nested resume and then raised its argument error before the
/// count went down again; 150 such calls caught by `pcall` left every later
/// resume of the execution refused ("too many nested coroutines"), where
/// plain Lua resumes. The argument is now checked before anything is
/// counted (C closure on 5.4/5.5, the Lua prelude elsewhere).
#[test]
fn failed_resumes_do_not_use_up_the_nesting_bound() {
    for bad in ["42", "nil", "{}", "'co'", "print"] {
        let body = format!(
            "for i = 1, 400 do assert(not pcall(coroutine.resume, {bad})) end
             local co = coroutine.create(function(a) return a * 2 end)
             local ok, v = coroutine.resume(co, 21)
             local w = coroutine.wrap(function() return 'w' end)()
             ctx.out = tostring(ok) .. ' ' .. tostring(v) .. ' ' .. w"
        );
        assert_eq!(out(&body), "true 42 w", "{bad}");
    }
    // The argument error is still the engine's, with the script's line.
    let message = out("local ok, e = pcall(function() coroutine.resume({}) end) ctx.out = e");
    assert!(message.starts_with("attack.lua:2:") && message.contains("bad argument #1 to 'resume'"), "{message}");
}

/// Deep nesting is still refused (the fix above must not have opened it).
#[test]
fn nested_resumes_are_still_bounded() {
    let message = out(
        "local function nest() local co = coroutine.create(nest) local ok, e = coroutine.resume(co) if not ok then error(e, 0) end end
         local ok, e = pcall(nest) ctx.out = tostring(e)",
    );
    assert!(message.contains("too many nested coroutines"), "{message}");
}
