//! [`KindSet`]: a compact set of [`ErrorKind`]s, and a dense index per kind,
//! for middleware that classify failures on every call.

use eventchains_core::ErrorKind;

/// Every error kind, in index order.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const ALL_KINDS: &[ErrorKind] = ErrorKind::ALL;

// A `KindSet` is a `u8` bit mask.
const _: () = assert!(ErrorKind::COUNT <= 8);

/// The position of `kind` in [`ALL_KINDS`].
#[inline]
pub(crate) fn kind_index(kind: ErrorKind) -> usize {
    kind.index()
}

/// A set of error kinds as a bit mask: membership is one AND.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "retry", feature = "circuit_breaker")), allow(dead_code))]
pub(crate) struct KindSet(u8);

#[cfg_attr(not(any(feature = "retry", feature = "circuit_breaker")), allow(dead_code))]
impl KindSet {
    /// The set of `kinds`.
    pub(crate) fn of(kinds: &[ErrorKind]) -> Self {
        KindSet(kinds.iter().fold(0, |bits, kind| bits | 1 << kind_index(*kind)))
    }

    /// `true` if `kind` is in the set.
    #[inline]
    pub(crate) fn contains(self, kind: ErrorKind) -> bool {
        self.0 & 1 << kind_index(kind) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_indices_agree() {
        let set = KindSet::of(&[ErrorKind::Event, ErrorKind::Panic]);
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(kind_index(*kind), i);
            assert_eq!(set.contains(*kind), matches!(kind, ErrorKind::Event | ErrorKind::Panic));
        }
        assert!(!KindSet::default().contains(ErrorKind::Event));
    }
}
