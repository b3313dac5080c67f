//! The iterators of a [`Map`](super::Map): thin wrappers over the iterators of
//! its entry vector that hand out `(key, value)` the way `IndexMap`'s do.

use std::iter::FusedIterator;
use std::{slice, vec};

use crate::value::Value;

type Entry = (String, Value);

/// Defines one iterator wrapper: its name, what it wraps, its item, and how an
/// entry of the inner iterator becomes an item.
macro_rules! entry_iterator {
    ($(#[$doc:meta])* $name:ident $(<$lt:lifetime>)?, $inner:ty, $item:ty, |$e:pat_param| $map:expr) => {
        $(#[$doc])*
        pub struct $name $(<$lt>)? {
            inner: $inner,
        }

        impl $(<$lt>)? $name $(<$lt>)? {
            pub(super) fn new(inner: $inner) -> Self {
                Self { inner }
            }
        }

        impl $(<$lt>)? Iterator for $name $(<$lt>)? {
            type Item = $item;
            #[inline]
            fn next(&mut self) -> Option<$item> {
                self.inner.next().map(|$e| $map)
            }
            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.inner.size_hint()
            }
        }

        impl $(<$lt>)? DoubleEndedIterator for $name $(<$lt>)? {
            #[inline]
            fn next_back(&mut self) -> Option<$item> {
                self.inner.next_back().map(|$e| $map)
            }
        }

        impl $(<$lt>)? ExactSizeIterator for $name $(<$lt>)? {}
        impl $(<$lt>)? FusedIterator for $name $(<$lt>)? {}
    };
}

entry_iterator!(
    /// The entries of a map in order, borrowed ([`Map::iter`](super::Map::iter)).
    Iter<'a>, slice::Iter<'a, Entry>, (&'a String, &'a Value), |(k, v)| (k, v)
);
entry_iterator!(
    /// The entries of a map in order, values mutable ([`Map::iter_mut`](super::Map::iter_mut)).
    IterMut<'a>, slice::IterMut<'a, Entry>, (&'a String, &'a mut Value), |(k, v)| (&*k, v)
);
entry_iterator!(
    /// The keys of a map in order ([`Map::keys`](super::Map::keys)).
    Keys<'a>, slice::Iter<'a, Entry>, &'a String, |(k, _)| k
);
entry_iterator!(
    /// The values of a map in order ([`Map::values`](super::Map::values)).
    Values<'a>, slice::Iter<'a, Entry>, &'a Value, |(_, v)| v
);
entry_iterator!(
    /// The values of a map in order, mutable ([`Map::values_mut`](super::Map::values_mut)).
    ValuesMut<'a>, slice::IterMut<'a, Entry>, &'a mut Value, |(_, v)| v
);
entry_iterator!(
    /// The entries of a map in order, owned (`Map::into_iter`).
    IntoIter, vec::IntoIter<Entry>, Entry, |e| e
);
entry_iterator!(
    /// The keys of a map in order, owned ([`Map::into_keys`](super::Map::into_keys)).
    IntoKeys, vec::IntoIter<Entry>, String, |(k, _)| k
);
entry_iterator!(
    /// The values of a map in order, owned ([`Map::into_values`](super::Map::into_values)).
    IntoValues, vec::IntoIter<Entry>, Value, |(_, v)| v
);
entry_iterator!(
    /// The entries taken out of a map by [`Map::drain`](super::Map::drain).
    Drain<'a>, vec::Drain<'a, Entry>, Entry, |e| e
);

impl Clone for Iter<'_> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl Clone for Keys<'_> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl Clone for Values<'_> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}
