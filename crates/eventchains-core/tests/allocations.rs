//! Heap allocations of the hot paths, counted by a global allocator: a clean
//! synchronous execution of a chain over an existing context allocates
//! nothing, and a fresh context per request costs what is stated here.
//!
//! The counter is per thread (libtest runs every test on its own thread), so
//! tests running in parallel do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use eventchains_core::{EventChain, EventContext, EventError, FaultToleranceMode, FnEvent, FnMiddleware, Value};

/// The system allocator, counting allocations and reallocations of this thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: allocations during thread teardown are simply not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// The seed chain's work without growing a string: increment `counter`, and
/// overwrite `message` in place with text no longer than its capacity; one
/// pass-through middleware around each event.
fn chain(mode: FaultToleranceMode) -> EventChain {
    EventChain::new()
        .fault_tolerance(mode)
        .event(FnEvent::new("increment", |ctx| {
            let n: i64 = ctx.try_get("counter")?;
            ctx.set("counter", n + 1);
            Ok(())
        }))
        .event(FnEvent::new("stamp", |ctx| match ctx.value_mut("message") {
            Some(Value::String(s)) => {
                s.clear();
                s.push_str("done");
                Ok(())
            }
            _ => Err(EventError::new("`message` is not a string")),
        }))
        .middleware(FnMiddleware::new("pass", |_event, ctx, next| next.run(ctx)))
}

/// `counter = 0, message = "start"`, as a request would build it.
fn seed_context() -> EventContext {
    let mut ctx = EventContext::new();
    ctx.set("counter", 0);
    ctx.set("message", "start");
    ctx
}

#[test]
fn executing_a_chain_over_an_existing_context_allocates_nothing() {
    for mode in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
        let chain = chain(mode);
        let mut ctx = seed_context();
        for round in 0..3 {
            let (result, n) = allocations(|| chain.execute(&mut ctx));
            assert!(result.is_success(), "{result:?}");
            assert_eq!(n, 0, "{mode:?}, round {round}: a clean execution allocated");
        }
        // Reads and overwrites of existing keys allocate nothing either.
        let (_, n) = allocations(|| {
            ctx.set("counter", 7);
            ctx.get::<&str>("message").map(str::len).unwrap_or(0) + ctx.get_or("counter", 0) as usize
        });
        assert_eq!(n, 0, "reads and overwrites allocated");
        assert_eq!(ctx.get::<i64>("counter"), Some(7));
    }
}

#[test]
fn a_fresh_context_per_request_costs_only_its_values_after_the_first() {
    let chain = chain(FaultToleranceMode::Strict);
    // The first context of a thread allocates its map's entry vector (room
    // for four entries from the first key on), a string per key and the value
    // "start": 4 allocations. A map this small has no key index, so no hasher
    // is made either (a map past 8 keys builds one; foldhash seeds itself once
    // per process with an allocation of its own).
    let (mut first, n) = allocations(seed_context);
    assert_eq!(n, 4, "first fresh context of the thread");
    assert!(chain.execute(&mut first).is_success());
    drop(first);
    // Every later one gets the dropped context's map and key strings back
    // from the thread's pool: only the value "start" is allocated.
    for request in 0..3 {
        let ((), n) = allocations(|| {
            let mut ctx = seed_context();
            let result = chain.execute(&mut ctx);
            assert!(result.is_success(), "{result:?}");
            assert_eq!(ctx.get::<i64>("counter"), Some(1));
            assert_eq!(ctx.get::<&str>("message"), Some("done"));
        });
        assert_eq!(n, 1, "request {request}: a fresh context with two known keys");
    }
    // Keys are copied into the recycled strings, whatever they are called.
    let ((), n) = allocations(|| {
        let mut ctx = EventContext::new();
        ctx.set("total", 9.5);
        ctx.set("paid", true);
    });
    assert_eq!(n, 0, "new keys that fit the recycled strings, with plain values");
}

#[test]
fn middleware_that_read_and_overwrite_keys_allocate_nothing_and_failures_are_counted() {
    let chain = EventChain::new()
        .fault_tolerance(FaultToleranceMode::Lenient)
        .middleware(FnMiddleware::new("count", |_event, ctx, next| {
            let n: i64 = ctx.get_or("calls", 0);
            ctx.set("calls", n + 1);
            next.run(ctx)
        }))
        .middleware(FnMiddleware::new("pass", |_event, ctx, next| next.run(ctx)))
        .event(FnEvent::new("increment", |ctx| {
            let n: i64 = ctx.try_get("counter")?;
            ctx.set("counter", n + 1);
            Ok(())
        }))
        .event(FnEvent::new("read", |ctx| {
            let name: &str = ctx.try_get("name")?;
            ctx.set("long", name.len() > 3);
            Ok(())
        }));
    let mut ctx = seed_context();
    ctx.set("calls", 0);
    ctx.set("name", "alice");
    ctx.set("long", false);
    assert!(chain.execute(&mut ctx).is_clean(), "warm-up");
    let ((), n) = allocations(|| {
        for _ in 0..100 {
            assert!(chain.execute(&mut ctx).is_clean());
        }
    });
    assert_eq!(n, 0, "a clean execution allocated");
    assert_eq!(ctx.get::<i64>("counter"), Some(101));
    // The counter does count: a failure records a Vec and a message.
    let failing = EventChain::new().event(FnEvent::new("bad", |_| Err("no".into())));
    let (_, n) = allocations(|| drop(failing.execute(&mut ctx)));
    assert!(n > 0, "a failing execution allocates its failure");
}
