//! [`Limits`]: instruction, wall-clock and memory caps of Lua code.

use std::time::Duration;

/// How often (in Lua VM instructions) the limit hook runs. Instruction limits
/// are enforced with this granularity.
pub const HOOK_INTERVAL: u32 = 1000;

/// Caps on what Lua code may use.
///
/// The host sets them on the [`LuaChainBuilder`](crate::LuaChainBuilder); a
/// script's `limits` table can only lower them (a higher value is clamped to
/// the host's cap). `None` means "no cap".
///
/// - `instructions` and `timeout` apply to **each call** of a Lua handler or
///   middleware (and to the script's top-level code while loading); both are
///   checked every [`HOOK_INTERVAL`] instructions. The timeout counts from the
///   first check, and a deadline set on the context (e.g. by a timeout
///   middleware) is honoured as well.
/// - `memory_bytes` caps the whole Lua VM (one per script per thread).
///
/// ```
/// use std::time::Duration;
/// use eventchains_lua::Limits;
/// let host = Limits::default();
/// let script = Limits { instructions: Some(1_000), memory_bytes: None, timeout: Some(Duration::from_secs(60)) };
/// let effective = host.lowered_by(&script);
/// assert_eq!(effective.instructions, Some(1_000));          // lowered
/// assert_eq!(effective.timeout, host.timeout);              // cannot be raised
/// assert_eq!(effective.memory_bytes, host.memory_bytes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lua VM instructions per call.
    pub instructions: Option<u64>,
    /// Bytes of memory per Lua VM.
    pub memory_bytes: Option<usize>,
    /// Wall-clock time per call.
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    /// Safe defaults for a service: 10 million instructions and 1 s per call,
    /// 64 MiB per VM.
    fn default() -> Self {
        Limits {
            instructions: Some(10_000_000),
            memory_bytes: Some(64 * 1024 * 1024),
            timeout: Some(Duration::from_secs(1)),
        }
    }
}

impl Limits {
    /// No caps at all (for trusted scripts and benchmarks).
    pub const UNLIMITED: Limits = Limits { instructions: None, memory_bytes: None, timeout: None };

    /// Each cap of `self` lowered to `other`'s where `other` is lower (never raised).
    #[must_use]
    pub fn lowered_by(&self, other: &Limits) -> Limits {
        Limits {
            instructions: lower(self.instructions, other.instructions),
            memory_bytes: lower(self.memory_bytes, other.memory_bytes),
            timeout: lower(self.timeout, other.timeout),
        }
    }

    /// The instruction cap in hook ticks (rounded up).
    pub(crate) fn max_ticks(&self) -> Option<u64> {
        self.instructions.map(|n| n.div_ceil(u64::from(HOOK_INTERVAL)))
    }
}

fn lower<T: Ord + Copy>(cap: Option<T>, wanted: Option<T>) -> Option<T> {
    match (cap, wanted) {
        (Some(c), Some(w)) => Some(c.min(w)),
        (c, None) => c,
        (None, w) => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_lower_but_never_raise() {
        let host = Limits { instructions: Some(100), memory_bytes: None, timeout: Some(Duration::from_millis(5)) };
        let script = Limits { instructions: Some(1_000), memory_bytes: Some(10), timeout: None };
        let eff = host.lowered_by(&script);
        assert_eq!(
            eff,
            Limits { instructions: Some(100), memory_bytes: Some(10), timeout: Some(Duration::from_millis(5)) }
        );
        assert_eq!(Limits::UNLIMITED.lowered_by(&Limits::UNLIMITED), Limits::UNLIMITED);
        assert_eq!(Limits { instructions: Some(1001), ..Limits::UNLIMITED }.max_ticks(), Some(2));
    }
}
