//! [`Limits`]: instruction, wall-clock and memory caps of Lua code.

use std::time::Duration;

/// How often (in Lua VM instructions) the limit hook runs. Instruction limits
/// are enforced with this granularity.
///
/// On Luau there are no instruction hooks: the limits run in the VM's
/// interrupt, which Luau calls at every function call and loop iteration
/// (back-edge). There the instruction cap counts those *ticks*, each one
/// "instruction" (interval 1), so a cap of 1,000 allows about 1,000 calls plus
/// loop iterations (several VM instructions each).
#[cfg(not(feature = "luau"))]
pub const HOOK_INTERVAL: u32 = 1000;
/// On Luau: one tick (a function call or a loop iteration) counts as one
/// instruction (see the other engines' documentation of this constant).
#[cfg(feature = "luau")]
pub const HOOK_INTERVAL: u32 = 1;

/// Caps on what Lua code may use.
///
/// The host sets them on the [`LuaChainBuilder`](crate::LuaChainBuilder); a
/// script's `limits` table can only lower them (a higher value is clamped to
/// the host's cap). `None` means "no cap".
///
/// - `instructions` and `timeout` apply to **each call** of a Lua handler or
///   middleware (and to the script's top-level code while loading).
///   `instructions` is checked every [`HOOK_INTERVAL`] instructions (on Luau
///   it counts function calls and loop iterations, see [`HOOK_INTERVAL`]).
///   `timeout` counts from the start of the call, whatever mix of Lua and C
///   work it does, and includes the time spent in a middleware's `next`: a
///   watchdog thread flags the call when its time is up (at most about 1 ms
///   late) and the call stops at its next instruction check, library call
///   that can work long, or return from `next`, with an error of kind
///   `timeout`. A deadline set on the context (e.g. by a timeout middleware)
///   is honoured the same way. A timeout too large to represent (such as
///   `Duration::MAX`) means no cap.
/// - `memory_bytes` caps the whole Lua VM (one per script per thread). With
///   no cap, or a cap above the machine's physical memory, the VM is bounded
///   by that memory: a request past it fails inside Lua (kind
///   `limit_exceeded`) instead of reaching a system that must refuse it.
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

    /// How many bytes the values a script hands the host while loading (its
    /// initial `context`, configs of named parts) may take once copied: the
    /// memory cap, or [`UNCAPPED_SCRIPT_VALUE_BYTES`] without one.
    pub(crate) fn script_value_bytes(&self) -> usize {
        self.memory_bytes.unwrap_or(UNCAPPED_SCRIPT_VALUE_BYTES)
    }

    /// The instruction cap in hook ticks (rounded up).
    pub(crate) fn max_ticks(&self) -> Option<u64> {
        self.instructions.map(|n| n.div_ceil(u64::from(HOOK_INTERVAL)))
    }
}

/// The cap on the values a script hands the host while loading when the
/// host set no memory cap (1 GiB): a script's few bytes must never expand
/// into more than that (shared tables copied once per reference).
pub(crate) const UNCAPPED_SCRIPT_VALUE_BYTES: usize = 1 << 30;

/// "64 MB" (or "1000 bytes") for a memory cap in messages.
pub(crate) fn describe_bytes(bytes: Option<usize>) -> String {
    match bytes {
        Some(b) if b % (1024 * 1024) == 0 => format!("{} MB", b / (1024 * 1024)),
        Some(b) => format!("{b} bytes"),
        None => "available memory".to_owned(),
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
        let interval = u64::from(HOOK_INTERVAL);
        assert_eq!(Limits { instructions: Some(interval + 1), ..Limits::UNLIMITED }.max_ticks(), Some(2));
    }
}
