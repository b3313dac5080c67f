//! Arbitrary script text: load it (compile, run the top-level code, validate)
//! and, when it loads, run the chain twice. Nothing may panic, hang or crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "limits.rs"]
mod limits;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    if let Ok(chain) = limits::builder().load_str("fuzz.lua", &source) {
        for _ in 0..2 {
            let mut ctx = chain.new_context();
            let result = chain.execute(&mut ctx);
            // Every failure names an event of the chain.
            for failure in result.failures() {
                assert!(!failure.event().is_empty());
            }
            let _ = ctx.values().len();
        }
    }
});
