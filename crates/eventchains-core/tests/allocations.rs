//! A clean synchronous execution allocates nothing: counted by a global
//! allocator that counts the allocations of the measuring thread only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use eventchains_core::{EventChain, EventContext, FaultToleranceMode, FnEvent, FnMiddleware};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; counting only touches
// const-initialised thread-locals without destructors, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn a_clean_execution_allocates_nothing() {
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
    let mut ctx = EventContext::new();
    ctx.set("counter", 0);
    ctx.set("calls", 0);
    ctx.set("name", "alice");
    ctx.set("long", false);
    assert!(chain.execute(&mut ctx).is_clean(), "warm-up");
    let n = allocations(|| {
        for _ in 0..100 {
            assert!(chain.execute(&mut ctx).is_clean());
        }
    });
    assert_eq!(n, 0, "a clean execution allocated");
    assert_eq!(ctx.get::<i64>("counter"), Some(101));
    // The counter does count: a failure records a Vec and a message.
    let failing = EventChain::new().event(FnEvent::new("bad", |_| Err("no".into())));
    assert!(allocations(|| drop(failing.execute(&mut ctx))) > 0);
}
