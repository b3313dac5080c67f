//! The `eventchains` command (work in progress).
fn main() {}
