//! Criterion benchmarks of the Lua bridge (written next).
fn main() {}
