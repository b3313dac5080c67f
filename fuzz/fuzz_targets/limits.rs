//! Small limits shared by the fuzz targets, so a hostile input ends fast.

use std::time::Duration;

use eventchains_lua::{Limits, LuaChainBuilder};

/// A builder with small caps: 200k instructions and 200 ms per call, 16 MiB per VM.
pub fn builder() -> LuaChainBuilder {
    LuaChainBuilder::new().limits(Limits {
        instructions: Some(200_000),
        memory_bytes: Some(16 * 1024 * 1024),
        timeout: Some(Duration::from_millis(200)),
    })
}
