//! `eventchains-bench-inflight`: one measurement of executions in flight
//! ([`eventchains_bench::inflight`]) behind a counting global allocator,
//! printed as one JSON line. The suite's `async` scenario runs it in its own
//! process (the allocator's counting would otherwise tax every other scenario).
//!
//! ```text
//! eventchains-bench-inflight --model coroutines|vm_pool --executions N --wait-ms MS
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use eventchains_bench::inflight::{Model, measure};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
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

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

const USAGE: &str = "usage: eventchains-bench-inflight --model coroutines|vm_pool --executions N --wait-ms MS";

fn main() -> ExitCode {
    let (mut model, mut executions, mut wait_ms) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--model" => model = Model::parse(&value),
            "--executions" => executions = value.parse::<usize>().ok(),
            "--wait-ms" => wait_ms = value.parse::<u64>().ok(),
            _ => model = None,
        }
    }
    let (Some(model), Some(executions), Some(wait_ms)) = (model, executions, wait_ms) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match measure(model, executions, Duration::from_millis(wait_ms), live) {
        Ok(figures) => {
            let line = serde_json::to_string(&figures).unwrap_or_default();
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{line}").is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventchains-bench-inflight: {e}");
            ExitCode::FAILURE
        }
    }
}
