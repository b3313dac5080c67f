//! The cost of the sandbox's limits: on the seed chain (limits on versus off,
//! on the raw mlua floor and on the Lua chain), and per Lua VM instruction
//! (a loop long enough that the per-call costs vanish), where the
//! instruction budget's count hook is what is paid. Last, a time cap alone
//! with the count hook and with the deadline signal installed (which is
//! process-wide, so it is installed at the very end of this scenario, the
//! last of the suite: every other row runs without it).

#[cfg(not(feature = "luau"))]
use mlua::{HookTriggers, VmState};

use eventchains_lua::{Limits, LuaChain};
use mlua::{Function, Lua};

use crate::error::BenchError;
use crate::harness::Variant;
use crate::scenario::{Session, check};
use crate::scenarios::lua_build_error;
use crate::subjects::lua_chain;
use crate::subjects::raw_mlua::RawMlua;

/// How often the hook fires, in VM instructions (as eventchains-lua sets it).
pub(crate) const HOOK_EVERY: u32 = eventchains_lua::HOOK_INTERVAL;

/// Iterations of the loop of the per-instruction measurement.
const LOOP_N: i64 = 20_000;

/// The loop (a numeric `for` adding its index), as a function of `n`.
const LOOP: &str = "return function(n) local x = 0 for i = 1, n do x = x + i end return x end";

/// The sum the loop returns.
const LOOP_SUM: i64 = LOOP_N * (LOOP_N + 1) / 2;

pub(crate) fn run(s: &mut Session<'_>) -> Result<(), BenchError> {
    let off = RawMlua::new()?;
    let on = RawMlua::new()?;
    let mut lua_off = lua_chain::seed(Limits::UNLIMITED).map_err(lua_build_error)?;
    let mut lua_on = lua_chain::seed(Limits::default()).map_err(lua_build_error)?;
    // Luau has no instruction hook (eventchains-lua uses its interrupt): there both raw rows are the same program.
    #[cfg(not(feature = "luau"))]
    on.lua().set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| Ok(VmState::Continue))?;
    #[cfg(feature = "luau")]
    s.results.note("limits: Luau has no instruction hook; limits.raw_mlua_on_ns runs without one");
    s.step(&format!(
        "Lua chain with default limits vs Limits::UNLIMITED; raw mlua with a hook every {HOOK_EVERY} instructions vs none"
    ));
    let mut variants = vec![
        Variant::new("lua_off", || lua_off.execute()),
        Variant::new("lua_on", || lua_on.execute()),
        Variant::new("raw_off", || off.execute()),
        Variant::new("raw_on", || on.execute()),
    ];
    let out = s.compare(&mut variants, None);
    drop(variants);
    s.results.summary("limits.lua_off_ns", out[0]);
    s.results.summary("limits.lua_on_ns", out[1]);
    s.results.summary("limits.raw_mlua_off_ns", out[2]);
    s.results.summary("limits.raw_mlua_on_ns", out[3]);
    per_instruction(s)?;
    time_cap_signal(s)
}

/// A time cap alone (no instruction cap): the seed chain and the loop with
/// the count hook, then with the deadline signal installed (Lua 5.4/5.5 on
/// unix), beside the chain without caps, in one comparison.
fn time_cap_signal(s: &mut Session<'_>) -> Result<(), BenchError> {
    let time_only = Limits { instructions: None, ..Limits::default() };
    // Built before the install: VMs keep the count hook they were configured with.
    let mut lua_off = lua_chain::seed(Limits::UNLIMITED).map_err(lua_build_error)?;
    let mut lua_timecap = lua_chain::seed(time_only).map_err(lua_build_error)?;
    let loop_off = chain_loop(Limits::UNLIMITED)?;
    let mut ctx_loop_off = loop_off.new_context();
    #[cfg(unix)]
    let installed = eventchains_lua::DeadlineSignal::install(libc::SIGURG);
    #[cfg(not(unix))]
    let installed: Result<(), eventchains_lua::DeadlineSignalError> =
        Err(eventchains_lua::DeadlineSignalError::Unsupported);
    if let Err(e) = installed {
        s.results.note(format!("limits: no deadline-signal rows ({e})"));
        return Ok(());
    }
    let mut lua_signal = lua_chain::seed(time_only).map_err(lua_build_error)?;
    let loop_signal = chain_loop(time_only)?;
    let mut ctx_loop_signal = loop_signal.new_context();
    for (name, chain, ctx) in [
        ("chain loop (no caps)", &loop_off, &mut ctx_loop_off),
        ("chain loop (signal)", &loop_signal, &mut ctx_loop_signal),
    ] {
        let result = chain.execute(ctx);
        if !result.is_clean() {
            return Err(BenchError::Build { subject: name.into(), message: result.to_string() });
        }
        check(name, ctx.get::<i64>("x").unwrap_or_default(), &LOOP_SUM)?;
    }
    s.step("a time cap alone: Lua chain without caps / with the count hook / with the deadline signal; the loop without caps / with the signal");
    let mut variants = vec![
        Variant::new("lua_off", || lua_off.execute()),
        Variant::new("lua_timecap", || lua_timecap.execute()),
        Variant::new("lua_timecap_signal", || lua_signal.execute()),
        Variant::new("lua_loop_off", || loop_off.execute(&mut ctx_loop_off)),
        Variant::new("lua_loop_timecap_signal", || loop_signal.execute(&mut ctx_loop_signal)),
    ];
    let out = s.compare(&mut variants, None);
    drop(variants);
    let keys = [
        "timecap_run_lua_off_ns",
        "lua_timecap_ns",
        "lua_timecap_signal_ns",
        "timecap_run_loop_off_ns",
        "lua_loop_timecap_signal_ns",
    ];
    for (key, summary) in keys.iter().zip(&out) {
        s.results.summary(format!("limits.{key}"), *summary);
    }
    s.results.value("limits.timecap_vs_off", out[1].median / out[0].median);
    s.results.value("limits.timecap_signal_vs_off", out[2].median / out[0].median);
    s.results.value("limits.loop_timecap_signal_vs_off", out[4].median / out[3].median);
    Ok(())
}

/// The loop in a plain VM, with or without the count hook (the VM is
/// returned too: a function does not keep its VM alive).
fn raw_loop(hooked: bool) -> Result<(Lua, Function), BenchError> {
    let lua = Lua::new();
    #[cfg(not(feature = "luau"))]
    if hooked {
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| Ok(VmState::Continue))?;
    }
    #[cfg(feature = "luau")]
    let _ = hooked;
    let f = lua.load(LOOP).set_name("loop").eval::<Function>()?;
    Ok((lua, f))
}

/// The loop as the handler of a one-event Lua chain, with `limits`.
fn chain_loop(limits: Limits) -> Result<LuaChain, BenchError> {
    let script = format!(
        "return {{ events = {{ {{ name = 'loop', handler = function(ctx) \
         local x = 0 for i = 1, {LOOP_N} do x = x + i end ctx.x = x end }} }} }}"
    );
    lua_chain::load("loop.lua", &script, limits).map_err(lua_build_error)
}

/// The VM instructions one call of the loop executes, counted by a hook
/// firing at every instruction (`None` on Luau, which has no such hook).
fn loop_instructions() -> Result<Option<u64>, BenchError> {
    #[cfg(not(feature = "luau"))]
    {
        let lua = Lua::new();
        let f: Function = lua.load(LOOP).set_name("loop").eval()?;
        let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let counter = count.clone();
        lua.set_hook(HookTriggers::new().every_nth_instruction(1), move |_, _| {
            counter.set(counter.get() + 1);
            Ok(VmState::Continue)
        })?;
        f.call::<i64>(LOOP_N)?;
        lua.remove_hook();
        Ok(Some(count.get()))
    }
    #[cfg(feature = "luau")]
    Ok(None)
}

/// The per-instruction cost: the loop in a plain VM without and with the
/// count hook, and as a chain handler without and with caps (the hook is
/// installed in both: it also serves context deadlines).
fn per_instruction(s: &mut Session<'_>) -> Result<(), BenchError> {
    let (_plain_vm, plain) = raw_loop(false)?;
    let (_hooked_vm, hooked) = raw_loop(true)?;
    let chain_off = chain_loop(Limits::UNLIMITED)?;
    let chain_on = chain_loop(Limits::default())?;
    let mut ctx_off = chain_off.new_context();
    let mut ctx_on = chain_on.new_context();
    check("raw loop", plain.call::<i64>(LOOP_N)?, &LOOP_SUM)?;
    for (name, chain, ctx) in
        [("chain loop (no caps)", &chain_off, &mut ctx_off), ("chain loop", &chain_on, &mut ctx_on)]
    {
        let result = chain.execute(ctx);
        if !result.is_clean() {
            return Err(BenchError::Build { subject: name.into(), message: result.to_string() });
        }
        check(name, ctx.get::<i64>("x").unwrap_or_default(), &LOOP_SUM)?;
    }
    s.step(&format!(
        "per Lua instruction: a {LOOP_N}-iteration loop, plain VM / count hook / chain without and with caps"
    ));
    let mut variants = vec![
        Variant::new("raw_loop", || plain.call::<i64>(LOOP_N)),
        Variant::new("raw_loop_hook", || hooked.call::<i64>(LOOP_N)),
        Variant::new("lua_loop_off", || chain_off.execute(&mut ctx_off)),
        Variant::new("lua_loop_on", || chain_on.execute(&mut ctx_on)),
    ];
    let out = s.compare(&mut variants, None);
    drop(variants);
    for (key, summary) in ["raw_loop_ns", "raw_loop_hook_ns", "lua_loop_off_ns", "lua_loop_on_ns"].iter().zip(&out) {
        s.results.summary(format!("limits.{key}"), *summary);
    }
    match loop_instructions()? {
        Some(count) => {
            let per = |a: f64, b: f64| (a - b) / count as f64;
            s.results.value("limits.loop_instructions", count as f64);
            s.results.value("limits.hook_per_instruction_ns", per(out[1].median, out[0].median));
            s.results.value("limits.budget_per_instruction_ns", per(out[3].median, out[0].median));
            s.results.value("limits.caps_per_instruction_ns", per(out[3].median, out[2].median));
        }
        None => {
            s.results.note("limits: Luau has no instruction hook to count VM instructions; no per-instruction figures")
        }
    }
    Ok(())
}
