//! The deadline signal ([`DeadlineSignal`]), installed for this whole test
//! process (its own test binary: the install is process-wide): calls whose
//! only CPU cap is a time cap run without a count hook, and the watchdog's
//! signal stops them when their time is up.
//!
//! Every endless loop here can only end by its time cap (no instruction
//! cap), so no outcome depends on the machine's speed.
#![cfg(all(unix, any(feature = "lua54", feature = "lua55")))]

use std::sync::{Arc, Once};
use std::time::Duration;

use eventchains_core::{ErrorKind, EventContext, EventRegistry, FnEvent};
use eventchains_lua::{DeadlineSignal, DeadlineSignalError, Limits, LuaChain, LuaChainBuilder};

const SIGNAL: i32 = libc::SIGUSR2;

/// Installs the signal once for the process.
fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| DeadlineSignal::install(SIGNAL).expect("installs"));
}

/// Only a time cap (50 ms): the loops below end by it alone.
const TIME_ONLY: Limits = Limits { instructions: None, memory_bytes: None, timeout: Some(Duration::from_millis(50)) };

fn load(builder: LuaChainBuilder, limits: Limits, src: &str) -> LuaChain {
    install();
    builder.limits(limits).load_str("spin.lua", src).unwrap_or_else(|e| panic!("{e}"))
}

fn one_event(body: &str) -> String {
    format!("return {{ events = {{ {{ name = 'spin', handler = function(ctx) {body} end }} }} }}")
}

/// The one failure of running `chain`.
fn failure(chain: &LuaChain) -> (ErrorKind, String) {
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx);
    let failures = result.failures();
    assert_eq!(failures.len(), 1, "{result:?}");
    (failures[0].kind(), failures[0].message().to_owned())
}

const TIMEOUT: &str = "wall-clock limit (50 ms) exceeded in event `spin`";

#[test]
fn an_endless_loop_in_a_handler_ends_with_the_timeout() {
    let chain = load(LuaChainBuilder::new(), TIME_ONLY, &one_event("while true do end"));
    assert_eq!(failure(&chain), (ErrorKind::Timeout, TIMEOUT.to_owned()));
    // The VM stays usable, and a second timeout works the same.
    assert_eq!(failure(&chain), (ErrorKind::Timeout, TIMEOUT.to_owned()));
}

#[test]
fn an_endless_loop_behind_pcall_in_a_script_coroutine_ends_with_the_timeout() {
    for body in [
        "local co = coroutine.create(function() while true do end end) coroutine.resume(co) ctx.after = true",
        "coroutine.wrap(function() while true do end end)() ctx.after = true",
        "pcall(coroutine.wrap(function() coroutine.yield() end)) \
         local ok = pcall(function() local f = coroutine.wrap(function() local n = 0 while true do n = n + 1 end end) f() end) \
         ctx.after = true",
        "local co = coroutine.wrap(function() coroutine.yield() while true do end end) co() co() ctx.after = true",
    ] {
        let chain = load(LuaChainBuilder::new(), TIME_ONLY, &one_event(body));
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx);
        assert_eq!(result.failures().len(), 1, "{body}: {result:?}");
        assert_eq!(result.failures()[0].message(), TIMEOUT, "{body}");
        assert_eq!(ctx.get::<bool>("after"), None, "{body}: the limit was caught");
    }
}

#[test]
fn an_endless_loop_in_a_lua_middleware_ends_with_the_timeout() {
    let chain = load(
        LuaChainBuilder::new(),
        TIME_ONLY,
        "return {
           middleware = { function(event, ctx, next) while true do end end },
           events = { { name = 'e', handler = function(ctx) end } } }",
    );
    let (kind, message) = failure(&chain);
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(message.starts_with("wall-clock limit (50 ms) exceeded in middleware[1]"), "{message}");
}

/// A script's top-level code runs under the same cap while loading.
#[test]
fn an_endless_loop_at_the_top_level_fails_the_load_naming_the_script() {
    install();
    let err = LuaChainBuilder::new()
        .limits(TIME_ONLY)
        .load_str("hostile.lua", "while true do end return {}")
        .expect_err("the load fails");
    assert_eq!(err.to_string(), "hostile.lua: wall-clock limit (50 ms) exceeded while running the script");
}

/// Only a context deadline (no caps on the VM at all): the same signal stops it.
#[test]
fn an_endless_loop_under_a_context_deadline_ends() {
    let chain = load(LuaChainBuilder::new(), Limits::UNLIMITED, &one_event("while true do end"));
    let mut ctx = EventContext::new();
    ctx.set_deadline(std::time::Instant::now().checked_add(Duration::from_millis(50)));
    let result = chain.execute(&mut ctx);
    assert_eq!(result.failures()[0].message(), "the context's deadline passed in event `spin`");
}

/// A middleware with a time cap runs `next` into a chain of a second VM
/// without caps, which loops: the outer cap's signal stops the inner loop,
/// then the middleware.
#[test]
fn an_endless_loop_in_a_nested_call_into_a_second_vm_ends_with_the_outer_timeout() {
    let inner = Arc::new(load(LuaChainBuilder::new(), Limits::UNLIMITED, &one_event("while true do end")));
    let inner_message = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = inner_message.clone();
    let mut events = EventRegistry::new();
    events.register_event(
        "inner",
        FnEvent::new("inner", move |ctx| {
            let result = inner.execute(ctx);
            let message = result.failures()[0].message().to_owned();
            *seen.lock().expect("lock") = message.clone();
            Err(eventchains_core::EventError::new(message))
        }),
    );
    let outer = load(
        LuaChainBuilder::new().event_registry(events),
        TIME_ONLY,
        "return {
           middleware = { function(event, ctx, next) next(ctx) while true do end end },
           events = { { name = 'inner', rust = 'inner' } } }",
    );
    let (kind, message) = failure(&outer);
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(message.starts_with("wall-clock limit (50 ms) exceeded in middleware[1]"), "{message}");
    assert_eq!(*inner_message.lock().expect("lock"), "the time limit of an enclosing call passed in event `spin`");
}

#[test]
fn an_endless_loop_in_an_async_execution_ends_with_the_timeout() {
    let chain = load(LuaChainBuilder::new(), TIME_ONLY, &one_event("while true do end"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut ctx = EventContext::new();
    let result = runtime.block_on(chain.execute_async(&mut ctx));
    assert_eq!(result.failures().len(), 1, "{result:?}");
    assert_eq!(result.failures()[0].kind(), ErrorKind::Timeout);
    assert_eq!(result.failures()[0].message(), TIMEOUT);
}

/// The signal sent by hand to this thread, outside any call and inside a
/// call whose time is not up (from a host function): nothing changes.
#[test]
fn a_signal_sent_by_hand_changes_nothing() {
    let poke = || {
        // SAFETY: signalling the calling thread, whose handler is installed.
        assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), SIGNAL) }, 0);
    };
    let chain = load(
        LuaChainBuilder::new().register_fn("poke", move |()| {
            poke();
            true
        }),
        Limits { timeout: Some(Duration::from_secs(3600)), ..TIME_ONLY },
        "return { events = { { name = 'p', handler = function(ctx)
           local n = 0
           for i = 1, 100 do if i % 10 == 0 then poke() end n = n + i end
           ctx.n = n
           ctx.co = coroutine.wrap(function() poke() return 1 + 1 end)()
         end } } }",
    );
    poke();
    for _ in 0..3 {
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{result:?}");
        assert_eq!(ctx.get::<i64>("n"), Some(5050));
        assert_eq!(ctx.get::<i64>("co"), Some(2));
        poke();
    }
}

#[test]
fn install_refuses_unusable_and_taken_signals_and_a_second_one() {
    install();
    assert_eq!(DeadlineSignal::installed(), Some(SIGNAL));
    assert_eq!(DeadlineSignal::install(SIGNAL), Ok(()), "the same one again");
    for unusable in [0, -1, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGCHLD, 100_000] {
        assert_eq!(DeadlineSignal::install(unusable), Err(DeadlineSignalError::Unusable(unusable)), "{unusable}");
    }
    // Ignored by Rust's runtime: someone else's.
    assert_eq!(DeadlineSignal::install(libc::SIGPIPE), Err(DeadlineSignalError::InUse(libc::SIGPIPE)));
    extern "C" fn theirs(_: i32) {}
    // SAFETY: installs a handler that does nothing for a signal nothing else here uses.
    unsafe { libc::signal(libc::SIGUSR1, theirs as extern "C" fn(i32) as libc::sighandler_t) };
    assert_eq!(DeadlineSignal::install(libc::SIGUSR1), Err(DeadlineSignalError::InUse(libc::SIGUSR1)));
    let other = libc::SIGURG;
    assert_eq!(
        DeadlineSignal::install(other),
        Err(DeadlineSignalError::OtherInstalled { installed: SIGNAL, requested: other })
    );
    assert_eq!(DeadlineSignal::installed(), Some(SIGNAL));
}

/// Signals landing anywhere (another thread sends them every few
/// microseconds) while calls with coroutines, host functions, caught errors
/// and a nested call into a second VM run: every execution completes with
/// its exact result (their time is never up, so no signal may change one).
#[test]
fn a_storm_of_stray_signals_changes_no_result() {
    let inner = Arc::new(load(
        LuaChainBuilder::new(),
        Limits::UNLIMITED,
        "return { events = { { name = 'inner', handler = function(ctx) ctx.inner = (ctx.inner or 0) + 1 end } } }",
    ));
    let mut events = EventRegistry::new();
    events.register_event(
        "inner",
        FnEvent::new("inner", move |ctx| {
            let result = inner.execute(ctx);
            if result.is_clean() { Ok(()) } else { Err(eventchains_core::EventError::new(result.to_string())) }
        }),
    );
    let chain = load(
        LuaChainBuilder::new().event_registry(events).register_fn("twice", |n: i64| n * 2),
        Limits { timeout: Some(Duration::from_secs(3600)), ..TIME_ONLY },
        "return {
           middleware = { function(event, ctx, next) ctx.m = (ctx.m or 0) + 1 return next(ctx) end },
           events = {
             { name = 'work', handler = function(ctx)
                 local n = 0
                 for i = 1, 200 do
                   n = n + twice(i)
                   local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
                   n = n + co(i) + co(1)
                   local ok = pcall(error, 'x')
                   if ok then n = -1 end
                 end
                 ctx.n = n
               end },
             { name = 'inner', rust = 'inner' },
           } }",
    );
    // SAFETY: this thread's own id; it outlives the sender (joined below).
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender_stop = stop.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0u64;
        while !sender_stop.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: the test thread lives until this thread is joined.
            unsafe { libc::pthread_kill(me as libc::pthread_t, SIGNAL) };
            sent += 1;
            std::thread::sleep(Duration::from_micros(20));
        }
        sent
    });
    let expected = (1..=200).map(|i| 2 * i + (i + 1) + 2).sum::<i64>();
    for _ in 0..300 {
        let mut ctx = EventContext::new();
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{result:?}");
        assert_eq!(ctx.get::<i64>("n"), Some(expected));
        assert_eq!(ctx.get::<i64>("inner"), Some(1));
        assert_eq!(ctx.get::<i64>("m"), Some(2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().expect("the sender");
    assert!(sent > 0);
}
