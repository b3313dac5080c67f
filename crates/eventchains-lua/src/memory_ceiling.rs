//! The memory ceiling of every VM: a request the system would refuse never
//! reaches the allocator.
//!
//! mlua's allocator aborts the process (`handle_alloc_error`) when the system
//! refuses an allocation, and without a cap of its own a VM would pass any
//! request on: `string.rep('x', 2^50)` in a script run with
//! [`Limits::UNLIMITED`](crate::Limits::UNLIMITED) (or with a cap above the
//! machine's memory) aborted the host. So every VM gets mlua's memory limit
//! set to the lower of its cap and the machine's physical memory; past that
//! the request fails inside Lua as a memory error (kind `limit_exceeded`),
//! and the chain and the process stay usable.
//!
//! The machine's memory is read once per process (`sysconf` on Unix). Where
//! it cannot be read, only mlua's own bound (`isize::MAX` per request) applies.

use std::sync::OnceLock;

/// The most memory one VM may hold, whatever its cap says.
pub(crate) fn ceiling() -> usize {
    static CEILING: OnceLock<usize> = OnceLock::new();
    *CEILING.get_or_init(|| physical_memory().unwrap_or(isize::MAX.unsigned_abs()))
}

/// The limit to give mlua for a VM capped at `cap` (`None`: no cap): never 0
/// (which mlua reads as "no limit"), never above [`ceiling`].
pub(crate) fn vm_limit(cap: Option<usize>) -> usize {
    cap.unwrap_or(usize::MAX).clamp(1, ceiling())
}

/// The machine's physical memory in bytes, if the system says.
#[cfg(unix)]
fn physical_memory() -> Option<usize> {
    // SAFETY: `sysconf` reads a system constant; it has no preconditions.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let bytes = usize::try_from(pages).ok()?.checked_mul(usize::try_from(page).ok()?)?;
    (bytes > 0).then_some(bytes)
}

#[cfg(not(unix))]
fn physical_memory() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_cap_below_the_ceiling_and_never_zero() {
        let ceiling = ceiling();
        assert!(ceiling >= 16 << 20, "a machine running these tests has more than {ceiling} bytes");
        assert_eq!(vm_limit(Some(64 << 20)), 64 << 20);
        assert_eq!(vm_limit(None), ceiling);
        assert_eq!(vm_limit(Some(usize::MAX)), ceiling);
        assert_eq!(vm_limit(Some(0)), 1, "0 would be no limit at all for mlua");
    }
}
