//! Issue 12's concurrency measurement: N executions of a Lua chain in flight
//! on one current-thread tokio runtime, each handler awaiting a timer through
//! an async host function; reports the wall time and the heap bytes per
//! in-flight execution (everything allocated while all N wait: tasks,
//! contexts, futures, coroutines, Lua heap, timers), beside two alternatives:
//!
//! - `spawn_blocking`: the synchronous chain on tokio's blocking pool, the
//!   host function sleeping the thread (what a service had to do before);
//! - one VM per in-flight execution (what a pool of VMs checked out for a
//!   whole execution needs at this concurrency): the heap of one sandboxed VM
//!   of the script.
//!
//! `cargo run --release -p eventchains-lua --example async_concurrency [N] [WAIT_MS]`
//! prints one JSON object.

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eventchains_lua::{LuaChain, LuaChainBuilder};

/// Counts the bytes allocated and not yet freed (mlua allocates the Lua heap through it too).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SCRIPT: &str = r#"
return {
  name = "inflight",
  events = {
    { name = "reserve", handler = function(ctx)
        local stock = wait_for_stock(ctx.sku)
        ctx.stock = stock
        ctx.reserved = stock > 0
      end },
  },
}
"#;

/// Live bytes when the N-th execution started waiting.
static AT_PEAK: AtomicUsize = AtomicUsize::new(0);
static WAITING: AtomicUsize = AtomicUsize::new(0);

fn coroutine_chain(n: usize, wait: Duration) -> LuaChain {
    LuaChainBuilder::new()
        .register_async_fn("wait_for_stock", move |_sku: String| async move {
            if WAITING.fetch_add(1, Ordering::Relaxed) + 1 == n {
                AT_PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            tokio::time::sleep(wait).await;
            Ok::<_, Infallible>(3)
        })
        .load_str("inflight.lua", SCRIPT)
        .expect("loads")
}

/// (wall ms, bytes per in-flight execution) of N coroutine executions.
fn coroutines(n: usize, wait: Duration) -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let chain = Rc::new(coroutine_chain(n, wait));
    // Warm up: the VM, the coroutine pool, the timer wheel.
    runtime.block_on(run_all(&chain, 64));
    WAITING.store(0, Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);
    let start = Instant::now();
    let ok = runtime.block_on(run_all(&chain, n));
    let wall = start.elapsed();
    assert_eq!(ok, n, "every execution completed");
    let peak = AT_PEAK.load(Ordering::Relaxed);
    (wall.as_secs_f64() * 1e3, peak.saturating_sub(before) as f64 / n as f64)
}

async fn run_all(chain: &Rc<LuaChain>, n: usize) -> usize {
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let chain = chain.clone();
            local.spawn_local(async move {
                let mut ctx = chain.new_context();
                ctx.set("sku", if i % 2 == 0 { "tea" } else { "coffee" });
                let result = chain.execute_async(&mut ctx).await;
                result.is_clean() && ctx.get::<i64>("stock") == Some(3)
            })
        })
        .collect();
    local.await;
    let mut ok = 0;
    for h in handles {
        ok += usize::from(h.await.unwrap_or(false));
    }
    ok
}

/// Wall ms of N executions of the synchronous chain with `spawn_blocking`,
/// the host function sleeping its thread.
fn blocking(n: usize, wait: Duration) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_time().build().expect("runtime");
    let chain = Arc::new(
        LuaChainBuilder::new()
            .register_fn("wait_for_stock", move |_sku: String| {
                std::thread::sleep(wait);
                3
            })
            .load_str("inflight.lua", SCRIPT)
            .expect("loads"),
    );
    let start = Instant::now();
    let ok = runtime.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let chain = chain.clone();
                tokio::task::spawn_blocking(move || {
                    let mut ctx = chain.new_context();
                    ctx.set("sku", "tea");
                    chain.execute(&mut ctx).is_clean()
                })
            })
            .collect();
        let mut ok = 0;
        for h in handles {
            ok += usize::from(h.await.unwrap_or(false));
        }
        ok
    });
    assert_eq!(ok, n);
    start.elapsed().as_secs_f64() * 1e3
}

/// Heap bytes of one more sandboxed VM of the script (loaded `k` times, averaged).
fn bytes_per_vm(k: usize) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let chains: Vec<_> = (0..k)
        .map(|i| {
            LuaChainBuilder::new()
                .register_fn("wait_for_stock", |_sku: String| 3)
                .load_str(&format!("vm{i}.lua"), SCRIPT)
                .expect("loads")
        })
        .collect();
    let per_vm = LIVE.load(Ordering::Relaxed).saturating_sub(before) as f64 / k as f64;
    drop(chains);
    per_vm
}

#[allow(clippy::print_stdout, reason = "the example prints its measurement")]
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let wait_ms: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let wait = Duration::from_millis(wait_ms);
    let (wall_ms, bytes) = coroutines(n, wait);
    let blocking_ms = blocking(n, wait);
    let vm_bytes = bytes_per_vm(200);
    println!(
        "{{\"executions\": {n}, \"wait_ms\": {wait_ms}, \"concurrent_wall_ms\": {wall_ms:.1}, \
         \"bytes_per_inflight_execution\": {bytes:.0}, \"spawn_blocking_wall_ms\": {blocking_ms:.1}, \
         \"bytes_per_vm\": {vm_bytes:.0}}}"
    );
}
